"""Cameras for the headless renderer: look-at views, orthographic and perspective projections.

Conventions: the world is **z-up, metres**. View space is right-handed with the camera looking down
-z and +y up on screen (OpenGL). Projections map the view volume to normalised device coordinates
(NDC) in [-1, 1]^3 with the near plane at NDC z = -1; pixels have +y pointing down and pixel
``(i, j)`` (column, row) covers ``[i, i + 1) x [j, j + 1)`` with its centre at ``(i + 0.5, j + 0.5)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from voxforge.core.errors import ConfigError, GeometryError

Z_UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Camera:
    """A pinhole or orthographic camera with an image size.

    Attributes:
        view: (4, 4) float64 world -> view transform (rigid).
        proj: (4, 4) float64 view -> clip transform.
        width, height: image size in pixels.
        perspective: True for a perspective projection (depth then needs the near/far planes).
        near, far: view-space distances (metres) of the clipping planes.
    """

    view: np.ndarray
    proj: np.ndarray
    width: int
    height: int
    perspective: bool = False
    near: float = 0.01
    far: float = 100.0

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) float64 world -> view rotation (for turning normals and light directions)."""
        return self.view[:3, :3]

    @property
    def eye(self) -> np.ndarray:
        """(3,) float64 camera position in world metres (for orthographic: a point on the axis)."""
        r = self.view[:3, :3]
        return -r.T @ self.view[:3, 3]

    def scaled(self, factor: int) -> Camera:
        """The same view at ``factor`` times the resolution (for supersampling)."""
        return replace(self, width=self.width * factor, height=self.height * factor)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Project world points to pixels.

        Args:
            points: (n, 3) world positions, metres.

        Returns:
            (n, 3) float64: pixel x (column), pixel y (row, down), NDC depth in [-1, 1] (smaller is
            nearer; affine in screen space for both projections, so it interpolates linearly across
            a triangle). Points behind a perspective camera get depth ``inf``.
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        m = self.proj @ self.view
        clip = pts @ m[:3, :3].T + m[:3, 3]
        w = pts @ m[3, :3] + m[3, 3]
        out = np.empty((len(pts), 3), dtype=np.float64)
        behind = w <= 1e-12
        w_safe = np.where(behind, 1.0, w)
        ndc = clip / w_safe[:, None]
        out[:, 0] = (ndc[:, 0] + 1.0) * 0.5 * self.width
        out[:, 1] = (1.0 - ndc[:, 1]) * 0.5 * self.height
        out[:, 2] = np.where(behind, np.inf, ndc[:, 2])
        return out

    def view_depth(self, ndc_depth: np.ndarray) -> np.ndarray:
        """Distance in front of the camera (metres) for NDC depths (array of any shape)."""
        z = np.asarray(ndc_depth, dtype=np.float64)
        n, f = self.near, self.far
        if self.perspective:
            return 2.0 * n * f / (f + n - z * (f - n))
        return n + (z + 1.0) * 0.5 * (f - n)

    def pixels_per_metre(self, point: np.ndarray) -> float:
        """Image scale (pixels per metre, horizontally) at a world point, e.g. to pick a detail level."""
        p = np.asarray(point, dtype=np.float64).reshape(3)
        depth = float(-(self.view[:3, :3] @ p + self.view[:3, 3])[2])
        sx = self.proj[0, 0] * 0.5 * self.width
        return sx / depth if self.perspective else sx


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = Z_UP) -> np.ndarray:
    """(4, 4) world -> view matrix of a camera at ``eye`` looking at ``target`` (metres).

    When the view direction is parallel to ``up`` (straight down), world +y is used as screen up.
    """
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    norm = np.linalg.norm(forward)
    if not np.isfinite(norm) or norm < 1e-12:
        raise GeometryError(f"camera eye {eye} and target {target} coincide")
    forward /= norm
    up = np.asarray(up, dtype=np.float64)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:
        right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    view = np.eye(4)
    view[0, :3], view[1, :3], view[2, :3] = right, true_up, -forward
    view[:3, 3] = -view[:3, :3] @ eye
    return view


def orthographic(
    left: float, right: float, bottom: float, top: float, near: float, far: float
) -> np.ndarray:
    """(4, 4) orthographic projection of the view box (metres) to NDC."""
    p = np.zeros((4, 4))
    p[0, 0] = 2.0 / (right - left)
    p[1, 1] = 2.0 / (top - bottom)
    p[2, 2] = -2.0 / (far - near)
    p[0, 3] = -(right + left) / (right - left)
    p[1, 3] = -(top + bottom) / (top - bottom)
    p[2, 3] = -(far + near) / (far - near)
    p[3, 3] = 1.0
    return p


def frustum(left: float, right: float, bottom: float, top: float, near: float, far: float) -> np.ndarray:
    """(4, 4) perspective projection; the window ``left..top`` lies on the near plane (metres)."""
    p = np.zeros((4, 4))
    p[0, 0] = 2.0 * near / (right - left)
    p[1, 1] = 2.0 * near / (top - bottom)
    p[0, 2] = (right + left) / (right - left)
    p[1, 2] = (top + bottom) / (top - bottom)
    p[2, 2] = -(far + near) / (far - near)
    p[2, 3] = -2.0 * far * near / (far - near)
    p[3, 2] = -1.0
    return p


def _image_size(size: int | tuple[int, int]) -> tuple[int, int]:
    w, h = (size, size) if isinstance(size, int | np.integer) else size
    if int(w) < 1 or int(h) < 1:
        raise ConfigError(f"image size must be positive, got {size}")
    return int(w), int(h)


def _box_corners(bounds: np.ndarray) -> np.ndarray:
    b = np.asarray(bounds, dtype=np.float64).reshape(2, 3)
    if not np.isfinite(b).all() or (b[1] < b[0]).any():
        raise GeometryError(f"camera bounds must be finite (min, max) corners, got {b.tolist()}")
    ix = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)])
    return np.where(ix == 1, b[1], b[0])


def _fit_window(
    lo: np.ndarray, hi: np.ndarray, aspect: float, margin: float
) -> tuple[float, float, float, float]:
    """A window (l, r, b, t) centred on ``[lo, hi]`` with the image aspect, content inset by margin."""
    cx, cy = (lo + hi) * 0.5
    hx, hy = np.maximum((hi - lo) * 0.5, 1e-9)
    scale = 1.0 / (1.0 - 2.0 * margin)
    half_w = max(hx, hy * aspect) * scale
    half_h = half_w / aspect
    return cx - half_w, cx + half_w, cy - half_h, cy + half_h


def isometric_camera(
    bounds: np.ndarray,
    size: int | tuple[int, int],
    azimuth_deg: float = 45.0,
    elevation_deg: float = 30.0,
    margin: float = 0.04,
    *,
    perspective: bool = False,
    fov_deg: float = 30.0,
) -> Camera:
    """A camera that frames an axis-aligned box as tightly as the image allows.

    The camera sits in the direction ``(cos el cos az, cos el sin az, sin el)`` from the box centre
    (azimuth from +x toward +y, elevation above the horizon; the defaults show the +x, +y and top
    faces, +x on the left). The projected box corners touch the image border, less ``margin`` (a
    fraction of the image per side), on the tighter axis and are centred on the other.

    Args:
        bounds: (2, 3) min and max corners, metres.
        size: image side in pixels, or (width, height).
        azimuth_deg, elevation_deg: view direction, degrees.
        margin: empty border per side as a fraction of the image, in [0, 0.45].
        perspective: perspective projection with vertical field of view ``fov_deg``.
    """
    return framing_camera(
        _box_corners(bounds),
        size,
        azimuth_deg,
        elevation_deg,
        margin,
        perspective=perspective,
        fov_deg=fov_deg,
    )


def framing_camera(
    points: np.ndarray,
    size: int | tuple[int, int],
    azimuth_deg: float = 45.0,
    elevation_deg: float = 30.0,
    margin: float = 0.04,
    *,
    perspective: bool = False,
    fov_deg: float = 30.0,
    up: np.ndarray = Z_UP,
) -> Camera:
    """Like :func:`isometric_camera`, but frames the projection of ``points`` ((n, 3) metres, e.g.
    a mesh's vertices), which is tighter than framing their bounding box. ``up`` is the world
    direction shown as screen up (``-z`` shows a model turned upside down, as built)."""
    width, height = _image_size(size)
    if not 0.0 <= margin <= 0.45:
        raise ConfigError(f"camera margin must be in [0, 0.45], got {margin}")
    if perspective and not 1.0 <= fov_deg <= 150.0:
        raise ConfigError(f"field of view must be in [1, 150] degrees, got {fov_deg}")
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) == 0 or not np.isfinite(pts).all():
        raise GeometryError(f"cannot frame {len(pts)} points (empty, NaN or infinite)")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) * 0.5
    radius = max(float(np.linalg.norm(hi - lo)) * 0.5, 1e-6)
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    direction = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    aspect = width / height
    if perspective:
        dist = radius / math.sin(math.radians(fov_deg) * 0.5) * 1.05
    else:
        dist = radius * 2.0 + 1.0
    view = look_at(centre + direction * dist, centre, up)
    # column-wise products rather than a matmul: no BLAS thread pool for a (n, 3) x (3, 3) product
    vc = pts[:, 0:1] * view[:3, 0] + pts[:, 1:2] * view[:3, 1] + pts[:, 2:3] * view[:3, 2]
    vc += view[:3, 3]
    depth = -vc[:, 2]
    near = max(float(depth.min()) - radius * 0.05, 1e-4 if perspective else 1e-6)
    far = float(depth.max()) + radius * 0.05
    if perspective:
        tangent = vc[:, :2] / depth[:, None]
        l, r, b, t = _fit_window(tangent.min(axis=0), tangent.max(axis=0), aspect, margin)
        proj = frustum(l * near, r * near, b * near, t * near, near, far)
    else:
        l, r, b, t = _fit_window(vc[:, :2].min(axis=0), vc[:, :2].max(axis=0), aspect, margin)
        proj = orthographic(l, r, b, t, near, far)
    return Camera(view, proj, width, height, perspective=perspective, near=near, far=far)
