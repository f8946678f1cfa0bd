"""Which parts hold which: stud contacts, the connection graph, grounding.

Two parts are connected when a stud of the lower one enters the bottom of the upper one: the cells
(x, y, z) and (x, y, z + 1) belong to the two parts and the lower part has a stud at (x, y) on its
top face. Tiles have no studs; slopes have studs only on their high-side row (see
:class:`~voxforge.core.brickmodel.Placement` for the rotation convention). Parts whose bottom is at
z = 0 stand on the ground (the baseplate or the table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from voxforge.bricks.catalogue import catalogue
from voxforge.core.brickmodel import BrickModel, Placement


@dataclass
class StudContacts:
    """Stud contacts between vertically adjacent parts, one row per stud.

    Attributes:
        lower, upper: (k,) int64 placement indices; ``upper`` sits on ``lower``'s stud.
        x, y: (k,) int64 lattice column of the stud.
        z: (k,) int64 plate level of the interface (the upper part's bottom).
    """

    lower: np.ndarray
    upper: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray

    def __len__(self) -> int:
        return len(self.lower)


def stud_mask(p: Placement) -> np.ndarray:
    """(sx, sy) bool: which columns of the part's footprint carry a stud on top."""
    part = catalogue()[p.part]
    mask = np.ones((p.sx, p.sy), dtype=bool)
    if part.kind == "tile":
        mask[:] = False
    elif part.kind == "slope":
        mask[:] = False
        r = p.rotation % 4
        if r == 0:
            mask[0, :] = True
        elif r == 1:
            mask[:, 0] = True
        elif r == 2:
            mask[-1, :] = True
        else:
            mask[:, -1] = True
    return mask


def top_stud_grid(model: BrickModel, labels: np.ndarray | None = None) -> np.ndarray:
    """(nx, ny, nz) bool: True where the cell is the top cell of a part column that carries a stud."""
    if labels is None:
        labels = model.label_grid()
    studs = np.zeros(model.shape, dtype=bool)
    for p in model.placements:
        studs[p.x : p.x + p.sx, p.y : p.y + p.sy, p.z + p.h - 1] = stud_mask(p)
    return studs


def stud_contacts(model: BrickModel, labels: np.ndarray | None = None) -> StudContacts:
    """All stud contacts of the model (vectorised over the label grid)."""
    if labels is None:
        labels = model.label_grid()
    return contacts_from_labels(labels, top_stud_grid(model, labels))


def contacts_from_labels(labels: np.ndarray, studs: np.ndarray | None = None) -> StudContacts:
    """Stud contacts read off a label grid (-1 empty, else placement index).

    ``studs`` marks the top cells that carry a stud (see :func:`top_stud_grid`); None means
    every top cell does, as for plain bricks and plates.
    """
    below = labels[:, :, :-1]
    above = labels[:, :, 1:]
    hit = (below >= 0) & (above >= 0) & (below != above)
    if studs is not None:
        hit &= studs[:, :, :-1]
    x, y, z = np.nonzero(hit)
    return StudContacts(
        lower=below[hit].astype(np.int64),
        upper=above[hit].astype(np.int64),
        x=x.astype(np.int64),
        y=y.astype(np.int64),
        z=(z + 1).astype(np.int64),
    )


def connection_graph(model: BrickModel, contacts: StudContacts | None = None) -> sparse.csr_matrix:
    """(n, n) symmetric sparse matrix; entry (i, j) = number of studs joining parts i and j."""
    if contacts is None:
        contacts = stud_contacts(model)
    n = len(model.placements)
    ones = np.ones(len(contacts), dtype=np.int64)
    g = sparse.coo_matrix((ones, (contacts.lower, contacts.upper)), shape=(n, n)).tocsr()
    return (g + g.T).tocsr()


def grounded_parts(model: BrickModel) -> np.ndarray:
    """(n,) bool: parts whose bottom rests on the ground (z == 0)."""
    return model.arrays()["z"] == 0


def components(model: BrickModel, graph: sparse.csr_matrix | None = None) -> np.ndarray:
    """(n,) int64 connected-component label of each part in the stud-connection graph."""
    if graph is None:
        graph = connection_graph(model)
    if graph.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    _, labels = csgraph.connected_components(graph, directed=False)
    return labels.astype(np.int64)


def floating_parts(model: BrickModel, graph: sparse.csr_matrix | None = None) -> np.ndarray:
    """(n,) bool: parts with no stud path to the ground."""
    if graph is None:
        graph = connection_graph(model)
    labels = components(model, graph)
    if len(labels) == 0:
        return np.zeros(0, dtype=bool)
    grounded_components = np.unique(labels[grounded_parts(model)])
    return ~np.isin(labels, grounded_components)


@dataclass
class ConnectivityReport:
    """Summary of how the parts hold together."""

    n_parts: int
    n_components: int
    n_floating: int
    n_contacts: int
    connected: bool
    grounded: bool

    def as_dict(self) -> dict[str, int | bool]:
        return dict(self.__dict__)


def connectivity_report(model: BrickModel) -> ConnectivityReport:
    """Counts of components, floating parts and stud contacts; ``connected`` means one component."""
    contacts = stud_contacts(model)
    graph = connection_graph(model, contacts)
    labels = components(model, graph)
    floating = floating_parts(model, graph)
    n_comp = int(labels.max() + 1) if len(labels) else 0
    return ConnectivityReport(
        n_parts=len(model.placements),
        n_components=n_comp,
        n_floating=int(floating.sum()),
        n_contacts=len(contacts),
        connected=n_comp == 1,
        grounded=bool(len(labels)) and not floating.any(),
    )
