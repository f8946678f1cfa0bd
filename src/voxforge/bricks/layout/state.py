"""The mutable state of a layout in progress: target cells, colours, placed parts, the label grid.

Parts are kept as rows of an int64 array (``x, y, z, sx, sy, h, part_index, colour``) with an
``alive`` flag so that repair passes can take parts out and put others in cheaply; the label grid
says which row fills each cell. :meth:`LayoutState.model` compacts the live rows into a
:class:`~voxforge.core.brickmodel.BrickModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from voxforge.bricks.cap import TimeCap
from voxforge.bricks.connectivity import StudContacts, contacts_from_labels
from voxforge.bricks.layout.kernels import BRICK_BIT, PLATE_BIT
from voxforge.bricks.layout.problem import (
    LayerProblem,
    LayerSolver,
    LayerWeights,
    PartTable,
    build_problem,
    part_table,
)
from voxforge.core.brickmodel import BrickModel, Placement

X, Y, Z, SX, SY, H, PART, COLOR = range(8)
"""Column indices of :attr:`LayoutState.rows`."""


@dataclass
class Connectivity:
    """Components of the live parts (stud contacts only; box parts carry studs on every cell).

    Attributes:
        comp: (n_rows,) int64 component label per row, -1 for dead rows.
        n_components: number of components among live rows.
        floating: (n_rows,) bool live rows with no stud path to the ground.
    """

    comp: np.ndarray
    n_components: int
    floating: np.ndarray

    @property
    def n_floating(self) -> int:
        return int(self.floating.sum())

    def key(self) -> tuple[int, int]:
        """Lexicographic badness: fewer floating parts first, then fewer components."""
        return (self.n_floating, self.n_components)


class LayoutState:
    """Cells to fill and the parts placed so far.

    Attributes:
        filled: (nx, ny, nz) bool cells the layout must cover (grows when supports are added).
        code: (nx, ny, nz) int32 LDraw colour code per filled cell.
        cidx: (nx, ny, nz) int32 index of ``code`` in ``palette``.
        palette: (n_colors,) int32 LDraw codes in use.
        avail: (k, n_colors) bool: footprint row k of the part table exists in palette colour c.
        labels: (nx, ny, nz) int32 row filling each cell, -1 where empty.
        rows: (n, 8) int64 parts; ``alive``: (n,) bool.
        added: (nx, ny, nz) bool cells added by repair (supports).
    """

    def __init__(
        self,
        filled: np.ndarray,
        code: np.ndarray,
        palette: np.ndarray,
        avail: np.ndarray,
        table: PartTable | None = None,
    ) -> None:
        self.table = table or part_table()
        self.filled = filled
        self.code = code
        self.palette = palette
        self.cidx = np.searchsorted(palette, code).astype(np.int32)
        self.cidx[~filled] = 0
        self.avail = avail
        self.labels = np.full(filled.shape, -1, dtype=np.int32)
        self.rows = np.zeros((0, 8), dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self.added = np.zeros(filled.shape, dtype=bool)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.filled.shape)  # type: ignore[return-value]

    @property
    def n_parts(self) -> int:
        return int(self.alive.sum())

    def add(self, rows: np.ndarray) -> np.ndarray:
        """Append (k, 8) part rows, label their cells; returns their (k,) row indices."""
        start = len(self.rows)
        self.rows = np.concatenate([self.rows, rows.astype(np.int64)])
        self.alive = np.concatenate([self.alive, np.ones(len(rows), dtype=bool)])
        for i, r in enumerate(rows, start):
            self.labels[r[X] : r[X] + r[SX], r[Y] : r[Y] + r[SY], r[Z] : r[Z] + r[H]] = i
        return np.arange(start, len(self.rows))

    def remove(self, idx: np.ndarray) -> np.ndarray:
        """Take live rows out; returns a copy of their (k, 8) rows (for putting them back)."""
        idx = np.asarray(idx, dtype=np.int64)
        for r in self.rows[idx]:
            self.labels[r[X] : r[X] + r[SX], r[Y] : r[Y] + r[SY], r[Z] : r[Z] + r[H]] = -1
        self.alive[idx] = False
        return self.rows[idx].copy()

    def add_cells(self, cells: np.ndarray, color: int) -> None:
        """Make the (nx, ny, nz) bool ``cells`` targets of colour ``color`` (repair cells).

        ``color`` must be in the palette (the layout puts the support colour there).
        """
        self.filled |= cells
        self.added |= cells
        self.code[cells] = color
        self.cidx[cells] = int(np.searchsorted(self.palette, color))

    def free_hbits(self, z: int, mode: str) -> np.ndarray:
        """(nx, ny) uint8 height bits of the still-empty target cells at plate level ``z``.

        ``plates``: plates only. ``bricks``: a brick wherever the column is filled, empty and one
        colour for the whole course ``[z, z + 3)`` and ``z`` starts a course (``z % 3 == 0``),
        plates elsewhere. ``mixed``: a brick or a plate wherever three empty same-colour cells start
        at ``z``, whatever the course; the strategy's costs choose.
        """
        nz = self.shape[2]
        free = self.filled[:, :, z] & (self.labels[:, :, z] < 0)
        hb = np.where(free, PLATE_BIT, 0).astype(np.uint8)
        if mode == "plates" or z + 3 > nz or (mode == "bricks" and z % 3):
            return hb
        run = free.copy()
        for dz in (1, 2):
            run &= self.filled[:, :, z + dz] & (self.labels[:, :, z + dz] < 0)
            run &= self.code[:, :, z + dz] == self.code[:, :, z]
        if mode == "bricks":
            run &= ~self._lonely_course(z, run)
            hb[run] = BRICK_BIT
        else:
            hb[run] |= BRICK_BIT
        return hb

    def _lonely_course(self, z: int, run: np.ndarray) -> np.ndarray:
        """(nx, ny) bool brick cells of course ``z`` that nothing could bond to their neighbours.

        A brick with no filled cell under it (or the ground) and none over it touches other parts
        only side by side, which holds nothing; such one-course slabs (a table top, a base plate
        on the floor) are laid as three staggered plate levels instead, and so is a one-cell ring
        around them, so that the plates reach parts that are bonded above or below. A slab that
        one brick covers whole stays a brick.
        """
        nz = self.shape[2]
        below = self.filled[:, :, z - 1] if z > 0 else np.zeros_like(run)
        above = self.filled[:, :, z + 3] if z + 3 < nz else np.zeros_like(run)
        lonely = run & ~below & ~above
        if not lonely.any():
            return lonely
        lab, _ = ndimage.label(run)
        bricks = {(int(r[0]), int(r[1])) for r in self.table.fps if r[2] == 3}
        for i, box in enumerate(ndimage.find_objects(lab), start=1):
            if box is None:
                continue
            piece = lab[box] == i
            if piece.all() and piece.shape in bricks:
                lonely[box][piece] = False
        return ndimage.binary_dilation(lonely, np.ones((3, 3), bool)) & run

    def problem(
        self,
        z: int,
        hbits: np.ndarray,
        weights: LayerWeights,
        pref_axis: int,
        seed: int,
        below: np.ndarray | None = None,
        above: np.ndarray | None = None,
    ) -> LayerProblem:
        """The layer problem at ``z``; ``below``/``above`` default to part labels / nothing."""
        nx, ny, _ = self.shape
        if below is None:
            below = self.labels[:, :, z - 1] if z > 0 else np.full((nx, ny), -1, np.int32)
        if above is None:
            above = np.full((nx, ny), -1, np.int32)
        return build_problem(
            z,
            hbits,
            self.cidx[:, :, z],
            below,
            above,
            self.avail,
            weights,
            pref_axis,
            seed,
            self.table,
            self.live(z),
        )

    def live(self, z: int) -> tuple[np.ndarray, np.ndarray]:
        """(nx, ny) bool each: a plate / a brick starting at ``z`` has a filled cell under or over it.

        Only such parts can be joined to others; the ground is not counted (it joins nothing).
        """
        nz = self.shape[2]
        zero = np.zeros(self.shape[:2], dtype=bool)
        below = self.filled[:, :, z - 1] if z > 0 else zero
        over1 = self.filled[:, :, z + 1] if z + 1 < nz else zero
        over3 = self.filled[:, :, z + 3] if z + 3 < nz else zero
        return below | over1, below | over3

    def place(self, problem: LayerProblem, chosen: np.ndarray) -> np.ndarray:
        """Add the chosen candidates of ``problem`` as parts; returns their row indices."""
        fp = problem.fps[problem.fp[chosen]]
        cx, cy = problem.cx[chosen], problem.cy[chosen]
        rows = np.empty((len(chosen), 8), dtype=np.int64)
        rows[:, X], rows[:, Y], rows[:, Z] = cx, cy, problem.z
        rows[:, SX], rows[:, SY], rows[:, H], rows[:, PART] = fp[:, 0], fp[:, 1], fp[:, 2], fp[:, 3]
        rows[:, COLOR] = self.code[cx, cy, problem.z]
        return self.add(rows)

    def lay(
        self, problem: LayerProblem, solver: LayerSolver, work: float, cap: TimeCap | None = None
    ) -> np.ndarray:
        """Solve one layer problem with ``solver`` within ``work`` (and ``cap``); place the result."""
        if len(problem.cx) == 0:
            return np.zeros(0, dtype=np.int64)
        return self.place(problem, solver(problem, work, cap))

    def above_labels(self, z: int, hbits: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """(nx, ny) int32 value of ``grid`` just above a part of the height given by ``hbits``."""
        nz = self.shape[2]
        out = np.full(hbits.shape, -1, dtype=np.int32)
        for h, bit in ((1, PLATE_BIT), (3, BRICK_BIT)):
            if z + h < nz:
                sel = (hbits & bit) > 0
                out[sel] = grid[:, :, z + h][sel]
        return out

    def contacts(self) -> StudContacts:
        """Stud contacts from the label grid (every box part has a stud on each top cell)."""
        return contacts_from_labels(self.labels)

    def connectivity(self) -> Connectivity:
        """Components and floating parts of the live rows."""
        n = len(self.rows)
        c = self.contacts()
        g = sparse.coo_matrix((np.ones(len(c)), (c.lower, c.upper)), shape=(n, n)).tocsr()
        _, lab = csgraph.connected_components(g, directed=False)
        lab = lab.astype(np.int64)
        lab[~self.alive] = -1
        live = lab[self.alive]
        grounded = np.unique(lab[self.alive & (self.rows[:, Z] == 0)])
        floating = self.alive & ~np.isin(lab, grounded)
        return Connectivity(lab, len(np.unique(live)), floating)

    def live_index(self) -> np.ndarray:
        """(n_parts,) int64 row index of each placement of :meth:`model`, in order."""
        return np.flatnonzero(self.alive)

    def placements(self) -> list[Placement]:
        out = []
        for r in self.rows[self.alive]:
            part = self.table.parts[int(r[PART])]
            rotation = 0 if (r[SX] == part.length) else 1
            out.append(
                Placement(
                    part.key,
                    int(r[X]),
                    int(r[Y]),
                    int(r[Z]),
                    int(r[SX]),
                    int(r[SY]),
                    int(r[H]),
                    int(r[COLOR]),
                    rotation,
                )
            )
        return out

    def model(self, pitch: np.ndarray, origin: np.ndarray) -> BrickModel:
        return BrickModel(self.placements(), self.shape, pitch.copy(), origin.copy())
