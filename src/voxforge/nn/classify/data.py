"""Classifier data: the official ModelNet10 OFF release, augmentation, point sampling.

The shared voxel set and the stratified split are :mod:`voxforge.nn.datasets`.

Grids are (N, 32, 32, 32) uint8 occupancy indexed (x, y, z) with z up, the cubic input contract of
every voxel classifier. The shared 30³ set is zero-padded by one cell per side; OFF meshes are
voxelized with voxforge's own voxelizer on the cubic 32³ lattice with the longest side spanning
24 cells, centred, like the binvox 24³ core of the shared set, so both sources agree in scale.
Point clouds are (N, P, 3) float32, centred and scaled into the unit ball.

Augmentation stays in numpy so the same code feeds training, voting and export checks:
rotations about z use precomputed nearest-neighbour index maps (30° steps are not exact on a
grid; 90° steps are), mirror flips swap x, shifts move the object a few cells with zero fill.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from voxforge.core.errors import ConfigError, GeometryError, InputFormatError, VoxforgeError
from voxforge.core.progress import ProgressCallback, null_progress
from voxforge.nn.datasets import GRID, ClassifierData

if TYPE_CHECKING:
    from voxforge.nn.completion.sim import ScanSimConfig

log = logging.getLogger(__name__)

OBJECT_CELLS = 24
"""Cells spanned by an object's longest side in the 32³ input (binvox 24³ core, as in the shared set)."""
MODELNET10_CLASSES = (
    "bathtub",
    "bed",
    "chair",
    "desk",
    "dresser",
    "monitor",
    "night_stand",
    "sofa",
    "table",
    "toilet",
)
MODELNET10_URL = "http://3dvision.princeton.edu/projects/2014/3DShapeNets/ModelNet10.zip"
"""The official ModelNet10 release (about 450 MB zip of OFF meshes)."""


# --------------------------------------------------------------------------- augmentation


@lru_cache(maxsize=64)
def rotation_index(angle_deg: float, size: int = GRID) -> np.ndarray:
    """Flat (size*size,) source index of each output (x, y) cell for a rotation about z.

    Nearest-neighbour inverse mapping about the grid centre; cells that map outside the grid
    point at ``size*size`` (a zero row appended by :func:`rotate_z`). Multiples of 90° are exact
    permutations.
    """
    c = (size - 1) / 2.0
    t = np.deg2rad(angle_deg)
    cos, sin = np.cos(t), np.sin(t)
    if abs(angle_deg % 90.0) < 1e-9:
        cos, sin = round(cos), round(sin)
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    x, y = i - c, j - c
    # inverse rotation: source = R(-t) @ (out - c) + c
    sx = np.rint(cos * x + sin * y + c).astype(np.int64)
    sy = np.rint(-sin * x + cos * y + c).astype(np.int64)
    ok = (sx >= 0) & (sx < size) & (sy >= 0) & (sy < size)
    idx = np.where(ok, sx * size + sy, size * size)
    idx.setflags(write=False)
    return idx.reshape(-1)


def rotate_z(voxels: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotate (N, s, s, s) grids by ``angle_deg`` about z (counter-clockwise seen from above)."""
    n, s = voxels.shape[0], voxels.shape[1]
    flat = voxels.reshape(n, s * s, voxels.shape[3])
    flat = np.concatenate([flat, np.zeros((n, 1, voxels.shape[3]), flat.dtype)], axis=1)
    return flat[:, rotation_index(float(angle_deg), s)].reshape(voxels.shape)


def shift_grids(voxels: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Move each grid by an integer (dx, dy, dz) with zero fill; ``shifts`` is (N, 3) int."""
    out = np.zeros_like(voxels)
    s = voxels.shape[1:]
    for k, d in enumerate(np.asarray(shifts, dtype=np.int64)):
        src = tuple(slice(max(-v, 0), n - max(v, 0)) for v, n in zip(d, s, strict=True))
        dst = tuple(slice(max(v, 0), n - max(-v, 0)) for v, n in zip(d, s, strict=True))
        out[(k, *dst)] = voxels[(k, *src)]
    return out


def affine_grids(voxels: np.ndarray, mats: np.ndarray) -> np.ndarray:
    """Apply (N, 3, 3) linear maps about the grid centre to (N, s, s, s) grids (nearest neighbour).

    Each output cell takes the source cell at ``inv(mats[k]) @ (cell - centre) + centre``; cells
    mapping outside the grid are empty.
    """
    n, s = voxels.shape[0], voxels.shape[1]
    c = (s - 1) / 2.0
    cells = np.stack(np.meshgrid(*[np.arange(s)] * 3, indexing="ij"), -1).reshape(-1, 3) - c
    src = np.rint(np.einsum("nij,pj->npi", np.linalg.inv(mats), cells) + c).astype(np.int64)
    ok = ((src >= 0) & (src < s)).all(-1)
    idx = np.where(ok, (src[..., 0] * s + src[..., 1]) * s + src[..., 2], s**3)
    flat = np.concatenate([voxels.reshape(n, -1), np.zeros((n, 1), voxels.dtype)], axis=1)
    return np.take_along_axis(flat, idx, axis=1).reshape(voxels.shape)


@dataclass(frozen=True)
class Augment:
    """Random training augmentation of voxel grids or point clouds.

    Attributes:
        rotations: number of equal steps about z to draw from (12 = 30°; 1 = none).
        mirror: flip x with probability 1/2.
        shift: largest shift in cells along each axis (points: shift * 2 / 32 units).
        scale: anisotropic scaling, each axis by a factor drawn from [1 - scale, 1 + scale]
            (per sample; 0 = none).
        tilt: largest tilt in degrees about a random horizontal axis (per sample; 0 = none).
    """

    rotations: int = 12
    mirror: bool = True
    shift: int = 2
    scale: float = 0.0
    tilt: float = 0.0

    def voxels(self, vox: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(N, s, s, s) uint8 -> augmented copy; one rotation drawn per batch for speed."""
        out = vox
        if self.rotations > 1:
            step = int(rng.integers(self.rotations))
            out = rotate_z(out, 360.0 * step / self.rotations)
        if self.mirror:
            flip = rng.random(len(out)) < 0.5
            if flip.any():
                out = out.copy()
                out[flip] = out[flip, ::-1]
        return self._affine_and_shift(out, rng)

    def posed_voxels(self, vox: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Augment like :meth:`voxels` with a rotation drawn per grid; also return each grid's
        orientation bin, the auxiliary target of orientation-boosted training (ORION).

        ModelNet's shapes are stored upright and facing one way per class, so the rotation step
        applied to a grid is its orientation. A rotation by ``t`` then an x-mirror turns a front
        along +x to the direction ``180° - t``: bin ``rotations / 2 - step`` (an even number of
        steps keeps it on the grid of bins).

        Returns:
            The augmented (N, s, s, s) grids and (N,) int64 orientation bins in ``[0, rotations)``.
        """
        r = self.rotations
        if r < 2 or (self.mirror and r % 2):
            raise ConfigError(f"orientation bins need 2+ rotations, an even number with mirror: {r}")
        steps = rng.integers(r, size=len(vox))
        out = np.empty_like(vox)
        for k in np.unique(steps):
            out[steps == k] = rotate_z(vox[steps == k], 360.0 * k / r)
        bins = steps.astype(np.int64)
        if self.mirror:
            flip = rng.random(len(out)) < 0.5
            out[flip] = out[flip, ::-1]
            bins = np.where(flip, (r // 2 - steps) % r, steps)
        return self._affine_and_shift(out, rng), bins

    def _affine_and_shift(self, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The augmentations after the turn and the mirror: tilt and scaling, then the shift."""
        if self.scale > 0 or self.tilt > 0:
            out = affine_grids(out, self.affine(len(out), rng))
        if self.shift > 0:
            out = shift_grids(out, rng.integers(-self.shift, self.shift + 1, size=(len(out), 3)))
        return out

    def affine(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 3, 3) random tilt-then-anisotropic-scale matrices (identity when both are 0)."""
        f = rng.uniform(1 - self.scale, 1 + self.scale, size=(n, 3))
        axis_angle = rng.uniform(0, 2 * np.pi, n)
        axis = np.stack([np.cos(axis_angle), np.sin(axis_angle), np.zeros(n)], 1)
        t = np.deg2rad(rng.uniform(-self.tilt, self.tilt, n))
        k = np.zeros((n, 3, 3))
        k[:, 0, 2], k[:, 1, 2] = axis[:, 1], -axis[:, 0]
        k[:, 2, 0], k[:, 2, 1] = -axis[:, 1], axis[:, 0]
        rot = np.eye(3) + np.sin(t)[:, None, None] * k + (1 - np.cos(t))[:, None, None] * (k @ k)
        return f[:, :, None] * rot

    def points(self, pts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(N, P, 3) float32 -> rotated (per sample, same steps as the grids), mirrored, shifted."""
        n = len(pts)
        steps = rng.integers(max(self.rotations, 1), size=n)
        t = 2 * np.pi * steps / max(self.rotations, 1)
        cos, sin = np.cos(t), np.sin(t)
        rot = np.zeros((n, 3, 3), np.float32)
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = cos, -sin, sin, cos
        rot[:, 2, 2] = 1.0
        if self.mirror:
            rot[:, 0, :] *= np.where(rng.random(n) < 0.5, -1.0, 1.0)[:, None]
        out = pts @ rot.transpose(0, 2, 1)
        if self.shift > 0:
            out = out + rng.uniform(-1, 1, size=(n, 1, 3)).astype(np.float32) * self.shift * 2 / GRID
        return out.astype(np.float32)


def cutmix_voxels(
    vox: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CutMix on (N, s, s, s) grids: each grid gets a random box of another grid of the batch.

    The box's volume share is uniform in (0, 1) (CutMix's Beta(1, 1)), its sides in proportion to
    the grid's and its place uniform. Returns the mixed grids, each one's partner row and its
    label weight: the share of the mixed grid's occupied cells that are its own (occupied cells,
    not box volume, because most of a furniture grid is empty space; the box's volume share of an
    empty mixed grid).
    """
    n, s = len(vox), vox.shape[1]
    partner = rng.permutation(n)
    side = np.clip(np.rint(s * rng.uniform(0, 1, n) ** (1 / 3)), 1, s).astype(int)
    lo = (rng.uniform(0, 1, (n, 3)) * (s - side[:, None] + 1)).astype(int)
    out = vox.copy()
    own = np.ones(n)
    for i in range(n):
        box = tuple(slice(a, a + side[i]) for a in lo[i])
        out[(i, *box)] = vox[(partner[i], *box)]
        kept = int(vox[i].sum()) - int(vox[(i, *box)].sum())
        total = int(out[i].sum())
        own[i] = kept / total if total else 1.0 - (side[i] / s) ** 3
    return out, partner, own.astype(np.float32)


def _turn_z(points: np.ndarray, yaw: float) -> np.ndarray:
    """(n, 3) float64 points turned counter-clockwise by ``yaw`` radians about the z axis (in
    float64, so that voxelizing the turned points is exact to the cell)."""
    c, s = np.cos(yaw), np.sin(yaw)
    return points @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T


def remeshed_grids(
    voxels: np.ndarray,
    copies: int,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """(N, copies, s, s, s) uint8: each grid as a real input arrives, at ``copies`` random yaws.

    A mesh or scan reaches the classifier through voxforge's voxelizer (:func:`mesh_to_grid`),
    which marks every cell the surface touches: thin parts come out thicker than in the
    shared set's binvox grids (about 1.4 times the cells), and a mesh at any yaw gives a crisp
    grid, unlike a grid turned by nearest-neighbour resampling. Here each grid's smooth surface
    (:func:`voxforge.nn.reconstruct.renderset.smooth_mesh`) is turned about z by yaws drawn
    uniformly in [0°, 360°) from ``default_rng([seed, i])`` and voxelized that way, so training
    sees what real inputs look like. Empty grids are copied as they are.
    """
    import trimesh

    from voxforge.core.mesh import Mesh
    from voxforge.nn.reconstruct.renderset import smooth_mesh

    if copies < 1:
        raise ConfigError(f"remeshed copies must be >= 1, got {copies}")
    report = progress or null_progress
    n, s = len(voxels), voxels.shape[1]
    out = np.repeat(np.asarray(voxels, np.uint8)[:, None], copies, axis=1)
    for i in range(n):
        if voxels[i].any():
            v, f = smooth_mesh(voxels[i])
            yaws = np.deg2rad(np.random.default_rng([seed, i]).uniform(0.0, 360.0, copies))
            for k, yaw in enumerate(yaws):
                turned = _turn_z(v, yaw)
                out[i, k] = mesh_to_grid(Mesh(trimesh.Trimesh(turned, f, process=False)), s)
        report("remesh", (i + 1) / n)
    return out


SCAN_POINTS_PER_CELL = 4
"""Points drawn in each cell a simulated scan hits: enough that no cell of the classifier's
lattice (about 1.25 source cells wide) falls between two points of a hit surface."""


def scanned_grids(
    voxels: np.ndarray,
    copies: int,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    sim: ScanSimConfig | None = None,
) -> np.ndarray:
    """(N, copies, s, s, s) uint8: each grid as a one-sided phone scan of it arrives.

    A phone scan sees the side of an object the user walked past, not the back or the
    underside, and :func:`object_to_grid` frames what was seen: the visible shell, with the
    depth a one-sided view leaves out, is scaled so that its own longest side spans the object
    cells. Here each copy is a simulated scan of the grid
    (:func:`voxforge.nn.completion.sim.simulate_scan`: one to three cameras within
    ``sim.spread_deg`` of each other, depth noise, drop-outs), ``SCAN_POINTS_PER_CELL`` random
    points in every cell it hit, turned about z by a random yaw and voxelized like a user's
    point cloud. Object ``i`` draws from ``default_rng([seed, i])``.
    Empty grids, and the rare scan that sees nothing, are copied as they are.
    """
    from voxforge.core.pointcloud import PointCloud
    from voxforge.nn.completion.sim import one_side_views, simulate_scan

    if copies < 1:
        raise ConfigError(f"scanned copies must be >= 1, got {copies}")
    report = progress or null_progress
    n, s = len(voxels), voxels.shape[1]
    out = np.repeat(np.asarray(voxels, np.uint8)[:, None], copies, axis=1)
    centre = np.full(3, s / 2.0)
    for i in range(n):
        occ = np.asarray(voxels[i], dtype=bool)
        if occ.any():
            rng = np.random.default_rng([seed, i])
            for k in range(copies):
                az, el = one_side_views(rng, int(rng.integers(1, 4)), sim)
                hit = simulate_scan(occ, az, el, seed=int(rng.integers(2**31)), config=sim).partial
                cells = np.argwhere(hit).astype(np.float64)
                if len(cells) == 0:
                    continue
                jitter = rng.uniform(0.0, 1.0, (len(cells), SCAN_POINTS_PER_CELL, 3))
                pts = (cells[:, None] + jitter).reshape(-1, 3) - centre
                out[i, k] = mesh_to_grid(PointCloud(_turn_z(pts, rng.uniform(0.0, 2 * np.pi))), s)
        report("scan", (i + 1) / n)
    return out


def input_forms(remeshed: int = 0, scanned: int = 0) -> list[tuple[str, Callable[..., np.ndarray], int]]:
    """The forms real inputs take that are asked for, as ``(name, maker, copies)``: whole meshes
    (:func:`remeshed_grids`) and one-sided scans (:func:`scanned_grids`); forms asked with 0
    copies are left out."""
    asked = (("remeshed", remeshed_grids, remeshed), ("scanned", scanned_grids, scanned))
    return [(name, make, n) for name, make, n in asked if n > 0]


def voting_views(voxels: np.ndarray, views: int) -> np.ndarray:
    """(N, s, s, s) -> (views, N, s, s, s): the grids rotated by 360°/views steps about z."""
    return np.stack([rotate_z(voxels, 360.0 * k / views) for k in range(views)])


def iterate_batches(
    n: int, batch_size: int, rng: np.random.Generator | None = None, drop_last: bool = False
) -> Iterator[np.ndarray]:
    """Index batches over ``range(n)``, shuffled when ``rng`` is given."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


# --------------------------------------------------------------------------- points


def points_from_voxels(
    voxels: np.ndarray, n_points: int, seed: int = 0, *, surface: bool = True
) -> np.ndarray:
    """Sample (N, n_points, 3) float32 points from occupancy grids, in the unit ball.

    Each point is a uniformly jittered position inside a surface cell (a filled cell with an
    empty 6-neighbour), so solid and shell grids give the same cloud. Used when a data set has
    only voxels (the shared npz).
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    out = np.zeros((len(voxels), n_points, 3), np.float32)
    for k, grid in enumerate(voxels):
        occ = grid > 0
        if surface:
            occ = occ & ~ndimage.binary_erosion(occ, border_value=0)
        cells = np.argwhere(occ)
        if len(cells) == 0:
            continue
        pick = cells[rng.integers(len(cells), size=n_points)]
        out[k] = normalize_points(pick + rng.random((n_points, 3)))
    return out


def normalize_points(xyz: np.ndarray) -> np.ndarray:
    """Centre (P, 3) points on their bounding box and scale the farthest to radius 1 (float32)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    centre = (xyz.min(axis=0) + xyz.max(axis=0)) / 2
    xyz = xyz - centre
    r = float(np.sqrt((xyz**2).sum(axis=1)).max()) or 1.0
    return (xyz / r).astype(np.float32)


# --------------------------------------------------------------------------- ModelNet OFF release


def find_modelnet_root(path: str | os.PathLike[str]) -> Path:
    """The folder holding ``<class>/{train,test}/*.off`` (``path`` or its ``ModelNet10`` child)."""
    root = Path(path)
    for cand in (root, root / "ModelNet10", root / "ModelNet40"):
        if cand.is_dir() and any(cand.glob("*/train")):
            return cand
    raise InputFormatError(f"{root}: no ModelNet folder (<class>/train/*.off) found there")


def voxelize_modelnet(
    root: str | os.PathLike[str],
    split: str = "train",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    n_points: int = 1024,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> ClassifierData:
    """Voxelize a ModelNet OFF release split at 32³ and sample points, cached on disk.

    The cache file (``<cache_dir>/<folder>_<split>_32.npz``, default inside ``root``) is keyed by
    the list of files, their sizes and the settings; a later call with the same files reads it.
    Files voxforge cannot read or that hold no geometry are skipped and listed in ``skipped``.

    Returns:
        :class:`ClassifierData` with voxels (N, 32, 32, 32) uint8, points (N, n_points, 3).
    """
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    base = find_modelnet_root(root)
    classes = sorted(p.name for p in base.iterdir() if (p / split).is_dir())
    files = [(f, ci) for ci, c in enumerate(classes) for f in sorted((base / c / split).glob("*.off"))]
    if not files:
        raise InputFormatError(f"{base}: no {split} OFF files found")
    key = hashlib.sha256(
        repr([(f.relative_to(base).as_posix(), f.stat().st_size) for f, _ in files]).encode()
        + f"{n_points}:{seed}".encode()
    ).hexdigest()[:16]
    cache = Path(cache_dir or base) / f"{base.name}_{split}_{GRID}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["key"]) == key:
                skipped = [tuple(s.split("\t", 1)) for s in z["skipped"].tolist()]
                return ClassifierData(
                    z["voxels"], z["labels"], z["classes"].tolist(), z["points"], skipped
                )
    report = progress or null_progress
    vox, pts, labels, skipped = [], [], [], []
    for k, (f, ci) in enumerate(files):
        try:
            grid, cloud = _shape_to_inputs(f, n_points, seed + k)
        except (VoxforgeError, ValueError, IndexError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            log.warning("skipping %s: %s", f, reason)
            skipped.append((str(f), reason))
        else:
            vox.append(grid)
            pts.append(cloud)
            labels.append(ci)
        report(f"voxelize {split}", (k + 1) / len(files))
    data = ClassifierData(
        np.stack(vox) if vox else np.zeros((0, GRID, GRID, GRID), np.uint8),
        np.asarray(labels, np.int64),
        classes,
        np.stack(pts) if pts else np.zeros((0, n_points, 3), np.float32),
        skipped,
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        voxels=data.voxels,
        labels=data.labels,
        classes=np.asarray(classes),
        points=data.points,
        skipped=np.asarray(["\t".join(s) for s in skipped], dtype=str),
        key=np.asarray(key),
    )
    tmp.replace(cache)
    return data


def _shape_to_inputs(path: Path, n_points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One OFF file -> ((32, 32, 32) uint8 grid, (n_points, 3) float32 surface points)."""
    from voxforge.io import load_mesh

    mesh = load_mesh(path, units="m")
    return mesh_to_grid(mesh), mesh_to_points(mesh, n_points, seed)


def mesh_to_grid(obj: object, resolution: int = GRID) -> np.ndarray:
    """Voxelize a Mesh or PointCloud onto the classifier's cubic grid: (r, r, r) uint8.

    The longest side spans ``OBJECT_CELLS * resolution / 32`` cells, centred (the shared set's
    scale).
    """
    from voxforge.voxel import voxelize
    from voxforge.voxel.config import VoxelizeConfig

    margin = (resolution - round(OBJECT_CELLS * resolution / GRID)) // 2
    cfg = VoxelizeConfig(lattice="cubic", resolution=resolution, margin=margin)
    grid = voxelize(obj, cfg)  # type: ignore[arg-type]
    occ = grid.occupancy
    if occ.shape != (resolution,) * 3:
        raise GeometryError(f"cubic voxelization gave {occ.shape}, expected {(resolution,) * 3}")
    return occ.astype(np.uint8)


def mesh_to_points(mesh: object, n_points: int, seed: int) -> np.ndarray:
    """Sample (n_points, 3) float32 surface points of a Mesh, normalised to the unit ball."""
    import trimesh

    tm = mesh.tm  # type: ignore[attr-defined]
    if len(tm.faces) == 0:
        raise GeometryError("mesh has no faces")
    xyz, _ = trimesh.sample.sample_surface(tm, n_points, seed=seed)
    return normalize_points(xyz)


# --------------------------------------------------------------------------- download


def download_modelnet(
    dest: str | os.PathLike[str],
    *,
    url: str = MODELNET10_URL,
    progress: ProgressCallback | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch the ModelNet zip from ``url`` (http(s) or file://) and unpack it under ``dest``.

    Only ever called on an explicit user command. The zip is streamed to a temporary file, then
    extracted; an existing extracted folder is kept as is.

    Returns:
        The ModelNet root folder (``<dest>/ModelNet10``).

    Raises:
        InputFormatError: the download failed or the file is not a ModelNet zip.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    report = progress or null_progress
    part = dest / (Path(url).name or "modelnet.zip")
    part = part.with_name(part.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, part.open("wb") as fh:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            while chunk := resp.read(1 << 20):
                fh.write(chunk)
                done += len(chunk)
                report("download", done / total if total else 0.0)
    except (urllib.error.URLError, OSError, ValueError) as err:
        part.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise InputFormatError(f"{url}: download failed ({reason})") from None
    report("download", 1.0)
    try:
        with zipfile.ZipFile(part) as zf:
            names = zf.namelist()
            if not any(n.lower().endswith(".off") for n in names):
                raise InputFormatError(f"{url}: the zip holds no .off meshes; not a ModelNet release")
            bad = [n for n in names if n.startswith("/") or ".." in Path(n).parts]
            if bad:
                raise InputFormatError(f"{url}: the zip has unsafe member path {bad[0]!r}")
            for k, member in enumerate(names):
                zf.extract(member, dest)
                report("extract", (k + 1) / len(names))
    except zipfile.BadZipFile:
        raise InputFormatError(f"{url}: not a zip file") from None
    finally:
        part.unlink(missing_ok=True)
    shutil.rmtree(dest / "__MACOSX", ignore_errors=True)
    return find_modelnet_root(dest)
