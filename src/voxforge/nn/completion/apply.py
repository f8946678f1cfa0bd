"""Completing real scans: a point cloud or mesh -> partial 32³ grid + known-empty -> completed grid.

A fused scan keeps its points and (usually) their normals but not the rays that made them, so
the known-empty space is carved the way the sensor saw it: the view directions are estimated from
the surface normals (fused normals face the camera; clouds without normals get PCA normals turned
away from the cloud's centre), and each cell from which a straight line towards a camera
direction leaves the grid without meeting a (one-cell dilated) scanned cell is known empty.

The same normals say how much of the object was seen: ``coverage_deg`` is the arc of horizontal
directions the visible surface faces (360 minus the widest empty gap of a 10° histogram). A scan
whose coverage is under ``one_sided_deg`` is one-sided (``--complete auto`` completes it).

The grid frame follows the training shapes: z up, the object scaled to 30 cells along its
longest side and centred. Seen from one side, the object's depth is unknown; it is taken as at
least its width across the view (a square footprint), and the object's centre is put that far
behind the scanned front.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from voxforge.core.errors import GeometryError
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.core.voxelgrid import VoxelGrid

GRID = 32
FILL = 30
_BINS = 36


@dataclass
class ScanViews:
    """What the normals say about the cameras."""

    directions: np.ndarray
    """(k, 3) unit vectors from the object towards the estimated cameras."""
    coverage_deg: float
    """Arc of horizontal directions the seen surface faces."""
    one_sided: bool


@dataclass
class PartialScan:
    """A scan on the completion grid: cells, known-empty space and where the grid sits."""

    partial: np.ndarray
    known_empty: np.ndarray
    origin: np.ndarray
    pitch: float
    views: ScanViews
    info: dict[str, Any] = field(default_factory=dict)

    def to_voxel_grid(self, occupancy: np.ndarray, meta: dict[str, Any] | None = None) -> VoxelGrid:
        """A cubic :class:`VoxelGrid` (metres) of ``occupancy`` on this grid."""
        return VoxelGrid(occupancy, pitch=self.pitch, origin=self.origin, meta=dict(meta or {}))


def surface_points(obj: PointCloud | Mesh, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """(n, 3) points and their normals (or None) of a cloud, or samples of a mesh's surface with
    their faces' normals."""
    if isinstance(obj, PointCloud):
        return obj.xyz, obj.normals
    from voxforge.mesh.sample import sample_surface

    s = sample_surface(obj, 20_000, seed=seed)
    normals = np.asarray(obj.tm.face_normals, dtype=np.float64)[s.face_index]
    return np.asarray(s.points, dtype=np.float64), normals


def estimate_normals(xyz: np.ndarray, k: int = 16) -> np.ndarray:
    """(n, 3) PCA normals of a cloud, turned away from its centre."""
    from scipy.spatial import cKDTree

    pts = xyz[:: max(1, len(xyz) // 20_000)] if len(xyz) > 20_000 else xyz
    k = min(k, len(pts))
    _, nbr = cKDTree(pts).query(xyz, k=k)
    local = pts[nbr] - pts[nbr].mean(axis=1, keepdims=True)
    _, vecs = np.linalg.eigh(np.einsum("nki,nkj->nij", local, local))
    normals = vecs[:, :, 0]
    flip = np.einsum("ni,ni->n", normals, xyz - xyz.mean(axis=0)) < 0
    normals[flip] *= -1
    return normals


def estimate_views(normals: np.ndarray, one_sided_deg: float = 180.0) -> ScanViews:
    """Camera directions and horizontal coverage from surface normals."""
    n = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    horiz = np.linalg.norm(n[:, :2], axis=1) > 0.3
    if horiz.sum() < 10:
        return ScanViews(np.array([[0.0, 0.0, 1.0]]), 0.0, True)
    az = np.degrees(np.arctan2(n[horiz, 1], n[horiz, 0])) % 360
    hist = np.bincount((az // (360 / _BINS)).astype(int) % _BINS, minlength=_BINS)
    used = hist >= max(3, 0.01 * horiz.sum())
    gap = _widest_gap(used)
    coverage = 360.0 - gap * 360.0 / _BINS
    dirs = []
    for b in np.flatnonzero(used):
        sel = n[horiz][(az // (360 / _BINS)).astype(int) % _BINS == b]
        d = sel.mean(axis=0)
        dirs.append(d / max(np.linalg.norm(d), 1e-12))
    return ScanViews(np.asarray(dirs), float(coverage), bool(coverage < one_sided_deg))


def _widest_gap(used: np.ndarray) -> int:
    """Longest circular run of unused bins."""
    if not used.any():
        return len(used)
    ring = np.concatenate([used, used])
    best = run = 0
    for u in ring:
        run = 0 if u else run + 1
        best = max(best, run)
    return min(best, len(used))


def carve_known_empty(partial: np.ndarray, directions: np.ndarray, step: float = 0.5) -> np.ndarray:
    """Cells from which a line towards some camera direction leaves the grid unblocked."""
    blocked = ndimage.binary_dilation(partial, iterations=1)
    r = partial.shape[0]
    centres = np.indices(partial.shape).reshape(3, -1).T + 0.5
    free = np.zeros(partial.size, dtype=bool)
    steps = np.arange(1.5, 2 * r, step)
    for d in directions:
        hit = np.zeros(len(centres), dtype=bool)
        for s in steps:
            q = np.floor(centres + s * d).astype(np.int64)
            inside = np.all((q >= 0) & (q < r), axis=1)
            qi = q[inside]
            hit[np.flatnonzero(inside)[blocked[qi[:, 0], qi[:, 1], qi[:, 2]]]] = True
        free |= ~hit
    free = free.reshape(partial.shape)
    return free & ~blocked


def scan_to_partial(obj: PointCloud | Mesh, *, one_sided_deg: float = 180.0) -> PartialScan:
    """Put a scanned object on the 32³ completion grid with its known-empty space."""
    xyz, normals = surface_points(obj)
    if len(xyz) < 10:
        raise GeometryError(f"completion needs a scan of at least 10 points, got {len(xyz)}")
    if normals is None or len(normals) != len(xyz):
        normals = estimate_normals(xyz)
    views = estimate_views(np.asarray(normals, dtype=np.float64), one_sided_deg)
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    centre = (lo + hi) / 2
    v = views.directions.mean(axis=0)
    vh = np.array([v[0], v[1], 0.0])
    extent = hi - lo
    if views.one_sided and np.linalg.norm(vh) > 1e-6:
        vh /= np.linalg.norm(vh)
        across = np.array([-vh[1], vh[0], 0.0])
        proj = xyz @ vh
        width = float(np.ptp(xyz @ across))
        depth = max(float(np.ptp(proj)), width)
        front = float(proj.max())
        centre = centre - (centre @ vh) * vh + (front - depth / 2) * vh
        extent = np.maximum(extent, [abs(vh[0]) * depth, abs(vh[1]) * depth, 0.0])
        size = max(float(extent.max()), depth, width)
    else:
        size = float(extent.max())
    if not size > 0:
        raise GeometryError("completion needs a scan with a non-zero extent")
    pitch = size / FILL
    origin = centre - GRID / 2 * pitch
    cells = np.floor((xyz - origin) / pitch).astype(np.int64)
    cells = cells[np.all((cells >= 0) & (cells < GRID), axis=1)]
    partial = np.zeros((GRID, GRID, GRID), dtype=bool)
    partial[cells[:, 0], cells[:, 1], cells[:, 2]] = True
    empty = carve_known_empty(partial, views.directions)
    info = {"coverage_deg": round(views.coverage_deg, 1), "one_sided": views.one_sided,
            "views": len(views.directions), "pitch_m": pitch,
            "observed_cells": int(partial.sum())}  # fmt: skip
    return PartialScan(partial, empty, origin, pitch, views, info)


@dataclass
class Completion:
    """A completed scan on the completion grid."""

    scan: PartialScan
    completed: np.ndarray
    """(R, R, R) bool: observed cells plus the cells the completion adds."""
    method: str

    @property
    def added(self) -> np.ndarray:
        """Cells the completion adds (not observed)."""
        return self.completed & ~self.scan.partial

    def summary(self) -> dict[str, Any]:
        """JSON-safe counts and the view estimate."""
        return {**self.scan.info, "method": self.method,
                "completed_cells": int(self.completed.sum()),
                "added_cells": int(self.added.sum())}  # fmt: skip


def complete_scan(
    obj: PointCloud | Mesh,
    *,
    method: str = "network",
    weights: str | None = None,
    one_sided_deg: float = 180.0,
) -> Completion:
    """Complete a scanned object with the network (``method="network"``) or the mirror baseline."""
    from voxforge.nn.completion.symmetry import mirror_complete

    scan = scan_to_partial(obj, one_sided_deg=one_sided_deg)
    if method == "network":
        from voxforge.nn.completion.infer import load_completer

        completed = load_completer(weights).complete(scan.partial, scan.known_empty)
    elif method == "symmetry":
        completed = mirror_complete(scan.partial, scan.known_empty)[0]
    else:
        raise GeometryError(f"completion method must be network or symmetry, got {method!r}")
    return Completion(scan, completed | scan.partial, method)


def add_to_grid(grid: VoxelGrid, completion: Completion) -> tuple[VoxelGrid, np.ndarray]:
    """Fill the cells of ``grid`` (any lattice, metres) whose centres fall in completed cells.

    Added cells take the colour of the nearest filled cell. Returns the new grid and the (nx, ny,
    nz) bool mask of the added cells.
    """
    scan = completion.scan
    centres = (np.indices(grid.shape).reshape(3, -1).T + 0.5) * grid.pitch + grid.origin
    idx = np.floor((centres - scan.origin) / scan.pitch).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < GRID), axis=1)
    hit = np.zeros(len(centres), dtype=bool)
    ii = idx[inside]
    hit[np.flatnonzero(inside)] = completion.completed[ii[:, 0], ii[:, 1], ii[:, 2]]
    hit = hit.reshape(grid.shape)
    added = hit & ~grid.occupancy
    if grid.interior is not None:
        added &= ~grid.interior
    occ = grid.occupancy | added
    colors = None
    if grid.colors is not None and grid.occupancy.any():
        _, nearest = ndimage.distance_transform_edt(~grid.occupancy, return_indices=True)
        colors = grid.colors[nearest[0], nearest[1], nearest[2]]
        colors[grid.occupancy] = grid.colors[grid.occupancy]
    meta = dict(grid.meta)
    out = VoxelGrid(occ, pitch=grid.pitch, origin=grid.origin, colors=colors,
                    interior=grid.interior, meta=meta)  # fmt: skip
    return out, added


def complete_grid(obj: PointCloud | Mesh | VoxelGrid, grid: VoxelGrid, mode: str) -> VoxelGrid:
    """``--complete`` of the pipelines: fill ``grid``'s unseen side when ``mode`` is ``on``, or
    ``auto`` and the scan is one-sided.

    The report (``applied``, ``reason``, coverage, cell counts) goes to ``grid.meta["completion"]``
    and the (k, 3) int lattice indices of the added cells to ``grid.meta["completed_cells"]``.
    """
    if mode not in ("on", "auto"):
        raise GeometryError(f"--complete must be auto, on or off, got {mode!r}")
    if isinstance(obj, VoxelGrid):
        grid.meta["completion"] = {"applied": False, "reason": "input is a voxel grid"}
        return grid
    scan = scan_to_partial(obj)
    if mode == "auto" and not scan.views.one_sided:
        grid.meta["completion"] = {
            "applied": False,
            "reason": f"scan covers {scan.views.coverage_deg:.0f} deg around the object (not one-sided)",
            "grid32": scan.info,
        }
        return grid
    from voxforge.nn.completion.infer import load_completer

    completed = load_completer().complete(scan.partial, scan.known_empty) | scan.partial
    completion = Completion(scan, completed, "network")
    out, added = add_to_grid(grid, completion)
    why = (
        f"one-sided scan: seen surface faces {scan.views.coverage_deg:.0f} deg around the object"
        if scan.views.one_sided
        else "asked for (--complete on)"
    )
    out.meta["completion"] = {
        "applied": True,
        "reason": why,
        "added_cells": int(added.sum()),
        "grid32": completion.summary(),
    }
    out.meta["completed_cells"] = np.argwhere(added).astype(np.int64)
    return out
