import json
import time

import numpy as np
import pytest
from pydantic import ValidationError

from voxforge.bricks.catalogue import get_part
from voxforge.bricks.physics.contacts import centres_of_mass, interfaces, part_masses, vertical_contacts
from voxforge.bricks.physics.decompose import solve_by_regions
from voxforge.bricks.physics.stability import PhysicsConfig, analyze_stability
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.errors import GeometryError

G = 9.81
STUD_CAPACITY = 4 * 0.98  # default: 4 contact points of 0.98 N per stud
LP = PhysicsConfig(precheck=False)  # always solve the linear program


def part(key, x, y, z, sx, sy):
    return Placement(key, x, y, z, sx, sy, get_part(key).height, 4, 0 if sx >= sy else 1)


def model(parts):
    ext = (
        max(p.x + p.sx for p in parts),
        max(p.y + p.sy for p in parts),
        max(p.z + p.h for p in parts),
    )
    return BrickModel(list(parts), shape=ext)


def weight(key):
    return get_part(key).mass_g * 1e-3 * G


def cantilever(n_arm):
    """A 2x2 column of 3 bricks, then 1x8 bricks stacked outward, each on one stud of the last."""
    parts = [part("3003", 0, 0, 3 * i, 2, 2) for i in range(3)]
    x, z = 1, 9
    for _ in range(n_arm):
        parts.append(part("3008", x, 0, z, 8, 1))
        x, z = x + 7, z + 3
    return model(parts)


def running_bond_wall(courses=4, length=12):
    """1-stud-thick wall of 1x4 bricks, joints offset by 2 studs every other course."""
    parts = []
    for c in range(courses):
        x = 0 if c % 2 == 0 else 2
        if x:
            parts.append(part("3004", 0, 0, 3 * c, 2, 1))
        while x + 4 <= length:
            parts.append(part("3010", x, 0, 3 * c, 4, 1))
            x += 4
        if x < length:
            parts.append(part("3004", x, 0, 3 * c, length - x, 1))
    return model(parts)


def test_single_brick_on_ground_needs_no_tension():
    m = model([part("3001", 0, 0, 0, 4, 2)])
    for cfg in (PhysicsConfig(), LP):
        r = analyze_stability(m, cfg)
        assert r.verdict == "STABLE" and r.stable
        assert r.max_stress == 0.0 and r.margin == 1.0
        assert r.weakest == [] and r.floating == []
        assert r.n_parts == 1 and r.n_contacts == 8 and r.n_interfaces == 1
        assert r.tension_max_n < 1e-9
        np.testing.assert_array_equal(r.stress, [0.0])
    assert analyze_stability(m).status == "compression-only load path"
    assert analyze_stability(m, LP).status == "optimal"


def test_part_without_support_is_floating():
    m = model([part("3001", 0, 0, 0, 4, 2), part("3001", 0, 0, 6, 4, 2)])
    r = analyze_stability(m)
    assert r.verdict == "FLOATING" and not r.stable
    assert r.floating == [1]
    assert r.stress[1] == np.inf and r.stress[0] == 0.0
    d = r.as_dict()
    assert d["margin"] is None and d["max_stress"] is None and d["floating"] == [1]
    json.dumps(d, allow_nan=False)


def test_staggered_wall_stands_with_full_margin():
    m = running_bond_wall()
    assert len(m) == 14
    r = analyze_stability(m)
    assert r.verdict == "STABLE" and r.margin == 1.0
    r_lp = analyze_stability(m, LP)
    assert r_lp.verdict == "STABLE"
    assert r_lp.margin > 1 - 1e-6  # the LP agrees: compression alone carries the wall


def test_one_stud_arm_tension_matches_hand_calculation():
    # one 1x8 brick on one stud of a 2x2 brick: its weight W acts 3 studs beyond the pivot edge
    # (x = 2), the stud pulls 0.5 stud inside it, so the stud carries 6 W.
    m = model([part("3003", 0, 0, 0, 2, 2), part("3008", 1, 0, 3, 8, 1)])
    r = analyze_stability(m, LP)
    expected = 6 * weight("3008") / STUD_CAPACITY
    assert r.verdict == "STABLE"
    assert r.max_stress == pytest.approx(expected, rel=1e-6)
    assert r.stress[1] == pytest.approx(expected, rel=1e-6)
    assert r.margin == pytest.approx(1 - expected, rel=1e-6)
    assert r.weakest == [1, 0]  # tie at the one interface: the part that would come off first
    # per interface: the arm's one stud is the weakest; the 2x2 brick (whose load centre the
    # arm pulls past its footprint) holds on to the baseplate with its 4 studs
    pairs = {tuple(p): s for p, s in zip(r.interface_parts.tolist(), r.interface_stress, strict=True)}
    assert set(pairs) == {(1, 0), (0, -1)}
    assert pairs[(1, 0)] == pytest.approx(expected, rel=1e-6)
    assert 0.0 < pairs[(0, -1)] < pairs[(1, 0)]


def test_long_cantilever_falls_at_its_root():
    r = analyze_stability(cantilever(6))
    assert r.verdict == "UNSTABLE" and not r.stable and r.margin < 0
    assert r.weakest[0] == 3  # the first arm brick, on the column's top stud
    assert r.stress[3] == r.max_stress > 1
    arm = r.stress[3:]
    assert np.all(np.diff(arm) < 0)  # stress falls along the arm toward its tip


def test_a_falling_cantilever_prices_supports_under_its_arm():
    m = cantilever(6)
    fast, full = analyze_stability(m), analyze_stability(m, LP)
    assert fast.verdict == full.verdict == "UNSTABLE"
    np.testing.assert_allclose(fast.prop_price, full.prop_price, atol=1e-6)  # regions or whole
    tip = len(m) - 1
    p = m.placements[tip]
    c0, cx, cy = fast.prop_price[tip]
    near, far = (c0 + cx * x + cy * (p.y + 0.5) for x in (p.x + 0.5, p.x + p.sx - 0.5))
    assert far < near < -1.0  # a newton under the tip takes over a newton of overload off
    assert not analyze_stability(cantilever(3)).prop_price.any()  # it stands: nothing to price


def test_cantilever_crossover_length():
    verdicts = [analyze_stability(cantilever(k)).verdict for k in range(1, 8)]
    # 4 bricks (28 studs = 22.4 cm of one-stud joints) still hold, the 5th breaks the root
    assert verdicts == ["STABLE"] * 4 + ["UNSTABLE"] * 3
    stress = [analyze_stability(cantilever(k)).max_stress for k in (4, 5)]
    assert stress[0] < 1 < stress[1]


def test_ground_reaction_equals_total_weight():
    for m in (cantilever(3), cantilever(6), running_bond_wall()):
        r = analyze_stability(m, LP)
        total = sum(weight(p.part) for p in m.placements)
        assert r.weight_n == pytest.approx(total, rel=1e-12)
        assert abs(r.ground_reaction_n - total) <= 1e-6 * total


def test_bridge_on_two_pillars_stands():
    parts = [part("3003", 0, 0, 3 * i, 2, 2) for i in range(3)]
    parts += [part("3003", 6, 0, 3 * i, 2, 2) for i in range(3)]
    parts.append(part("3007", 0, 0, 9, 8, 2))
    m = model(parts)
    r = analyze_stability(m)
    assert r.verdict == "STABLE" and r.margin == 1.0
    assert analyze_stability(m, LP).margin > 1 - 1e-6


def _two_columns(bonded):
    """A 4x2 tower of 6 courses whose right half carries a 2x8 arm in course 2, sticking out +x.

    Unbonded: every course is two 2x2 bricks, so the seam at x = 2 runs through and the arm's
    moment goes down the right column alone. Bonded: the odd courses are one 2x4 brick across the
    seam, which clamps the arm and spreads its moment over the whole tower.
    """
    parts = []
    for c in range(6):
        if bonded and c % 2 == 1:
            parts.append(part("3001", 0, 0, 3 * c, 4, 2))
            continue
        parts.append(part("3003", 0, 0, 3 * c, 2, 2))
        parts.append(part("3007", 2, 0, 3 * c, 8, 2) if c == 2 else part("3003", 2, 0, 3 * c, 2, 2))
    return model(parts)


def test_bonded_tower_is_stronger_than_unbonded():
    loose = analyze_stability(_two_columns(bonded=False))
    bonded = analyze_stability(_two_columns(bonded=True))
    assert loose.verdict == bonded.verdict == "STABLE"
    assert loose.max_stress > 1e-3 and bonded.max_stress == 0.0
    assert loose.margin < bonded.margin == 1.0
    # the right column below the arm (parts 1 and 3) and the arm (5) hold it by friction
    assert sorted(loose.weakest) == [1, 3, 5]


def test_hanging_brick_is_held_by_its_stud():
    parts = [part("3003", 0, 0, 3 * i, 2, 2) for i in range(3)]
    parts.append(part("3001", 0, 0, 9, 4, 2))
    parts.append(part("3005", 3, 0, 6, 1, 1))  # under the 2x4's overhang, off the ground
    m = model(parts)
    r = analyze_stability(m)
    assert r.floating == [] and r.status == "optimal (region of 3 parts)"
    assert r.n_region == 3  # the 1x1, the 2x4 it pulls past its support, the column top
    assert r.verdict == "STABLE"
    assert r.stress[4] == pytest.approx(weight("3005") / STUD_CAPACITY, rel=1e-5)


def _overlaps(c, boxes):
    return any(
        c[0] < b[3] and b[0] < c[3] and c[1] < b[4] and b[1] < c[4] and c[2] < b[5] and b[2] < c[5]
        for b in boxes
    )


def random_stack(rng, n_try=8, below=0.0):
    """2x4 bricks stacked at random offsets on earlier ones; with probability ``below`` one is
    put under an earlier brick instead (off the ground it hangs from that brick's studs)."""
    parts = [part("3001", 4, 4, 3, 4, 2)]
    for _ in range(n_try):
        base = parts[rng.integers(len(parts))]
        sx, sy = (4, 2) if rng.random() < 0.5 else (2, 4)
        x = int(base.x + rng.integers(-sx + 1, base.sx))
        y = int(base.y + rng.integers(-sy + 1, base.sy))
        z = base.z - 3 if rng.random() < below else base.z + 3
        cand = part("3001", max(x, 0), max(y, 0), z, sx, sy)
        if z >= 0 and not _overlaps(cand.box(), [p.box() for p in parts]):
            parts.append(cand)
    if not any(p.z == 0 for p in parts):
        parts.append(part("3001", 4, 4, 0, 4, 2))
    return model(parts)


def _assert_agrees(fast, full):
    """The fast path's verdict is the full program's; its stress is the optimum or above it."""
    assert fast.verdict == full.verdict
    assert fast.floating == full.floating
    if fast.verdict == "FLOATING":
        return
    if "upper bound" in fast.status:  # a region's, or the friction pass's witness
        # a witness distribution: the program minimises the total tension, so the witness's
        # total is at least the program's (its largest stud may fall on either side of the
        # program's largest: the least-total distribution is not the least-largest one)
        assert fast.verdict == "STABLE"
        assert fast.interface_stress.sum() >= full.interface_stress.sum() - 1e-6
    else:
        # the program minimises total tension: its optimum is unique in total, and the largest
        # stud tension of two optimal distributions agrees to solver precision (0.1% here)
        assert fast.max_stress == pytest.approx(full.max_stress, rel=1e-3, abs=1e-8)
    assert fast.ground_reaction_n == pytest.approx(full.weight_n, rel=1e-6)


def test_fast_path_agrees_with_program_on_random_stacks():
    rng = np.random.default_rng(7)
    statuses = []
    for i in range(40):
        m = random_stack(rng, below=0.0 if i < 20 else 0.35)
        fast, full = analyze_stability(m), analyze_stability(m, LP)
        _assert_agrees(fast, full)
        statuses.append(fast.status.split(" (")[0])
        if fast.status == "compression-only load path":
            assert full.max_stress < 1e-6
    # every path is exercised: no program, an exact region, a conservative region
    assert statuses.count("compression-only load path") >= 5
    assert statuses.count("optimal") >= 20
    assert statuses.count("upper bound") >= 1


def _beam_regions(m, witness_from=None):
    """:func:`solve_by_regions` on ``m`` with its part 2 (a beam) failing the greedy pass."""
    a, iface = m.arrays(), interfaces(len(m), vertical_contacts(m, m.label_grid()))
    return solve_by_regions(
        centres_of_mass(a),
        part_masses(m) * G,
        a["z"] + a["h"],
        iface,
        STUD_CAPACITY,
        time.perf_counter() + 30,
        m.pitch,
        np.arange(len(m)) == 2,
        witness_from=witness_from,
    )


def test_mostly_hanging_model_goes_straight_to_the_whole_program():
    # a 1x8 brick on a 1x1 column with 16 plates hanging under it: the hanging stage alone
    # would cost about the whole program, so the whole program is solved at once
    parts = [part("3005", 0, 0, 0, 1, 1), part("3005", 0, 0, 3, 1, 1), part("3008", 0, 0, 6, 8, 1)]
    for z in (5, 4, 3, 2):
        parts += [part("3023", x, 0, z, 2, 1) for x in (1, 3, 5)] + [part("3024", 7, 0, z, 1, 1)]
    m = model(parts)
    fast, full = analyze_stability(m), analyze_stability(m, LP)
    assert fast.status == f"optimal (region of {len(m)} parts)" and fast.n_region == len(m)
    assert fast.verdict == full.verdict
    assert fast.max_stress == pytest.approx(full.max_stress, rel=1e-5)
    sol = _beam_regions(m)
    assert sol.n_solves == 1 and sol.region.all()


def test_hanging_parts_alone_give_the_exact_optimum():
    # a bridge whose underside carries two hanging 1x2 bricks: only they need tension
    parts = [part("3003", 0, 0, 3 * i, 2, 2) for i in range(3)]
    parts += [part("3003", 8, 0, 3 * i, 2, 2) for i in range(3)]
    parts.append(part("3007", 0, 0, 9, 10, 2))
    parts += [part("3004", 3, 0, 6, 2, 1), part("3004", 6, 0, 6, 1, 2)]
    m = model(parts)
    fast, full = analyze_stability(m), analyze_stability(m, LP)
    assert fast.status == "optimal (region of 2 parts)" and fast.n_region == 2
    assert fast.max_stress == pytest.approx(full.max_stress, rel=1e-5)
    # each 1x2 hangs on two studs, centred between them: half its weight per stud
    assert fast.max_stress == pytest.approx(weight("3004") / 2 / STUD_CAPACITY, rel=1e-5)
    assert sorted(fast.weakest) == [6, 7, 8]


def test_hanging_stage_over_a_third_of_the_interfaces_gives_way_to_a_rough_whole_program():
    # a 1x8 brick on a 1x1 column with two rows of plates hanging under it: 8 of 11 parts hang
    # (under FULL_SHARE) but their interfaces are 8 of 11; when the whole program gets the
    # rough solve, it is as cheap as the hanging stage would be, and settles everything at once
    parts = [part("3005", 0, 0, 0, 1, 1), part("3005", 0, 0, 3, 1, 1), part("3008", 0, 0, 6, 8, 1)]
    for z in (5, 4):
        parts += [part("3023", x, 0, z, 2, 1) for x in (1, 3, 5)] + [part("3024", 7, 0, z, 1, 1)]
    m = model(parts)
    staged, rough = _beam_regions(m), _beam_regions(m, witness_from=0)
    assert staged.n_solves == 2  # the hanging stage, then the region around the beam
    assert rough.n_solves == 1 and rough.region.all()
    full = analyze_stability(m, LP)
    assert full.verdict == "STABLE"
    assert staged.stress.max() == pytest.approx(full.max_stress, rel=1e-5)
    assert full.max_stress <= rough.stress.max() <= 1.0  # a witness: an upper bound


def test_time_limit_gives_unknown_verdict_not_an_error():
    r = analyze_stability(cantilever(6), PhysicsConfig(time_limit_s=1e-9))
    assert r.verdict == "UNKNOWN" and not r.stable and r.status == "time limit"
    assert np.isnan(r.max_stress) and np.isnan(r.margin) and r.weakest == []
    assert np.isnan(r.stress).all()
    d = r.as_dict()
    assert d["verdict"] == "UNKNOWN" and d["margin"] is None
    json.dumps(d, allow_nan=False)
    # a model that needs no program is still decided within any limit
    ok = analyze_stability(running_bond_wall(), PhysicsConfig(time_limit_s=1e-9))
    assert ok.verdict == "STABLE" and ok.status == "compression-only load path"


def _modelnet_models(shared_data, studs, picks):
    from voxforge.bricks.lay import LayoutConfig, lay_bricks
    from voxforge.core.voxelgrid import VoxelGrid
    from voxforge.io import load_voxel_dataset
    from voxforge.voxel import VoxelizeConfig
    from voxforge.voxel.resample import resample_grid

    ds = load_voxel_dataset(shared_data / "modelnet10_vox30_train.npz")
    for i in picks:
        grid = resample_grid(
            VoxelGrid(ds.voxels[i].astype(bool), pitch=1.0 / 30), VoxelizeConfig(width_studs=studs)
        )
        codes = np.where(grid.occupancy, 71, -1).astype(np.int32)
        yield lay_bricks(grid, codes, LayoutConfig(), stability=None)[0]


def test_fast_path_agrees_with_program_on_modelnet_shapes(shared_data):
    # bathtub, bed, monitor, table, sofa at 12 studs: hanging undersides and overhangs
    for m in _modelnet_models(shared_data, 12, [89, 264, 2248, 3409, 3031]):
        fast, full = analyze_stability(m), analyze_stability(m, LP)
        _assert_agrees(fast, full)
        assert fast.n_region <= len(m)


@pytest.mark.slow
def test_fast_path_agrees_with_program_on_modelnet_shapes_at_24_studs(shared_data):
    for m in _modelnet_models(shared_data, 24, [67, 244, 1810, 2204, 3591]):
        fast = analyze_stability(m)
        full = analyze_stability(m, PhysicsConfig(precheck=False, time_limit_s=300))
        _assert_agrees(fast, full)


def test_report_as_dict_is_json_safe():
    r = analyze_stability(cantilever(6), PhysicsConfig(top_k=2))
    d = r.as_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert [w["part"] for w in d["weakest"]] == r.weakest == r.weakest[:2]
    assert len(d["weakest"]) == 2
    assert d["verdict"] == "UNSTABLE" and d["n_parts"] == 9


def test_compression_pass_takes_outside_loads_and_blocked_interfaces():
    from voxforge.bricks.physics.compression import compression_pass
    from voxforge.bricks.physics.contacts import (
        centres_of_mass,
        interfaces,
        part_masses,
        vertical_contacts,
    )

    m = model([part("3001", 0, 0, 0, 4, 2), part("3001", 0, 0, 3, 4, 2)])
    a = m.arrays()
    iface = interfaces(2, vertical_contacts(m, m.label_grid()))
    w = part_masses(m) * G
    com, tops = centres_of_mass(a), a["z"] + a["h"]
    assert not compression_pass(com, w, tops, iface).failed.any()
    inside = np.zeros((2, 3))
    inside[1] = [1.0, 1.0 * 3.5, 1.0 * 1.5]  # 1 N pressing down near a corner, inside
    r = compression_pass(com, w, tops, iface, extra=inside)
    assert not r.failed.any()
    top_on_bottom = (iface.upper == 1) & (iface.lower == 0)
    assert r.force[top_on_bottom].sum() == pytest.approx(w[1] + 1.0)
    outside = inside.copy()
    outside[1, 1] = 1.0 * 6.0  # the same force 2 studs beyond the bricks: needs tension
    assert compression_pass(com, w, tops, iface, extra=outside).failed.tolist() == [False, True]
    lift = np.zeros((2, 3))
    lift[1] = [-2 * w[1], -2 * w[1] * 2.0, -2 * w[1] * 1.0]  # pulled up twice its weight
    assert compression_pass(com, w, tops, iface, extra=lift).failed.tolist() == [False, True]
    r = compression_pass(com, w, tops, iface, blocked=top_on_bottom)
    assert r.failed.tolist() == [False, True]  # nothing left to rest on


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(GeometryError, match="no placements"):
        analyze_stability(BrickModel([], shape=(1, 1, 1)))
    with pytest.raises(GeometryError, match="'9999'"):
        analyze_stability(BrickModel([Placement("9999", 0, 0, 0, 1, 1, 3, 4)], shape=(1, 1, 3)))
    with pytest.raises(ValidationError):
        PhysicsConfig(points_per_stud=2)
    with pytest.raises(ValidationError):
        PhysicsConfig(friction=1.0)


def test_a_load_that_does_not_point_down_keeps_its_couple():
    # a 1x4 brick on the ground whose fixed outside loads cancel its weight but turn it: the
    # program's forces must carry that couple (order.checks' re-solves meet such parts: a part
    # hanging from one outside the re-solved set, the pull cancelling its weight)
    m = model([part("3010", 0, 0, 0, 4, 1)])
    a = m.arrays()
    iface = interfaces(len(m), vertical_contacts(m, m.label_grid()))
    w, com = part_masses(m) * G, centres_of_mass(a)
    own = np.stack([w, w * com[:, 0], w * com[:, 1]], axis=1)
    extra = np.array([[-w[0], -w[0] * com[0, 0] + 0.3 * w[0], -w[0] * com[0, 1]]])
    sol = solve_by_regions(
        com, w, a["z"] + a["h"], iface, STUD_CAPACITY, time.perf_counter() + 30, m.pitch,
        np.ones(1, dtype=bool), extra=extra,
    )  # fmt: skip
    np.testing.assert_allclose(sol.net.sum(axis=0), (own + extra)[0], atol=1e-6 * w[0])
    assert sol.stress.max() > 0  # a couple on a part resting on the ground needs stud tension


def test_a_greedy_witness_at_capacity_is_analysed_again_at_the_safety_margin(shared_data):
    """ModelNet monitor #1925 at 24 studs: the greedy pass loads some studs to exactly their
    capacity (margin 0.000); cut to 80% of capacity, the pass hands those parts to the program,
    whose forces leave at least the safety margin's 20% of every stud unused."""
    from voxforge.bricks.lay import lay_bricks
    from voxforge.bricks.physics.stability import _analyze
    from voxforge.core.voxelgrid import VoxelGrid
    from voxforge.io import load_voxel_dataset
    from voxforge.voxel import VoxelizeConfig
    from voxforge.voxel.resample import resample_grid

    ds = load_voxel_dataset(shared_data / "modelnet10_vox30_train.npz")
    vox = VoxelGrid(ds.voxels[1925].astype(bool), pitch=1.0 / 30)
    model, _ = lay_bricks(resample_grid(vox, VoxelizeConfig(width_studs=24)), None)
    first = _analyze(model, PhysicsConfig(), None)
    assert first.stable and first.margin < 0.01 and "upper bound" in first.status
    report = analyze_stability(model, PhysicsConfig(safety_margin=0.2))
    assert report.stable and report.status.endswith("at the safety margin")
    assert report.margin >= 0.2 - 1e-6 and report.max_stress == pytest.approx(1 - report.margin)
    assert report.stress.max() == pytest.approx(report.max_stress)
    # without a safety margin (the default outside brickify) there is no second look
    assert analyze_stability(model).margin == first.margin
