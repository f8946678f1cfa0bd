"""The render set of the image- and sketch-to-3D models: views of voxel shapes with their targets.

Each object of a voxel data set (the shared ModelNet10 format: ``voxels`` (N, 30, 30, 30) uint8
z-up, ``labels``, ``classes``) becomes a smooth mesh (Gaussian-blurred occupancy, marching cubes
at 0.5) rendered from ``K`` random views with random lights, grey or coloured material and plain
or varied backgrounds, plus a sketch of every view (:mod:`voxforge.nn.reconstruct.sketch`).

Frames (the contract the reconstruction models share):

* World = the 32³ target grid's unit cube ``[-0.5, 0.5]^3``, z up: the 30³ grid is padded by one
  cell per side, cell ``(i, j, k)`` has its centre at ``((i, j, k) + 0.5) / 32 - 0.5``.
* A view's camera sits at azimuth ``a`` (degrees, from +x toward +y) and elevation ``e`` above the
  horizon, looking at the object's centre, perspective, framed tightly (the object fills the image
  less a margin, as a cropped and centred photo does).
* Targets are **viewer-centred in yaw**: the target of a view is the 32³ grid rotated about z by
  ``-a`` (:func:`view_target`), so the camera always looks from +x toward -x of the target grid,
  screen right is +y and screen up is +z (at elevation 0). Elevation is not compensated.
* ``cameras`` are (3, 4) matrices ``P`` mapping homogeneous world points to homogeneous pixels:
  ``(u w, v w, w) = P (x, y, z, 1)``; ``u`` is the column, ``v`` the row (down), pixel centres at
  ``+0.5`` (:mod:`voxforge.render.camera`).

Determinism: object ``i`` draws from ``numpy.random.default_rng([seed, i])``, so the bytes of a
render set do not depend on sharding or on how many processes render it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from voxforge.core.errors import ConfigError, GeometryError, InputFormatError
from voxforge.core.outputs import atomic_write_bytes
from voxforge.core.progress import ProgressCallback, null_progress
from voxforge.nn.datasets import GRID, pad_to_grid, stratified_split
from voxforge.nn.reconstruct.sketch import SketchConfig, draw_sketch

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Bumped whenever the bytes a config produces change; part of the cache fingerprint."""
_MC_PAD = 2
"""Empty cells added around the 32³ field before marching cubes, so every surface closes."""


class RenderSetConfig(BaseModel):
    """How views are drawn. Ranges are sampled uniformly per view.

    Attributes:
        views: views per object (K).
        size: image side, pixels.
        seed: seeds every object's generator (with the object's index).
        elevation_deg: camera elevation range, degrees above the horizon.
        fov_deg: vertical field-of-view range of the perspective camera, degrees.
        margin: empty border per side, a fraction of the image (the framing of a cropped photo).
        colour_share: share of views with a random colour material (the rest are grey).
        background_white, background_light, background_varied: relative weights of plain white,
            plain light-coloured and varied (gradient, noise, stripes/checks) backgrounds.
        blur_sigma: Gaussian blur of the occupancy before marching cubes, cells.
        ssaa: supersampling of the rasterizer (anti-aliased silhouettes).
        val_fraction, split_seed: the stratified object split; the defaults are the classifier's
            (``configs/classifier/*.yaml``), so both models hold out the same objects.
        shard_objects: objects per shard file.
        sketch: stroke settings of the sketch variant.
    """

    model_config = ConfigDict(extra="forbid")

    views: int = Field(6, ge=1, le=64)
    size: int = Field(128, ge=32, le=512)
    seed: int = Field(0, ge=0)
    elevation_deg: tuple[float, float] = (0.0, 45.0)
    fov_deg: tuple[float, float] = (25.0, 45.0)
    margin: float = Field(0.08, ge=0.0, le=0.3)
    colour_share: float = Field(0.5, ge=0.0, le=1.0)
    background_white: float = Field(0.4, ge=0.0)
    background_light: float = Field(0.3, ge=0.0)
    background_varied: float = Field(0.3, ge=0.0)
    blur_sigma: float = Field(0.7, gt=0.0, le=3.0)
    ssaa: int = Field(2, ge=1, le=4)
    val_fraction: float = Field(0.15, gt=0.0, lt=1.0)
    split_seed: int = Field(0, ge=0)
    shard_objects: int = Field(250, ge=1)
    sketch: SketchConfig = Field(default_factory=SketchConfig)

    @model_validator(mode="after")
    def _check(self) -> RenderSetConfig:
        lo, hi = self.elevation_deg
        if not -89.0 <= lo <= hi <= 89.0:
            raise ConfigError(f"elevation_deg must be a range within [-89, 89], got ({lo}, {hi})")
        lo, hi = self.fov_deg
        if not 1.0 <= lo <= hi <= 120.0:
            raise ConfigError(f"fov_deg must be a range within [1, 120], got ({lo}, {hi})")
        if self.background_white + self.background_light + self.background_varied <= 0:
            raise ConfigError("at least one background weight must be positive")
        return self


EVAL_CONFIG = RenderSetConfig(background_varied=0.0)
"""Views for evaluation: plain backgrounds only, the input contract of ``Reconstructor.predict``
(photos are cut out onto a plain light background before prediction)."""


@dataclass
class RenderedViews:
    """K views of one object.

    Attributes:
        images: (K, S, S, 3) uint8 sRGB renders on their backgrounds.
        masks: (K, S, S) bool object coverage (alpha >= 0.5).
        sketches: (K, S, S) uint8 line drawings, 255 paper, dark lines.
        azimuth, elevation: (K,) float32 degrees.
        cameras: (K, 3, 4) float32 world -> pixel projection matrices (module docstring).
    """

    images: np.ndarray
    masks: np.ndarray
    sketches: np.ndarray
    azimuth: np.ndarray
    elevation: np.ndarray
    cameras: np.ndarray


# --------------------------------------------------------------------------- geometry and frames


def to_grid32(voxels: np.ndarray, *, name: str = "voxels") -> np.ndarray:
    """(a, b, c) occupancy with sides <= 32 -> (32, 32, 32) bool, centred (30³ pads by one)."""
    vox = np.asarray(voxels)
    if vox.ndim != 3:
        raise InputFormatError(f"{name}: expected one (a, b, c) grid, found shape {vox.shape}")
    return pad_to_grid(vox[None], GRID, name=name)[0].astype(bool)


def smooth_mesh(voxels: np.ndarray, sigma: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """A smooth closed surface of an occupancy grid, in the unit-cube world frame.

    The field is the blurred occupancy, but never below 0.75 in a filled cell: a plain blur would
    erase one-cell-thin parts (chair legs peak near 0.3), while 0.75 keeps them about one cell
    thick and leaves flat faces where the blur puts them (on the cell boundary).

    Args:
        voxels: (a, b, c) occupancy, sides <= 32 (padded to 32³ centred).
        sigma: blur, cells.

    Returns:
        vertices (n, 3) float64 in ``[-0.5, 0.5]^3``; faces (m, 3) int32, counter-clockwise seen
        from outside.

    Raises:
        GeometryError: the grid is empty.
    """
    from scipy import ndimage
    from skimage.measure import marching_cubes

    grid = to_grid32(voxels)
    if not grid.any():
        raise GeometryError("cannot mesh an empty occupancy grid")
    occ = grid.astype(np.float32)
    field = np.maximum(ndimage.gaussian_filter(occ, sigma, mode="constant"), 0.75 * occ)
    field = np.pad(field, _MC_PAD)
    verts, faces, _, _ = marching_cubes(field, 0.5)
    verts = (verts.astype(np.float64) - _MC_PAD + 0.5) / GRID - 0.5
    # skimage winds faces clockwise seen from the high (inside) side's opposite: flip them
    return verts, np.ascontiguousarray(faces[:, ::-1], dtype=np.int32)


def _rotation_sources(azimuth_deg: np.ndarray, size: int = GRID) -> np.ndarray:
    """(B, size*size) flat source cell of each output (x, y) column for rotations about z by
    ``azimuth_deg`` (B,) degrees; ``size*size`` marks cells that come from outside the grid.

    Nearest-neighbour inverse mapping about the grid centre, the convention of
    :func:`voxforge.nn.classify.data.rotation_index` (multiples of 90° are exact permutations).
    """
    t = np.deg2rad(np.asarray(azimuth_deg, dtype=np.float64).reshape(-1, 1))
    cos, sin = np.cos(t), np.sin(t)
    right = np.abs(np.mod(np.asarray(azimuth_deg, dtype=np.float64).reshape(-1, 1), 90.0)) < 1e-9
    cos, sin = np.where(right, np.rint(cos), cos), np.where(right, np.rint(sin), sin)
    c = (size - 1) / 2.0
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    x, y = (i - c).reshape(1, -1), (j - c).reshape(1, -1)
    sx = np.rint(cos * x + sin * y + c).astype(np.int64)
    sy = np.rint(-sin * x + cos * y + c).astype(np.int64)
    ok = (sx >= 0) & (sx < size) & (sy >= 0) & (sy < size)
    return np.where(ok, sx * size + sy, size * size)


def rotate_grids(grids: np.ndarray, angle_deg: np.ndarray | Sequence[float] | float) -> np.ndarray:
    """Rotate (B, s, s, s) grids (any dtype) about z by per-grid angles (degrees, counter-clockwise
    seen from above), nearest neighbour; cells rotated in from outside are zero. A scalar angle
    applies to every grid. Use :func:`rotate_probabilities` to resample predictions: resampling a
    grid that was already resampled this way loses about 10 % IoU."""
    g = np.asarray(grids)
    b, s = g.shape[0], g.shape[1]
    angles = np.broadcast_to(np.asarray(angle_deg, dtype=np.float64).reshape(-1), (b,))
    src = _rotation_sources(angles, s)
    flat = g.reshape(b, s * s, g.shape[3])
    flat = np.concatenate([flat, np.zeros((b, 1, g.shape[3]), g.dtype)], axis=1)
    out = np.take_along_axis(flat, src[:, :, None], axis=1)
    return out.reshape(g.shape)


def rotate_probabilities(
    grids: np.ndarray, angle_deg: np.ndarray | Sequence[float] | float
) -> np.ndarray:
    """Rotate (B, s, s, s) occupancy probabilities about z with bilinear interpolation in each
    z-slice (same convention as :func:`rotate_grids`); returns float32. For multi-view fusion:
    bring each view's prediction into the first view's frame with angle ``az_k - az_0``."""
    g = np.asarray(grids, dtype=np.float32)
    b, s = g.shape[0], g.shape[1]
    angles = np.broadcast_to(np.asarray(angle_deg, dtype=np.float64).reshape(-1), (b,))
    t = np.deg2rad(angles).reshape(-1, 1)
    c = (s - 1) / 2.0
    i, j = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
    x, y = (i - c).reshape(1, -1), (j - c).reshape(1, -1)
    sx = np.cos(t) * x + np.sin(t) * y + c
    sy = -np.sin(t) * x + np.cos(t) * y + c
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    fx, fy = (sx - x0).astype(np.float32), (sy - y0).astype(np.float32)
    flat = np.concatenate([g.reshape(b, s * s, s), np.zeros((b, 1, s), np.float32)], axis=1)
    out = np.zeros((b, s * s, s), dtype=np.float32)
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy),
                      (1, 1, fx * fy)):  # fmt: skip
        cx, cy = x0 + dx, y0 + dy
        ok = (cx >= 0) & (cx < s) & (cy >= 0) & (cy < s)
        src = np.where(ok, cx * s + cy, s * s)
        out += w[:, :, None] * np.take_along_axis(flat, src[:, :, None], axis=1)
    return out.reshape(g.shape)


def view_target(voxels30: np.ndarray, azimuth_deg: float) -> np.ndarray:
    """(32, 32, 32) bool target of a view at ``azimuth_deg``: the padded grid rotated by minus
    the azimuth, so the camera looks from +x toward -x of the target."""
    return rotate_grids(to_grid32(voxels30)[None], -float(azimuth_deg))[0]


def view_targets(grids32: np.ndarray, azimuth_deg: np.ndarray) -> np.ndarray:
    """Batched :func:`view_target`: (B, 32, 32, 32) bool grids and (B,) degrees -> (B, 32, 32, 32)."""
    return rotate_grids(np.asarray(grids32, dtype=bool), -np.asarray(azimuth_deg, dtype=np.float64))


def camera_matrix(camera: object) -> np.ndarray:
    """(3, 4) float64 world -> homogeneous pixel matrix of a :class:`~voxforge.render.camera.Camera`."""
    m = camera.proj @ camera.view  # type: ignore[attr-defined]
    w, h = camera.width, camera.height  # type: ignore[attr-defined]
    return np.stack([0.5 * w * (m[0] + m[3]), 0.5 * h * (m[3] - m[1]), m[3]])


# --------------------------------------------------------------------------- appearance


def _hsv_rgb(h: float, s: float, v: float) -> np.ndarray:
    """(3,) float32 sRGB of a hue in [0, 1), saturation and value in [0, 1]."""
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return (v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)).astype(np.float32)


def _material(rng: np.random.Generator, colour_share: float) -> np.ndarray:
    if rng.random() < colour_share:
        return _hsv_rgb(rng.random(), rng.uniform(0.3, 0.9), rng.uniform(0.35, 0.95))
    return np.full(3, rng.uniform(0.4, 0.92), dtype=np.float32)


def _lighting(rng: np.random.Generator) -> object:
    from voxforge.render.raster import Lighting

    key = (rng.uniform(-0.9, 0.9), rng.uniform(0.1, 1.0), rng.uniform(0.3, 1.0))
    return Lighting(
        key_direction=key,
        key=rng.uniform(0.4, 0.75),
        fill_direction=(-key[0], rng.uniform(-0.2, 0.4), rng.uniform(0.4, 1.0)),
        fill=rng.uniform(0.05, 0.25),
        ambient=rng.uniform(0.25, 0.5),
    )


def _background(rng: np.random.Generator, config: RenderSetConfig, size: int) -> np.ndarray:
    """(S, S, 3) float32 sRGB background in [0, 1]."""
    w = np.array([config.background_white, config.background_light, config.background_varied])
    kind = int(rng.choice(3, p=w / w.sum()))
    if kind == 0:
        return np.full((size, size, 3), rng.uniform(0.96, 1.0), dtype=np.float32)
    if kind == 1:
        rgb = _hsv_rgb(rng.random(), rng.uniform(0.04, 0.25), rng.uniform(0.86, 1.0))
        return np.broadcast_to(rgb, (size, size, 3)).astype(np.float32)
    a = _hsv_rgb(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.25, 1.0))
    b = _hsv_rgb(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.25, 1.0))
    u = np.linspace(0.0, 1.0, size, dtype=np.float32)
    style = int(rng.integers(3))
    if style == 0:  # linear gradient in a random direction
        t = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(t) * u[None, :] + np.sin(t) * u[:, None]
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    elif style == 1:  # cloudy noise
        cells = int(rng.integers(3, 12))
        coarse = rng.random((cells, cells)).astype(np.float32)
        ramp = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    else:  # stripes or checks, as fabric, tiles or wallpaper
        period = rng.uniform(6, 40)
        t = rng.uniform(0, np.pi)
        sx = np.sin((np.cos(t) * u[None, :] + np.sin(t) * u[:, None]) * size * 2 * np.pi / period)
        ramp = (sx > 0).astype(np.float32)
        if rng.random() < 0.5:
            sy = np.sin((-np.sin(t) * u[None, :] + np.cos(t) * u[:, None]) * size * 2 * np.pi / period)
            ramp = np.abs(ramp - (sy > 0))
        ramp = cv2.GaussianBlur(ramp, (0, 0), 0.6)
    img = a + ramp[:, :, None] * (b - a)
    img = img + rng.normal(0.0, rng.uniform(0.0, 0.04), size=img.shape).astype(np.float32)
    return img.clip(0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- rendering


def _render_one(
    vertices: np.ndarray,
    faces: np.ndarray,
    azimuth: float,
    elevation: float,
    rng: np.random.Generator,
    config: RenderSetConfig,
    size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One view -> (image (S,S,3) uint8, mask (S,S) bool, sketch (S,S) uint8, camera (3,4))."""
    from voxforge.render.camera import framing_camera
    from voxforge.render.raster import RenderOptions, render_mesh

    fov = float(rng.uniform(*config.fov_deg))
    camera = framing_camera(
        vertices, size, azimuth, elevation, config.margin, perspective=True, fov_deg=fov
    )
    material = _material(rng, config.colour_share)
    options = RenderOptions(
        ssaa=config.ssaa,
        edges=False,
        background=None,
        lighting=_lighting(rng),  # type: ignore[arg-type]
    )
    rgba = render_mesh(
        vertices, faces, np.broadcast_to(material, (len(faces), 3)), camera, options=options
    )
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    rgb = rgba[:, :, :3].astype(np.float32) / 255.0
    mask = alpha[:, :, 0] >= 0.5
    background = _background(rng, config, size)
    image = np.rint((rgb * alpha + background * (1.0 - alpha)) * 255.0).astype(np.uint8)
    grey = cv2.cvtColor(
        np.rint((rgb * alpha + (1.0 - alpha)) * 255.0).astype(np.uint8), cv2.COLOR_RGB2GRAY
    )
    sketch = draw_sketch(grey, mask, rng, config.sketch)
    return image, mask, sketch, camera_matrix(camera)


def render_views(
    voxels30: np.ndarray,
    rng: np.random.Generator,
    n_views: int,
    size: int = 128,
    config: RenderSetConfig | None = None,
) -> RenderedViews:
    """Render ``n_views`` random views (and their sketches) of one occupancy grid.

    Args:
        voxels30: (a, b, c) occupancy, sides <= 32, z up (the shared set's 30³).
        rng: draws azimuths (uniform in [0, 360)), elevations, cameras, lights, materials,
            backgrounds and strokes; the same generator state gives the same bytes.
        n_views: K.
        size: image side, pixels (overrides ``config.size``).
        config: appearance settings (``config.views`` is ignored here).

    Raises:
        GeometryError: the grid is empty (nothing to see).
    """
    cfg = config or RenderSetConfig()
    if n_views < 1:
        raise ConfigError(f"n_views must be >= 1, got {n_views}")
    vertices, faces = smooth_mesh(voxels30, cfg.blur_sigma)
    azimuth = rng.uniform(0.0, 360.0, size=n_views).astype(np.float32)
    elevation = rng.uniform(*cfg.elevation_deg, size=n_views).astype(np.float32)
    out = [
        _render_one(vertices, faces, float(a), float(e), rng, cfg, size)
        for a, e in zip(azimuth, elevation, strict=True)
    ]
    return RenderedViews(
        images=np.stack([o[0] for o in out]),
        masks=np.stack([o[1] for o in out]),
        sketches=np.stack([o[2] for o in out]),
        azimuth=azimuth,
        elevation=elevation,
        cameras=np.stack([o[3] for o in out]).astype(np.float32),
    )


def object_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of object ``index`` (independent of sharding and process count)."""
    return np.random.default_rng([seed, index])


# --------------------------------------------------------------------------- building


def _fingerprint(voxels: np.ndarray, labels: np.ndarray, config: RenderSetConfig) -> str:
    h = hashlib.sha256()
    h.update(f"v{FORMAT_VERSION}:".encode())
    h.update(config.model_dump_json().encode())
    h.update(np.ascontiguousarray(voxels).tobytes())
    h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()[:20]


def _render_shard(
    voxels: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    config: RenderSetConfig,
    path: Path,
    fingerprint: str,
) -> int:
    """Render objects ``indices`` (global ids; ``voxels``/``labels`` hold only these) into ``path``."""
    k = config.views
    views = [render_views(v, object_rng(config.seed, int(i)), k, config.size, config) for v, i in
             zip(voxels, indices, strict=True)]  # fmt: skip
    arrays = {
        name: np.concatenate([getattr(r, name) for r in views])
        for name in ("images", "sketches", "masks", "azimuth", "elevation", "cameras")
    }
    arrays["labels"] = np.repeat(labels.astype(np.int64), k)
    arrays["object_index"] = np.repeat(indices.astype(np.int64), k)
    arrays["fingerprint"] = np.asarray(fingerprint)
    _save_npz(path, arrays)
    return len(indices)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    atomic_write_bytes(path, buf.getvalue())


def _shard_ok(path: Path, fingerprint: str) -> bool:
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            return str(z["fingerprint"]) == fingerprint
    except (OSError, ValueError, KeyError):
        return False


def _init_worker() -> None:
    import numba

    numba.set_num_threads(1)


def build_render_set(
    data_npz: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: RenderSetConfig | None = None,
    progress: ProgressCallback | None = None,
    *,
    workers: int = 2,
) -> Path:
    """Render every non-empty object of a voxel data set into shards, with the object split.

    Writes ``shard_NNNN.npz`` (keys images, sketches, masks, azimuth, elevation, cameras, labels,
    object_index; all per view), ``objects.npz`` (the padded 32³ grids packed with ``np.packbits``
    plus labels and classes, so targets need no other file) and last ``index.json`` (config,
    fingerprint, classes, train/val object ids, shards). A rerun keeps the shards whose
    fingerprint (config, format version, data bytes) matches and renders only the rest.

    Args:
        data_npz: dataset npz in the shared format.
        out_dir: the render set folder (created).
        config: views and appearance.
        progress: ``callback("render", fraction)``.
        workers: processes (each with one numba thread); 1 renders in this process.

    Returns:
        The folder.
    """
    from voxforge.io import load_voxel_dataset

    cfg = config or RenderSetConfig()
    report = progress or null_progress
    out = Path(out_dir)
    ds = load_voxel_dataset(data_npz)
    grids = pad_to_grid(ds.voxels, GRID, name=str(data_npz)).astype(bool)
    labels = ds.labels.astype(np.int64)
    fingerprint = _fingerprint(grids, labels, cfg)
    index_path = out / "index.json"
    if index_path.is_file():
        try:
            if json.loads(index_path.read_text())["fingerprint"] == fingerprint:
                report("render", 1.0)
                return out
        except (ValueError, KeyError):
            pass
        index_path.unlink()

    filled = grids.reshape(len(grids), -1).any(axis=1)
    train, val = stratified_split(labels, cfg.val_fraction, cfg.split_seed)
    order = np.flatnonzero(filled)
    chunks = [order[s : s + cfg.shard_objects] for s in range(0, len(order), cfg.shard_objects)]
    shard_paths = [out / f"shard_{n:04d}.npz" for n in range(len(chunks))]
    out.mkdir(parents=True, exist_ok=True)
    todo = [n for n, p in enumerate(shard_paths) if not _shard_ok(p, fingerprint)]
    done = len(order) - sum(len(chunks[n]) for n in todo)
    report("render", done / max(len(order), 1))
    jobs = [(grids[chunks[n]], labels[chunks[n]], chunks[n], cfg, shard_paths[n], fingerprint)
            for n in todo]  # fmt: skip
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            done += _render_shard(*job)
            report("render", done / len(order))
    else:
        # spawn, not fork: forking a process whose numba threads already ran (OpenMP) aborts
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
            for n_done in pool.map(_render_shard, *zip(*jobs, strict=True)):
                done += n_done
                report("render", done / len(order))
    _save_npz(
        out / "objects.npz",
        {
            "voxels": np.packbits(grids.reshape(len(grids), -1), axis=1),
            "labels": labels,
            "classes": np.asarray(ds.classes),
            "filled": filled,
        },
    )
    index = {
        "format_version": FORMAT_VERSION,
        "fingerprint": fingerprint,
        "data": str(data_npz),
        "config": cfg.model_dump(mode="json"),
        "classes": list(ds.classes),
        "objects": len(grids),
        "views_per_object": cfg.views,
        "empty_objects": np.flatnonzero(~filled).tolist(),
        "split": {"train": train[filled[train]].tolist(), "val": val[filled[val]].tolist()},
        "shards": [
            {"file": p.name, "objects": len(c), "first": int(c[0]), "last": int(c[-1])}
            for p, c in zip(shard_paths, chunks, strict=True)
        ],
    }
    atomic_write_bytes(index_path, json.dumps(index, indent=1).encode())
    log.info("render set %s: %d objects x %d views", out, len(order), cfg.views)
    return out


# --------------------------------------------------------------------------- loading


@dataclass
class RenderSet:
    """The views of one split, in memory, with their targets on demand.

    Attributes:
        images: (N, S, S, 3) uint8; sketches (N, S, S) uint8; masks (N, S, S) bool.
        azimuth, elevation: (N,) float32 degrees; cameras (N, 3, 4) float32.
        labels: (N,) int64 class per view; object_index: (N,) int64 object id in the data file.
        objects: (M,) int64 object ids of this split; grids (M, 32, 32, 32) bool their occupancy
            in the data file's frame; object_row: (N,) int64 row of each view's object in grids.
        classes: class names; config: the render settings.
    """

    images: np.ndarray
    sketches: np.ndarray
    masks: np.ndarray
    azimuth: np.ndarray
    elevation: np.ndarray
    cameras: np.ndarray
    labels: np.ndarray
    object_index: np.ndarray
    objects: np.ndarray
    grids: np.ndarray
    object_row: np.ndarray
    classes: list[str]
    config: RenderSetConfig

    def __len__(self) -> int:
        return len(self.labels)

    def targets(self, views: np.ndarray | Sequence[int]) -> np.ndarray:
        """(B, 32, 32, 32) bool viewer-centred targets of the views at ``views`` (B,) int."""
        idx = np.asarray(views, dtype=np.int64).reshape(-1)
        return view_targets(self.grids[self.object_row[idx]], self.azimuth[idx])


def _read_index(folder: Path) -> dict:
    path = folder / "index.json"
    if not path.is_file():
        raise InputFormatError(f"{folder}: not a finished render set (no index.json)")
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise InputFormatError(f"{path}: not valid JSON ({err})") from None


def load_render_set(folder: str | os.PathLike[str], split: Literal["train", "val"]) -> RenderSet:
    """Load the views of the ``split`` objects of a render set built by :func:`build_render_set`.

    Raises:
        InputFormatError: the folder is not a finished render set, or a shard is missing.
        ConfigError: unknown split.
    """
    if split not in ("train", "val"):
        raise ConfigError(f"split must be 'train' or 'val', got {split!r}")
    root = Path(folder)
    index = _read_index(root)
    wanted = np.asarray(index["split"][split], dtype=np.int64)
    parts: dict[str, list[np.ndarray]] = {}
    for shard in index["shards"]:
        path = root / shard["file"]
        if not path.is_file():
            raise InputFormatError(f"{path}: shard listed in index.json is missing")
        with np.load(path, allow_pickle=False) as z:
            keep = np.isin(z["object_index"], wanted)
            if not keep.any():
                continue
            for key in ("images", "sketches", "masks", "azimuth", "elevation", "cameras", "labels",
                        "object_index"):  # fmt: skip
                parts.setdefault(key, []).append(z[key][keep])
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    with np.load(root / "objects.npz", allow_pickle=False) as z:
        packed = z["voxels"][wanted]
    grids = np.unpackbits(packed, axis=1, count=GRID**3).astype(bool).reshape(-1, GRID, GRID, GRID)
    row = np.searchsorted(wanted, arrays["object_index"])
    return RenderSet(
        **arrays,
        objects=wanted,
        grids=grids,
        object_row=row,
        classes=list(index["classes"]),
        config=RenderSetConfig.model_validate(index["config"]),
    )
