"""Simulated one-sided phone scans of voxel shapes: partial occupancy and known-empty space.

A voxel-space ray caster stands in for the phone LiDAR (:mod:`voxforge.scan.sim` ray-casts
meshes at full sensor resolution, far more than a 32³ grid needs): a pinhole depth camera looks
at the grid from a given azimuth and elevation, each pixel's ray walks the grid cell by cell
(Amanatides-Woo) to the first filled cell, and the return gets the artefacts of a phone scan:
depth noise growing with the square of the distance, random drop-outs and drop-outs at grazing
incidence. Returns land in the *partial* grid; the cells a ray fully crossed before its return
(half a cell of margin) are *known empty*, as in 3D-EPN; a ray that leaves the grid without a
hit marks every cell it crossed (the phone saw the background through them); a dropped ray marks
nothing. Grid units throughout: the grid spans ``[0, R]^3``, z up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.errors import ConfigError


class ScanSimConfig(BaseModel):
    """How the simulated phone scans a voxel shape (grid units: one cell = 1)."""

    model_config = ConfigDict(extra="forbid")

    image_px: int = Field(96, ge=8, le=512, description="depth image side, pixels")
    fov_deg: float = Field(60.0, gt=5, lt=150, description="field of view of the depth camera")
    distance: tuple[float, float] = Field(
        (40.0, 64.0), description="camera distance from the grid centre, cells (uniform range)"
    )
    elevation_deg: tuple[float, float] = Field(
        (0.0, 45.0), description="camera elevation above the horizontal, degrees (uniform range)"
    )
    spread_deg: float = Field(
        35.0, ge=0, le=180, description="extra views' azimuths lie within +-spread of the first"
    )
    noise_sigma: tuple[float, float] = Field(
        (0.05, 0.35), description="depth noise sigma at the mean distance, cells (uniform range)"
    )
    dropout: tuple[float, float] = Field(
        (0.0, 0.15), description="share of returns lost at random (uniform range)"
    )
    grazing_cos: float = Field(
        0.35, ge=0, le=1, description="returns fade out below this cosine of incidence"
    )
    aim_jitter: float = Field(1.5, ge=0, description="camera aim point jitter, cells (sigma)")


@dataclass
class SimulatedScan:
    """One simulated scan of a grid: what was seen, what is known empty, where the cameras were."""

    partial: np.ndarray
    """(R, R, R) bool cells holding at least one return."""
    known_empty: np.ndarray
    """(R, R, R) bool cells a ray crossed before its return (never a partial cell)."""
    azimuths_deg: np.ndarray
    """(k,) camera azimuths, degrees (0 = looking from +x towards -x)."""
    elevations_deg: np.ndarray
    """(k,) camera elevations, degrees."""


@numba.njit(cache=True)
def _cast(occ, eye, dirs, depth_noise, drop, grazing_cos, partial, free):
    """March every ray through ``occ``; fill ``partial`` with returns and ``free`` with crossed cells.

    Drop-outs and depth noise draw from numba's own generator (seeded by :func:`_seed_numba`).
    """
    r = occ.shape[0]
    for k in range(dirs.shape[0]):
        d = dirs[k]
        # entry and exit of the grid box [0, r]^3
        t0, t1 = 0.0, 1e30
        for a in range(3):
            if abs(d[a]) < 1e-12:
                if eye[a] < 0.0 or eye[a] > r:
                    t0, t1 = 1.0, 0.0
            else:
                ta = (0.0 - eye[a]) / d[a]
                tb = (r - eye[a]) / d[a]
                if ta > tb:
                    ta, tb = tb, ta
                t0 = max(t0, ta)
                t1 = min(t1, tb)
        if t0 >= t1:
            continue
        t = t0 + 1e-7
        cell = np.empty(3, np.int64)
        step = np.empty(3, np.int64)
        tmax = np.empty(3)
        tdelta = np.empty(3)
        for a in range(3):
            p = eye[a] + t * d[a]
            c = int(np.floor(p))
            cell[a] = min(max(c, 0), r - 1)
            if d[a] > 0:
                step[a] = 1
                tmax[a] = (cell[a] + 1 - eye[a]) / d[a]
                tdelta[a] = 1.0 / d[a]
            elif d[a] < 0:
                step[a] = -1
                tmax[a] = (cell[a] - eye[a]) / d[a]
                tdelta[a] = -1.0 / d[a]
            else:
                step[a] = 0
                tmax[a] = 1e30
                tdelta[a] = 1e30
        # walk to the first filled cell, remembering each cell's exit distance
        n_seen = 0
        path = np.empty((3 * r + 3, 3), np.int64)
        exits = np.empty(3 * r + 3)
        hit = False
        axis = 0
        t_enter = t
        while True:
            if occ[cell[0], cell[1], cell[2]]:
                hit = True
                break
            a = 0
            if tmax[1] < tmax[a]:
                a = 1
            if tmax[2] < tmax[a]:
                a = 2
            path[n_seen, 0] = cell[0]
            path[n_seen, 1] = cell[1]
            path[n_seen, 2] = cell[2]
            exits[n_seen] = tmax[a]
            n_seen += 1
            t_enter = tmax[a]
            axis = a
            cell[a] += step[a]
            tmax[a] += tdelta[a]
            if cell[a] < 0 or cell[a] >= r:
                break
        if not hit:
            for i in range(n_seen):
                free[path[i, 0], path[i, 1], path[i, 2]] = True
            continue
        # drop-outs: at random, and fading in at grazing incidence on the hit face
        cosi = abs(d[axis]) if n_seen > 0 else 1.0
        p_drop = drop[k]
        if cosi < grazing_cos:
            ramp = 1.0 - cosi / grazing_cos
            p_drop = max(p_drop, ramp * ramp)
        if np.random.random() < p_drop:  # noqa: NPY002 (numba's generator)
            continue
        t_obs = t_enter + 1e-5 + depth_noise[k] * np.random.standard_normal()  # noqa: NPY002
        q = np.empty(3, np.int64)
        ok = True
        for a in range(3):
            q[a] = int(np.floor(eye[a] + t_obs * d[a]))
            if q[a] < 0 or q[a] >= r:
                ok = False
        if ok:
            partial[q[0], q[1], q[2]] = True
        for i in range(n_seen):
            if exits[i] < t_obs - 0.5:
                free[path[i, 0], path[i, 1], path[i, 2]] = True


def camera_rays(eye: np.ndarray, target: np.ndarray, image_px: int, fov_deg: float) -> np.ndarray:
    """(image_px², 3) unit ray directions of a square pinhole camera at ``eye`` aimed at ``target``."""
    fwd = target - eye
    fwd = fwd / np.linalg.norm(fwd)
    up = np.array([0.0, 0.0, 1.0])
    right = np.cross(fwd, up)
    if np.linalg.norm(right) < 1e-9:
        right = np.array([0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    cam_up = np.cross(right, fwd)
    half = np.tan(np.radians(fov_deg) / 2)
    u = (np.arange(image_px) + 0.5) / image_px * 2 - 1
    uu, vv = np.meshgrid(u * half, u * half, indexing="xy")
    dirs = fwd[None] + uu.reshape(-1, 1) * right[None] + vv.reshape(-1, 1) * cam_up[None]
    return dirs / np.linalg.norm(dirs, axis=1, keepdims=True)


def view_direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """(3,) unit vector from the object towards a camera at this azimuth and elevation."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    return np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


def simulate_scan(
    occupancy: np.ndarray,
    azimuths_deg: np.ndarray,
    elevations_deg: np.ndarray,
    *,
    seed: int,
    config: ScanSimConfig | None = None,
    noise: bool = True,
) -> SimulatedScan:
    """Scan a cubic (R, R, R) occupancy grid from the given camera directions.

    ``noise=False`` gives an ideal sensor (no depth noise, no drop-outs, exact aim at the centre).
    """
    cfg = config or ScanSimConfig()
    occ = np.ascontiguousarray(np.asarray(occupancy, dtype=bool))
    if occ.ndim != 3 or len(set(occ.shape)) != 1:
        raise ConfigError(f"simulate_scan needs a cubic grid, got shape {occ.shape}")
    az = np.atleast_1d(np.asarray(azimuths_deg, dtype=np.float64))
    el = np.atleast_1d(np.asarray(elevations_deg, dtype=np.float64))
    rng = np.random.default_rng(seed)
    _seed_numba(int(rng.integers(2**31)))
    r = occ.shape[0]
    centre = np.full(3, r / 2.0)
    partial = np.zeros_like(occ)
    free = np.zeros_like(occ)
    mean_dist = float(np.mean(cfg.distance))
    for a, e in zip(az, el, strict=True):
        dist = rng.uniform(*cfg.distance)
        target = centre + (rng.normal(0, cfg.aim_jitter, 3) if noise else 0.0)
        eye = centre + dist * view_direction(a, e)
        dirs = camera_rays(eye, target, cfg.image_px, cfg.fov_deg)
        n = len(dirs)
        if noise:
            sigma = rng.uniform(*cfg.noise_sigma) * (dist / mean_dist) ** 2
            depth_noise = np.full(n, sigma)
            drop = np.full(n, rng.uniform(*cfg.dropout))
            grazing = cfg.grazing_cos
        else:
            depth_noise = np.zeros(n)
            drop = np.zeros(n)
            grazing = 0.0
        _cast(occ, eye, dirs, depth_noise, drop, grazing, partial, free)
    free &= ~partial
    return SimulatedScan(partial, free, az, el)


@numba.njit(cache=True)
def _seed_numba(seed: int) -> None:
    np.random.seed(seed)  # noqa: NPY002 (seeds numba's generator, not numpy's)


def one_side_views(
    rng: np.random.Generator, n_views: int, config: ScanSimConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Azimuths and elevations (degrees) of ``n_views`` cameras on one side of an object."""
    cfg = config or ScanSimConfig()
    base = rng.uniform(0, 360)
    az = base + np.concatenate([[0.0], rng.uniform(-cfg.spread_deg, cfg.spread_deg, n_views - 1)])
    el = rng.uniform(*cfg.elevation_deg, n_views)
    return az % 360, el
