"""Scan clean-up: down-sampling, outliers, the whole clean_scan on generated and real scans."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.spatial import cKDTree

from voxforge.core import ConfigError, GeometryError, PointCloud
from voxforge.scan import (
    CleanConfig,
    clean_scan,
    euclidean_clusters,
    remove_outliers,
    voxel_downsample,
)
from voxforge.scan.clean import drop_nonfinite

# ---------------------------------------------------------------- generated scenes


def surface_grid(lo, hi, step):
    """Points of an axis-aligned rectangle (one of lo/hi's coordinates equal) on a grid."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    axes = [
        np.arange(a, b + 1e-9, step) if b > a else np.array([a]) for a, b in zip(lo, hi, strict=True)
    ]
    g = np.meshgrid(*axes, indexing="ij")
    return np.stack([v.ravel() for v in g], axis=1)


def box(lo, hi, step):
    """The five visible faces of a box standing on z = lo[2] (no bottom face)."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    faces = [
        surface_grid((x0, y0, z0), (x0, y1, z1), step),
        surface_grid((x1, y0, z0), (x1, y1, z1), step),
        surface_grid((x0, y0, z0), (x1, y0, z1), step),
        surface_grid((x0, y1, z0), (x1, y1, z1), step),
        surface_grid((x0, y0, z1), (x1, y1, z1), step),
    ]
    return np.unique(np.concatenate(faces), axis=0)


def tabletop(seed: int = 0):
    """A 60 x 60 cm table with three boxes, noise and stray points, tilted into a camera frame.

    Returns the cloud, the box names -> (lo, hi) in the table frame, and the table->scan rotation
    and shift.
    """
    rng = np.random.default_rng(seed)
    step = 0.004
    table = surface_grid((-0.3, -0.3, 0), (0.3, 0.3, 0), step)
    boxes = {
        "centre": ((-0.04, -0.03, 0), (0.04, 0.03, 0.12)),
        "side": ((0.15, 0.1, 0), (0.2, 0.2, 0.06)),
        "corner": ((-0.25, -0.25, 0), (-0.2, -0.15, 0.08)),
    }
    parts = [table] + [box(lo, hi, step) for lo, hi in boxes.values()]
    colours = [[0.6, 0.5, 0.4], [0.9, 0.1, 0.1], [0.1, 0.1, 0.9], [0.1, 0.8, 0.1]]
    xyz = np.concatenate(parts)
    rgb = np.concatenate([np.tile(c, (len(p), 1)) for c, p in zip(colours, parts, strict=True)])
    xyz = xyz + rng.normal(0, 0.0005, size=xyz.shape)
    stray = rng.uniform(-0.3, 0.3, size=(200, 3)) + np.array([0, 0, 0.35])
    xyz = np.concatenate([xyz, stray])
    rgb = np.concatenate([rgb, np.full((200, 3), 0.5)])
    # Table normal along the camera's -y (y down), camera 0.8 m away along +z, tilted by 30 degrees.
    a = np.deg2rad(30)
    rot = np.array([[1, 0, 0], [0, -np.cos(a), -np.sin(a)], [0, -np.sin(a), np.cos(a)]])
    rot = rot @ np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 1]])  # and yawed 90 degrees
    shift = np.array([0.05, 0.2, 0.8])
    return PointCloud(xyz=xyz @ rot.T + shift, rgb=rgb), boxes, rot, shift


@pytest.fixture(scope="module")
def scene():
    return tabletop()


def to_table_frame(out, report, rot, shift):
    """Output points back in the generated table's frame (via the report's transform)."""
    t = report.transform
    scan = (out.xyz - t[:3, 3]) @ np.linalg.inv(t[:3, :3]).T
    return (scan - shift) @ rot


def test_clean_scan_isolates_the_centre_box_standing_on_z0(scene):
    cloud, boxes, rot, shift = scene
    out, report = clean_scan(cloud)
    lo, hi = boxes["centre"]
    # The table is gone, with the box's bottom 4 mm (the plane margin); the rest is all there.
    table_xyz = to_table_frame(out, report, rot, shift)
    assert table_xyz.min(axis=0) == pytest.approx([lo[0], lo[1], 0.004], abs=0.0025)
    assert table_xyz.max(axis=0) == pytest.approx(hi, abs=0.0025)
    assert out.extent[2] == pytest.approx(hi[2] - lo[2] - 0.004, abs=0.0025)
    assert out.xyz[:, 2].min() == 0.0
    assert (out.xyz.min(axis=0) + out.xyz.max(axis=0))[:2] == pytest.approx([0, 0], abs=1e-12)
    assert np.allclose(out.rgb, [0.9, 0.1, 0.1], atol=1e-5)
    # The up rotation turns the table normal (scan frame) to +z.
    assert report.up_rotation @ (rot @ [0, 0, 1.0]) == pytest.approx([0, 0, 1], abs=1e-3)
    assert report.counts["finite"] == len(cloud)
    assert list(report.counts) == ["finite", "downsample", "isolated", "plane", "outliers", "cluster"]
    assert report.counts["cluster"] == report.n_out == len(out)
    assert [c.count for c in report.clusters] == sorted((c.count for c in report.clusters), reverse=True)
    assert [c.count for c in report.clusters] == [2341, 1750, 1361]  # centre, corner, side box
    assert report.chosen == 0
    assert set(report.timings_s) == {
        "finite",
        "downsample",
        "isolated",
        "outliers",
        "plane",
        "cluster",
        "place",
    }


def test_report_transform_maps_the_scan_onto_the_output(scene):
    cloud, *_ = scene
    out, report = clean_scan(cloud)
    t = report.transform
    moved = cloud.xyz @ t[:3, :3].T + t[:3, 3]
    # Every output point is the average of input points within one 2 mm voxel.
    dist, _ = cKDTree(moved).query(out.xyz)
    assert dist.max() < 0.002 * np.sqrt(3)
    d = report.to_dict()
    assert d["plane"]["inliers"] == int(report.plane.inliers.sum())
    assert d["chosen"] == report.chosen and out.meta["clean"]["n_out"] == len(out)


def test_pick_point_and_box_choose_the_side_box(scene):
    cloud, boxes, rot, shift = scene
    lo, hi = boxes["side"]
    corner_scan = rot @ np.asarray(hi, float) + shift
    out, _ = clean_scan(cloud, CleanConfig(pick_point=tuple(corner_scan)))
    assert np.allclose(out.rgb, [0.1, 0.1, 0.9], atol=1e-5)
    assert out.extent[2] == pytest.approx(0.06 - 0.004, abs=0.003)
    corners = np.array([rot @ np.asarray(p, float) + shift for p in (lo, hi)])
    box_scan = (*corners.min(axis=0) - 0.01, *corners.max(axis=0) + 0.01)
    out, _ = clean_scan(cloud, CleanConfig(pick_box=box_scan))
    assert np.allclose(out.rgb, [0.1, 0.1, 0.9], atol=1e-5)


def test_units_scale_millimetre_input(scene):
    cloud, *_ = scene
    mm = PointCloud(xyz=cloud.xyz * 1000.0, rgb=cloud.rgb)
    a, _ = clean_scan(cloud)
    b, report = clean_scan(mm, CleanConfig(units="mm"))
    assert len(a) == len(b)
    assert np.allclose(a.xyz, b.xyz, atol=1e-9)
    assert report.transform[:3, :3] == pytest.approx(report.up_rotation * 0.001)


def test_up_y_trusts_the_axis_and_removes_the_floor():
    floor = surface_grid((-0.2, 0, -0.2), (0.2, 0, 0.2), 0.004)  # y-up scene, floor at y = 0
    post = surface_grid((-0.02, 0, 0), (0.02, 0.15, 0), 0.004)  # a 15 cm plate standing on it
    cloud = PointCloud(xyz=np.concatenate([floor, post]))
    out, report = clean_scan(cloud, CleanConfig(up="y", outlier_k=0))
    # Height is now z: rows at y = 0.008 .. 0.148 (the 0.004 row is within the margin).
    assert out.extent == pytest.approx([0.04, 0.0, 0.14], abs=1e-9)
    assert len(out) == 11 * 36
    assert report.up_rotation @ [0, 1, 0] == pytest.approx([0, 0, 1])
    # With no floor, "y" only rotates: the plate stands up in z, nothing is cut.
    out, report = clean_scan(PointCloud(xyz=post), CleanConfig(up="y", outlier_k=0))
    assert report.plane is None
    assert out.extent == pytest.approx([0.04, 0.0, 0.148], abs=1e-9)
    assert len(out) == len(post)


def test_no_plane_option_keeps_the_table():
    cloud, _, rot, shift = tabletop()
    out, report = clean_scan(cloud, CleanConfig(plane=False))
    assert report.plane is None and "plane" not in report.counts
    assert np.array_equal(report.up_rotation, np.eye(3))
    # Table and boxes are one cluster; the stray points went with outlier removal.
    assert len(report.clusters) == 1
    table_xyz = to_table_frame(out, report, rot, shift)
    assert np.ptp(table_xyz, axis=0) == pytest.approx([0.6, 0.6, 0.12], abs=0.005)


# ---------------------------------------------------------------- stage functions


def test_voxel_downsample_averages_positions_and_linear_colours():
    xyz = np.array([[0.0001, 0, 0], [0.0009, 0, 0], [0.0015, 0, 0], [0.0035, 0.0035, 0]])
    rgb = np.array([[0.0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [0.2, 0.4, 0.6]])
    normals = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]])
    out = voxel_downsample(PointCloud(xyz=xyz, rgb=rgb, normals=normals), 0.001)
    assert len(out) == 3
    assert out.xyz[0] == pytest.approx([0.0005, 0, 0])
    # Black and white average to half the light: sRGB 0.7354, not 0.5.
    assert out.rgb[0] == pytest.approx([0.735357] * 3, abs=1e-5)
    assert out.rgb[1:] == pytest.approx(rgb[2:], abs=1e-5)
    assert out.normals[0] == pytest.approx([2**-0.5, 2**-0.5, 0], abs=1e-6)


def test_voxel_downsample_counts_occupied_cells(rng):
    xyz = rng.uniform(0, 0.1, size=(20000, 3))
    cells = np.unique(np.floor((xyz - xyz.min(axis=0)) / 0.01), axis=0)
    assert len(voxel_downsample(PointCloud(xyz=xyz), 0.01)) == len(cells)


def test_remove_outliers_drops_strays_only():
    grid = surface_grid((0, 0, 0), (0.2, 0.2, 0), 0.005)  # 41 x 41
    strays = np.array([[0.1, 0.1, 0.5], [1.0, 1.0, 1.0], [-0.5, 0.1, 0.2]])
    out = remove_outliers(PointCloud(xyz=np.concatenate([grid, strays])), k=8, std_ratio=2.0)
    assert len(out) == len(grid)
    assert np.array_equal(out.xyz, grid)


GRID = surface_grid((0, 0, 0), (0.3, 0.3, 0), 0.005)
BAD_INPUTS = [
    (PointCloud(xyz=np.zeros((0, 3))), None, "has no points"),
    (
        PointCloud(xyz=np.full((5, 3), np.nan), meta={"source": "a.ply"}),
        None,
        "point cloud a.ply has no points with finite coordinates",
    ),
    (
        PointCloud(xyz=np.random.default_rng(0).uniform(size=(10, 3))),
        CleanConfig(voxel_size=None, plane=False, isolated_cell=None),
        "has 10 points; outlier removal with k=16 needs more than 16",
    ),
    (
        PointCloud(xyz=GRID),
        None,
        "no object left in point cloud after removing the table plane; try --no-plane",
    ),
    (
        PointCloud(xyz=np.random.default_rng(0).uniform(size=(40, 3))),
        CleanConfig(outlier_k=0, plane=False, isolated_cell=None),
        "no object left after clustering",
    ),
]


@pytest.mark.parametrize(("cloud", "config", "message"), BAD_INPUTS)
def test_bad_input_raises_a_clear_geometry_error(cloud, config, message):
    with pytest.raises(GeometryError, match=message):
        clean_scan(cloud, config)


def test_config_is_strict():
    with pytest.raises(ValidationError):
        CleanConfig(voxel_sise=0.01)
    with pytest.raises(ValidationError):
        CleanConfig(up="x")
    with pytest.raises(ConfigError, match="positive"):
        CleanConfig(units=-1.0).unit_scale()
    assert CleanConfig(units="in").unit_scale() == 0.0254


def test_drop_nonfinite_and_progress():
    xyz = np.array([[0, 0, 0], [np.nan, 0, 0], [1, 1, 1]], float)
    assert len(drop_nonfinite(PointCloud(xyz=xyz))) == 2
    cloud, *_ = tabletop()
    seen = []
    clean_scan(cloud, progress=lambda stage, f: seen.append((stage, f)))
    assert seen[0] == ("finite", 0.0) and seen[-1] == ("place", 1.0)
    assert all(b[1] >= a[1] - 1e-12 for a, b in itertools.pairwise(seen))


# ---------------------------------------------------------------- real scans


def load_scan(path: Path) -> PointCloud:
    """Read a real PCD through the io stage (``load_points`` once it is exported)."""
    try:
        from voxforge.io import load_points
    except ImportError:
        from voxforge.io._base import Source
        from voxforge.io.pcd import read_pcd_points

        return read_pcd_points(Source.from_input(path))
    return load_points(path)


@pytest.fixture(scope="module")
def kinect_scene(shared_data):
    return load_scan(shared_data / "scans" / "milk_cartoon_all_small_clorox.pcd")


def _check_one_object(out, report, cloud):
    t = report.transform
    back = (out.xyz - t[:3, 3]) @ np.linalg.inv(t[:3, :3]).T
    height = report.plane.signed_distance(back)
    assert height.min() > 0.004  # nothing of the table or below it is left
    assert np.mean(height < 0.005) < 0.02
    assert (euclidean_clusters(out.xyz, 0.01, 1) == 0).all()  # one connected piece
    assert 0.05 < out.extent.min() and out.extent.max() < 0.3  # one object, not the scene
    assert report.plane.inliers.mean() > 0.7  # the table is most of the scene


def test_kinect_scene_gives_the_milk_carton_by_default(kinect_scene):
    out, report = clean_scan(kinect_scene)
    _check_one_object(out, report, kinect_scene)
    # The organised Kinect cloud is seen from its sensor: the milk carton, 15 x 10 x 25 cm,
    # grey-white, nearest the camera axis, scores best; the bleach bottle is the runner-up.
    assert sorted(np.round(out.extent, 2)) == [0.1, 0.15, 0.25]
    assert report.chosen == 0 and report.n_out == 9670
    assert report.pick["views"] == "sensor" and report.pick["chosen"]["number"] == 1
    assert sorted(report.pick["runner_up"]["size_cm"]) == [6.3, 11.9, 25.7]
    # The cut above the table is measured from its noise (2 mm robust deviation: 6 mm).
    assert report.noise == pytest.approx(0.002, abs=0.0005)
    assert report.margin == pytest.approx(3 * report.noise)
    assert report.counts["finite"] == 241407


@pytest.mark.parametrize(
    ("pick", "size", "points"),
    [
        ((0.168, -0.074, 0.698), [0.06, 0.12, 0.26], 7280),  # the bleach bottle (right)
        ((-0.22, -0.012, 0.652), [0.06, 0.11, 0.2], 5831),  # the blue bottle (left)
    ],
)
def test_kinect_scene_pick_each_other_object(kinect_scene, pick, size, points):
    out, report = clean_scan(kinect_scene, CleanConfig(pick_point=pick))
    _check_one_object(out, report, kinect_scene)
    assert sorted(np.round(out.extent, 2)) == size
    assert len(out) == points


def test_kinect_scene_bbox_centre_picks_a_far_object(kinect_scene):
    # The scene's bounding-box centre lies far behind the three bottles, among the small
    # things at the back of the table: seen from there, one of those scores best, barely.
    out, report = clean_scan(kinect_scene, CleanConfig(centre_on="bbox"))
    _check_one_object(out, report, kinect_scene)
    assert sorted(np.round(out.extent, 2)) == [0.1, 0.1, 0.13]
    assert report.pick["views"] == "bounds"
    assert any("barely ahead" in w and "voxforge scene" in w for w in report.pick["warnings"])


def test_cut_out_carton_keeps_its_sides(shared_data):
    cloud = load_scan(shared_data / "scans" / "milk_color.pcd")
    out, report = clean_scan(cloud)
    assert report.plane is None  # the carton's big face is not mistaken for a table
    assert np.round(cloud.extent, 2).tolist() == [0.15, 0.25, 0.18]
    assert out.extent == pytest.approx(cloud.extent, abs=0.02)
    assert report.n_out > 0.65 * len(cloud)


def test_a_survey_too_sparse_for_clean_up_is_refused_with_its_spacing() -> None:
    # a 20 x 20 grid of points 0.5 m apart: a terrain sample, not an object scan
    g = np.stack(np.meshgrid(np.arange(20), np.arange(20), indexing="ij"), -1).reshape(-1, 2) * 0.5
    cloud = PointCloud(xyz=np.c_[g, np.zeros(len(g))].astype(np.float64))
    with pytest.raises(GeometryError) as err:
        clean_scan(cloud)
    text = str(err.value)
    assert "lie 0.5 m apart" in text and "--no-clean" in text and "\n" not in text
