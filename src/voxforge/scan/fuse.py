"""Fuse depth frames (ARKit convention) into one coloured point cloud on a voxel grid.

Each frame's confident depth pixels are back-projected through the pinhole intrinsics and the
camera-to-world pose, coloured from the frame's image, turned into voxforge's z-up frame and merged
on a voxel grid: positions and colours (in linear RGB) are averaged per cell. Merging per cell
evens out depth noise where views overlap and keeps the cloud's size bounded by the surface area
rather than by the number of frames; frames are streamed, so memory stays flat for long captures.

:func:`fuse_tsdf` instead integrates the frames into a truncated signed distance field and
extracts a coloured triangle mesh with marching cubes, which averages noise along the viewing rays
and closes the surface between samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import cv2
import numba
import numpy as np

from voxforge.core.color import linear_to_srgb, srgb_to_linear
from voxforge.core.errors import ConfigError, GeometryError, SizeLimitError
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.core.progress import ProgressCallback, null_progress
from voxforge.io.arkit import CaptureFrame
from voxforge.io.record3d import PointFrame
from voxforge.scan.scene import CAMERA_POSES_KEY, camera_poses_zup

ARKIT_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""(3, 3) rotation from ARKit's y-up world to voxforge's z-up world: (x, y, z) -> (x, -z, y)."""

_KEY_BITS = 21
_KEY_OFFSET = 1 << (_KEY_BITS - 1)
_CONSOLIDATE_AT = 250_000
"""Pending per-frame cells merged into the running total once they reach this count."""


_REMAP_COLS = 1024
_SRGB8_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)


def rotate(points: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(n, 3) float64 ``points @ rotation.T``, computed column by column.

    For tall (n, 3) arrays this is ~10x faster than ``@`` on a busy machine: BLAS spins up its
    threads for a 3-wide product that is pure memory traffic.
    """
    r = np.asarray(rotation, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    out = np.multiply.outer(p[:, 0], r[:, 0])
    out += np.multiply.outer(p[:, 1], r[:, 1])
    out += np.multiply.outer(p[:, 2], r[:, 2])
    return out


def backproject(
    depth_m: np.ndarray, mask: np.ndarray, intrinsics: np.ndarray, pose: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Back-project masked depth pixels to world points (ARKit camera convention).

    Args:
        depth_m: (h, w) float z-depth in metres.
        mask: (h, w) bool pixels to use.
        intrinsics: (3, 3) pinhole matrix for this (h, w) image; pixel (col, row) has its centre at
            (col + 0.5, row + 0.5).
        pose: (4, 4) camera-to-world; the camera looks down -z with +y up, so image rows grow
            towards -y.

    Returns:
        ((n, 3) float64 world points in the pose's frame, (n,) rows, (n,) cols).
    """
    rows, cols = np.nonzero(mask)
    d = depth_m[rows, cols].astype(np.float64)
    fx, fy = intrinsics[0, 0], intrinsics[1, 1]
    cx, cy = intrinsics[0, 2], intrinsics[1, 2]
    cam = np.empty((len(d), 3))
    cam[:, 0] = (cols + 0.5 - cx) / fx * d
    cam[:, 1] = -(rows + 0.5 - cy) / fy * d
    cam[:, 2] = -d
    world = rotate(cam, pose[:3, :3]) + pose[:3, 3]
    return world, rows, cols


class FramePoints(NamedTuple):
    """One frame's confident points in voxforge's z-up world."""

    xyz: np.ndarray
    """(n, 3) float64 positions, metres."""
    rgb: np.ndarray | None
    """(n, 3) float32 linear-light colours, or None when the frame has no image."""
    normals: np.ndarray | None
    """(n, 3) float64 unit normals facing the camera, or None when not asked for."""
    color_weight: np.ndarray | None = None
    """(n,) float32 1 where ``rgb`` holds a colour, 0 where the point fell outside a neighbour's
    image (None: every point is coloured, or none is)."""


def frame_points(
    frame: CaptureFrame,
    *,
    min_confidence: int = 1,
    max_depth: float = 5.0,
    normals: bool = False,
) -> FramePoints:
    """Back-project one frame's confident depth pixels, with colours and (optionally) normals.

    A frame with its own image samples it at each depth pixel's centre. A frame that borrows a
    neighbour's image (:attr:`CaptureFrame.color_view`) projects its points into that image; points
    outside it get ``color_weight`` 0. Normals come from the depth map's local tangents; where they
    are undefined (a depth edge or a missing neighbour) the direction towards the camera stands in,
    scaled to length 0.01 so that averaging with proper normals lets those win.
    """
    depth = frame.depth_mm.astype(np.float32) * np.float32(0.001)
    valid = (frame.depth_mm > 0) & (depth <= max_depth)
    mask = valid & (frame.confidence >= min_confidence)
    k = frame.depth_intrinsics()
    world, rows, cols = backproject(depth, mask, k, frame.pose)
    xyz = rotate(world, ARKIT_TO_ZUP)
    rgb = weight = None
    if frame.rgb is not None:
        h, w = frame.depth_mm.shape
        img_h, img_w = frame.rgb.shape[:2]
        rgb = sample_bilinear(frame.rgb, (cols + 0.5) * (img_w / w), (rows + 0.5) * (img_h / h))
    elif frame.color_view is not None:
        rgb, weight = _borrowed_colors(frame.color_view, world)
    nrm = None
    if normals:
        n_cam = pixel_normals(depth, valid, k, rows, cols)
        nrm = rotate(rotate(n_cam, frame.pose[:3, :3]), ARKIT_TO_ZUP)
    return FramePoints(xyz, rgb, nrm, weight)


def _borrowed_colors(view, world_a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((n, 3) float32 linear colours, (n,) float32 weights) of ARKit-world points seen through a
    neighbouring frame's camera; weight 0 behind it or outside its image.

    Neighbouring frames are a fraction of a second apart, so occlusion between the two views is
    not tested: the few points it would mis-colour are averaged with the frames that see them.
    """
    pose = view.pose
    cam = rotate(world_a - pose[:3, 3], pose[:3, :3].T)
    z = -cam[:, 2]
    k = view.intrinsics
    img_h, img_w = view.rgb.shape[:2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = k[0, 0] * cam[:, 0] / z + k[0, 2]
        v = -k[1, 1] * cam[:, 1] / z + k[1, 2]
    inside = (z > 1e-6) & (u >= 0) & (u < img_w) & (v >= 0) & (v < img_h)
    rgb = np.zeros((len(world_a), 3), dtype=np.float32)
    rgb[inside] = sample_bilinear(view.rgb, u[inside], v[inside])
    return rgb, inside.astype(np.float32)


_NORMAL_MAX_JUMP = 0.04
"""Relative depth step between neighbouring pixels that counts as an edge (no tangent across)."""
_FALLBACK_WEIGHT = 0.01


def depth_normals(depth_m: np.ndarray, valid: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """(h, w, 3) float64 camera-frame unit normals of a z-depth map, facing the camera.

    The tangents along rows and columns are central differences two pixels wide where both
    sides are continuous surface (averaging noise), one pixel wide next, then one-sided at
    silhouettes and holes, so a normal exists wherever one neighbour per direction does. Pixels
    with none get the unit vector towards the camera times ``_FALLBACK_WEIGHT``.
    """
    h, w = depth_m.shape
    fx, fy = intrinsics[0, 0], intrinsics[1, 1]
    cx, cy = intrinsics[0, 2], intrinsics[1, 2]
    d = np.where(valid, depth_m.astype(np.float64), np.nan)
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    pts = np.stack([(cols - cx) / fx * d, -(rows - cy) / fy * d, -d], axis=-1)
    # Columns grow to the right (+x); rows grow downwards, so "up" (+y) is row - 1.
    tx = _tangent(pts, d, axis=1, sign=1)
    ty = _tangent(pts, d, axis=0, sign=-1)
    normal = np.cross(tx, ty)
    length = np.linalg.norm(normal, axis=-1)
    ok = valid & np.isfinite(length) & (length > 0)
    to_cam = -pts / np.linalg.norm(pts, axis=-1, keepdims=True)
    unit = normal / np.where(ok, length, 1.0)[..., None]
    flip = np.einsum("ijk,ijk->ij", unit, to_cam) < 0
    unit[flip] *= -1.0
    return np.where(ok[..., None], unit, _FALLBACK_WEIGHT * np.nan_to_num(to_cam))


def pixel_normals(
    depth_m: np.ndarray, valid: np.ndarray, intrinsics: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """(n, 3) float64 :func:`depth_normals` at the pixels ``(rows, cols)`` only (numba; the same
    tangents, edge tests and fallbacks, without full-image temporaries)."""
    d = np.where(valid, depth_m.astype(np.float64), np.nan)
    k = np.asarray(intrinsics, dtype=np.float64)
    return _pixel_normals_kernel(
        d, k[0, 0], k[1, 1], k[0, 2], k[1, 2], np.asarray(rows, np.int64), np.asarray(cols, np.int64),
        _NORMAL_MAX_JUMP, _FALLBACK_WEIGHT,
    )  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _point(d, r, c, fx, fy, cx, cy, out):
    """Camera point of pixel (r, c) into ``out``; False beyond the border or without depth."""
    h, w = d.shape
    if r < 0 or c < 0 or r >= h or c >= w:
        return False
    z = d[r, c]
    if not np.isfinite(z):
        return False
    out[0] = (c + 0.5 - cx) / fx * z
    out[1] = -(r + 0.5 - cy) / fy * z
    out[2] = -z
    return True


@numba.njit(cache=True, nogil=True)
def _pixel_tangent(d, r, c, dr, dc, fx, fy, cx, cy, jump, out, scratch):
    """Tangent at (r, c) towards (r + dr, c + dc) as in ``_tangent``; False where none.
    ``scratch`` is a (5, 3) work array (allocating per pixel would dominate the cost)."""
    z = d[r, c]
    p0, p1, m1, p2, m2 = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4]
    _point(d, r, c, fx, fy, cx, cy, p0)
    c1 = _point(d, r + dr, c + dc, fx, fy, cx, cy, p1) and abs(-p1[2] - z) < jump * z
    cm1 = _point(d, r - dr, c - dc, fx, fy, cx, cy, m1) and abs(-m1[2] - z) < jump * z
    if c1 and cm1:
        c2 = _point(d, r + 2 * dr, c + 2 * dc, fx, fy, cx, cy, p2) and abs(-p2[2] - z) < 2 * jump * z
        cm2 = _point(d, r - 2 * dr, c - 2 * dc, fx, fy, cx, cy, m2) and abs(-m2[2] - z) < 2 * jump * z
        for i in range(3):
            out[i] = p2[i] - m2[i] if (c2 and cm2) else p1[i] - m1[i]
        return True
    if c1:
        for i in range(3):
            out[i] = p1[i] - p0[i]
        return True
    if cm1:
        for i in range(3):
            out[i] = p0[i] - m1[i]
        return True
    return False


@numba.njit(cache=True, nogil=True)
def _pixel_normals_kernel(d, fx, fy, cx, cy, rows, cols, jump, fallback):
    n = len(rows)
    out = np.empty((n, 3))
    tx = np.empty(3)
    ty = np.empty(3)
    p = np.empty(3)
    scratch = np.empty((5, 3))
    for j in range(n):
        r, c = rows[j], cols[j]
        ok = _point(d, r, c, fx, fy, cx, cy, p)
        pn = np.sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]) if ok else 0.0
        tc0, tc1, tc2 = (-p[0] / pn, -p[1] / pn, -p[2] / pn) if pn > 0 else (0.0, 0.0, 0.0)
        if (
            ok
            and _pixel_tangent(d, r, c, 0, 1, fx, fy, cx, cy, jump, tx, scratch)
            and _pixel_tangent(d, r, c, -1, 0, fx, fy, cx, cy, jump, ty, scratch)
        ):
            n0 = tx[1] * ty[2] - tx[2] * ty[1]
            n1 = tx[2] * ty[0] - tx[0] * ty[2]
            n2 = tx[0] * ty[1] - tx[1] * ty[0]
            length = np.sqrt(n0 * n0 + n1 * n1 + n2 * n2)
            if np.isfinite(length) and length > 0:
                n0, n1, n2 = n0 / length, n1 / length, n2 / length
                if n0 * tc0 + n1 * tc1 + n2 * tc2 < 0:
                    n0, n1, n2 = -n0, -n1, -n2
                out[j, 0], out[j, 1], out[j, 2] = n0, n1, n2
                continue
        out[j, 0], out[j, 1], out[j, 2] = fallback * tc0, fallback * tc1, fallback * tc2
    return out


def _tangent(pts: np.ndarray, d: np.ndarray, axis: int, sign: int) -> np.ndarray:
    """(h, w, 3) surface tangent along ``axis`` (pointing to index ``+sign``), NaN where none."""

    def shift(a: np.ndarray, k: int) -> np.ndarray:
        """``b[i] = a[i + k]`` along ``axis``; NaN beyond the border."""
        out = np.full_like(a, np.nan)
        n = a.shape[axis]
        src = [slice(None)] * a.ndim
        dst = [slice(None)] * a.ndim
        src[axis] = slice(max(k, 0), n + min(k, 0))
        dst[axis] = slice(max(-k, 0), n - max(k, 0))
        out[tuple(dst)] = a[tuple(src)]
        return out

    def side(k: int) -> tuple[np.ndarray, np.ndarray]:
        dk = shift(d, sign * k)
        cont = np.abs(dk - d) < _NORMAL_MAX_JUMP * abs(k) * d  # NaN compares False
        return shift(pts, sign * k), cont

    p2, c2 = side(2)
    m2, cm2 = side(-2)
    p1, c1 = side(1)
    m1, cm1 = side(-1)
    t = np.where((c1 & cm1)[..., None], p1 - m1, np.nan)
    t = np.where((c2 & cm2 & c1 & cm1)[..., None], p2 - m2, t)
    one_sided = ~(c1 & cm1)
    t = np.where((one_sided & c1)[..., None], p1 - pts, t)
    t = np.where((one_sided & ~c1 & cm1)[..., None], pts - m1, t)
    return t


def sample_bilinear(rgb: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear linear-light colour of a (H, W, 3) uint8 sRGB image at continuous pixel
    positions ``u`` (right), ``v`` (down), pixel centres at +0.5; returns (n, 3) float32.

    The colour camera is the depth camera at a finer resolution, so a depth pixel's centre maps
    to the same continuous position in the colour image; interpolating there (in linear light,
    rather than taking one neighbour) keeps colours unbiased. Positions outside are clamped.
    """
    n = len(u)
    if n == 0:
        return np.zeros((0, 3), dtype=np.float32)
    if rgb.shape[0] * rgb.shape[1] > 8 * n:
        return _gather_bilinear(np.asarray(rgb, dtype=np.uint8), u, v)
    linear = _SRGB8_TO_LINEAR[np.asarray(rgb, dtype=np.uint8)]
    # cv2.remap wants 2-D maps under 32767 per side: lay the points out in rows of 1024.
    rows = -(-n // _REMAP_COLS)
    maps = np.full((2, rows * _REMAP_COLS), -1.0, dtype=np.float32)
    maps[0, :n] = u
    maps[1, :n] = v
    maps -= np.float32(0.5)  # OpenCV puts pixel centres at integers
    out = cv2.remap(
        linear,
        maps[0].reshape(rows, _REMAP_COLS),
        maps[1].reshape(rows, _REMAP_COLS),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out.reshape(-1, 3)[:n]


def _gather_bilinear(rgb: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """:func:`sample_bilinear` by gathering each position's four neighbours: for images much
    larger than the sample count (a phone's 1920x1440 frame against a 256x192 depth map), turning
    only those pixels into linear light costs less than converting the whole image."""
    h, w = rgb.shape[:2]
    x = np.asarray(u, dtype=np.float64) - 0.5
    y = np.asarray(v, dtype=np.float64) - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx = (x - x0).astype(np.float32)[:, None]
    fy = (y - y0).astype(np.float32)[:, None]
    xa = np.clip(x0, 0, w - 1).astype(np.int64)
    xb = np.clip(x0 + 1, 0, w - 1).astype(np.int64)
    ya = np.clip(y0, 0, h - 1).astype(np.int64)
    yb = np.clip(y0 + 1, 0, h - 1).astype(np.int64)
    lut = _SRGB8_TO_LINEAR
    top = lut[rgb[ya, xa]] * (1 - fx) + lut[rgb[ya, xb]] * fx
    bottom = lut[rgb[yb, xa]] * (1 - fx) + lut[rgb[yb, xb]] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


class VoxelMerger:
    """Running per-voxel sums of positions and extra channels, keyed by packed cell indices.

    Cells are 21-bit signed indices per axis packed into one int64, which covers +-5 km at 5 mm.
    """

    def __init__(self, voxel_size: float, channels: int = 0) -> None:
        self.voxel_size = float(voxel_size)
        self.channels = channels
        self._keys: list[np.ndarray] = []
        self._sums: list[np.ndarray] = []
        self._pending = 0
        self.points_in = 0

    def add(self, xyz: np.ndarray, extra: np.ndarray | None = None) -> None:
        """Add (n, 3) points and their (n, channels) extra values (colours, normals, ...)."""
        if len(xyz) == 0:
            return
        idx = np.floor(xyz / self.voxel_size).astype(np.int64)
        if np.abs(idx).max() >= _KEY_OFFSET:
            raise GeometryError(
                f"points span more than {_KEY_OFFSET * self.voxel_size:.0f} m from the origin; "
                "use a larger voxel_size"
            )
        idx += _KEY_OFFSET
        keys = (idx[:, 0] << (2 * _KEY_BITS)) | (idx[:, 1] << _KEY_BITS) | idx[:, 2]
        cols = [xyz] + ([extra] if self.channels else []) + [np.ones((len(xyz), 1))]
        keys, sums = _reduce(keys, np.hstack(cols))
        self._keys.append(keys)
        self._sums.append(sums)
        self._pending += len(keys)
        self.points_in += len(xyz)
        if self._pending >= _CONSOLIDATE_AT:
            self._consolidate()

    def _consolidate(self) -> None:
        if len(self._keys) > 1:
            keys, sums = _reduce(np.concatenate(self._keys), np.concatenate(self._sums))
            self._keys, self._sums = [keys], [sums]
        self._pending = len(self._keys[0]) if self._keys else 0

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """((m, 3) float64 mean positions, (m, channels) float64 mean extras, (m,) int64 counts),
        sorted by cell key so the output order is deterministic."""
        self._consolidate()
        if not self._keys:
            return np.zeros((0, 3)), np.zeros((0, self.channels)), np.zeros(0, np.int64)
        sums = self._sums[0]
        count = sums[:, -1]
        means = sums[:, :-1] / count[:, None]
        return means[:, :3], means[:, 3:], count.astype(np.int64)


def _reduce(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the rows of (n, k) ``values`` that share a key; returns sorted unique keys and sums."""
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return k[starts], np.add.reduceat(values[order], starts, axis=0)


def fuse_frames(
    frames: Iterable[CaptureFrame],
    *,
    min_confidence: int = 1,
    voxel_size: float = 0.005,
    max_depth: float = 5.0,
    normals: bool = True,
    progress: ProgressCallback | None = None,
    total: int | None = None,
) -> PointCloud:
    """Fuse ARKit frames into one z-up point cloud in metres, averaged per voxel.

    Args:
        frames: the frames (any iterable; consumed once, one frame in memory at a time).
        min_confidence: keep pixels with ARKit confidence >= this (0, 1 or 2).
        voxel_size: merge cell edge in metres (positions and linear-RGB colours averaged per cell).
        max_depth: drop depth beyond this many metres.
        normals: also estimate normals from the depth maps, oriented towards the cameras that
            saw each point (reliable orientation, which later meshing needs).
        progress: ``callback("fuse", fraction)``; fractions need ``total`` or a sized ``frames``.
        total: number of frames, for progress when ``frames`` is a generator.

    Returns:
        PointCloud with xyz (m, 3) float64 z-up metres, rgb (m, 3) float32 sRGB when any frame
        has an image (points that no image covers take the nearest coloured point's colour;
        frames without an image of their own may borrow a neighbour's, see
        :class:`~voxforge.io.arkit.ColorView`), unit normals when asked for; ``meta`` records the
        parameters and sample counts.

    Raises:
        ConfigError: a bad parameter. GeometryError: no frames, or no depth pixel passed the
        filters.
    """
    if not voxel_size > 0:
        raise ConfigError(f"voxel_size must be positive, got {voxel_size}")
    if min_confidence not in (0, 1, 2):
        raise ConfigError(f"min_confidence must be 0, 1 or 2, got {min_confidence}")
    if not max_depth > 0:
        raise ConfigError(f"max_depth must be positive, got {max_depth}")
    report = progress or null_progress
    if total is None and hasattr(frames, "__len__"):
        total = len(frames)  # type: ignore[arg-type]
    # channels: linear RGB times weight (3), colour weight (1), normals (3)
    merger = VoxelMerger(voxel_size, channels=4 + 3 * normals)
    n_frames = 0
    colored_frames = 0
    poses: list[np.ndarray] = []
    for frame in frames:
        poses.append(np.asarray(frame.pose, dtype=np.float64))
        pts = frame_points(frame, min_confidence=min_confidence, max_depth=max_depth, normals=normals)
        n = len(pts.xyz)
        extra = np.zeros((n, 4 + 3 * normals))
        if pts.rgb is not None:
            w = np.ones(n, np.float32) if pts.color_weight is None else pts.color_weight
            extra[:, :3] = pts.rgb * w[:, None]
            extra[:, 3] = w
            colored_frames += 1
        if pts.normals is not None:
            extra[:, 4:] = pts.normals
        merger.add(pts.xyz, extra)
        n_frames += 1
        if total:
            report("fuse", min(n_frames / total, 1.0))
    if n_frames == 0:
        raise GeometryError("no frames to fuse")
    xyz, extra, counts = merger.result()
    if len(xyz) == 0:
        raise GeometryError(
            f"no depth pixel in {n_frames} frames passed the filters "
            f"(min_confidence={min_confidence}, max_depth={max_depth} m)"
        )
    rgb, nrm = _colors_and_normals(xyz, extra, colored_frames > 0, normals)
    meta = {
        "frames": n_frames,
        "color_frames": colored_frames,
        "voxel_size": voxel_size,
        "min_confidence": min_confidence,
        "max_depth": max_depth,
        "depth_samples": merger.points_in,
        "max_samples_per_point": int(counts.max()),
        "up_axis": "z (converted from ARKit y-up)",
        "units": "m",
        # the object picker scores candidates by how the cameras saw them
        CAMERA_POSES_KEY: camera_poses_zup(poses),
    }
    return PointCloud(xyz=xyz, rgb=rgb, normals=nrm, meta=meta)


def _colors_and_normals(
    xyz: np.ndarray, extra: np.ndarray, colored: bool, normals: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(colours or None, unit normals or None) of merged points from the merger's summed extra
    columns (weighted linear RGB, weight, normal sum)."""
    rgb = _merged_colors(xyz, extra[:, :3], extra[:, 3]) if colored else None
    if not normals:
        return rgb, None
    nsum = extra[:, 4:7]
    return rgb, nsum / np.maximum(np.linalg.norm(nsum, axis=1, keepdims=True), 1e-300)


def fuse_point_frames(
    frames: Iterable[PointFrame],
    *,
    voxel_size: float = 0.005,
    normals: bool = True,
    progress: ProgressCallback | None = None,
    total: int | None = None,
) -> PointCloud:
    """Merge per-frame point clouds that share one y-up world (a Record3D PLY sequence) into one
    z-up cloud in metres, positions and linear-RGB colours averaged per voxel.

    Frames without colours leave their points uncoloured; those points take the nearest coloured
    point's colour. Normals are averaged where every frame has them (``normals``), else omitted:
    point frames carry no camera to orient estimated ones.

    Raises:
        ConfigError: a bad ``voxel_size``. GeometryError: no frames, or no points in them.
    """
    if not voxel_size > 0:
        raise ConfigError(f"voxel_size must be positive, got {voxel_size}")
    report = progress or null_progress
    if total is None and hasattr(frames, "__len__"):
        total = len(frames)  # type: ignore[arg-type]
    merger = VoxelMerger(voxel_size, channels=7)  # linear RGB x weight, weight, normal sums
    n_frames = colored = with_normals = 0
    for frame in frames:
        xyz = rotate(frame.xyz, ARKIT_TO_ZUP)
        extra = np.zeros((len(xyz), 7))
        if frame.rgb is not None:
            extra[:, :3] = srgb_to_linear(np.asarray(frame.rgb, dtype=np.float32))
            extra[:, 3] = 1.0
            colored += 1
        if frame.normals is not None:
            extra[:, 4:] = rotate(frame.normals, ARKIT_TO_ZUP)
            with_normals += 1
        merger.add(xyz, extra)
        n_frames += 1
        if total:
            report("fuse", min(n_frames / total, 1.0))
    if n_frames == 0:
        raise GeometryError("no frames to fuse")
    xyz, extra, counts = merger.result()
    if len(xyz) == 0:
        raise GeometryError(f"the {n_frames} frames hold no points")
    rgb, nrm = _colors_and_normals(xyz, extra, colored > 0, normals and with_normals == n_frames)
    meta = {
        "frames": n_frames,
        "color_frames": colored,
        "voxel_size": voxel_size,
        "depth_samples": merger.points_in,
        "max_samples_per_point": int(counts.max()),
        "up_axis": "z (converted from ARKit y-up)",
        "units": "m",
    }
    return PointCloud(xyz=xyz, rgb=rgb, normals=nrm, meta=meta)


def frames_as_point_clouds(
    frames: Iterable[CaptureFrame], *, min_confidence: int = 1
) -> list[PointCloud]:
    """Each depth frame's points in ARKit's y-up world with sRGB colours: what a Record3D PLY
    sequence export holds per frame (:func:`voxforge.io.record3d.write_ply_sequence` writes them)."""
    out = []
    for frame in frames:
        pts = frame_points(frame, min_confidence=min_confidence)
        rgb = None if pts.rgb is None else linear_to_srgb(pts.rgb)
        out.append(PointCloud(xyz=pts.xyz @ ARKIT_TO_ZUP, rgb=rgb))  # z-up back to y-up
    return out


def _merged_colors(xyz: np.ndarray, weighted: np.ndarray, weight: np.ndarray) -> np.ndarray | None:
    """(m, 3) float32 sRGB per merged point: its weighted mean colour, or for points that no image
    covered, the colour of the nearest point that one did. None when no point has a colour."""
    have = weight > 0
    if not have.any():
        return None
    linear = np.zeros((len(xyz), 3))
    linear[have] = weighted[have] / weight[have, None]
    if not have.all():
        from scipy.spatial import cKDTree

        _, nearest = cKDTree(xyz[have]).query(xyz[~have])
        linear[~have] = linear[have][nearest]
    return linear_to_srgb(linear)


# --- TSDF fusion -----------------------------------------------------------------------------


def fuse_tsdf(
    frames: Sequence[CaptureFrame],
    *,
    voxel_size: float = 0.004,
    truncation: float | None = None,
    min_confidence: int = 1,
    max_depth: float = 5.0,
    bounds: np.ndarray | None = None,
    max_voxels: int = 16_000_000,
    progress: ProgressCallback | None = None,
) -> Mesh:
    """Integrate frames into a truncated signed distance field and extract a coloured mesh.

    Each voxel centre is projected into every frame; the signed distance along the optical axis
    to the measured depth (positive in front of the surface), truncated to ``truncation``, is
    averaged over the frames that see it (KinectFusion style). Marching cubes (scikit-image) at
    level 0 between observed voxels gives the surface; each vertex is then coloured from the
    frames that see it (depth test and facing test), weighted by the viewing cosine.

    Args:
        frames: the frames (a sequence: they are read up to three times).
        voxel_size: TSDF cell edge in metres.
        truncation: distance band in metres (default 4 voxels); wider averages more noise.
        min_confidence, max_depth: which depth pixels count, as in :func:`fuse_frames`.
        bounds: (2, 3) z-up metres to fuse in; default: the confident points' box plus the band.
        max_voxels: refuse grids larger than this (each voxel costs 20 bytes plus temporaries).
        progress: ``callback("tsdf", fraction)`` over integration and colouring.

    Returns:
        Mesh (z-up metres) with vertex colours when any frame has an image of its own (those
        frames colour it).

    Raises:
        ConfigError: a bad parameter. SizeLimitError: the grid would exceed ``max_voxels``.
        GeometryError: no frames, or no surface observed.
    """
    if not voxel_size > 0:
        raise ConfigError(f"voxel_size must be positive, got {voxel_size}")
    trunc = 4.0 * voxel_size if truncation is None else float(truncation)
    if not trunc > 0:
        raise ConfigError(f"truncation must be positive, got {truncation}")
    if not frames:
        raise GeometryError("no frames to fuse")
    report = progress or null_progress
    if bounds is None:
        bounds = _tsdf_bounds(frames, min_confidence, max_depth, trunc)
    lo = np.asarray(bounds, dtype=np.float64)[0]
    shape = tuple(int(v) for v in np.ceil((np.asarray(bounds)[1] - lo) / voxel_size) + 1)
    n_vox = int(np.prod(shape))
    if n_vox > max_voxels:
        raise SizeLimitError(
            f"TSDF grid {shape[0]}x{shape[1]}x{shape[2]} = {n_vox} voxels exceeds {max_voxels}; "
            f"use voxel_size >= {voxel_size * (n_vox / max_voxels) ** (1 / 3):.4f} m or tighter bounds"
        )
    tsdf = np.ones(shape, dtype=np.float32)
    weight = np.zeros(shape, dtype=np.float32)
    steps = 2 * len(frames)
    with_color = False
    for i, frame in enumerate(frames):
        with_color |= frame.rgb is not None
        _integrate(frame, tsdf, weight, lo, voxel_size, trunc, min_confidence, max_depth)
        report("tsdf", (i + 1) / steps)
    mesh = _extract_mesh(tsdf, weight > 0, lo, voxel_size)
    if with_color:
        colors = _vertex_colors(mesh, frames, trunc / 2, min_confidence, max_depth, report, steps)
        mesh.tm.visual.vertex_colors = colors
    mesh.meta.update({"frames": len(frames), "truncation": trunc, "grid": list(shape)})
    report("tsdf", 1.0)
    return mesh


def _tsdf_bounds(
    frames: Sequence[CaptureFrame], min_confidence: int, max_depth: float, margin: float
) -> np.ndarray:
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for frame in frames:
        xyz = frame_points(frame, min_confidence=min_confidence, max_depth=max_depth).xyz
        if len(xyz):
            lo = np.minimum(lo, xyz.min(axis=0))
            hi = np.maximum(hi, xyz.max(axis=0))
    if not np.isfinite(lo).all():
        raise GeometryError(
            f"no depth pixel in {len(frames)} frames passed the filters "
            f"(min_confidence={min_confidence}, max_depth={max_depth} m)"
        )
    return np.stack([lo - margin, hi + margin])


def _project(
    frame: CaptureFrame, points_a: np.ndarray, min_confidence: int, max_depth: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Project ARKit-world points into a frame's depth map.

    Returns (indices of the points that land on a usable depth pixel, their z-depth (m),
    measured depth there (m), continuous pixel u, v of those points).
    """
    pose = frame.pose
    cam = rotate(points_a - pose[:3, 3], pose[:3, :3].T)  # world -> camera: R^T (p - t)
    z = -cam[:, 2]
    k = frame.depth_intrinsics()
    h, w = frame.depth_mm.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        u = k[0, 0] * cam[:, 0] / z + k[0, 2]
        v = -k[1, 1] * cam[:, 1] / z + k[1, 2]
    idx = np.flatnonzero((z > 1e-6) & (u >= 0) & (u < w) & (v >= 0) & (v < h))
    row, col = v[idx].astype(np.int64), u[idx].astype(np.int64)
    d_mm = frame.depth_mm[row, col]
    d = d_mm.astype(np.float64) * 0.001
    good = (d_mm > 0) & (frame.confidence[row, col] >= min_confidence) & (d <= max_depth)
    idx = idx[good]
    return idx, z[idx], d[good], u[idx], v[idx]


def _integrate(
    frame: CaptureFrame,
    tsdf: np.ndarray,
    weight: np.ndarray,
    lo: np.ndarray,
    voxel_size: float,
    trunc: float,
    min_confidence: int,
    max_depth: float,
) -> None:
    """Update the (nx, ny, nz) TSDF and weights in place with one frame."""
    # z-up voxel centre -> camera coordinates is one affine map: cam = m @ p + c.
    r_t = frame.pose[:3, :3].T
    m = r_t @ ARKIT_TO_ZUP.T
    c = -r_t @ frame.pose[:3, 3]
    _integrate_kernel(
        tsdf, weight, np.asarray(lo, dtype=np.float64), float(voxel_size), m, c,
        frame.depth_intrinsics(), frame.depth_mm, frame.confidence, int(min_confidence),
        float(max_depth), float(trunc),
    )  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _integrate_kernel(tsdf, weight, lo, vs, m, c, k, depth_mm, conf, min_conf, max_depth, trunc):
    """Projective TSDF update: one pass over the voxels, no temporaries (numba)."""
    nx, ny, nz = tsdf.shape
    h, w = depth_mm.shape
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    for i in range(nx):
        px = lo[0] + i * vs
        for j in range(ny):
            py = lo[1] + j * vs
            bx = m[0, 0] * px + m[0, 1] * py + c[0]
            by = m[1, 0] * px + m[1, 1] * py + c[1]
            bz = m[2, 0] * px + m[2, 1] * py + c[2]
            for kk in range(nz):
                pz = lo[2] + kk * vs
                x = bx + m[0, 2] * pz
                y = by + m[1, 2] * pz
                z = -(bz + m[2, 2] * pz)
                if z <= 1e-6:
                    continue
                u = fx * x / z + cx
                v = -fy * y / z + cy
                if u < 0.0 or v < 0.0 or u >= w or v >= h:
                    continue
                row = int(v)
                col = int(u)
                d_mm = depth_mm[row, col]
                if d_mm == 0 or conf[row, col] < min_conf:
                    continue
                d = d_mm * 0.001
                if d > max_depth:
                    continue
                sdf = d - z
                if sdf <= -trunc:
                    continue  # far behind the surface: occluded, no information
                t = min(sdf / trunc, 1.0)
                w_old = weight[i, j, kk]
                tsdf[i, j, kk] = (tsdf[i, j, kk] * w_old + t) / (w_old + 1.0)
                weight[i, j, kk] = w_old + 1.0


def _extract_mesh(volume: np.ndarray, observed: np.ndarray, lo: np.ndarray, voxel_size: float) -> Mesh:
    """Marching cubes at level 0, keeping only faces between observed voxels (z-up metres)."""
    import trimesh
    from skimage.measure import marching_cubes

    if not ((volume < 0) & observed).any() or not ((volume > 0) & observed).any():
        raise GeometryError("TSDF has no zero crossing: no surface was observed")
    # Free space is positive; with scikit-image's "descent" the faces wind outwards.
    verts, faces, _, _ = marching_cubes(
        volume, level=0.0, spacing=(voxel_size,) * 3, gradient_direction="descent"
    )
    # Unobserved voxels hold 1, so the back of the truncation band (observed, negative) next to
    # them makes false surfaces (scikit-image's `mask` does not prevent that: it tests one corner
    # per cube). Keep faces whose vertices lie on edges between two observed voxels.
    grid = verts / voxel_size
    near = np.rint(grid)
    on_grid = np.abs(grid - near) < 1e-4
    upper = np.array(volume.shape) - 1
    a = np.clip(np.where(on_grid, near, np.floor(grid)).astype(np.int64), 0, upper)
    b = np.clip(np.where(on_grid, near, np.ceil(grid)).astype(np.int64), 0, upper)
    ok = observed[a[:, 0], a[:, 1], a[:, 2]] & observed[b[:, 0], b[:, 1], b[:, 2]]
    faces = faces[ok[faces].all(axis=1)]
    if len(faces) == 0:
        raise GeometryError("TSDF has no zero crossing between observed voxels")
    used = np.unique(faces)
    remap = np.full(len(verts), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    tm = trimesh.Trimesh(verts[used].astype(np.float64) + lo, remap[faces], process=False)
    return Mesh(tm=tm, meta={"format": "tsdf", "voxel_size": voxel_size, "units": "m", "up": "z"})


def _vertex_colors(
    mesh: Mesh,
    frames: Sequence[CaptureFrame],
    band: float,
    min_confidence: int,
    max_depth: float,
    report: ProgressCallback,
    steps: int,
) -> np.ndarray:
    """(n, 4) uint8 vertex colours averaged (linear RGB, cosine-weighted) over the frames in which
    the vertex faces the camera and its depth matches the measured depth within ``band``.

    Testing visibility per vertex keeps thin walls from taking the colour of their other side.
    Vertices no frame sees take the mean of their coloured neighbours.
    """
    verts_a = rotate(mesh.vertices, ARKIT_TO_ZUP.T)
    normals_a = rotate(np.asarray(mesh.tm.vertex_normals), ARKIT_TO_ZUP.T)
    acc = np.zeros((len(verts_a), 3))
    wsum = np.zeros(len(verts_a))
    for i, frame in enumerate(frames):
        if frame.rgb is None:  # colours come from the frames that have their own image
            report("tsdf", (len(frames) + i + 1) / steps)
            continue
        idx, z, d, u, v = _project(frame, verts_a, min_confidence, max_depth)
        to_cam = frame.pose[:3, 3] - verts_a[idx]
        cos = np.einsum("ij,ij->i", normals_a[idx], to_cam) / np.linalg.norm(to_cam, axis=1)
        keep = (np.abs(d - z) < band) & (cos > 0.1)
        idx, cos = idx[keep], cos[keep]
        h, w = frame.depth_mm.shape
        img_h, img_w = frame.rgb.shape[:2]  # type: ignore[union-attr]
        rgb = sample_bilinear(frame.rgb, u[keep] * (img_w / w), v[keep] * (img_h / h))  # type: ignore[arg-type]
        np.add.at(acc, idx, rgb * cos[:, None])
        np.add.at(wsum, idx, cos)
        report("tsdf", (len(frames) + i + 1) / steps)
    seen = wsum > 0
    color = np.where(seen[:, None], acc / np.maximum(wsum, 1e-12)[:, None], 0.0)
    _fill_unseen(mesh.tm.edges_unique, color, seen)
    srgb = np.clip(np.rint(linear_to_srgb(color) * 255.0), 0, 255).astype(np.uint8)
    return np.hstack([srgb, np.full((len(srgb), 1), 255, np.uint8)])


def _fill_unseen(edges: np.ndarray, color: np.ndarray, seen: np.ndarray, rounds: int = 32) -> None:
    """Give unseen vertices the mean colour of their seen neighbours, growing inwards, in place;
    whatever stays unreached becomes mid grey."""
    seen = seen.copy()
    for _ in range(rounds):
        if seen.all():
            return
        both = np.concatenate([edges, edges[:, ::-1]])
        src, dst = both[:, 0], both[:, 1]
        take = seen[src] & ~seen[dst]
        if not take.any():
            break
        acc = np.zeros_like(color)
        cnt = np.zeros(len(color))
        np.add.at(acc, dst[take], color[src[take]])
        np.add.at(cnt, dst[take], 1.0)
        grow = cnt > 0
        color[grow] = acc[grow] / cnt[grow, None]
        seen |= grow
    color[~seen] = srgb_to_linear(np.float32(0.5))
