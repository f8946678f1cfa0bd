"""The relations a build order must respect, read off the label grid in one vectorised pass.

Two relations between parts matter (lattice units, z up, ground at z = 0):

* *below*: ``p`` is below ``q`` when they share a lattice column and ``p`` lies lower in it. A
  part is pressed on from above, so ``p`` must be placed before ``q`` (nothing goes under a part
  already built). Only consecutive parts of each column are recorded; the rest follows by
  transitivity. The relation is acyclic (it raises z).
* *holds*: a stud of ``p`` enters ``q`` (:func:`~voxforge.bricks.connectivity.stud_contacts`).
  A part is *anchored* when a chain of such contacts, each going up, leads to it from the ground:
  exactly the parts that can be pressed onto what is already built, one at a time, bottom-up. The
  rest hang from parts above them and need a sub-assembly built on the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from voxforge.bricks.connectivity import stud_contacts
from voxforge.core.brickmodel import BrickModel


@dataclass
class OrderGraph:
    """Arrays the build-order search works with.

    Attributes:
        n: parts.
        z, top: (n,) int64 bottom and top plate level of each part.
        centre: (n, 2) float64 footprint centre, studs.
        rect: (n, 4) float64 footprint ``x0, x1, y0, y1``, studs (half-open).
        below_lo, below_hi: (e,) int64 unique pairs: ``below_lo`` lies under ``below_hi`` in a
            shared column (consecutive parts of the column, gaps allowed).
        stud_lo, stud_hi: (s,) int64 unique pairs: a stud of ``stud_lo`` enters ``stud_hi``.
    """

    n: int
    z: np.ndarray
    top: np.ndarray
    centre: np.ndarray
    rect: np.ndarray
    below_lo: np.ndarray
    below_hi: np.ndarray
    stud_lo: np.ndarray
    stud_hi: np.ndarray

    def stud_matrix(self, directed: bool = True) -> sparse.csr_matrix:
        """(n, n) bool: entry (lower, upper) per stud pair; symmetric when not ``directed``."""
        lo, hi = self.stud_lo, self.stud_hi
        if not directed:
            lo, hi = np.concatenate([lo, hi]), np.concatenate([hi, lo])
        ones = np.ones(len(lo), dtype=bool)
        return sparse.csr_matrix((ones, (lo, hi)), shape=(self.n, self.n))


def _unique_pairs(a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    key = np.unique(a.astype(np.int64) * n + b.astype(np.int64))
    return key // n, key % n


def order_graph(model: BrickModel, labels: np.ndarray | None = None) -> OrderGraph:
    """The *below* and *holds* relations of ``model`` (see the module docstring)."""
    if labels is None:
        labels = model.label_grid()
    n = len(model)
    a = model.arrays()
    x, y, zc = np.nonzero(labels >= 0)  # C order: sorted by column, then z
    lab = labels[x, y, zc]
    step = (x[1:] == x[:-1]) & (y[1:] == y[:-1]) & (lab[1:] != lab[:-1])
    below_lo, below_hi = _unique_pairs(lab[:-1][step], lab[1:][step], max(n, 1))
    sc = stud_contacts(model, labels)
    stud_lo, stud_hi = _unique_pairs(sc.lower, sc.upper, max(n, 1))
    centre = np.stack([a["x"] + 0.5 * a["sx"], a["y"] + 0.5 * a["sy"]], axis=1).astype(np.float64)
    rect = np.stack([a["x"], a["x"] + a["sx"], a["y"], a["y"] + a["sy"]], axis=1).astype(np.float64)
    return OrderGraph(n, a["z"], a["z"] + a["h"], centre, rect, below_lo, below_hi, stud_lo, stud_hi)


def reach_up(g: OrderGraph, seeds: np.ndarray, within: np.ndarray | None = None) -> np.ndarray:
    """(n,) bool parts reached from the ``seeds`` (n,) bool by stud contacts going up.

    ``within`` (n,) bool restricts the walk to those parts (seeds outside it are dropped).
    """
    keep = np.ones(g.n, dtype=bool) if within is None else within
    on = keep[g.stud_lo] & keep[g.stud_hi]
    src = np.flatnonzero(seeds & keep)
    out = np.zeros(g.n + 1, dtype=bool)
    if len(src) == 0:
        return out[: g.n]
    rows = np.concatenate([g.stud_lo[on], np.full(len(src), g.n)])
    cols = np.concatenate([g.stud_hi[on], src])
    m = sparse.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(g.n + 1, g.n + 1))
    out[csgraph.breadth_first_order(m, g.n, directed=True, return_predecessors=False)] = True
    return out[: g.n]


def anchored_parts(g: OrderGraph) -> np.ndarray:
    """(n,) bool parts a chain of upward stud contacts joins to the ground."""
    return reach_up(g, g.z == 0)
