"""The ground or table plane of a scan: find it (RANSAC), stand the cloud on it, cut it away.

A tabletop scan is mostly table. Finding that plane gives two things at once: the up axis (the
plane normal, pointing to the side where the object stands) and a clean cut that separates the
object from what it stands on. The RANSAC here is vectorised: it draws a batch of candidate
planes at a time and scores the whole batch with one matrix product on a random subsample of the
points, then refines the best candidate by least squares on its inliers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from voxforge.core.errors import GeometryError
from voxforge.core.pointcloud import PointCloud

log = logging.getLogger(__name__)

_AXES = {"x": 0, "y": 1, "z": 2}


@dataclass(frozen=True)
class Plane:
    """A plane ``normal . p + offset = 0`` and the points that lie on it.

    Attributes:
        normal: (3,) float64 unit normal; points toward the side where the object stands.
        offset: the plane's ``d`` in metres (signed distance of the origin is ``offset``).
        inliers: (n,) bool, True for the points within the threshold of the plane, in the order
            of the cloud the plane was found in.
    """

    normal: np.ndarray
    offset: float
    inliers: np.ndarray

    def signed_distance(self, xyz: np.ndarray) -> np.ndarray:
        """(n,) float64 height of each point above the plane, metres (negative below)."""
        return np.asarray(xyz, dtype=np.float64) @ self.normal + self.offset

    def flipped(self) -> Plane:
        """The same plane with the normal pointing the other way."""
        return Plane(normal=-self.normal, offset=-self.offset, inliers=self.inliers)


def axis_vector(axis: str | np.ndarray) -> np.ndarray:
    """(3,) float64 unit vector for ``"x"``, ``"y"``, ``"z"`` (optionally ``"-y"`` etc.) or a vector."""
    if isinstance(axis, str):
        sign = -1.0 if axis.startswith("-") else 1.0
        name = axis.lstrip("+-").lower()
        if name not in _AXES:
            raise GeometryError(f"unknown axis {axis!r}; expected x, y or z")
        v = np.zeros(3)
        v[_AXES[name]] = sign
        return v
    v = np.asarray(axis, dtype=np.float64).reshape(3)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0.0:
        raise GeometryError(f"axis vector {v.tolist()} has no direction")
    return v / norm


def _fit_plane(xyz: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane through (m, 3) points: unit normal and offset (smallest principal axis)."""
    centre = xyz.mean(axis=0)
    # The 3x3 scatter matrix is cheaper than an SVD of the (m, 3) points and just as exact here.
    centred = xyz - centre
    scatter = centred.T @ centred
    _, vecs = np.linalg.eigh(scatter)
    normal = vecs[:, 0]
    return normal, float(-normal @ centre)


def _candidate_planes(
    xyz: np.ndarray, rng: np.random.Generator, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random planes through point triples: (count, 3) unit normals, (count,) offsets.

    Degenerate triples (collinear or repeated points) get a zero normal and so score nothing.
    """
    idx = rng.integers(0, len(xyz), size=(count, 3))
    a, b, c = xyz[idx[:, 0]], xyz[idx[:, 1]], xyz[idx[:, 2]]
    normals = np.cross(b - a, c - a)
    norms = np.linalg.norm(normals, axis=1, keepdims=True)
    ok = norms[:, 0] > 1e-12
    normals = np.where(ok[:, None], normals / np.where(norms > 0, norms, 1.0), 0.0)
    offsets = -np.einsum("ij,ij->i", normals, a)
    return normals, offsets


def find_plane(
    xyz: np.ndarray,
    threshold: float = 0.005,
    iterations: int = 1000,
    seed: int = 0,
    *,
    axis: str | np.ndarray | None = None,
    max_tilt_deg: float = 15.0,
    min_inliers: int = 3,
    batch: int = 256,
    sample: int = 20000,
    confidence: float = 0.999,
    refine_steps: int = 3,
) -> Plane | None:
    """The dominant plane of a point set by vectorised RANSAC, refined by least squares.

    Args:
        xyz: (n, 3) float64 positions, metres.
        threshold: inlier distance to the plane, metres.
        iterations: most candidate planes to try; fewer when ``confidence`` is reached sooner.
        seed: seed of the candidate draws (same seed, same plane).
        axis: when given (``"z"``, ``"y"``, ``"-y"`` or a vector), only planes whose normal is
            within ``max_tilt_deg`` of it count, and the returned normal points along it.
        max_tilt_deg: allowed angle between the normal and ``axis``, degrees.
        min_inliers: fewer inliers than this means no plane (None).
        batch: candidates scored per matrix product.
        sample: points the candidates are scored on (all of them when fewer).
        confidence: stop once a better plane than the best so far is this unlikely to be missed.
        refine_steps: least-squares refits (each refit re-selects the inliers).

    Returns:
        The plane, or None when there is none with enough inliers. Without ``axis`` the normal
        points toward the side where more of the other points stand (see :func:`orient_plane`).
    """
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    n = len(xyz)
    if n < 3:
        return None
    rng = np.random.default_rng(seed)
    probe = xyz if n <= sample else xyz[rng.choice(n, size=sample, replace=False)]
    up = None if axis is None else axis_vector(axis)
    min_cos = float(np.cos(np.deg2rad(max_tilt_deg)))

    best_score, best_normal, best_offset = -1, None, 0.0
    tried = 0
    needed = iterations
    while tried < min(iterations, needed):
        count = min(batch, iterations - tried)
        normals, offsets = _candidate_planes(xyz, rng, count)
        scores = (np.abs(probe @ normals.T + offsets) <= threshold).sum(axis=0)
        scores[~np.any(normals != 0.0, axis=1)] = -1
        if up is not None:
            scores[np.abs(normals @ up) < min_cos] = -1
        k = int(np.argmax(scores))
        if scores[k] > best_score:
            best_score, best_normal, best_offset = int(scores[k]), normals[k], float(offsets[k])
            share = best_score / len(probe)
            if share > 0:
                miss = 1.0 - share**3
                needed = (
                    tried + count
                    if miss <= 0.0
                    else int(np.ceil(np.log(1.0 - confidence) / np.log(miss)))
                )
        tried += count
    if best_normal is None or best_score < 3:
        return None

    # Refine on the probe points (a least-squares fit on 20k inliers is as good as on all of
    # them), then select the inliers of the whole cloud once.
    normal, offset = best_normal, best_offset
    for _ in range(refine_steps):
        on = np.abs(probe @ normal + offset) <= threshold
        if on.sum() < 3:
            break
        normal, offset = _fit_plane(probe[on])
    inliers = np.abs(xyz @ normal + offset) <= threshold
    if int(inliers.sum()) < max(min_inliers, 3):
        return None
    if up is not None:
        if abs(float(normal @ up)) < min_cos:
            log.debug("refined plane tilted past %.1f degrees from the given up axis", max_tilt_deg)
            return None
        if normal @ up < 0:
            normal, offset = -normal, -offset
        return Plane(normal=normal, offset=offset, inliers=inliers)
    return orient_plane(xyz, Plane(normal=normal, offset=offset, inliers=inliers))


def plane_basis(normal: np.ndarray) -> np.ndarray:
    """(2, 3) float64 two orthonormal in-plane axes for a unit normal."""
    helper = np.eye(3)[int(np.argmin(np.abs(normal)))]
    u = np.cross(normal, helper)
    u /= np.linalg.norm(u)
    return np.stack([u, np.cross(normal, u)])


def _footprint_box(uv: np.ndarray, lo: float = 1.0, hi: float = 99.0) -> np.ndarray:
    """(2, 2) robust min/max corners (percentiles) of (m, 2) in-plane coordinates."""
    return np.percentile(uv, [lo, hi], axis=0)


def _thin(mask_or_points: np.ndarray, limit: int) -> slice:
    """A stride that keeps at most about ``limit`` rows: robust statistics need no more."""
    return slice(None, None, max(1, len(mask_or_points) // limit))


def orient_plane(xyz: np.ndarray, plane: Plane) -> Plane:
    """Point the normal toward the side of the plane where the object stands.

    Votes with the non-plane points whose projection falls on the plane's footprint: things
    standing on a table are above it, and what lies under a table is hidden by it. With no such
    points the normal is turned to have a non-negative z.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    rest = xyz[~plane.inliers]
    votes = 0
    if len(rest) and plane.inliers.any():
        basis = plane_basis(plane.normal)
        on = xyz[plane.inliers]
        box = _footprint_box(on[_thin(on, 50_000)] @ basis.T)
        uv = rest @ basis.T
        over = np.all((uv >= box[0]) & (uv <= box[1]), axis=1)
        h = plane.signed_distance(rest[over])
        votes = int(np.sum(h > 0)) - int(np.sum(h < 0))
    if votes < 0 or (votes == 0 and plane.normal[2] < 0):
        return plane.flipped()
    return plane


def is_support_plane(
    xyz: np.ndarray,
    plane: Plane,
    min_share: float = 0.2,
    min_area_ratio: float = 1.2,
    clearance: float = 0.03,
) -> bool:
    """Whether a plane looks like the table or ground the rest stands on, not a face of the object.

    A table is a large share of a tabletop scan and is wider than what stands on it; a flat face
    of an object (the side of a milk carton) is no wider than the rest of the object seen from
    above it. So the plane must hold at least ``min_share`` of the points, and the area of its
    footprint (robust 1st-99th percentile extents along its own principal axes) must be at least
    ``min_area_ratio`` times that of the points more than ``clearance`` metres above it. The
    clearance keeps a noisy or slightly bent table (a Kinect's far range bends by centimetres)
    from counting as something standing on it.

    Args:
        xyz: (n, 3) float64 positions, metres, in the order the plane's inliers refer to.
        plane: the candidate, normal pointing to the object side.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    share = float(plane.inliers.mean()) if len(xyz) else 0.0
    if share < min_share:
        log.debug("plane holds %.0f%% of the points; not a support plane", 100 * share)
        return False
    basis = plane_basis(plane.normal)
    on = xyz[plane.inliers]
    on = on[_thin(on, 50_000)] @ basis.T
    # Principal axes of the plane's points, so a rotated table is measured along its own sides.
    centred = on - on.mean(axis=0)
    _, axes = np.linalg.eigh(centred.T @ centred)
    plane_extent = np.ptp(_footprint_box(centred @ axes), axis=0)
    above = xyz[plane.signed_distance(xyz) > clearance]
    above = above[_thin(above, 50_000)]
    if len(above) < 3:
        return True
    rest = (above @ basis.T - on.mean(axis=0)) @ axes
    rest_extent = np.ptp(_footprint_box(rest), axis=0)
    ratio = float(np.prod(plane_extent) / max(float(np.prod(rest_extent)), 1e-12))
    log.debug(
        "plane footprint %s m vs %s m above it (area ratio %.2f)",
        np.round(plane_extent, 3).tolist(),
        np.round(rest_extent, 3).tolist(),
        ratio,
    )
    return ratio >= min_area_ratio


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) float64 rotation taking unit vector ``a`` onto unit vector ``b`` (smallest angle)."""
    a = np.asarray(a, dtype=np.float64) / np.linalg.norm(a)
    b = np.asarray(b, dtype=np.float64) / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(a @ b)
    if c < -1.0 + 1e-12:
        # Opposite vectors: half a turn about any axis perpendicular to a.
        perp = plane_basis(a)[0]
        return 2.0 * np.outer(perp, perp) - np.eye(3)
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def align_to_plane(cloud: PointCloud, plane: Plane) -> tuple[PointCloud, np.ndarray]:
    """Rotate and shift the cloud so the plane is ``z = 0`` with its normal along +z.

    Returns:
        The moved cloud and the (4, 4) float64 transform applied (new = T @ old).
    """
    rot = rotation_between(plane.normal, np.array([0.0, 0.0, 1.0]))
    transform = np.eye(4)
    transform[:3, :3] = rot
    # A point on the plane, -offset * normal, must land on z = 0.
    transform[2, 3] = float(plane.offset)
    return cloud.transformed(transform), transform


def remove_plane_and_below(cloud: PointCloud, plane: Plane, margin: float = 0.004) -> PointCloud:
    """Keep only the points more than ``margin`` metres above the plane (normal side)."""
    return cloud.select(plane.signed_distance(cloud.xyz) > margin)
