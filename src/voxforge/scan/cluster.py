"""Isolating the object: Euclidean clustering and picking one cluster.

Two points belong to the same cluster when a chain of points links them with no step longer
than ``radius`` (the single-linkage clusters PCL's ``EuclideanClusterExtraction`` finds). The
search is exact and runs in a hashed grid of ``radius``-sized cells: only the points of
neighbouring cells are compared, and a union-find skips pairs that are already linked, so a
scan of a few hundred thousand points clusters in a fraction of a second.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numba
import numpy as np

from voxforge.core.errors import GeometryError
from voxforge.core.pointcloud import PointCloud

log = logging.getLogger(__name__)

# The 13 "forward" neighbour offsets of a cell (half of the 26; the other half is covered when
# the neighbour visits this cell), so each pair of cells is compared once.
_FORWARD = np.array(
    [
        (dx, dy, dz)
        for dx in (-1, 0, 1)
        for dy in (-1, 0, 1)
        for dz in (-1, 0, 1)
        if (dx, dy, dz) > (0, 0, 0)
    ],
    dtype=np.int64,
)


@numba.njit(cache=True, inline="always")
def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@numba.njit(cache=True)
def _link_cells(
    xyz: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    neighbours: np.ndarray,
    radius: float,
) -> np.ndarray:
    """Union-find roots of points sorted by cell.

    ``starts[c]:ends[c]`` are the points of cell c; ``neighbours[c]`` lists the indices of its
    forward neighbour cells (-1 where empty). Returns (n,) int64 parents (roots after the call).
    """
    n = xyz.shape[0]
    r2 = radius * radius
    parent = np.arange(n)
    for c in range(starts.shape[0]):
        s0, e0 = starts[c], ends[c]
        for i in range(s0, e0):
            for j in range(i + 1, e0):
                ri, rj = _find(parent, i), _find(parent, j)
                if ri == rj:
                    continue
                d = 0.0
                for k in range(3):
                    t = xyz[i, k] - xyz[j, k]
                    d += t * t
                if d <= r2:
                    parent[max(ri, rj)] = min(ri, rj)
        for m in range(neighbours.shape[1]):
            nb = neighbours[c, m]
            if nb < 0:
                continue
            s1, e1 = starts[nb], ends[nb]
            for i in range(s0, e0):
                for j in range(s1, e1):
                    ri, rj = _find(parent, i), _find(parent, j)
                    if ri == rj:
                        continue
                    d = 0.0
                    for k in range(3):
                        t = xyz[i, k] - xyz[j, k]
                        d += t * t
                    if d <= r2:
                        parent[max(ri, rj)] = min(ri, rj)
    for i in range(n):
        parent[i] = _find(parent, i)
    return parent


def _cell_keys(cells: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """(n,) int64 linear keys of (n, 3) non-negative integer cells in a box of ``dims`` cells."""
    return (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]


def euclidean_clusters(xyz: np.ndarray, radius: float = 0.01, min_points: int = 50) -> np.ndarray:
    """Label points by single-linkage clusters with link length ``radius``.

    Args:
        xyz: (n, 3) float64 positions, metres.
        radius: longest step between two points of the same cluster, metres.
        min_points: clusters with fewer points are dropped (label -1).

    Returns:
        (n,) int64 labels: 0 for the largest cluster, 1 for the next, ... (ties broken by the
        lowest point index), -1 for points of dropped clusters.
    """
    xyz = np.ascontiguousarray(xyz, dtype=np.float64).reshape(-1, 3)
    if not (np.isfinite(radius) and radius > 0):
        raise GeometryError(f"cluster radius must be a positive number of metres, got {radius}")
    n = len(xyz)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.isfinite(xyz).all():
        raise GeometryError("cannot cluster points with NaN/inf coordinates")
    cells = np.floor((xyz - xyz.min(axis=0)) / radius).astype(np.int64)
    # One empty cell of padding on every side keeps neighbour keys unique and in range.
    cells += 1
    dims = cells.max(axis=0) + 2
    if float(np.prod(dims.astype(np.float64))) > 2.0**62:
        raise GeometryError(
            f"cluster radius {radius} m is too small for a cloud {np.ptp(xyz, axis=0)} m wide"
        )
    keys = _cell_keys(cells, dims)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    unique, starts = np.unique(sorted_keys, return_index=True)
    ends = np.append(starts[1:], n)
    first = cells[order[starts]]
    nb_keys = _cell_keys((first[:, None, :] + _FORWARD[None, :, :]).reshape(-1, 3), dims)
    pos = np.searchsorted(unique, nb_keys)
    pos_c = np.minimum(pos, len(unique) - 1)
    neighbours = np.where(unique[pos_c] == nb_keys, pos_c, -1).reshape(len(unique), -1)
    roots_sorted = _link_cells(xyz[order], starts, ends, neighbours, float(radius))
    roots = np.empty(n, dtype=np.int64)
    roots[order] = order[roots_sorted]
    return _rank_labels(roots, min_points)


def _rank_labels(roots: np.ndarray, min_points: int) -> np.ndarray:
    """Relabel component roots 0..k-1 by decreasing size; components under ``min_points`` -> -1."""
    uniq, first, inverse, counts = np.unique(
        roots, return_index=True, return_inverse=True, return_counts=True
    )
    rank_order = np.lexsort((first, -counts))
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[rank_order] = np.arange(len(uniq))
    rank[counts < min_points] = -1
    return rank[inverse]


@dataclass(frozen=True)
class ClusterSummary:
    """One kept cluster: its label, size and axis-aligned box (metres)."""

    label: int
    count: int
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]

    @property
    def centre(self) -> np.ndarray:
        return (np.asarray(self.lo) + np.asarray(self.hi)) / 2.0


def summarise_clusters(xyz: np.ndarray, labels: np.ndarray) -> list[ClusterSummary]:
    """Size and bounding box of every kept cluster (label >= 0), in label order."""
    out = []
    for lab in range(int(labels.max(initial=-1)) + 1):
        pts = xyz[labels == lab]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        out.append(
            ClusterSummary(
                label=lab,
                count=len(pts),
                lo=tuple(float(v) for v in lo),
                hi=tuple(float(v) for v in hi),
            )
        )
    return out


def cluster_centroids(xyz: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(k, 3) float64 mean position of each kept cluster 0..k-1, metres."""
    kept = labels >= 0
    lab = labels[kept]
    k = int(lab.max(initial=-1)) + 1
    sums = np.stack([np.bincount(lab, weights=xyz[kept, j], minlength=k) for j in range(3)], axis=1)
    return sums / np.maximum(np.bincount(lab, minlength=k), 1)[:, None]


def choose_cluster(
    xyz: np.ndarray,
    labels: np.ndarray,
    pick_point: tuple[float, float, float] | np.ndarray | None = None,
    pick_box: tuple[float, float, float, float, float, float] | np.ndarray | None = None,
    centre: np.ndarray | None = None,
    plan_only: bool = False,
) -> int:
    """The label of the object cluster.

    ``pick_box`` (xmin, ymin, zmin, xmax, ymax, zmax) picks the largest cluster among the points
    inside the box; ``pick_point`` picks the cluster holding the point nearest to it (a click on
    the object's surface). Otherwise the cluster whose centroid is nearest ``centre`` (default:
    the centre of the bounding box of the kept points) wins; ``plan_only`` measures that
    distance in x/y only, for a z-up scene where objects of different heights stand side by
    side. Coordinates are in the frame of ``xyz``; ties go to the larger cluster.
    """
    kept = labels >= 0
    if not kept.any():
        raise GeometryError("no cluster is large enough to be the object")
    if pick_box is not None:
        box = np.asarray(pick_box, dtype=np.float64).reshape(2, 3)
        inside = kept & np.all((xyz >= box[0]) & (xyz <= box[1]), axis=1)
        if not inside.any():
            raise GeometryError(
                f"no kept cluster has points inside the pick box {np.round(box, 4).tolist()}"
            )
        return int(np.argmax(np.bincount(labels[inside])))
    if pick_point is not None:
        point = np.asarray(pick_point, dtype=np.float64).reshape(3)
        d2 = np.sum((xyz[kept] - point) ** 2, axis=1)
        return int(labels[kept][int(np.argmin(d2))])
    if centre is None:
        pts = xyz[kept]
        centre = (pts.min(axis=0) + pts.max(axis=0)) / 2.0
    offset = cluster_centroids(xyz, labels) - np.asarray(centre, dtype=np.float64).reshape(3)
    if plan_only:
        offset[:, 2] = 0.0
    return int(np.argmin(np.einsum("ij,ij->i", offset, offset)))


def isolate_object(
    cloud: PointCloud,
    radius: float = 0.01,
    pick_point: tuple[float, float, float] | None = None,
    pick_box: tuple[float, float, float, float, float, float] | None = None,
    min_points: int = 50,
    centre: np.ndarray | None = None,
) -> PointCloud:
    """The points of one object: cluster the cloud and keep the chosen cluster.

    See :func:`euclidean_clusters` for ``radius``/``min_points`` and :func:`choose_cluster`
    for how the cluster is chosen.
    """
    labels = euclidean_clusters(cloud.xyz, radius, min_points)
    if not (labels >= 0).any():
        raise GeometryError(
            f"no cluster of at least {min_points} points with link radius {radius} m in "
            f"{len(cloud)} points; try a larger cluster radius or a smaller minimum"
        )
    label = choose_cluster(cloud.xyz, labels, pick_point, pick_box, centre)
    return cloud.select(labels == label)
