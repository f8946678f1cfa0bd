"""Contact geometry for the stability model: where parts press on and hold each other.

All arrays are built from the label grid in one vectorised pass; nothing loops per contact.
Lattice units throughout (x, y in studs, z in plates); :mod:`voxforge.bricks.physics.lp` turns
them into metres.

Vertical contacts enter the equilibrium: columns where a stud of the lower part enters the upper
one (:func:`voxforge.bricks.connectivity.stud_contacts`, plus the ground, which acts as a
baseplate with a stud under every cell at z = 0), and columns where a part merely rests on one
without a stud (a tile, the sloped cells of a slope). They are grouped per pair of parts into
:class:`Interfaces`, the unit the linear program works with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from voxforge.bricks.catalogue import catalogue
from voxforge.bricks.connectivity import stud_contacts
from voxforge.core.brickmodel import BrickModel
from voxforge.core.errors import GeometryError

GROUND = -1
"""Part index standing for the ground (a fixed baseplate under z = 0)."""


@dataclass
class VerticalContacts:
    """One row per lattice column where a part's bottom touches something below it.

    Attributes:
        lower: (k,) int64 part below, or :data:`GROUND`.
        upper: (k,) int64 part above.
        x, y: (k,) int64 lattice column.
        z: (k,) int64 plate level of the interface (the upper part's bottom).
        stud: (k,) bool whether a stud of ``lower`` enters ``upper`` there (ground: always).
    """

    lower: np.ndarray
    upper: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    stud: np.ndarray

    def __len__(self) -> int:
        return len(self.upper)

    def subset(self, keep: np.ndarray) -> VerticalContacts:
        """The rows where ``keep`` (bool mask or index array) selects."""
        return VerticalContacts(*(getattr(self, f)[keep] for f in _VFIELDS))


_VFIELDS = ("lower", "upper", "x", "y", "z", "stud")


def part_masses(model: BrickModel) -> np.ndarray:
    """(n,) float64 kilograms from the catalogue; an unknown part key raises a one-line error."""
    cat = catalogue()
    masses: dict[str, float] = {}
    for key in {p.part for p in model.placements}:
        if key not in cat:
            raise GeometryError(f"brick model uses part {key!r}, which is not in the catalogue")
        masses[key] = cat[key].mass_g * 1e-3
    return np.fromiter((masses[p.part] for p in model.placements), np.float64, len(model))


def centres_of_mass(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """(n, 3) float64 lattice coordinates of each part's box centre (its centre of mass).

    Parts are treated as homogeneous boxes; a slope's true centre of mass sits a little lower
    and toward its stud row, which the box centre ignores (a few tenths of a stud).
    """
    return np.stack(
        [
            arrays["x"] + 0.5 * arrays["sx"],
            arrays["y"] + 0.5 * arrays["sy"],
            arrays["z"] + 0.5 * arrays["h"],
        ],
        axis=1,
    ).astype(np.float64)


def vertical_contacts(model: BrickModel, labels: np.ndarray) -> VerticalContacts:
    """Every part-on-part and part-on-ground contact column, studded or not."""
    studs = stud_contacts(model, labels)
    below = labels[:, :, :-1]
    above = labels[:, :, 1:]
    touching = (below >= 0) & (above >= 0) & (below != above)
    touching[studs.x, studs.y, studs.z - 1] = False  # what remains rests without a stud
    px, py, pz = np.nonzero(touching)
    gx, gy = np.nonzero(labels[:, :, 0] >= 0)
    n_s, n_p, n_g = len(studs), len(px), len(gx)
    return VerticalContacts(
        lower=np.concatenate([studs.lower, below[touching], np.full(n_g, GROUND)]).astype(np.int64),
        upper=np.concatenate([studs.upper, above[touching], labels[gx, gy, 0]]).astype(np.int64),
        x=np.concatenate([studs.x, px, gx]).astype(np.int64),
        y=np.concatenate([studs.y, py, gy]).astype(np.int64),
        z=np.concatenate([studs.z, pz + 1, np.zeros(n_g, np.int64)]).astype(np.int64),
        stud=np.concatenate([np.ones(n_s, bool), np.zeros(n_p, bool), np.ones(n_g, bool)]),
    )


def support_depth(n: int, contacts: VerticalContacts) -> np.ndarray:
    """(n,) float64 hops from the ground through vertical contacts; ``inf`` for floating parts.

    A part is supported when a chain of vertical contacts (stud or resting) leads to the ground;
    side faces cannot carry weight, so they do not count.
    """
    ground = n
    lower = np.where(contacts.lower == GROUND, ground, contacts.lower)
    ones = np.ones(len(lower), dtype=np.int8)
    g = sparse.coo_matrix((ones, (lower, contacts.upper)), shape=(n + 1, n + 1)).tocsr()
    depth = csgraph.shortest_path(g, directed=False, unweighted=True, indices=ground)
    return np.asarray(depth[:n], dtype=np.float64)


@dataclass
class Interfaces:
    """Vertical contacts grouped by the pair of parts (or part and ground) they join.

    Two boxes touch over a rectangle of columns, and the studded columns of it (all of them for
    bricks and plates, one row for slopes, none for tiles) form a rectangle too, so both are kept
    as half-open lattice rectangles.

    Attributes:
        lower, upper: (p,) int64 parts (lower may be :data:`GROUND`).
        z: (p,) int64 plate level of the interface.
        rect: (p, 4) int64 ``x0, x1, y0, y1`` of the touching columns.
        stud_rect: (p, 4) int64 the same for the studded columns (equal to ``rect`` where
            ``n_studs`` is 0, so that a resting contact still has points to carry tension at).
        n_studs: (p,) int64 studded columns.
        n_cells: (p,) int64 touching columns.
    """

    lower: np.ndarray
    upper: np.ndarray
    z: np.ndarray
    rect: np.ndarray
    stud_rect: np.ndarray
    n_studs: np.ndarray
    n_cells: np.ndarray

    def __len__(self) -> int:
        return len(self.upper)

    def among(self, keep: np.ndarray, rows: np.ndarray) -> Interfaces:
        """The interfaces ``rows`` of a sub-model of the parts ``keep`` (n,) bool, its parts
        renumbered ``0..keep.sum()-1`` in their order (the ground stays :data:`GROUND`)."""
        new = np.full(len(keep) + 1, -2, dtype=np.int64)
        new[np.flatnonzero(keep)] = np.arange(int(keep.sum()))
        new[-1] = GROUND  # the ground's index -1 maps to itself
        return self.remapped(new, rows)

    def remapped(self, new_index: np.ndarray, rows: np.ndarray) -> Interfaces:
        """The interfaces ``rows`` (bool mask or index) with part indices renumbered.

        ``new_index[i]`` is part i's index in the sub-model (``new_index[-1]`` must map the
        ground, index -1, to :data:`GROUND`).
        """
        return Interfaces(
            lower=new_index[self.lower[rows]],
            upper=new_index[self.upper[rows]],
            z=self.z[rows],
            rect=self.rect[rows],
            stud_rect=self.stud_rect[rows],
            n_studs=self.n_studs[rows],
            n_cells=self.n_cells[rows],
        )


def _group_rect(inv: np.ndarray, p: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(p, 4) ``x0, x1, y0, y1`` half-open bounding rectangle of the columns in each group."""
    big = np.iinfo(np.int64).max
    out = np.empty((p, 4), dtype=np.int64)
    out[:, 0], out[:, 2] = big, big
    out[:, 1], out[:, 3] = -1, -1
    np.minimum.at(out[:, 0], inv, x)
    np.maximum.at(out[:, 1], inv, x + 1)
    np.minimum.at(out[:, 2], inv, y)
    np.maximum.at(out[:, 3], inv, y + 1)
    return out


def interfaces(n: int, vc: VerticalContacts) -> Interfaces:
    """Group the contact columns of ``vc`` by (lower, upper) pair."""
    key = (vc.lower + 1) * np.int64(n + 1) + vc.upper
    uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    p = len(uniq)
    rect = _group_rect(inv, p, vc.x, vc.y)
    s = vc.stud
    stud_rect = _group_rect(inv[s], p, vc.x[s], vc.y[s])
    n_studs = np.bincount(inv[s], minlength=p).astype(np.int64)
    stud_rect[n_studs == 0] = rect[n_studs == 0]
    return Interfaces(
        lower=vc.lower[first],
        upper=vc.upper[first],
        z=vc.z[first],
        rect=rect,
        stud_rect=stud_rect,
        n_studs=n_studs,
        n_cells=np.bincount(inv, minlength=p).astype(np.int64),
    )
