"""Layer problems: one plate level of the lattice, its candidate placements and their costs.

A strategy (:mod:`voxforge.bricks.layout.strategies`) is a function ``solve(problem, work, cap) ->
chosen`` that picks an exact cover of one layer problem out of its candidate placements;
``chosen`` is an (s,) int64 index array into the problem's candidates. The optimising strategies
fall back to :meth:`LayerProblem.greedy` when their solver runs out of time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from voxforge.bricks.catalogue import Part, parts_of_kind
from voxforge.bricks.layout.kernels import greedy_select, layer_candidates


@dataclass(frozen=True)
class PartTable:
    """The box parts a layout may use, and their footprints in both orientations.

    Attributes:
        parts: the catalogue parts (bricks then plates), indexed by ``part_index``.
        fps: (k, 4) int64 rows ``(sx, sy, h, part_index)``; non-square parts appear twice.
    """

    parts: tuple[Part, ...]
    fps: np.ndarray

    def index(self, key: str) -> int:
        return next(i for i, p in enumerate(self.parts) if p.key == key)


@cache
def part_table() -> PartTable:
    """Bricks and plates of the catalogue, biggest first (built once)."""
    parts = tuple(parts_of_kind("brick", 3) + parts_of_kind("plate", 1))
    rows = []
    for i, p in enumerate(parts):
        rows.append((p.length, p.width, p.height, i))
        if p.length != p.width:
            rows.append((p.width, p.length, p.height, i))
    return PartTable(parts, np.asarray(rows, dtype=np.int64))


@dataclass(frozen=True)
class LayerWeights:
    """Cost terms of one candidate placement (arbitrary units, one part = ``part_cost``).

    The defaults make bonding and staggering matter against part count: a 2x4 brick that ties two
    parts below costs 40, a 2x8 brick sitting on one part with a whole long side on a seam below
    costs 150, so the layout prefers bonded courses to straight stacks.
    """

    part_cost: float = 100.0
    bond_w: float = 30.0
    bond_cap: float = 3.0
    seam_w: float = 10.0
    orient_w: float = 5.0
    isolated_w: float = 300.0

    def array(self) -> np.ndarray:
        return np.array(
            [
                self.part_cost,
                self.bond_w,
                self.bond_cap,
                self.seam_w,
                self.orient_w,
                self.isolated_w,
            ],
            dtype=np.float64,
        )


@dataclass
class LayerProblem:
    """One layer to lay: cells whose parts start at plate level ``z``, plus its candidates.

    Attributes:
        z: plate level.
        hbits: (nx, ny) uint8 height bits (1 plate, 2 brick, 0 nothing to lay).
        color: (nx, ny) int32 colour index into the layout's palette.
        cx, cy, fp: (m,) int64 candidate positions and footprint rows of ``fps``.
        cost: (m,) float64 candidate cost (see :class:`LayerWeights`).
        dead: (m,) int64 cells of each candidate with no filled cell under or over its part.
        fps: (k, 4) int64 footprint table ``(sx, sy, h, part_index)``.
        seed: tie-break seed of this layer.
    """

    z: int
    hbits: np.ndarray
    color: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    fp: np.ndarray
    cost: np.ndarray
    dead: np.ndarray
    fps: np.ndarray
    seed: int
    _greedy: np.ndarray | None = field(default=None, repr=False)

    @property
    def sx(self) -> np.ndarray:
        return self.fps[self.fp, 0]

    @property
    def sy(self) -> np.ndarray:
        return self.fps[self.fp, 1]

    @property
    def h(self) -> np.ndarray:
        return self.fps[self.fp, 2]

    @property
    def n_cells(self) -> int:
        return int(np.count_nonzero(self.hbits))

    def layer_cost(self) -> np.ndarray:
        """(m,) float64 cost charged to this layer: a brick's cost is spread over its 3 plates."""
        return self.cost * (3.0 / self.h)

    def greedy(self) -> np.ndarray:
        """The greedy cover: cheapest cost per covered cell first, seeded tie-breaks (cached).

        Candidates that carry dead cells on live ones go first (cheapest per cell among them):
        once their live cells are taken by other parts, the dead cells can only form separate
        pieces.
        """
        if self._greedy is None:
            rng = np.random.default_rng([self.seed, self.z, 7])
            area = self.sx * self.sy
            per_cell = self.cost / (area * self.h)
            rescue = (self.dead > 0) & (self.dead < area)
            noise = rng.random(len(per_cell)) * 1e-3
            order = np.lexsort((noise, per_cell, ~rescue)).astype(np.int64)
            free = self.hbits > 0
            self._greedy = greedy_select(free, self.cx, self.cy, self.sx, self.sy, order)
        return self._greedy

    def cells_of(self, chosen: np.ndarray) -> np.ndarray:
        """(nx, ny) int64 count of chosen candidates covering each cell (1 everywhere = exact cover)."""
        cover = np.zeros(self.hbits.shape, dtype=np.int64)
        for c in chosen:
            x, y = self.cx[c], self.cy[c]
            cover[x : x + self.sx[c], y : y + self.sy[c]] += 1
        return cover


def build_problem(
    z: int,
    hbits: np.ndarray,
    color: np.ndarray,
    below: np.ndarray,
    above: np.ndarray,
    avail: np.ndarray,
    weights: LayerWeights,
    pref_axis: int,
    seed: int,
    table: PartTable | None = None,
    live: tuple[np.ndarray, np.ndarray] | None = None,
) -> LayerProblem:
    """Enumerate the candidates of one layer (see
    :func:`~voxforge.bricks.layout.kernels.layer_candidates` for array contracts).

    ``live`` is ``(live_p, live_b)``, (nx, ny) bool each; None counts every cell as live.
    """
    table = table or part_table()
    if live is None:
        live = (np.ones(hbits.shape, bool), np.ones(hbits.shape, bool))
    cx, cy, fp, cost, dead = layer_candidates(
        np.ascontiguousarray(hbits, dtype=np.uint8),
        np.ascontiguousarray(color, dtype=np.int32),
        np.ascontiguousarray(below, dtype=np.int32),
        np.ascontiguousarray(above, dtype=np.int32),
        table.fps,
        avail,
        weights.array(),
        int(pref_axis),
        np.ascontiguousarray(live[0], dtype=np.int32),
        np.ascontiguousarray(live[1], dtype=np.int32),
    )
    return LayerProblem(z, hbits, color, cx, cy, fp, cost, dead, table.fps, seed)


LayerSolver = Callable[..., np.ndarray]
"""``solve(problem, work, cap=None) -> chosen``: (s,) int64 candidate indices forming an exact
cover, found within ``work`` deterministic units (CP-SAT deterministic seconds) and stopped by the
wall clock only at the :class:`~voxforge.bricks.cap.TimeCap` ``cap``."""
