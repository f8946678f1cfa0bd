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

from voxforge.core.color import linear_to_srgb, srgb_to_linear
from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.pointcloud import PointCloud
from voxforge.core.progress import Progress, ProgressCallback
from voxforge.scan.cluster import (
    ClusterSummary,
    choose_cluster,
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
from voxforge.scan.scene import (
    CAMERA_POSES_KEY,
    Candidate,
    PickWeights,
    Support,
    Views,
    block_counts,
    find_level_plane,
    find_supports,
    footprint,
    ground_mask,
    join_stacked,
    noise_margin,
    pick_summary,
    plane_noise,
    score_candidates,
    split_thin,
    trim_skirts,
    views_from_meta,
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
    plane_margin: float | None = Field(
        None,
        ge=0,
        description="Also remove points up to this height above the plane, metres; None = "
        "measured: plane_noise_sigmas times the plane's residual spread, at least plane_margin_min.",
    )
    plane_margin_min: float = Field(0.004, ge=0, description="Least measured plane margin, metres.")
    plane_noise_sigmas: float = Field(
        3.0, ge=0, description="Measured margin = this many robust deviations of the plane's residuals."
    )
    support_planes: int = Field(
        3,
        ge=0,
        description="Further level planes to try as supports after the main one (a second table, "
        "the floor beside a table); 0 = only the main plane.",
    )
    ground_band: float = Field(
        0.05,
        ge=0,
        description="Uneven ground: level patches less than this high above a support (and what "
        "lies no higher beside them) are removed as ground, metres; 0 = off.",
    )
    split_thin: bool = Field(True, description="Split clusters that touch only through thin links.")
    join_stacked: bool = Field(
        True,
        description="Join a cluster floating above every support to the cluster right under it "
        "(one object caught in pieces: a chair's seat over thin legs).",
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
    cluster_radius: float | None = Field(
        None,
        gt=0,
        description="Longest link inside one object, metres; None = measured from the scan's own "
        "point spacing (link_radius: 1-3 cm).",
    )
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
    pick: int | None = Field(
        None, ge=1, description="Take candidate number N as `voxforge scene` lists them (1 = best)."
    )
    centre_on: Literal["auto", "bbox", "camera"] = Field(
        "auto",
        description="Where the scan was seen from, for the view term of the default pick: 'auto' = "
        "the capture's camera poses (meta camera_poses), else an organised cloud's sensor at the "
        "origin looking along +z, else the middle of the bounds; 'camera' = poses or that "
        "sensor; 'bbox' = the middle of the bounds.",
    )
    pick_weights: PickWeights = Field(
        default_factory=PickWeights, description="Weights of the default pick's score terms."
    )
    pick_min_lead: float = Field(
        0.05, ge=0, description="Warn when the default pick's score leads the next by less."
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
        noise: robust deviation of the main plane's residuals, metres (None without a plane).
        margin: the cut above the main plane, metres (None without a plane).
        supports: heights (working frame, metres) of the further support planes removed.
        link_radius: the cluster link radius used, metres (given, or measured by
            :func:`link_radius`); None when clustering was off.
        candidates: the scene's candidate objects, best score first (see ``voxforge scene``).
        pick: what was picked, how, the runner-up and any warnings
            (:func:`voxforge.scan.scene.pick_summary`), or None when clustering was off.
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
    noise: float | None = None
    margin: float | None = None
    supports: list[float] = field(default_factory=list)
    link_radius: float | None = None
    candidates: list[Candidate] = field(default_factory=list)
    pick: dict[str, Any] | None = None

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
            "noise": self.noise,
            "margin": self.margin,
            "supports": list(self.supports),
            "link_radius": self.link_radius,
            "candidates": [c.to_dict() for c in self.candidates],
            "pick": self.pick,
            "timings_s": {k: round(v, 6) for k, v in self.timings_s.items()},
        }


def _source(cloud: PointCloud) -> str:
    """How to name the cloud in messages: its source file when the reader recorded one."""
    src = cloud.meta.get("source") or cloud.meta.get("path")
    return f"point cloud {src}" if src else "point cloud"


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

    A grid count, linear in the number of points (:func:`voxforge.scan.scene.block_counts`).
    Surface points always have company (a surface crossing a 3 cm block holds dozens of points at
    scan densities); lone stray returns do not.
    """
    if len(cloud) == 0:
        return cloud
    total = block_counts(cloud.xyz, cell)
    bar = max(float(min_neighbours), min_share * float(np.median(total)))
    return cloud.select(total >= bar)


def _median_spacing(xyz: np.ndarray, neighbour: int = 1, sample: int = 2000) -> float:
    """Median distance from a point to its ``neighbour``-th nearest other point (on a seeded
    sample of points); NaN with too few points."""
    from scipy.spatial import cKDTree

    if len(xyz) <= neighbour:
        return float("nan")
    pick = np.random.default_rng(0).choice(len(xyz), min(sample, len(xyz)), replace=False)
    d = cKDTree(xyz).query(xyz[pick], k=neighbour + 1)[0][:, neighbour]
    return float(np.median(d))


LINK_SPACINGS = 3.0
"""The measured link radius is this many point spacings..."""
LINK_RADIUS_M = (0.01, 0.03)
"""...kept within these bounds, metres: at least the 1 cm a close hand-held scan needs, at most
a gap that still parts two objects set a few centimetres apart."""


def link_radius(xyz: np.ndarray, sample: int = 2000) -> float:
    """The cluster link radius for a scan's points: ``LINK_SPACINGS`` point spacings, clipped to
    :data:`LINK_RADIUS_M`.

    A phone's depth camera samples a surface at a fixed angle per pixel, so the spacing grows with
    the distance and with the slant of the surface, and a fixed 1 cm link breaks furniture scanned
    from across a room into pieces. The spacing is the median distance to the 4th-nearest point
    (on a seeded sample), which follows the sparser of a scan's row and column directions. On the
    project's simulated captures (fused in 5 mm cells) this gives 16-30 mm (median 19) for objects
    on a table scanned from 0.5-0.8 m and 25-30 mm for furniture scanned from up to 1.6 m.
    """
    if len(xyz) < 5:
        return LINK_RADIUS_M[0]
    return float(np.clip(LINK_SPACINGS * _median_spacing(xyz, 4, sample), *LINK_RADIUS_M))


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
        f32 = {"work_dtype": np.float32}
        rgb = linear_to_srgb(mean(srgb_to_linear(cloud.rgb, **f32)), **f32)
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
    """The table plane under the ``up`` policy, or None (see :class:`CleanConfig`).

    A capture (camera poses in ``meta``, or the fused-capture ``up_axis`` note) is fused in a
    gravity-aligned z-up frame (ARKit's world has y along gravity), so with
    ``up="auto"`` its z axis is trusted like ``up="z"``, and its ground may hold as little as 5%
    of the points (an uneven patio leaves only part of it within the threshold of one plane).
    """
    axis = None if config.up == "auto" else config.up
    if axis is None and _gravity_aligned(cloud.meta):
        # Level planes of a z-up cloud are peaks of its height histogram: no RANSAC needed.
        plane = find_level_plane(cloud.xyz, config.plane_threshold)
        if plane is None or plane.inliers.mean() < min(config.plane_min_share, 0.05):
            return None
        return plane
    min_share = config.plane_min_share
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
        return plane if share >= min_share else None
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


def _gravity_aligned(meta: dict[str, Any]) -> bool:
    """Whether a cloud's z axis is known to point up: a fused phone capture."""
    return bool(meta.get(CAMERA_POSES_KEY)) or "ARKit" in str(meta.get("up_axis", ""))


@dataclass
class Scene:
    """A scan segmented into candidate objects (what :func:`segment_scene` returns).

    Attributes:
        work: the points left after the planes, ground and outliers are gone (working frame:
            metres, z up with the main support at z = 0 when a plane was found).
        labels: (n,) int64 cluster label of each ``work`` point (-1: dropped).
        to_work: (4, 4) transform from the input frame (input units) to the working frame.
        removed: the points removed as planes and ground, in the working frame (for pictures).
        views: where the scan was seen from (working frame).
        report: the clean-up report so far (counts, plane, candidates, ...).
    """

    work: PointCloud
    labels: np.ndarray
    to_work: np.ndarray
    removed: np.ndarray
    views: Views
    report: CleanReport

    def candidate(self, number: int) -> Candidate:
        """The candidate listed as ``number`` (1-based)."""
        for c in self.report.candidates:
            if c.number == number:
                return c
        raise GeometryError(
            f"--pick {number}: the scene has {len(self.report.candidates)} candidate objects; run "
            "`voxforge scene SCAN` to list them"
        )


def clean_scan(
    cloud: PointCloud, config: CleanConfig | None = None, progress: ProgressCallback | None = None
) -> tuple[PointCloud, CleanReport]:
    """Clean a scan down to one object standing on z = 0, centred in x/y, in metres.

    Stages: drop non-finite points, scale to metres, voxel down-sample, drop isolated strays
    (grid count), table plane (find, stand the cloud on it, cut it with a margin measured from its
    noise, and everything under it), further support planes and uneven ground, statistical
    outlier removal on what is left, Euclidean clustering (split where clusters touch thinly),
    scoring and choice of the object, placement. See :class:`CleanConfig` and
    :mod:`voxforge.scan.scene`.

    Raises:
        GeometryError: the cloud is empty or all NaN, has too few points for a stage, or nothing
            is left after a stage (the message says which option to change).
    """
    config = config or CleanConfig()
    prog = Progress(progress, _STAGES)
    scene = _segment(cloud, config, prog)
    report, work = scene.report, scene.work
    if config.cluster:
        t0 = time.perf_counter()
        work = _choose(scene, config)
        report.timings_s["cluster"] += time.perf_counter() - t0
        report.counts["cluster"] = len(work)

    def place() -> np.ndarray:
        lo, hi = work.xyz.min(axis=0), work.xyz.max(axis=0)
        return np.array([-(lo[0] + hi[0]) / 2.0, -(lo[1] + hi[1]) / 2.0, -lo[2]])

    prog("place", 0.0)
    t0 = time.perf_counter()
    shift = place()
    report.timings_s["place"] = time.perf_counter() - t0
    prog("place", 1.0)
    out = PointCloud(xyz=work.xyz + shift, rgb=work.rgb, normals=work.normals, meta=dict(work.meta))
    report.transform = _homogeneous(shift=shift) @ scene.to_work
    report.clusters = [
        ClusterSummary(c.label, c.count, tuple(np.add(c.lo, shift)), tuple(np.add(c.hi, shift)))
        for c in report.clusters
    ]
    report.n_out = len(out)
    out.meta["clean"] = report.to_dict()
    log.info("cleaned %s: %d -> %d points", _source(cloud), report.n_in, report.n_out)
    return out, report


_STAGES = {
    "finite": 1,
    "downsample": 3,
    "isolated": 1,
    "plane": 3,
    "outliers": 4,
    "cluster": 3,
    "place": 1,
}


def segment_scene(
    cloud: PointCloud, config: CleanConfig | None = None, progress: ProgressCallback | None = None
) -> Scene:
    """Every stage of :func:`clean_scan` up to the scored candidates, without choosing one.

    ``voxforge scene`` lists ``report.candidates`` and draws the labelled points.
    """
    return _segment(cloud, config or CleanConfig(), Progress(progress, _STAGES))


def _segment(cloud: PointCloud, config: CleanConfig, prog: Progress) -> Scene:
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
        before = work
        work = timed(
            "isolated",
            lambda: remove_isolated(
                work, config.isolated_cell, config.isolated_min_neighbours, config.isolated_min_share
            ),
        )
        report.counts["isolated"] = len(work)
        if len(work) == 0:
            spacing = _median_spacing(before.xyz)
            raise GeometryError(
                f"every point of {name} is isolated at {config.isolated_cell} m (its points lie "
                f"{spacing:.3g} m apart, median): too sparse for the clean-up of an object scan, "
                "as a terrain or building survey is; use --no-clean (or a coarser isolated_cell)"
            )
    supports: list[Support] = []
    removed = np.zeros((0, 3))
    if config.plane:
        prog("plane", 0.0)
        t0 = time.perf_counter()
        plane = _find_table(work, config)
    else:
        plane = None
    if plane is not None:
        report.plane = plane
        work, aligned = align_to_plane(work, plane)
        to_work = aligned @ to_work
        report.up_rotation = aligned[:3, :3].copy()
        work, removed, supports = _remove_supports(work, plane, config, report)
        report.timings_s["plane"] = time.perf_counter() - t0
        prog("plane", 1.0)
        if len(work) == 0:
            raise GeometryError(
                f"no object left in {name} after removing the table plane; try --no-plane or a "
                "smaller --plane-margin"
            )
    else:
        if config.plane:
            report.timings_s["plane"] = time.perf_counter() - t0
            prog("plane", 1.0)
        if config.up == "y":
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

    views = views_from_meta(cloud.meta, to_work, config.centre_on)
    labels = np.zeros(len(work), dtype=np.int64)
    if config.cluster:
        labels = timed("cluster", lambda: _candidates(work, config, to_work, report, supports, views))
    return Scene(work, labels, to_work, removed, views, report)


def _remove_supports(
    work: PointCloud, plane: Plane, config: CleanConfig, report: CleanReport
) -> tuple[PointCloud, np.ndarray, list[Support]]:
    """Cut the main plane (aligned to z = 0), further supports and uneven ground.

    The main plane's margin is measured from its residuals unless ``plane_margin`` is given;
    what lies below it goes where it is inside the plane's footprint (under a table) and
    everywhere when the plane is the only support (as a floor). Returns the kept cloud, the
    removed points and the supports (main first).
    """
    z = work.xyz[:, 2]
    report.noise = plane_noise(z, config.plane_threshold)
    if config.plane_margin is None:
        margin = noise_margin(report.noise, config.plane_noise_sigmas, config.plane_margin_min)
    else:
        margin = float(config.plane_margin)
    report.margin = margin
    main = Support(Plane(np.array([0.0, 0.0, 1.0]), 0.0, z <= margin), None, margin)
    gone = z <= margin
    supports = [main]
    if config.support_planes > 0:
        # Below the main plane only its own footprint is hidden (under a table); a floor seen
        # beyond the table's edge stays, to be found as a support of its own.
        inl = np.abs(z) <= margin
        axes, lo, hi = footprint(work.xyz[inl], main.plane.normal) if inl.sum() >= 3 else (None,) * 3
        if axes is not None:
            under = Support(main.plane, (axes, lo, hi), margin).covers(work.xyz)
            gone = (np.abs(z) <= margin) | ((z < 0) & under)
        rest = np.flatnonzero(~gone)
        extra = find_supports(
            work.xyz[rest],
            threshold=config.plane_threshold,
            least_margin=config.plane_margin_min if config.plane_margin is None else margin,
            sigmas=config.plane_noise_sigmas,
            tries=config.support_planes,
        )
        for s in extra:
            # Only the plane itself: under a second table stand its legs and the floor, which
            # score low, and a misjudged lid of an object keeps its walls.
            d = s.plane.signed_distance(work.xyz)
            gone |= (np.abs(d) <= s.margin) & s.covers(work.xyz)
        supports += extra
        report.supports = [round(float(-s.plane.offset), 4) for s in extra]
        if not extra and axes is not None:
            # Only one support: it is the ground; whatever lies below it is not an object.
            gone |= z < 0
    if config.ground_band > 0:
        rest = np.flatnonzero(~gone)
        gone[rest[ground_mask(work.xyz[rest], supports, band=config.ground_band)]] = True
    removed = work.xyz[gone]
    return work.select(~gone), removed, supports


def _candidates(
    work: PointCloud,
    config: CleanConfig,
    to_work: np.ndarray,
    report: CleanReport,
    supports: list[Support],
    views: Views,
) -> np.ndarray:
    """Cluster the working cloud into scored candidates (fills the report's cluster fields).

    Returns the labels. With supports (a plane was found), clusters that rise less than
    ``min_object_height`` above the highest support under them are table remnants and dropped.
    """
    radius = config.cluster_radius if config.cluster_radius is not None else link_radius(work.xyz)
    report.link_radius = radius
    labels = euclidean_clusters(work.xyz, radius, config.min_cluster_points)
    if config.split_thin and (labels >= 0).any():
        labels = split_thin(work.xyz, labels, radius, config.min_cluster_points)
    to_input = np.linalg.inv(to_work)
    if supports and config.min_object_height > 0 and (labels >= 0).any():
        scored = score_candidates(work.xyz, labels, views, supports, to_input, config.pick_weights)
        low = [c.label for c in scored if _rise(c, supports) < config.min_object_height]
        if low:
            log.debug("dropping %d flat table remnants", len(low))
            labels = _relabel(np.where(np.isin(labels, low), -1, labels))
    if config.ground_band > 0 and (labels >= 0).any():
        labels = _relabel(trim_skirts(work.xyz, labels, supports, band=config.ground_band))
    if config.join_stacked and (labels >= 0).any():
        labels = join_stacked(work.xyz, labels, supports, gap=2.0 * radius)
    if not (labels >= 0).any():
        raise GeometryError(
            f"no object left after clustering: no cluster of at least {config.min_cluster_points} "
            f"points with link radius {radius:.3g} m among {len(work)} points; try a "
            "larger --cluster-radius or --no-plane"
        )
    report.clusters = summarise_clusters(work.xyz, labels)
    report.candidates = score_candidates(
        work.xyz, labels, views, supports, to_input, config.pick_weights
    )
    return labels


def _rise(c: Candidate, supports: list[Support]) -> float:
    """How far a candidate's top rises above the highest support under its bottom, metres."""
    centre = (np.asarray(c.lo) + np.asarray(c.hi)) / 2.0
    best = -np.inf
    for s in supports:
        n = s.plane.normal
        z = -(n[0] * centre[0] + n[1] * centre[1] + s.plane.offset) / max(abs(n[2]), 1e-9)
        probe = np.array([[centre[0], centre[1], z]])
        if s.covers(probe)[0] and z <= c.lo[2] + 0.02:
            best = max(best, z)
    return float(c.hi[2] - best) if np.isfinite(best) else float(c.hi[2] - c.lo[2])


def _choose(scene: Scene, config: CleanConfig) -> PointCloud:
    """Keep the chosen candidate: the pick box, the pick point, ``--pick N`` or the best score."""
    work, labels, report = scene.work, scene.labels, scene.report
    to_input = np.linalg.inv(scene.to_work)
    if config.pick_box is not None:
        # The box is axis-aligned in the input frame: test the points there.
        label = choose_cluster(_apply(to_input, work.xyz), labels, pick_box=config.pick_box)
        how = "pick_box"
    elif config.pick_point is not None:
        point = _apply(scene.to_work, np.asarray(config.pick_point, dtype=np.float64).reshape(1, 3))[0]
        label = choose_cluster(work.xyz, labels, pick_point=point)
        how = "pick_point"
    elif config.pick is not None:
        label = scene.candidate(config.pick).label
        how = "pick"
    else:
        label = report.candidates[0].label
        how = "score"
    chosen = next(c for c in report.candidates if c.label == label)
    report.chosen = label
    report.pick = pick_summary(report.candidates, chosen, how, scene.views, config.pick_min_lead)
    for warning in report.pick["warnings"]:
        log.warning("%s", warning)
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
