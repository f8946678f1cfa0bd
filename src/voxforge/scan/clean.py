"""Cleaning up a scan: down-sample, drop outliers, find the table, cut out the object.

The order is chosen for speed: voxel down-sampling first (it bounds the work of every later
stage by the object's surface area instead of the scanner's resolution), then the plane (RANSAC
ignores strays, and removing the table first leaves outlier removal a fraction of the points),
then statistical outlier removal, then clustering. The result stands on z = 0, centred in x/y,
and :class:`CleanReport` records the transform so a user can map results back onto the scan.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.spatial import cKDTree

from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.pointcloud import PointCloud
from voxforge.core.progress import Progress, ProgressCallback
from voxforge.scan.cluster import (
    ClusterSummary,
    choose_cluster,
    cluster_centroids,
    euclidean_clusters,
    summarise_clusters,
)
from voxforge.scan.plane import (
    Plane,
    align_to_plane,
    axis_vector,
    find_plane,
    is_support_plane,
    rotation_between,
)

log = logging.getLogger(__name__)

UNIT_SCALE: dict[str, float] = {"m": 1.0, "dm": 0.1, "cm": 0.01, "mm": 0.001, "in": 0.0254, "ft": 0.3048}
"""Metres per unit for the names ``CleanConfig.units`` accepts."""


class CleanConfig(BaseModel):
    """How to clean a scan. Lengths are metres (after ``units`` scaling), counts are points."""

    model_config = ConfigDict(extra="forbid")

    units: Literal["m", "dm", "cm", "mm", "in", "ft"] | float = Field(
        "m", description="Unit of the input coordinates (name, or metres per unit); scans are metres."
    )
    voxel_size: float | None = Field(
        0.002, gt=0, description="Down-sampling cell, metres (one averaged point per cell); None = off."
    )
    outlier_k: int = Field(16, ge=0, description="Neighbours for statistical outlier removal; 0 = off.")
    outlier_std: float = Field(
        3.0, gt=0, description="Drop points whose mean neighbour distance exceeds mean + this * std."
    )
    isolated_cell: float | None = Field(
        0.01,
        gt=0,
        description="Before the plane: drop points with fewer than isolated_min_neighbours points "
        "in the 3 x 3 x 3 block of cells this wide around them (stray returns far from any "
        "surface, which would otherwise widen what seems to stand on the table); None = off.",
    )
    isolated_min_neighbours: int = Field(
        2,
        ge=1,
        description="Least points in a point's 3 x 3 x 3 cell block to keep it (the bar "
        "rises to isolated_min_share of the median block count for dense clouds).",
    )
    isolated_min_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Keep a point only if its block holds at least this share "
        "of the median block count (density-relative stray filter).",
    )
    plane: bool = Field(True, description="Find the ground/table plane, stand on it and remove it.")
    plane_threshold: float = Field(0.005, gt=0, description="Inlier distance to the plane, metres.")
    plane_margin: float = Field(
        0.004, ge=0, description="Also remove points up to this height above the plane, metres."
    )
    plane_iterations: int = Field(1000, ge=1, description="Most RANSAC candidate planes to try.")
    plane_min_share: float = Field(
        0.2, ge=0, le=1, description="Least share of the points the table plane must hold."
    )
    plane_min_area_ratio: float = Field(
        1.2,
        gt=0,
        description="Auto up: the plane's footprint area must be this many times that of what "
        "stands more than 6 * plane_threshold above it (keeps an object's face from being the table).",
    )
    plane_max_tilt_deg: float = Field(
        15.0, gt=0, le=90, description="With up='z'|'y': largest angle between plane normal and axis."
    )
    up: Literal["auto", "z", "y"] = Field(
        "auto",
        description="'auto': the plane decides the up axis; 'z'/'y': trust that axis and remove a "
        "plane only if one is found perpendicular to it.",
    )
    cluster: bool = Field(True, description="Keep only one object cluster.")
    cluster_radius: float = Field(0.01, gt=0, description="Longest link inside one object, metres.")
    min_cluster_points: int = Field(50, ge=1, description="Smaller clusters are dropped (points).")
    min_object_height: float = Field(
        0.02,
        ge=0,
        description="After plane removal, clusters whose top is lower than this above the table "
        "are table remnants (noise, a bent far edge) and are dropped, metres.",
    )
    pick_point: tuple[float, float, float] | None = Field(
        None, description="Pick the cluster nearest this point (input frame and units)."
    )
    pick_box: tuple[float, float, float, float, float, float] | None = Field(
        None,
        description="Pick the largest cluster inside this box (xmin, ymin, zmin, xmax, ymax, zmax; "
        "input frame and units).",
    )
    centre_on: Literal["auto", "bbox", "camera"] = Field(
        "auto",
        description="Default pick: 'bbox' = cluster nearest the centre of the kept points' bounding "
        "box; 'camera' = nearest the camera axis (sensor at the input origin looking along +z, as "
        "organised Kinect/PCD clouds); 'auto' = camera for organised clouds, else bbox.",
    )
    seed: int = Field(0, description="Seed of the RANSAC draws.")

    def unit_scale(self) -> float:
        """Metres per input unit."""
        if isinstance(self.units, str):
            return UNIT_SCALE[self.units]
        if not (np.isfinite(self.units) and self.units > 0):
            raise ConfigError(f"units scale must be a positive number of metres, got {self.units}")
        return float(self.units)


@dataclass
class CleanReport:
    """What :func:`clean_scan` did.

    Attributes:
        n_in: points given (including non-finite ones).
        n_out: points returned.
        counts: points left after each stage, in order (``finite``, ``downsample``, ``outliers``,
            ``plane``, ``cluster``).
        plane: the table plane in the input frame (metres; inliers index the cloud after outlier
            removal), or None when none was found or plane removal was off.
        up_rotation: (3, 3) float64 rotation taking the input frame to the z-up output frame.
        transform: (4, 4) float64 similarity, output = transform @ input (input units, includes
            the unit scale, the up rotation and the shift to z = 0 / centred x, y).
        clusters: the kept clusters (output frame, metres), largest first.
        chosen: label of the chosen cluster in ``clusters``, or None when clustering was off.
        timings_s: seconds per stage.
    """

    n_in: int
    n_out: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    plane: Plane | None = None
    up_rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    transform: np.ndarray = field(default_factory=lambda: np.eye(4))
    clusters: list[ClusterSummary] = field(default_factory=list)
    chosen: int | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the plane's inlier mask becomes a count)."""
        plane = None
        if self.plane is not None:
            plane = {
                "normal": [float(v) for v in self.plane.normal],
                "offset": float(self.plane.offset),
                "inliers": int(self.plane.inliers.sum()),
            }
        return {
            "n_in": self.n_in,
            "n_out": self.n_out,
            "counts": dict(self.counts),
            "plane": plane,
            "up_rotation": self.up_rotation.tolist(),
            "transform": self.transform.tolist(),
            "clusters": [
                {"label": c.label, "count": c.count, "lo": list(c.lo), "hi": list(c.hi)}
                for c in self.clusters
            ],
            "chosen": self.chosen,
            "timings_s": {k: round(v, 6) for k, v in self.timings_s.items()},
        }


def _source(cloud: PointCloud) -> str:
    """How to name the cloud in messages: its source file when the reader recorded one."""
    src = cloud.meta.get("source") or cloud.meta.get("path")
    return f"point cloud {src}" if src else "point cloud"


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float32)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(np.asarray(c, dtype=np.float32), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1.0 / 2.4) - 0.055).astype(np.float32)


def drop_nonfinite(cloud: PointCloud) -> PointCloud:
    """The cloud without points that have NaN/inf coordinates (organised scans mark holes so)."""
    ok = np.isfinite(cloud.xyz).all(axis=1)
    if not ok.any():
        raise GeometryError(
            f"{_source(cloud)} has no points with finite coordinates ({len(cloud)} given)"
        )
    return cloud if ok.all() else cloud.select(ok)


def remove_outliers(cloud: PointCloud, k: int = 16, std_ratio: float = 2.0) -> PointCloud:
    """Statistical outlier removal: drop points far from their ``k`` nearest neighbours.

    A point goes when its mean distance to its ``k`` neighbours exceeds the cloud's mean of that
    distance by more than ``std_ratio`` standard deviations; stray returns and flying pixels at
    depth edges have sparse neighbourhoods, surfaces do not.
    """
    if k < 1:
        raise ConfigError(f"outlier neighbour count must be at least 1, got {k}")
    n = len(cloud)
    if n <= k:
        raise GeometryError(
            f"{_source(cloud)} has {n} points; outlier removal with k={k} needs more than {k}"
        )
    # An unbalanced, uncompacted tree builds several times faster and answers these dense
    # self-queries faster too (scipy's sliding-midpoint split suits scan surfaces).
    tree = cKDTree(cloud.xyz, balanced_tree=False, compact_nodes=False)
    dist, _ = tree.query(cloud.xyz, k=k + 1, workers=-1)
    mean_d = dist[:, 1:].mean(axis=1)
    limit = mean_d.mean() + std_ratio * mean_d.std()
    return cloud.select(mean_d <= limit)


def remove_isolated(
    cloud: PointCloud, cell: float = 0.01, min_neighbours: int = 2, min_share: float = 0.05
) -> PointCloud:
    """Drop points with few others in their 3 x 3 x 3 block of cells.

    The bar is ``max(min_neighbours, min_share * median block count)`` (the point itself counts),
    so it follows the cloud's density: a 2 mm down-sampled scan has hundreds of points per block
    on its surfaces and strays have a handful, while a sparse cloud keeps its points.

    A grid count, linear in the number of points: each point's cell key is looked up for the 27
    neighbouring cells in the sorted key array. Surface points always have company (a surface
    crossing a 3 cm block holds dozens of points at scan densities); lone stray returns do not.
    """
    n = len(cloud)
    if n == 0:
        return cloud
    cells = np.floor((cloud.xyz - cloud.xyz.min(axis=0)) / cell).astype(np.int64) + 1
    dims = cells.max(axis=0) + 2
    if float(np.prod(dims.astype(np.float64))) > 2.0**62:
        raise GeometryError(f"isolated-point cell {cell} m is too small for this cloud")
    keys = (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]
    uniq, counts = np.unique(keys, return_counts=True)
    total = np.zeros(n, dtype=np.int64)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dz in (-1, 0, 1):
                q = keys + (dx * dims[1] + dy) * dims[2] + dz
                pos = np.minimum(np.searchsorted(uniq, q), len(uniq) - 1)
                total += np.where(uniq[pos] == q, counts[pos], 0)
    bar = max(float(min_neighbours), min_share * float(np.median(total)))
    return cloud.select(total >= bar)


def _voxel_keys(xyz: np.ndarray, voxel_size: float) -> np.ndarray:
    """(n,) int64 cell key of each point; points share a key exactly when they share a cell."""
    cells = np.floor((xyz - xyz.min(axis=0)) / voxel_size).astype(np.int64)
    dims = cells.max(axis=0) + 1
    if float(np.prod(dims.astype(np.float64))) > 2.0**62:
        raise GeometryError(
            f"voxel size {voxel_size} m is too small for a cloud {np.ptp(xyz, axis=0)} m wide"
        )
    return (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]


def voxel_downsample(cloud: PointCloud, voxel_size: float) -> PointCloud:
    """One point per occupied cube of ``voxel_size`` metres: the mean position and colour.

    Colours are averaged in linear RGB (then returned as sRGB), normals are averaged and
    renormalised. Output points are ordered by cell.
    """
    if not (np.isfinite(voxel_size) and voxel_size > 0):
        raise ConfigError(f"voxel size must be a positive number of metres, got {voxel_size}")
    if len(cloud) == 0:
        raise GeometryError(f"{_source(cloud)} has no points to down-sample")
    keys = _voxel_keys(cloud.xyz, voxel_size)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    m = len(counts)

    def mean(values: np.ndarray) -> np.ndarray:
        cols = [np.bincount(inverse, weights=values[:, j], minlength=m) for j in range(3)]
        return np.stack(cols, axis=1) / counts[:, None]

    rgb = None
    if cloud.rgb is not None:
        rgb = _linear_to_srgb(mean(_srgb_to_linear(cloud.rgb)))
    normals = None
    if cloud.normals is not None:
        nsum = mean(cloud.normals.astype(np.float64))
        normals = nsum / np.maximum(np.linalg.norm(nsum, axis=1, keepdims=True), 1e-12)
    return PointCloud(xyz=mean(cloud.xyz), rgb=rgb, normals=normals, meta=dict(cloud.meta))


def _homogeneous(rot: np.ndarray | None = None, shift: np.ndarray | None = None) -> np.ndarray:
    t = np.eye(4)
    if rot is not None:
        t[:3, :3] = rot
    if shift is not None:
        t[:3, 3] = shift
    return t


def _find_table(cloud: PointCloud, config: CleanConfig) -> Plane | None:
    """The table plane under the ``up`` policy, or None (see :class:`CleanConfig`)."""
    axis = None if config.up == "auto" else config.up
    plane = find_plane(
        cloud.xyz,
        threshold=config.plane_threshold,
        iterations=config.plane_iterations,
        seed=config.seed,
        axis=axis,
        max_tilt_deg=config.plane_max_tilt_deg,
    )
    if plane is None:
        return None
    share = float(plane.inliers.mean())
    if axis is not None:
        # The axis is trusted: a large enough perpendicular plane is the ground.
        return plane if share >= config.plane_min_share else None
    if not is_support_plane(
        cloud.xyz,
        plane,
        min_share=config.plane_min_share,
        min_area_ratio=config.plane_min_area_ratio,
        clearance=6.0 * config.plane_threshold,
    ):
        log.info("largest plane (%.0f%% of points) is not a support plane; keeping it", 100 * share)
        return None
    return plane


def _nearest_view_axis(xyz_in: np.ndarray, labels: np.ndarray) -> int:
    """Label of the cluster whose centroid is seen closest to the sensor's optical axis.

    ``xyz_in`` are in the sensor frame (origin at the sensor, looking along +z); clusters behind
    the sensor never win.
    """
    cent = cluster_centroids(xyz_in, labels)
    angle = np.arctan2(np.hypot(cent[:, 0], cent[:, 1]), cent[:, 2])
    angle[cent[:, 2] <= 0] = np.inf
    return int(np.argmin(angle))


def clean_scan(
    cloud: PointCloud, config: CleanConfig | None = None, progress: ProgressCallback | None = None
) -> tuple[PointCloud, CleanReport]:
    """Clean a scan down to one object standing on z = 0, centred in x/y, in metres.

    Stages: drop non-finite points, scale to metres, voxel down-sample, drop isolated strays
    (grid count), table plane (find, stand
    the cloud on it, cut it and everything under it), statistical outlier removal on what is
    left, Euclidean clustering and choice of the object, placement. See :class:`CleanConfig`.

    Raises:
        GeometryError: the cloud is empty or all NaN, has too few points for a stage, or nothing
            is left after a stage (the message says which option to change).
    """
    config = config or CleanConfig()
    stages = {
        "finite": 1,
        "downsample": 3,
        "isolated": 1,
        "plane": 3,
        "outliers": 4,
        "cluster": 3,
        "place": 1,
    }
    prog = Progress(progress, stages)
    report = CleanReport(n_in=len(cloud))
    name = _source(cloud)
    if len(cloud) == 0:
        raise GeometryError(f"{name} has no points")

    def timed(stage: str, fn):
        prog(stage, 0.0)
        t0 = time.perf_counter()
        out = fn()
        report.timings_s[stage] = time.perf_counter() - t0
        prog(stage, 1.0)
        return out

    scale = config.unit_scale()
    work = timed("finite", lambda: drop_nonfinite(cloud))
    if scale != 1.0:
        work = PointCloud(xyz=work.xyz * scale, rgb=work.rgb, normals=work.normals, meta=work.meta)
    report.counts["finite"] = len(work)
    # to_work maps input coordinates (input units) to the current working frame (metres).
    to_work = _homogeneous(rot=np.eye(3) * scale)

    if config.voxel_size is not None:
        work = timed("downsample", lambda: voxel_downsample(work, config.voxel_size))
        report.counts["downsample"] = len(work)
    if config.isolated_cell is not None:
        work = timed(
            "isolated",
            lambda: remove_isolated(
                work, config.isolated_cell, config.isolated_min_neighbours, config.isolated_min_share
            ),
        )
        report.counts["isolated"] = len(work)
        if len(work) == 0:
            raise GeometryError(
                f"every point of {name} is isolated at {config.isolated_cell} m; the cloud is too "
                "sparse for clean-up (use --no-clean or a coarser isolated_cell)"
            )
    if config.plane:
        plane = timed("plane", lambda: _find_table(work, config))
    else:
        plane = None
    if plane is not None:
        report.plane = plane
        work, aligned = align_to_plane(work, plane)
        work = work.select(work.xyz[:, 2] > config.plane_margin)
        to_work = aligned @ to_work
        report.up_rotation = aligned[:3, :3].copy()
        if len(work) == 0:
            raise GeometryError(
                f"no object left in {name} after removing the table plane; try --no-plane or a "
                "smaller --plane-margin"
            )
    elif config.up == "y":
        rot = rotation_between(axis_vector("y"), axis_vector("z"))
        work = work.transformed(_homogeneous(rot=rot))
        to_work = _homogeneous(rot=rot) @ to_work
        report.up_rotation = rot
    if config.plane:
        report.counts["plane"] = len(work)
    # Outliers after the table is gone: RANSAC shrugs off strays anyway, and the table is most of
    # a tabletop scan's points, so the neighbour queries cost a fraction of what they would.
    if config.outlier_k > 0:
        work = timed("outliers", lambda: remove_outliers(work, config.outlier_k, config.outlier_std))
        report.counts["outliers"] = len(work)

    if config.cluster:
        organized = bool(cloud.meta.get("organized", False))
        on_table = plane is not None
        work = timed("cluster", lambda: _isolate(work, config, to_work, report, on_table, organized))
        report.counts["cluster"] = len(work)

    def place() -> np.ndarray:
        lo, hi = work.xyz.min(axis=0), work.xyz.max(axis=0)
        return np.array([-(lo[0] + hi[0]) / 2.0, -(lo[1] + hi[1]) / 2.0, -lo[2]])

    shift = timed("place", place)
    out = PointCloud(xyz=work.xyz + shift, rgb=work.rgb, normals=work.normals, meta=dict(work.meta))
    report.transform = _homogeneous(shift=shift) @ to_work
    report.clusters = [
        ClusterSummary(c.label, c.count, tuple(np.add(c.lo, shift)), tuple(np.add(c.hi, shift)))
        for c in report.clusters
    ]
    report.n_out = len(out)
    out.meta["clean"] = report.to_dict()
    log.info("cleaned %s: %d -> %d points", name, report.n_in, report.n_out)
    return out, report


def _isolate(
    work: PointCloud,
    config: CleanConfig,
    to_work: np.ndarray,
    report: CleanReport,
    on_table: bool,
    organized: bool,
) -> PointCloud:
    """Cluster the working cloud and keep the chosen object (fills the report's cluster fields).

    ``on_table``: the working frame has the table at z = 0 (remnant clusters can be told by
    their height); ``organized``: the input is a sensor-frame depth image (camera axis known).
    """
    labels = euclidean_clusters(work.xyz, config.cluster_radius, config.min_cluster_points)
    if on_table and config.min_object_height > 0 and (labels >= 0).any():
        tops = np.full(int(labels.max()) + 1, -np.inf)
        np.maximum.at(tops, labels[labels >= 0], work.xyz[labels >= 0, 2])
        low = np.flatnonzero(tops < config.min_object_height)
        if len(low):
            log.debug("dropping %d flat table remnants", len(low))
            labels = _relabel(np.where(np.isin(labels, low), -1, labels))
    if not (labels >= 0).any():
        raise GeometryError(
            f"no object left after clustering: no cluster of at least {config.min_cluster_points} "
            f"points with link radius {config.cluster_radius} m among {len(work)} points; try a "
            "larger --cluster-radius or --no-plane"
        )
    report.clusters = summarise_clusters(work.xyz, labels)
    to_input = np.linalg.inv(to_work)
    if config.pick_box is not None:
        # The box is axis-aligned in the input frame: test the points there.
        label = choose_cluster(_apply(to_input, work.xyz), labels, pick_box=config.pick_box)
    elif config.pick_point is not None:
        point = _apply(to_work, np.asarray(config.pick_point, dtype=np.float64).reshape(1, 3))[0]
        label = choose_cluster(work.xyz, labels, pick_point=point)
    elif config.centre_on == "camera" or (config.centre_on == "auto" and organized):
        label = _nearest_view_axis(_apply(to_input, work.xyz), labels)
    else:
        label = choose_cluster(work.xyz, labels, plan_only=on_table)
    report.chosen = label
    return work.select(labels == label)


def _apply(transform: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """(n, 3) points moved by a (4, 4) homogeneous transform."""
    return xyz @ transform[:3, :3].T + transform[:3, 3]


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber the kept labels 0..k-1 keeping their order (-1 stays -1)."""
    kept = labels >= 0
    out = labels.copy()
    if kept.any():
        _, out[kept] = np.unique(labels[kept], return_inverse=True)
    return out
