"""A scanned scene as candidate objects, and which of them the person scanned.

After the table or ground plane is gone, a scan still holds more than the object: other things on
the table, a second table, bumps of an uneven floor, specks of noise. This module

* measures the scan's own noise from the plane's residuals (:func:`plane_noise`), so the cut
  above a plane follows the sensor instead of a fixed few millimetres;
* finds further support planes (a second table, the floor beside the table:
  :func:`find_supports`) and the uneven ground left above a plane (:func:`ground_mask`: low
  points on flat, level patches, and what lies no higher than such a patch next to it);
* splits clusters that touch only thinly (:func:`split_thin`);
* scores each remaining cluster by what a scan of one object looks like
  (:func:`score_candidates`): seen by many of the capture's cameras near the middle of their
  views, a size a person scans by hand, enough points, standing on a support.

Camera poses reach this module through ``PointCloud.meta["camera_poses"]`` (:data:`CAMERA_POSES_KEY`):
a list of (4, 4) camera-to-world matrices in the cloud's own frame and units, the camera looking
down its -z axis with +y up (ARKit's convention; :func:`camera_poses_zup` converts ARKit's y-up
poses). An organised cloud (a depth image, ``meta["organized"]``) without poses is seen from one
sensor at the origin looking along +z (PCL's convention); any other cloud from the middle of its
bounds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.spatial import cKDTree

from voxforge.core.errors import GeometryError
from voxforge.scan.cluster import euclidean_clusters
from voxforge.scan.plane import Plane, plane_basis

log = logging.getLogger(__name__)

CAMERA_POSES_KEY = "camera_poses"
"""``PointCloud.meta`` key of a capture's camera-to-world poses (see the module docstring)."""

_ARKIT_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
_PCL_TO_ARKIT_CAMERA = np.diag([1.0, -1.0, -1.0])
"""A PCL/OpenCV sensor frame (x right, y down, looking along +z) as an ARKit camera frame."""


def camera_poses_zup(poses_arkit: Iterable[np.ndarray]) -> list[list[list[float]]]:
    """ARKit camera-to-world poses (y-up world) as JSON-ready z-up poses for ``meta["camera_poses"]``.

    The world turns as :data:`voxforge.scan.fuse.ARKIT_TO_ZUP` turns fused points; the camera
    frame stays ARKit's (looking down -z).
    """
    out = []
    for pose in poses_arkit:
        p = np.asarray(pose, dtype=np.float64).reshape(4, 4)
        z = np.eye(4)
        z[:3, :3] = _ARKIT_TO_ZUP @ p[:3, :3]
        z[:3, 3] = _ARKIT_TO_ZUP @ p[:3, 3]
        out.append(z.tolist())
    return out


class PickWeights(BaseModel):
    """Weights of the terms of :func:`score_candidates` (each term is in [0, 1]; the score is the
    weighted mean, so it is in [0, 1] too)."""

    model_config = ConfigDict(extra="forbid")

    view: float = Field(0.4, ge=0, description="Seen by many cameras, near the middle of their views.")
    size: float = Field(0.25, ge=0, description="A size a person scans by hand (~5 cm to ~1.5 m).")
    points: float = Field(0.15, ge=0, description="Enough points to be a surface, not a speck.")
    ground: float = Field(0.2, ge=0, description="Standing on the ground or a table, tall enough.")


SIZE_PLAUSIBLE_M = (0.05, 1.5)
"""Largest side of a hand-scanned object, metres: the size term is 1 inside this range..."""
SIZE_ZERO_M = (0.02, 3.0)
"""...and falls (in log scale) to 0 at these sizes."""
POINTS_RAMP = (30, 1500)
"""The points term rises (in log scale) from 0 at the first count to 1 at the second."""
VIEW_HALF_ANGLE_DEG = 35.0
"""A camera sees a candidate fully centred at 0 degrees off its axis, not at all beyond this."""
STANDING_GAP_M = (0.05, 0.3)
"""Ground term: a candidate whose bottom is within the first gap of a support stands on it;
the term falls to 0.3 (a shelf, something held up) at the second."""
MIN_TOP_M = 0.03
"""Ground term: a candidate must reach this high above its support to count fully."""
FLOATING_M = 0.10
"""A cluster whose bottom is more than this above every support under it floats
(:func:`join_stacked`): twice the 5 cm that the ground band and the standing gap allow, so
that an object whose foot the clean-up cut still stands."""


@dataclass(frozen=True)
class Support:
    """A plane something stands on: the plane (working frame) and its footprint box.

    ``footprint`` is None for the main plane (it holds everywhere); otherwise (basis (2, 3),
    lo (2,), hi (2,)): the plane's robust extents along its own in-plane principal axes.
    """

    plane: Plane
    footprint: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    margin: float = 0.004

    def covers(self, xyz: np.ndarray) -> np.ndarray:
        """(n,) bool: points whose projection falls inside the footprint."""
        if self.footprint is None:
            return np.ones(len(xyz), dtype=bool)
        axes, lo, hi = self.footprint
        uv = np.asarray(xyz) @ axes.T
        return np.all((uv >= lo) & (uv <= hi), axis=1)


def footprint(points: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(axes (2, 3), lo (2,), hi (2,)): 1st-99th percentile extents of points on a plane along
    its in-plane principal axes."""
    basis = plane_basis(normal)
    uv = points @ basis.T
    centred = uv - uv.mean(axis=0)
    _, vecs = np.linalg.eigh(centred.T @ centred)
    axes = vecs.T @ basis
    proj = points @ axes.T
    lo, hi = np.percentile(proj, [1, 99], axis=0)
    return axes, lo, hi


def plane_noise(distance: np.ndarray, threshold: float) -> float:
    """Robust standard deviation (1.4826 x MAD) of the plane's residuals, metres.

    ``distance`` are signed distances of the points to the plane; those within
    ``3 * threshold`` are its surface (the rest stand on it or lie beyond it).
    """
    near = distance[np.abs(distance) < 3.0 * threshold]
    if len(near) < 10:
        return 0.0
    return float(1.4826 * np.median(np.abs(near - np.median(near))))


def noise_margin(sigma: float, sigmas: float, least: float, most: float = 0.03) -> float:
    """The cut above a plane: ``sigmas`` noise deviations, at least ``least``, at most ``most``."""
    return float(np.clip(sigmas * sigma, least, max(least, most)))


def find_level_plane(xyz: np.ndarray, threshold: float, min_points: int = 300) -> Plane | None:
    """The fullest level plane of a z-up cloud: the densest height band, refined by least squares.

    Supports in one scene (floor, tables) are parallel to the main plane the cloud was stood on,
    so a plane search reduces to the peak of the histogram of heights (bins ``2 * threshold``),
    linear in the points. The plane through the peak's points is then fitted (it may lean by a
    degree or two) and its inliers are the points within ``threshold``. None when the peak holds
    fewer than ``min_points`` or the fit leans more than 15 degrees.
    """
    z = xyz[:, 2]
    if len(z) < min_points:
        return None
    width = 2.0 * threshold
    lo = float(z.min())
    bins = np.floor((z - lo) / width).astype(np.int64)
    counts = np.bincount(bins)
    # Two neighbouring bins together: a plane straddling a bin edge is not split in half.
    pair = counts[:-1] + counts[1:] if len(counts) > 1 else counts
    peak = int(np.argmax(pair))
    if pair[peak] < min_points:
        return None
    near = (bins == peak) | (bins == peak + 1)
    normal, offset = np.array([0.0, 0.0, 1.0]), -(lo + (peak + 1) * width)
    for _ in range(3):
        pts = xyz[near]
        centre = pts.mean(axis=0)
        cen = pts - centre
        _, vecs = np.linalg.eigh(cen.T @ cen)
        n = vecs[:, 0] * np.sign(vecs[2, 0] or 1.0)
        if n[2] < np.cos(np.radians(15.0)):
            return None
        normal, offset = n, float(-n @ centre)
        near = np.abs(xyz @ normal + offset) < threshold
        if near.sum() < min_points:
            return None
    return Plane(normal=normal, offset=offset, inliers=near)


def find_supports(
    xyz: np.ndarray,
    *,
    threshold: float,
    least_margin: float,
    sigmas: float,
    tries: int = 3,
    min_area: float = 0.2,
    min_fill: float = 0.3,
    min_above: int = 50,
    max_walls: float = 0.5,
    max_rise: float = 0.2,
) -> list[Support]:
    """Further level support planes in a z-up working cloud (the main plane already removed).

    A plane (:func:`find_level_plane`) counts as a support (a second table, the floor beside a
    table) when its footprint is at least ``min_area`` square metres, at least ``min_fill`` of
    that footprint's 2 cm cells hold its points (not the tops of several boxes of one height),
    and at least ``min_above`` points stand above it inside its footprint (a table top with
    something on it, not the seat of the chair being scanned), and less than ``max_walls`` of its
    rim has walls under it (:func:`_wall_share`: not the lid of a box or drum), and less than
    ``max_rise`` of its rim has surface rising over it (:func:`_rise_share`: not the seat of a
    chair whose back and arms stand on its edges). Planes that fail are set aside and the search
    goes on, ``tries`` planes in all.
    """
    supports: list[Support] = []
    search = np.ones(len(xyz), dtype=bool)
    for _ in range(tries):
        idx = np.flatnonzero(search)
        plane = find_level_plane(xyz[idx], threshold)
        if plane is None:
            break
        d_all = plane.signed_distance(xyz)
        on = idx[plane.inliers]
        search[on] = False
        axes, lo, hi = footprint(xyz[on], plane.normal)
        area = float(np.prod(hi - lo))
        cells = np.unique(np.floor((xyz[on] @ axes.T) / 0.02).astype(np.int64), axis=0)
        fill = len(cells) * 0.02**2 / max(area, 1e-12)
        support = Support(plane, (axes, lo, hi))
        above = int(np.sum(support.covers(xyz) & (d_all > 0.03)))
        walls = _wall_share(xyz, d_all, axes, lo, hi)
        rise = _rise_share(xyz, d_all, axes, lo, hi)
        ok = (area >= min_area and fill >= min_fill and above >= min_above and walls < max_walls
              and rise < max_rise)  # fmt: skip
        log.debug(
            "level plane at height %.3f: %d points, %.2f m2, fill %.2f, %d above, walls %.2f, "
            "rise %.2f -> %s",
            -plane.offset,
            len(on),
            area,
            fill,
            above,
            walls,
            rise,
            "support" if ok else "kept",
        )
        if ok:
            margin = noise_margin(plane_noise(d_all, threshold), sigmas, least_margin)
            supports.append(Support(plane, (axes, lo, hi), margin))
            search &= ~((d_all < margin) & support.covers(xyz))
    return supports


def _wall_share(
    xyz: np.ndarray, d: np.ndarray, axes: np.ndarray, lo: np.ndarray, hi: np.ndarray, cell: float = 0.03
) -> float:
    """Share of a plane's footprint rim with surface 5-25 cm below it, just inside the rim.

    The top of a closed object (a box, a drum) has walls under all its edges; a table top has
    legs under a few spots.
    """
    return _rim_share(xyz, d, axes, lo, hi, (-0.25, -0.05), cell)


def _rise_share(
    xyz: np.ndarray, d: np.ndarray, axes: np.ndarray, lo: np.ndarray, hi: np.ndarray, cell: float = 0.03
) -> float:
    """Share of a plane's footprint rim with surface 5-25 cm above it, just inside the rim.

    What stands on a table top stands inside it (a mug near the edge covers a few centimetres of
    rim); the back and arms of a chair rise from the edges of its seat.
    """
    return _rim_share(xyz, d, axes, lo, hi, (0.05, 0.25), cell)


def _rim_share(
    xyz: np.ndarray,
    d: np.ndarray,
    axes: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    band: tuple[float, float],
    cell: float,
) -> float:
    """Share of the ``cell``-wide cells along the footprint's four sides that hold points within
    4 cm of the side (inside or just outside) at a signed distance from the plane in ``band``."""
    uv = xyz @ axes.T
    near_plane = (d > band[0]) & (d < band[1])
    inner = np.all((uv >= lo - 0.01) & (uv <= hi + 0.01), axis=1)
    rim_hit = 0
    rim_all = 0
    for a in (0, 1):
        b = 1 - a
        n = max(int(np.ceil((hi[b] - lo[b]) / cell)), 1)
        for edge in (lo[a], hi[a]):
            near = near_plane & inner & (np.abs(uv[:, a] - edge) < 0.04)
            cells = np.unique(np.clip(((uv[near, b] - lo[b]) / cell).astype(np.int64), 0, n - 1))
            rim_hit += len(cells)
            rim_all += n
    return rim_hit / max(rim_all, 1)


def level_normals(xyz: np.ndarray, query: np.ndarray, k: int = 12) -> np.ndarray:
    """(m,) float64 |z| of the PCA normal at each ``query`` point from its ``k`` nearest ``xyz``."""
    if len(query) == 0:
        return np.zeros(0)
    tree = cKDTree(xyz)
    k = min(k, len(xyz))
    _, nb = tree.query(query, k=k)
    pts = xyz[nb.reshape(len(query), -1)]
    centred = pts - pts.mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", centred, centred)
    _, vecs = np.linalg.eigh(cov)
    return np.abs(vecs[:, 2, 0])


def ground_mask(
    xyz: np.ndarray,
    supports: list[Support],
    *,
    band: float,
    cell: float = 0.05,
    max_tilt_deg: float = 30.0,
    min_patch: float = 0.15,
) -> np.ndarray:
    """(n,) bool: points that are uneven ground or table left above the support planes.

    Seeds are points less than ``band`` above a support whose surface is level (PCA normal within
    ``max_tilt_deg`` of up) in patches at least ``min_patch`` metres long: bumps of a patio, a
    warped table top. A low point is ground too when
    it lies no higher (plus the support's margin) than the highest seed in its own or a
    neighbouring ``cell``, which takes the bumps' slopes without eating into an object beside them.
    """
    ground = np.zeros(len(xyz), dtype=bool)
    if band <= 0 or len(xyz) == 0:
        return ground
    cos_tilt = np.cos(np.radians(max_tilt_deg))
    for s in supports:
        d = s.plane.signed_distance(xyz)
        low = np.flatnonzero(s.covers(xyz) & (d > -s.margin) & (d < band))
        if len(low) == 0:
            continue
        seeds = low[level_normals(xyz, xyz[low]) > cos_tilt]
        if len(seeds) == 0:
            continue
        # Only sizeable level patches are ground; a ledge or a noisy spot on an object is not.
        patch = euclidean_clusters(xyz[seeds], 2.0 * cell / 5.0, 1)
        ext = np.zeros((patch.max() + 1, 2))
        for j in range(len(ext)):
            ext[j] = np.ptp(xyz[seeds[patch == j], :2], axis=0)
        seeds = seeds[ext.max(axis=1)[patch] >= min_patch]
        ground[seeds] = True
        if len(seeds) == 0:
            continue
        cells = np.floor(xyz[:, :2] / cell).astype(np.int64)
        local = _neighbour_max(cells[seeds], d[seeds], cells[low])
        ground[low[d[low] <= local + s.margin]] = True
    return ground


def _neighbour_max(seed_cells: np.ndarray, values: np.ndarray, query_cells: np.ndarray) -> np.ndarray:
    """(m,) the largest seed value in each query cell's 3 x 3 block of 2-D cells (-inf if none)."""
    base = seed_cells.min(axis=0) - 1
    span = seed_cells.max(axis=0) - base + 2
    sk = seed_cells - base
    uniq, inv = np.unique(sk[:, 0] * span[1] + sk[:, 1], return_inverse=True)
    top = np.full(len(uniq), -np.inf)
    np.maximum.at(top, inv, values)
    out = np.full(len(query_cells), -np.inf)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            q = query_cells - base + np.array([dx, dy])
            inside = np.all((q >= 0) & (q < span), axis=1)
            key = q[:, 0] * span[1] + q[:, 1]
            pos = np.minimum(np.searchsorted(uniq, key), len(uniq) - 1)
            hit = inside & (uniq[pos] == key)
            out = np.where(hit, np.maximum(out, top[pos]), out)
    return out


def block_counts(xyz: np.ndarray, cell: float) -> np.ndarray:
    """(n,) int64 points in each point's 3 x 3 x 3 block of ``cell``-sized cubes (itself included).

    A grid count, linear in the points: each neighbouring cell's key is looked up in the sorted
    keys of the occupied cells.
    """
    n = len(xyz)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    cells = np.floor((xyz - xyz.min(axis=0)) / cell).astype(np.int64) + 1
    dims = cells.max(axis=0) + 2
    if float(np.prod(dims.astype(np.float64))) > 2.0**62:
        raise GeometryError(f"cell {cell} m is too small for a cloud {np.ptp(xyz, axis=0)} m wide")
    keys = (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    # Count per occupied cell once, then hand each point its cell's block total.
    total = np.zeros(len(uniq), dtype=np.int64)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dz in (-1, 0, 1):
                q = uniq + (dx * dims[1] + dy) * dims[2] + dz
                pos = np.minimum(np.searchsorted(uniq, q), len(uniq) - 1)
                total += np.where(uniq[pos] == q, counts[pos], 0)
    return total[inverse]


def split_thin(
    xyz: np.ndarray,
    labels: np.ndarray,
    radius: float,
    min_points: int,
    *,
    core_share: float = 0.5,
    min_part_share: float = 0.1,
) -> np.ndarray:
    """Split clusters that hold together only through thin links (an erosion step).

    Each point's neighbours in its 3 x 3 x 3 block of ``radius`` cells are counted
    (:func:`block_counts`); in a surface that count is about the same everywhere, while a thin
    link (a line of points, a bridge of noise) has few. A cluster's
    core is its points with at least ``core_share`` of the cluster's median count; when the core
    falls into two or more pieces of at least ``min_points`` and ``min_part_share`` of the cluster,
    the cluster is split and every other point joins the piece of its nearest core point.

    Returns labels relabelled 0..k-1 by decreasing size (-1 stays -1).
    """
    kept = labels >= 0
    if not kept.any():
        return labels
    counts = np.zeros(len(xyz), dtype=np.int64)
    counts[kept] = block_counts(xyz[kept], radius)
    out = labels.copy()
    next_label = int(labels.max()) + 1
    for lab in range(int(labels.max()) + 1):
        idx = np.flatnonzero(labels == lab)
        if len(idx) < 2 * min_points:
            continue
        core = idx[counts[idx] >= core_share * np.median(counts[idx])]
        if len(core) < 2 * min_points:
            continue
        sub = euclidean_clusters(xyz[core], radius, 1)
        sizes = np.bincount(sub)
        big = np.flatnonzero(sizes >= max(min_points, min_part_share * len(idx)))
        if len(big) < 2:
            continue
        keep = np.isin(sub, big)
        _, nearest = cKDTree(xyz[core[keep]]).query(xyz[idx])
        part = sub[keep][nearest]
        for j, b in enumerate(big):
            out[idx[part == b]] = lab if j == 0 else next_label
            next_label += j > 0
        log.debug("split cluster %d (%d points) into %d thinly joined parts", lab, len(idx), len(big))
    kept_out = out >= 0
    if not kept_out.any():
        return out
    uniq, inv, sizes = np.unique(out[kept_out], return_inverse=True, return_counts=True)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(len(uniq))
    out[kept_out] = rank[inv]
    return out


# --- scoring ---------------------------------------------------------------------------------


@dataclass
class Views:
    """Where the scan was seen from, in the working frame.

    ``kind``: ``"poses"`` (a capture's cameras), ``"sensor"`` (an organised cloud's sensor at its
    origin) or ``"bounds"`` (no camera known: the middle of the scene's bounds stands in).
    ``eyes``/``forward``: (k, 3) camera positions and unit viewing directions (empty for bounds).
    """

    kind: str
    eyes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    forward: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


def views_from_meta(meta: dict[str, Any], to_work: np.ndarray, mode: str = "auto") -> Views:
    """The scan's viewpoints moved into the working frame by ``to_work`` (4, 4).

    ``mode``: ``"auto"`` (poses, else an organised cloud's sensor, else bounds), ``"camera"``
    (poses, else a sensor at the input origin looking along +z), ``"bbox"`` (bounds).
    """
    rot, shift = to_work[:3, :3], to_work[:3, 3]
    unit = rot / max(float(np.cbrt(abs(np.linalg.det(rot)))), 1e-12)
    if mode == "bbox":
        return Views("bounds")
    poses = meta.get(CAMERA_POSES_KEY)
    if poses is not None and len(poses):
        p = np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4)
        eyes = p[:, :3, 3] @ rot.T + shift
        fwd = -p[:, :3, 2] @ unit.T
        return Views("poses", eyes, fwd / np.linalg.norm(fwd, axis=1, keepdims=True))
    if mode == "camera" or bool(meta.get("organized", False)):
        fwd = unit @ np.array([0.0, 0.0, 1.0])
        return Views("sensor", shift.reshape(1, 3), (fwd / np.linalg.norm(fwd)).reshape(1, 3))
    return Views("bounds")


def _log_ramp(x: np.ndarray, zero: float, one: float) -> np.ndarray:
    """0 at ``zero``, 1 at ``one`` (either order), linear in log(x), clipped to [0, 1]."""
    x = np.maximum(np.asarray(x, dtype=np.float64), 1e-12)
    return np.clip(np.log(x / zero) / np.log(one / zero), 0.0, 1.0)


def view_term(
    centres: np.ndarray, views: Views, scene_lo: np.ndarray, scene_hi: np.ndarray
) -> np.ndarray:
    """(k,) how centrally and how often the cameras saw each candidate centre (k, 3), in [0, 1].

    Per camera: 1 on its optical axis, falling linearly to 0 at :data:`VIEW_HALF_ANGLE_DEG`
    off it (0 behind it); the term is the mean over the cameras, so an object a person walked
    around scores near 1 and a thing at the edge of a few frames near 0. With no camera, 1 at
    the middle of the scene's x-y bounds falling to 0 at its corners.
    """
    if views.kind == "bounds" or len(views.eyes) == 0:
        mid = (scene_lo[:2] + scene_hi[:2]) / 2.0
        half = max(float(np.linalg.norm(scene_hi[:2] - scene_lo[:2])) / 2.0, 1e-9)
        return np.clip(1.0 - np.linalg.norm(centres[:, :2] - mid, axis=1) / half, 0.0, 1.0)
    to_c = centres[:, None, :] - views.eyes[None, :, :]
    dist = np.maximum(np.linalg.norm(to_c, axis=2), 1e-12)
    cos = np.einsum("kcj,cj->kc", to_c, views.forward) / dist
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return np.clip(1.0 - angle / VIEW_HALF_ANGLE_DEG, 0.0, 1.0).mean(axis=1)


def ground_term(lo: np.ndarray, hi: np.ndarray, support_heights: np.ndarray) -> np.ndarray:
    """(k,) whether each candidate stands on a support and rises above it, in [0, 1].

    ``support_heights`` (k, s): the height of each support plane under each candidate (NaN where
    the support does not reach). The candidate's support is the highest one not above its
    bottom (plus 2 cm); with none, the term is 0 (it lies below every support).
    """
    base = support_base(support_heights, lo[:, 2])
    gap = lo[:, 2] - base
    rise = hi[:, 2] - base
    g0, g1 = STANDING_GAP_M
    stand = np.where(gap <= g0, 1.0, np.clip(1.0 - 0.7 * (gap - g0) / (g1 - g0), 0.3, 1.0))
    tall = np.clip(rise / MIN_TOP_M, 0.0, 1.0)
    return np.where(np.isfinite(base), stand * tall, 0.0)


@dataclass(frozen=True)
class Candidate:
    """One candidate object of a scene.

    Attributes:
        number: 1-based rank by score (1 = the default pick); what ``--pick N`` takes.
        label: its cluster label in the working cloud.
        count: points.
        lo, hi: its box in the working frame (metres, z up, the main support at z = 0).
        centre_input: the middle of its box in the input's frame and units (a ``--pick-point``).
        score: the weighted mean of ``terms``.
        terms: ``view``, ``size``, ``points``, ``ground``, each in [0, 1].
    """

    number: int
    label: int
    count: int
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    centre_input: tuple[float, float, float]
    score: float
    terms: dict[str, float]

    @property
    def size_m(self) -> np.ndarray:
        return np.subtract(self.hi, self.lo)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "points": self.count,
            "size_cm": [round(float(v) * 100, 1) for v in self.size_m],
            "centre": [round(float(v), 4) for v in self.centre_input],
            "score": round(self.score, 3),
            "terms": {k: round(v, 3) for k, v in self.terms.items()},
        }


def support_heights(centres: np.ndarray, supports: list[Support]) -> np.ndarray:
    """(k, s) the height of each support plane under each of ``k`` centres (NaN where the
    support's footprint does not reach)."""
    heights = np.full((len(centres), len(supports)), np.nan)
    for j, s in enumerate(supports):
        n = s.plane.normal
        # Height of the plane under each centre: solve n . (x, y, z) + d = 0 for z.
        z = -(n[0] * centres[:, 0] + n[1] * centres[:, 1] + s.plane.offset) / max(abs(n[2]), 1e-9)
        probe = centres.copy()
        probe[:, 2] = z
        heights[:, j] = np.where(s.covers(probe), z, np.nan)
    return heights


def support_base(heights: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """(k,) the support each of ``k`` candidates stands on: the highest of ``heights`` ((k, s),
    :func:`support_heights`) not above its ``bottom`` plus 2 cm; -inf where there is none."""
    ok = np.isfinite(heights) & (heights <= np.asarray(bottom)[:, None] + 0.02)
    return np.where(ok, heights, -np.inf).max(axis=1, initial=-np.inf)


def trim_skirts(
    xyz: np.ndarray,
    labels: np.ndarray,
    supports: list[Support],
    *,
    band: float,
    cell: float = 0.05,
    min_upper: int = 50,
) -> np.ndarray:
    """Labels with each cluster's skirt of ground dropped (set to -1).

    A depth camera's noise grows with distance, so the floor far from the camera leaves a sheet
    of points just above the plane cut; at a link radius of a few centimetres the sheet joins the
    object standing on it, and a 60 cm toilet is picked as 190 x 170 cm (the sheet reaching
    twice the ground band where the noise is largest). What stands on the ground stands under
    itself: a cluster's points less than twice ``band`` above its support are kept only under
    its own upper part (its points higher up, on ``cell`` columns grown by one cell), when it has
    at least ``min_upper`` of those. The labels are not renumbered.
    """
    from scipy.ndimage import binary_dilation

    if not supports or band <= 0 or labels.max(initial=-1) < 0:
        return labels
    out = labels.copy()
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.unique(labels[labels >= 0]))
    for idx in np.split(order, starts)[1:]:  # the first part holds the noise (-1)
        pts = xyz[idx]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        base = support_base(support_heights(((lo + hi) / 2.0)[None], supports), lo[2:3])[0]
        if not np.isfinite(base):
            continue
        low = pts[:, 2] < base + 2.0 * band
        if (~low).sum() < min_upper or not low.any():
            continue
        cols = np.floor((pts[:, :2] - lo[:2]) / cell).astype(np.int64)
        upper = np.zeros(cols.max(axis=0) + 1, bool)
        upper[cols[~low, 0], cols[~low, 1]] = True
        upper = binary_dilation(upper, np.ones((3, 3), bool))
        out[idx[low & ~upper[cols[:, 0], cols[:, 1]]]] = -1
    return out


def join_stacked(
    xyz: np.ndarray,
    labels: np.ndarray,
    supports: list[Support],
    *,
    gap: float,
    min_overlap: float = 0.5,
) -> np.ndarray:
    """Labels with every floating cluster joined to the cluster right under it.

    Nothing floats: a cluster whose bottom is more than :data:`FLOATING_M` above every
    support under it is held up by what is under it. When another cluster's top lies within
    ``gap`` under its bottom (or reaches above it) and their footprints (xy boxes) overlap by at
    least ``min_overlap`` of the smaller, the two are one object the depth camera caught in
    pieces: the seat and back of a chair over thin legs, a table top over its legs. The kept
    labels are renumbered 0..k-1 in their order; -1 stays noise.
    """
    if not supports or labels.max(initial=-1) < 1:
        return labels
    kept = labels >= 0
    ids, inv = np.unique(labels[kept], return_inverse=True)
    k = len(ids)
    lo, hi = np.full((k, 3), np.inf), np.full((k, 3), -np.inf)
    np.minimum.at(lo, inv, xyz[kept])
    np.maximum.at(hi, inv, xyz[kept])
    base = support_base(support_heights((lo + hi) / 2.0, supports), lo[:, 2])
    floating = lo[:, 2] - base > FLOATING_M
    root = np.arange(k)
    # Lowest first: whatever a cluster may join has its lower bottom, so it is settled by then.
    for b in np.argsort(lo[:, 2], kind="stable"):
        if not floating[b]:
            continue
        alive = root == np.arange(k)
        alive[b] = False
        under = alive & (hi[:, 2] >= lo[b, 2] - gap) & (lo[:, 2] < lo[b, 2])
        ox = np.minimum(hi[:, 0], hi[b, 0]) - np.maximum(lo[:, 0], lo[b, 0])
        oy = np.minimum(hi[:, 1], hi[b, 1]) - np.maximum(lo[:, 1], lo[b, 1])
        area = np.prod(hi[:, :2] - lo[:, :2], axis=1)
        smaller = np.maximum(np.minimum(area, area[b]), 1e-9)
        share = np.clip(ox, 0, None) * np.clip(oy, 0, None) / smaller
        fits = under & (share >= min_overlap)
        if fits.any():
            a = int(np.flatnonzero(fits)[np.argmax(share[fits])])
            root[b] = a
            lo[a], hi[a] = np.minimum(lo[a], lo[b]), np.maximum(hi[a], hi[b])
    while not np.array_equal(root, root[root]):  # a root is final once its turn has passed
        root = root[root]
    out = labels.copy()
    _, out[kept] = np.unique(root[inv], return_inverse=True)
    return out


def score_candidates(
    xyz: np.ndarray,
    labels: np.ndarray,
    views: Views,
    supports: list[Support],
    to_input: np.ndarray,
    weights: PickWeights | None = None,
) -> list[Candidate]:
    """Score every cluster (label >= 0) of a z-up working cloud and rank them, best first.

    Terms (each in [0, 1]; the score is their mean weighted by :class:`PickWeights`):

    * ``view``: :func:`view_term` at the candidate's box centre;
    * ``size``: 1 when its largest side is within :data:`SIZE_PLAUSIBLE_M`, falling in log scale
      to 0 at :data:`SIZE_ZERO_M`;
    * ``points``: rises in log scale over :data:`POINTS_RAMP`;
    * ``ground``: :func:`ground_term` against the support planes.
    """
    w = weights or PickWeights()
    k = int(labels.max(initial=-1)) + 1
    if k == 0:
        return []
    kept = labels >= 0
    lo = np.full((k, 3), np.inf)
    hi = np.full((k, 3), -np.inf)
    np.minimum.at(lo, labels[kept], xyz[kept])
    np.maximum.at(hi, labels[kept], xyz[kept])
    counts = np.bincount(labels[kept], minlength=k)
    centres = (lo + hi) / 2.0
    scene_lo, scene_hi = xyz[kept].min(axis=0), xyz[kept].max(axis=0)
    largest = (hi - lo).max(axis=1)
    size = np.minimum(
        _log_ramp(largest, SIZE_ZERO_M[0], SIZE_PLAUSIBLE_M[0]),
        _log_ramp(largest, SIZE_ZERO_M[1], SIZE_PLAUSIBLE_M[1]),
    )
    heights = support_heights(centres, supports)
    terms = {
        "view": view_term(centres, views, scene_lo, scene_hi),
        "size": size,
        "points": _log_ramp(counts, *POINTS_RAMP),
        # Without a support plane nothing says where the ground is: the term stays neutral.
        "ground": ground_term(lo, hi, heights) if supports else np.ones(k),
    }
    wsum = max(w.view + w.size + w.points + w.ground, 1e-12)
    score = (
        w.view * terms["view"]
        + w.size * terms["size"]
        + w.points * terms["points"]
        + w.ground * terms["ground"]
    ) / wsum
    order = np.lexsort((-counts, -score))
    centre_in = centres @ to_input[:3, :3].T + to_input[:3, 3]
    return [
        Candidate(
            number=i + 1,
            label=int(lab),
            count=int(counts[lab]),
            lo=tuple(float(v) for v in lo[lab]),
            hi=tuple(float(v) for v in hi[lab]),
            centre_input=tuple(float(v) for v in centre_in[lab]),
            score=float(score[lab]),
            terms={name: float(t[lab]) for name, t in terms.items()},
        )
        for i, lab in enumerate(order)
    ]


def pick_summary(
    candidates: list[Candidate], chosen: Candidate, how: str, views: Views, min_lead: float
) -> dict[str, Any]:
    """What was picked, the runner-up and the warnings (tiny, huge, barely ahead), JSON-ready.

    Warnings name ``voxforge scene``, which lists the candidates to pick from by number.
    """
    others = [c for c in candidates if c.number != chosen.number]
    runner = others[0] if others else None
    warnings = []
    big = float(chosen.size_m.max())
    what = f"object #{chosen.number} ({_size_text(chosen)}, {chosen.count:,} points)"
    if big < SIZE_PLAUSIBLE_M[0]:
        warnings.append(f"the picked {what} is tiny")
    elif big > SIZE_PLAUSIBLE_M[1]:
        warnings.append(f"the picked {what} is larger than a hand-held scan")
    if how == "score" and runner is not None and chosen.score - runner.score < min_lead:
        warnings.append(
            f"the picked {what} scores {chosen.score:.2f}, barely ahead of #{runner.number} "
            f"({_size_text(runner)}, {runner.score:.2f})"
        )
    warnings = [
        f"{w}; run `voxforge scene SCAN` to see the candidates and choose one with --pick N"
        for w in warnings
    ]
    return {
        "how": how,
        "views": views.kind,
        "cameras": len(views.eyes),
        "chosen": chosen.to_dict(),
        "runner_up": None if runner is None else runner.to_dict(),
        "candidates": len(candidates),
        "warnings": warnings,
    }


def _size_text(c: Candidate) -> str:
    return " x ".join(f"{v * 100:.0f}" for v in c.size_m) + " cm"
