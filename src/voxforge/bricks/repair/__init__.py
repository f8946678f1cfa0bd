"""Repair passes of the layout: ``connect`` (bridge the pieces, support floating parts),
``supports`` (columns under hanging parts), ``stabilise`` (the stability loop of re-lays and
props), ``relay`` (re-lay a region, undo it), ``colors`` (colours for the parts the repair adds),
``leave_out`` (drop the parts a build order can only place by holding them).
"""
