"""Brick layout: cover the filled cells of each plate level exactly with catalogue parts.

``problem`` (one layer's candidate placements and costs), ``kernels`` (their numba kernels),
``strategies`` (the registry of ``greedy``, ``optimal`` and ``highs``), ``state`` (the layout in
progress), ``finishing`` (tiles and slopes in place of box parts). :func:`voxforge.bricks.lay.lay_bricks`
runs them with the repair passes.
"""
