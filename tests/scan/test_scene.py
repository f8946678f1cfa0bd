"""Scene segmentation and object picking: noise margin, supports, uneven ground, thin links,
the score, and whole simulated scans with clutter, tables, bumps and a speck."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from voxforge.core import GeometryError, PointCloud
from voxforge.scan import CleanConfig, clean_scan
from voxforge.scan.clean import segment_scene
from voxforge.scan.plane import Plane
from voxforge.scan.scene import (
    PickWeights,
    Support,
    Views,
    camera_poses_zup,
    find_supports,
    ground_mask,
    join_stacked,
    plane_noise,
    score_candidates,
    split_thin,
    trim_skirts,
)
from voxforge.scan.sim_scenes import cluttered_scene, furniture_scene


def grid(x0, x1, y0, y1, step, z=0.0):
    xs, ys = np.meshgrid(np.arange(x0, x1, step), np.arange(y0, y1, step), indexing="ij")
    return np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, z)], axis=1)


def box_surface(lo, hi, step):
    """The four walls and the lid of a box (no bottom)."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    zs = np.arange(z0, z1, step)
    walls = []
    for x in np.arange(x0, x1, step):
        walls += [np.stack([np.full(zs.size, x), np.full(zs.size, y0), zs], 1)]
        walls += [np.stack([np.full(zs.size, x), np.full(zs.size, y1), zs], 1)]
    for y in np.arange(y0, y1, step):
        walls += [np.stack([np.full(zs.size, x0), np.full(zs.size, y), zs], 1)]
        walls += [np.stack([np.full(zs.size, x1), np.full(zs.size, y), zs], 1)]
    return np.concatenate([*walls, grid(x0, x1, y0, y1, step, z1)])


def test_plane_noise_measures_the_residual_spread():
    rng = np.random.default_rng(0)
    d = np.concatenate([rng.normal(0, 0.002, 20000), rng.uniform(0.02, 0.3, 5000)])
    assert plane_noise(d, threshold=0.005) == pytest.approx(0.002, rel=0.15)
    assert plane_noise(rng.normal(0, 0.0005, 5000), 0.005) == pytest.approx(0.0005, rel=0.1)


def test_measured_margin_follows_the_noise():
    rng = np.random.default_rng(1)
    table = grid(-0.3, 0.3, -0.3, 0.3, 0.004)
    obj = box_surface((-0.05, -0.05, 0.0), (0.05, 0.05, 0.12), 0.004)
    for sigma in (0.0005, 0.003):
        xyz = np.concatenate([table, obj]) + rng.normal(0, sigma, (len(table) + len(obj), 3))
        out, report = clean_scan(PointCloud(xyz=xyz), CleanConfig(outlier_k=0))
        assert report.noise == pytest.approx(sigma, rel=0.35)
        assert report.margin == pytest.approx(max(0.004, 3 * report.noise))
        assert out.extent[2] == pytest.approx(0.12 - report.margin, abs=3 * sigma + 0.003)


def test_split_thin_cuts_a_one_point_bridge_only():
    a = grid(0.0, 0.2, 0.0, 0.2, 0.005)
    b = grid(0.3, 0.5, 0.0, 0.2, 0.005)
    bridge = np.stack([np.arange(0.2, 0.3, 0.005), np.full(20, 0.1), np.zeros(20)], 1)
    xyz = np.concatenate([a, b, bridge])
    labels = np.zeros(len(xyz), dtype=np.int64)
    out = split_thin(xyz, labels, 0.01, 50)
    assert len(np.unique(out)) == 2
    assert len(np.unique(out[: len(a)])) == 1 and len(np.unique(out[len(a) : len(a) + len(b)])) == 1
    assert out[0] != out[len(a)]
    # One surface with no thin link stays whole.
    whole = grid(0.0, 0.5, 0.0, 0.2, 0.005)
    assert (split_thin(whole, np.zeros(len(whole), dtype=np.int64), 0.01, 50) == 0).all()


def test_ground_mask_takes_bumps_not_the_object_on_them():
    xs = grid(-1.0, 1.0, -1.0, 1.0, 0.01)
    xs[:, 2] = 0.025 * np.sin(4 * xs[:, 0]) * np.cos(3 * xs[:, 1])
    floor = xs[xs[:, 2] > 0.006]  # what a 6 mm cut above the plane leaves of a bumpy patio
    chair = box_surface((0.2, 0.2, 0.02), (0.6, 0.6, 0.5), 0.01)
    chair = chair[chair[:, 2] > 0.021]
    xyz = np.concatenate([floor, chair])
    main = Support(Plane(np.array([0.0, 0.0, 1.0]), 0.0, np.zeros(len(xyz), bool)), None, 0.006)
    gone = ground_mask(xyz, [main], band=0.05)
    assert gone[: len(floor)].mean() > 0.9
    assert gone[len(floor) :].mean() < 0.05


def test_find_supports_takes_a_table_top_not_a_box_lid():
    floor_rest = grid(-1.5, -0.9, -1.0, 1.0, 0.01)  # a little floor left after the main cut
    top = grid(-0.5, 0.5, -0.4, 0.4, 0.01, z=0.7)
    legs = np.concatenate(
        [
            box_surface((x - 0.02, y - 0.02, 0.0), (x + 0.02, y + 0.02, 0.69), 0.01)
            for x in (-0.45, 0.45)
            for y in (-0.35, 0.35)
        ]
    )
    cup = box_surface((-0.05, -0.05, 0.7), (0.05, 0.05, 0.82), 0.005)
    xyz = np.concatenate([floor_rest, top, legs, cup])
    found = find_supports(xyz, threshold=0.005, least_margin=0.004, sigmas=3.0)
    assert len(found) == 1 and -found[0].plane.offset == pytest.approx(0.7, abs=0.003)
    # A closed crate (walls under its whole rim) with a bottle on its lid is an object.
    crate = box_surface((-0.4, -0.3, 0.0), (0.4, 0.3, 0.5), 0.01)
    bottle = box_surface((-0.03, -0.03, 0.5), (0.03, 0.03, 0.7), 0.005)
    assert (
        find_supports(np.concatenate([crate, bottle]), threshold=0.005, least_margin=0.004, sigmas=3.0)
        == []
    )


def _chair_surface(seat: float = 0.5, back: float = 0.45) -> np.ndarray:
    """A chair's surface: a square seat at 45 cm on four legs, a back rising from one edge."""
    h = seat / 2
    top = grid(-h, h, -h, h, 0.01, z=0.45)
    legs = np.concatenate(
        [
            box_surface((x - 0.02, y - 0.02, 0.0), (x + 0.02, y + 0.02, 0.44), 0.01)
            for x in (-h + 0.03, h - 0.03)
            for y in (-h + 0.03, h - 0.03)
        ]
    )
    rest = box_surface((-h, h - 0.03, 0.46), (h, h, 0.46 + back), 0.01)
    return np.concatenate([top, legs, rest])


def test_find_supports_takes_a_table_top_but_not_the_seat_of_the_chair_being_scanned():
    seat = find_supports(_chair_surface(), threshold=0.005, least_margin=0.004, sigmas=3.0)
    assert seat == []  # its back stands on a quarter of its rim
    with_back_ignored = find_supports(_chair_surface(), threshold=0.005, least_margin=0.004, sigmas=3.0,
                                      max_rise=1.0)  # fmt: skip
    assert len(with_back_ignored) == 1  # the seat passes every other test of a support
    top = grid(-0.5, 0.5, -0.4, 0.4, 0.01, z=0.7)
    mugs = [box_surface((x - 0.04, -0.04, 0.7), (x + 0.04, 0.04, 0.8), 0.005) for x in (-0.44, 0.1)]
    found = find_supports(np.concatenate([top, *mugs]), threshold=0.005, least_margin=0.004,
                          sigmas=3.0)  # fmt: skip
    assert len(found) == 1  # a mug at the edge covers a few centimetres of rim, not a side


def test_score_prefers_a_real_object_to_a_speck_on_the_camera_axis():
    obj = box_surface((0.1, -0.05, 0.0), (0.2, 0.05, 0.15), 0.004)
    speck = box_surface((-0.01, -0.01, 0.0), (0.01, 0.01, 0.02), 0.002)
    huge = box_surface((-1.5, 0.6, 0.0), (1.5, 1.4, 0.5), 0.02)
    xyz = np.concatenate([obj, speck, huge])
    labels = np.repeat([0, 1, 2], [len(obj), len(speck), len(huge)])
    main = Support(Plane(np.array([0.0, 0.0, 1.0]), 0.0, np.zeros(len(xyz), bool)), None)
    views = Views("sensor", np.array([[0.0, -0.8, 0.5]]), np.array([[0.0, 0.85, -0.53]]))
    ranked = score_candidates(xyz, labels, views, [main], np.eye(4))
    assert ranked[0].label == 0 and ranked[0].number == 1
    assert ranked[0].terms["size"] == 1.0
    speck_c = next(c for c in ranked if c.label == 1)
    assert speck_c.terms["view"] > ranked[0].terms["view"]  # it is nearer the axis...
    assert speck_c.terms["size"] < 0.3  # ...but 2 cm is no hand-held scan
    # With all weight on the view the speck would win: the weights matter.
    only_view = score_candidates(
        xyz, labels, views, [main], np.eye(4), PickWeights(size=0, points=0, ground=0)
    )
    assert only_view[0].label == 1


def test_camera_poses_zup_turns_arkit_poses_like_the_fused_points():
    pose = np.eye(4)
    pose[:3, 3] = [0.1, 1.5, 2.0]  # ARKit y-up: 1.5 m up, 2 m towards the viewer
    (z,) = camera_poses_zup([pose])
    z = np.asarray(z)
    assert z[:3, 3] == pytest.approx([0.1, -2.0, 1.5])
    assert -z[:3, 2] == pytest.approx([0.0, 1.0, 0.0])  # ARKit's -z (forward) becomes +y


# ---------------------------------------------------------------- simulated scans

SCENES = {
    "table, clutter and speck": dict(
        seed=3, setting="table", uneven=0.0, second_table=False, n_clutter=5
    ),
    "two tables": dict(seed=8, setting="table", uneven=0.0, second_table=True, n_clutter=3),
    "uneven patio": dict(seed=4, setting="floor", uneven=0.03, second_table=False, n_clutter=3),
    "patio and a table": dict(seed=21, setting="floor", uneven=0.02, second_table=True, n_clutter=4),
}


@pytest.mark.parametrize("name", list(SCENES))
def test_simulated_scan_picks_the_scanned_object(name):
    kw = SCENES[name]
    scene = cluttered_scene(kw.pop("seed"), n_views=8, **kw)
    out, report = clean_scan(scene.cloud)
    inv = np.linalg.inv(report.transform)
    pts = out.xyz @ inv[:3, :3].T + inv[:3, 3]
    lo, hi = scene.target
    assert np.all((pts >= lo - 0.02) & (pts <= hi + 0.02), axis=1).mean() > 0.9
    assert np.ptp(pts, axis=0).max() > 0.6 * np.ptp(scene.target, axis=0).max()
    pick = report.pick
    assert pick["how"] == "score" and pick["views"] == "poses" and pick["cameras"] == 8
    assert pick["chosen"]["number"] == 1 and pick["runner_up"]["number"] == 2
    # The speck placed a few centimetres from the object is never the pick.
    assert max(pick["chosen"]["size_cm"]) > 5


def test_pick_number_takes_another_candidate_and_bad_numbers_are_refused():
    scene = cluttered_scene(2, setting="table", uneven=0.0, second_table=False, n_clutter=3, n_views=6)
    found = segment_scene(scene.cloud)
    second = found.report.candidates[1]
    out, report = clean_scan(scene.cloud, CleanConfig(pick=2))
    assert report.pick["how"] == "pick" and report.pick["chosen"]["number"] == 2
    assert len(out) == second.count
    with pytest.raises(GeometryError, match="voxforge scene"):
        clean_scan(scene.cloud, CleanConfig(pick=999))


def test_scene_command_lists_and_draws_and_pick_reaches_the_summary(tmp_path):
    from voxforge.cli import app
    from voxforge.io import save_points

    rng = np.random.default_rng(0)
    table = grid(-0.4, 0.4, -0.3, 0.3, 0.004)
    a = box_surface((-0.05, -0.04, 0.0), (0.05, 0.04, 0.15), 0.004)
    b = box_surface((0.2, 0.1, 0.0), (0.26, 0.2, 0.08), 0.004)
    speck = box_surface((0.0, -0.12, 0.0), (0.012, -0.108, 0.012), 0.003)
    xyz = np.concatenate([table, a, b, speck]) + rng.normal(
        0, 0.0005, (len(table) + len(a) + len(b) + len(speck), 3)
    )
    src = save_points(PointCloud(xyz=xyz), tmp_path / "desk.ply")
    runner = CliRunner()
    res = runner.invoke(app, ["scene", str(src), "-o", str(tmp_path / "scene.png")])
    assert res.exit_code == 0, res.output
    assert "10x8x15" in res.output.replace(" ", "") and "candidates" in res.output
    assert (tmp_path / "scene.png").stat().st_size > 10_000
    res = runner.invoke(app, ["scene", str(src), "-o", str(tmp_path / "s2"), "--json"])
    data = json.loads(res.output)
    # an output named without a suffix is written as PNG, and the reply names that file
    assert data["picture"] == str(tmp_path / "s2.png") and (tmp_path / "s2.png").is_file()
    assert data["candidates"][0]["size_cm"][2] == pytest.approx(15 - 100 * data["margin_m"], abs=0.6)
    res = runner.invoke(app, ["voxelize", str(src), "-o", str(tmp_path / "vox"), "--pick", "2", "-q"])
    assert res.exit_code == 0, res.output
    assert "object: #2" in res.output and "runner-up #1" in res.output
    summary = json.loads((tmp_path / "vox" / "summary.json").read_text())
    assert summary["clean"]["pick"]["how"] == "pick"
    assert summary["clean"]["pick"]["chosen"]["size_cm"][0] == pytest.approx(6, abs=0.6)
    res = runner.invoke(app, ["voxelize", str(src), "-o", str(tmp_path / "bad"), "--pick", "9", "-q"])
    assert res.exit_code != 0 and "voxforge scene" in res.output
    assert not (tmp_path / "bad").exists()


def _cand(number, size, score, count=1000):
    from voxforge.scan.scene import Candidate

    return Candidate(number, number - 1, count, (0.0, 0.0, 0.0), tuple(size), (0.0, 0.0, 0.0), score, {})


def test_pick_summary_warns_on_tiny_huge_and_close_picks():
    from voxforge.scan.scene import pick_summary

    views = Views("bounds")
    fine = [_cand(1, (0.1, 0.1, 0.2), 0.9), _cand(2, (0.2, 0.1, 0.1), 0.7)]
    s = pick_summary(fine, fine[0], "score", views, 0.05)
    assert s["warnings"] == [] and s["runner_up"]["number"] == 2
    assert s["chosen"]["size_cm"] == [10.0, 10.0, 20.0]
    tiny = [_cand(1, (0.02, 0.02, 0.01), 0.9), fine[1]]
    (w,) = pick_summary(tiny, tiny[0], "score", views, 0.05)["warnings"]
    assert "tiny" in w and "voxforge scene" in w and "--pick N" in w
    huge = [_cand(1, (2.0, 1.0, 0.5), 0.9), fine[1]]
    assert (
        "larger than a hand-held scan" in pick_summary(huge, huge[0], "pick", views, 0.05)["warnings"][0]
    )
    close = [_cand(1, (0.1, 0.1, 0.2), 0.72), fine[1]]
    (w,) = pick_summary(close, close[0], "score", views, 0.05)["warnings"]
    assert "barely ahead of #2" in w
    # A pick the user asked for by number is not second-guessed for being close.
    assert pick_summary(close, close[1], "pick", views, 0.05)["warnings"] == []


def _chair() -> np.ndarray:
    """A chair's occupancy (2.5 cm cells at 90 cm): seat, back, four legs 5 cm thick."""
    grid = np.zeros((24, 24, 36), bool)
    grid[2:22, 2:22, 16:18] = True  # seat
    grid[2:22, 2:4, 18:36] = True  # back
    for x, y in ((2, 2), (20, 2), (2, 20), (20, 20)):
        grid[x : x + 2, y : y + 2, 0:16] = True  # legs
    return grid


def test_a_chair_scanned_from_across_the_room_is_picked_whole():
    scene = furniture_scene(_chair(), 0, size=0.9, span_deg=120.0, n_views=7, radius=1.6)
    cloud, box = scene.cloud, scene.target
    assert scene.facts["radius_m"] == 1.6 and len(cloud.meta["camera_poses"]) == 7
    out, report = clean_scan(cloud)
    size = np.ptp(out.xyz, axis=0)
    full = np.ptp(box, axis=0)
    # The link radius follows the scan's point spacing (points 5-10 mm apart at 1.6 m), so the
    # legs, seat and back stay one object (the floor band takes the legs' feet).
    assert 0.01 < report.link_radius <= 0.03
    assert size.max() > 0.9 * full.max() and size[2] > 0.85 * full[2]
    # A fixed 1 cm link, the right size for a mug scanned from 40 cm, breaks the chair up: the
    # pick is one piece of it (the back), a fraction of the chair's box.
    _, fixed = clean_scan(cloud, CleanConfig(cluster_radius=0.01))
    piece = np.prod(fixed.pick["chosen"]["size_cm"]) / 100**3
    assert fixed.link_radius == 0.01 and piece < 0.5 * np.prod(full)


def test_join_stacked_joins_what_floats_over_a_cluster_and_nothing_else():
    floor = Support(Plane(np.array([0.0, 0.0, 1.0]), 0.0, np.zeros(0, bool)), None, 0.005)
    legs = box_surface((0.0, 0.0, 0.0), (0.5, 0.5, 0.30), 0.02)  # top at 0.30
    seat = box_surface((0.0, 0.0, 0.34), (0.5, 0.5, 0.80), 0.02)  # 4 cm above it, 34 cm up
    mug = box_surface((1.0, 0.0, 0.0), (1.1, 0.1, 0.12), 0.01)  # stands on the floor
    lamp = box_surface((2.0, 0.0, 0.5), (2.2, 0.2, 0.7), 0.02)  # floats, nothing under it
    xyz = np.concatenate([legs, seat, mug, lamp])
    labels = np.repeat([0, 1, 2, 3], [len(legs), len(seat), len(mug), len(lamp)])
    out = join_stacked(xyz, labels, [floor], gap=0.06)
    assert len(np.unique(out[: len(legs) + len(seat)])) == 1  # the seat joins the legs
    assert len(np.unique(out)) == 3  # the mug and the floating lamp stay apart
    assert np.array_equal(join_stacked(xyz, labels, [floor], gap=0.02), labels)  # 4 cm > gap
    assert np.array_equal(join_stacked(xyz, labels, [], gap=0.06), labels)  # no ground known


def test_a_chair_whose_legs_the_camera_caught_apart_from_its_seat_is_picked_whole():
    grid = _chair()
    grid[:, :, 14:16] = False  # the legs' tops unseen: a 5 cm gap under the seat
    scene = furniture_scene(grid, 0, size=0.9, span_deg=120.0, n_views=7, radius=1.6)
    full = np.ptp(scene.target, axis=0)
    out, _ = clean_scan(scene.cloud)
    assert np.ptp(out.xyz, axis=0)[2] > 0.85 * full[2]
    # Without joining, the legs and the seat with its back are candidates of their own, and
    # the pick is one of them.
    piece, _ = clean_scan(scene.cloud, CleanConfig(join_stacked=False))
    assert np.ptp(piece.xyz, axis=0)[2] < 0.5 * full[2]


def test_trim_skirts_drops_a_sheet_of_floor_noise_but_not_the_objects_own_foot():
    rng = np.random.default_rng(0)
    floor = Support(Plane(np.array([0.0, 0.0, 1.0]), 0.0, np.zeros(0, bool)), None, 0.03)
    toilet = box_surface((0.0, 0.0, 0.03), (0.6, 0.5, 0.45), 0.01)  # its foot in the band too
    sheet = grid(-0.6, 1.2, -0.6, 1.1, 0.03, z=0.0)
    sheet[:, 2] = rng.uniform(0.03, 0.09, len(sheet))  # the noisy floor left above the cut
    xyz = np.concatenate([toilet, sheet])
    labels = np.zeros(len(xyz), np.int64)  # linked into one cluster
    out = trim_skirts(xyz, labels, [floor], band=0.05)
    kept = xyz[out == 0]
    assert np.ptp(kept[:, :2], axis=0).max() < 0.75  # the toilet and a cell around it
    assert (out[: len(toilet)] == 0).all()  # every point of the toilet stays
    assert np.array_equal(trim_skirts(xyz, labels, [], band=0.05), labels)  # no ground known
