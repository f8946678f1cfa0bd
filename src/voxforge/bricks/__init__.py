"""Bricks: from a LEGO-lattice voxel grid to a buildable model.

:func:`~voxforge.bricks.lay.lay_bricks` covers the grid with catalogue parts (``layout/``),
repairs what does not hold together or stand (``repair/``) as judged by the physics
(``physics/``); ``order/`` plans the build, ``colors/`` picks LEGO colours; ``catalogue``,
``connectivity``, ``verdict``, ``ldraw``, ``bom`` and ``geometry`` serve them all.
"""
