"""The stability loop: re-lays and props driven by a physics verdict (real, or a test double)."""

from __future__ import annotations

import itertools

import numpy as np

from voxforge.bricks.connectivity import connectivity_report
from voxforge.bricks.lay import LayoutConfig, lay_bricks
from voxforge.bricks.physics.report import StabilityReport
from voxforge.bricks.physics.stability import analyze_stability
from voxforge.bricks.repair.log import RepairLog
from voxforge.bricks.repair.supports import _prop_candidates, add_supports
from voxforge.core.errors import SizeLimitError
from voxforge.core.voxelgrid import VoxelGrid

from ..fakes import fake_report, layout_state


def test_stability_loop_relays_until_physics_is_happy():
    occ = np.ones((8, 4, 9), bool)
    calls = []

    def physics(model):
        calls.append(len(model))
        stable = len(calls) >= 3
        n = len(model)
        margin = (-0.2, -0.1, 0.1)[min(len(calls), 3) - 1]  # each re-lay helps a little
        return fake_report(stable, margin, [] if stable else [n - 1], np.zeros(n))

    model, rep = lay_bricks(VoxelGrid(occ), None, LayoutConfig(max_repair_rounds=3), stability=physics)
    assert rep.stable is True
    assert rep.repair_rounds == 2 and len(calls) == 3 and rep.stability_supports == 0
    assert connectivity_report(model).connected
    np.testing.assert_array_equal(model.occupancy(), occ)


def test_stability_loop_adds_supports_when_rounds_run_out():
    occ = np.zeros((6, 2, 6), bool)
    occ[0:2, :, 0:3] = True
    occ[:, :, 3:6] = True  # an overhanging brick course
    seen = []

    def physics(model):
        seen.append(model)
        hanging = [i for i, p in enumerate(model.placements) if p.z == 3 and p.x + p.sx > 4]
        stable = any(p.color == 71 and p.z == 0 for p in model.placements)
        return fake_report(stable, 0.0, [] if stable else hanging, np.zeros(len(model)))

    model, rep = lay_bricks(
        VoxelGrid(occ), np.where(occ, 4, -1), LayoutConfig(max_repair_rounds=2), stability=physics
    )
    assert rep.repair_rounds == 1  # the first re-lay did not raise the margin: undone, no more
    assert rep.stable is True and rep.stability_supports == 1
    # one 2x2 column under the tip of the ledge, the farthest cells from where it rests
    assert rep.added_cells == 12 and rep.support_parts == 1
    assert sorted(model.meta["support_columns"]) == [
        (4, 0, 0, 3),
        (4, 1, 0, 3),
        (5, 0, 0, 3),
        (5, 1, 0, 3),
    ]
    assert [(p.part, p.x, p.z, p.color) for p in model.placements] == [
        ("3003", 0, 0, 4),
        ("2456", 0, 3, 4),
        ("3003", 4, 0, 4),  # the support takes the red of the ledge it holds up
    ]
    assert connectivity_report(model).connected


def cantilever() -> np.ndarray:
    """A 2x2 post one brick high carrying a 2-stud-wide arm 46 studs long, one brick thick."""
    occ = np.zeros((48, 2, 6), bool)
    occ[0:2, :, 0:3] = True
    occ[:, :, 3:6] = True
    return occ


def test_real_physics_cantilever_is_propped_until_it_stands():
    occ = cantilever()
    plain, _ = lay_bricks(VoxelGrid(occ), None)
    assert analyze_stability(plain).verdict == "UNSTABLE"
    model, rep = lay_bricks(VoxelGrid(occ), None, stability=analyze_stability)
    final = analyze_stability(model)
    assert final.verdict == "STABLE" and rep.stable is True
    assert rep.stability_supports == 1 and rep.added_cells == 12 and rep.support_parts == 1
    columns = model.meta["support_columns"]
    assert len(columns) == 4 and {(z0, z1) for _x, _y, z0, z1 in columns} == {(0, 3)}
    xs = sorted({x for x, _y, _z0, _z1 in columns})
    assert len(xs) == 2 and xs[1] == xs[0] + 1 and xs[0] >= 2  # a 2x2 column under the arm
    conn = connectivity_report(model)
    assert conn.connected and conn.grounded
    added = model.occupancy() & ~occ
    assert int(added.sum()) == 12 and not (occ & ~model.occupancy()).any()


def test_physics_that_gives_up_is_reported_not_raised():
    def physics(model):
        raise SizeLimitError("stability LP too big for this test")

    _model, rep = lay_bricks(VoxelGrid(cantilever()), None, stability=physics)
    assert rep.stable is None
    assert any("stability not checked" in n for n in rep.connectivity["notes"])


def UndecidedReport() -> StabilityReport:
    """The physics gave up (a solver time-out): verdict UNKNOWN, margin nan."""
    return fake_report(False, float("nan"), [0], np.zeros(0), verdict="UNKNOWN")


def test_undecided_physics_stops_the_loop_without_props():
    calls = []

    def physics(model):
        calls.append(len(model))
        return UndecidedReport()

    _model, rep = lay_bricks(VoxelGrid(cantilever()), None, stability=physics)
    assert len(calls) == 1 and rep.repair_rounds == 0 and rep.stability_supports == 0
    assert rep.added_cells == 0 and rep.stable is False
    assert any("still UNKNOWN" in n and "margin -inf" in n for n in rep.connectivity["notes"])


def test_a_weak_part_that_does_not_hang_gets_the_load_it_carries_propped():
    occ = np.zeros((10, 2, 9), bool)
    occ[0:2, :, 0:6] = True  # a post two bricks high
    occ[0:10, :, 6:9] = True  # an arm on top of it, eight studs of it over nothing
    seen = []

    def physics(model):
        seen.append(len(model))
        post = [i for i, p in enumerate(model.placements) if p.z == 3]  # sits fully on the post
        stable = any(p.color == 71 for p in model.placements)
        return fake_report(stable, 0.5 if stable else -1.0, [] if stable else post, np.zeros(len(model)))

    colors = np.where(occ, 4, -1)
    model, rep = lay_bricks(VoxelGrid(occ), colors, LayoutConfig(max_repair_rounds=0), stability=physics)
    assert rep.stable is True and rep.stability_supports == 1 and len(seen) == 2
    xs = {x for x, _y, _z0, _z1 in model.meta["support_columns"]}
    assert xs == {8, 9}  # under the far end of the arm the post carries
    assert {(z0, z1) for _x, _y, z0, z1 in model.meta["support_columns"]} == {(0, 6)}


def arm_tips_first(model) -> list[int]:
    """The cantilever's arm parts beyond its post, the farthest out first (the weakest list a
    physics double reports)."""
    arm = [i for i, p in enumerate(model.placements) if p.z == 3 and p.x >= 2]
    return sorted(arm, key=lambda i: -model.placements[i].x)


def arm_physics(answer, calls):
    """A physics double for the cantilever: ``answer(props, arm_tips, n_parts)`` is its report
    for a model with ``props`` support parts; each model's part count goes to ``calls``."""

    def physics(model):
        calls.append(len(model))
        props = sum(p.color == 71 for p in model.placements)
        return answer(props, arm_tips_first(model), len(model))

    return physics


def test_far_over_capacity_skips_relays_and_props_several_parts_per_round():
    # physics says the long arm is at 3x capacity (2 over) until three props stand under it:
    # no re-lay is tried (a bond cannot gain 3x), and one round places all three (1 + 2 over)
    occ = cantilever()
    calls = []

    def answer(props, hanging, n):
        stable = props >= 3
        margin = 1.0 if stable else -2.0
        return fake_report(stable, margin, [] if stable else hanging, np.zeros(n))

    physics = arm_physics(answer, calls)
    _model, rep = lay_bricks(VoxelGrid(occ), np.where(occ, 4, -1), stability=physics)
    assert rep.repair_rounds == 0 and rep.stable is True
    assert rep.stability_supports == 1 and rep.support_parts == 3 and len(calls) == 2


def test_props_that_do_not_lower_the_stress_come_out_again():
    # physics says the arm is 2x over capacity however it is propped: each round's column
    # changes nothing, so it is taken out again; after two such rounds (each under another
    # part) the loop ends with the shape as it was
    occ = cantilever()
    calls = []

    def answer(_props, hanging, n):
        return fake_report(False, -1.0, hanging, np.zeros(n), np.array([2.0, 0.5]))

    physics = arm_physics(answer, calls)
    cfg = LayoutConfig(max_repair_rounds=0)
    model, rep = lay_bricks(VoxelGrid(occ), np.where(occ, 4, -1), cfg, stability=physics)
    assert len(calls) == 3 and calls[1] > calls[0] and calls[2] > calls[0]  # two rounds checked
    assert rep.stability_supports == 0 and rep.support_parts == 0 and rep.added_cells == 0
    assert model.meta["support_columns"] == []
    np.testing.assert_array_equal(model.occupancy(), occ)
    assert len(model) == calls[0]
    assert any("did not lower the stress" in n for n in rep.connectivity["notes"])


def test_a_prop_round_that_misses_gives_the_next_part_a_turn():
    # physics says the arm stands once a column is under any arm part but the tip: the first
    # round props the tip (the weakest part), which changes nothing and comes out again; the
    # next round props the next weakest part instead of giving up (bathtub #69's lever)
    occ = cantilever()
    calls, props_x = [], []

    def physics(model):
        calls.append(len(model))
        tip = model.placements[arm_tips_first(model)[0]]
        xs = [p.x for p in model.placements if p.color == 71]
        props_x.append(xs)
        held = bool(xs) and all(x + 1 < tip.x for x in xs)
        n = len(model)
        if held:
            return fake_report(True, 0.5, [], np.zeros(n), np.array([0.5]))
        return fake_report(False, -0.5, arm_tips_first(model), np.zeros(n), np.array([1.5, 0.5]))

    cfg = LayoutConfig(max_repair_rounds=0)
    model, rep = lay_bricks(VoxelGrid(occ), np.where(occ, 4, -1), cfg, stability=physics)
    assert len(calls) == 3 and rep.stable is True
    assert props_x[1] and min(props_x[1]) >= 44  # the first round's column stood under the tip
    assert props_x[2] and max(props_x[2]) < 44 and rep.stability_supports == 1
    assert all(x < 44 for x, *_ in model.meta["support_columns"])  # the missed column came out
    assert not any("did not lower the stress" in n for n in rep.connectivity["notes"])


def test_a_prop_round_that_barely_helps_stays_but_the_next_round_props_another_part():
    # the physics double names the arm's 8-stud plate first and the part inboard of it second;
    # a column under the plate takes a per mille off the stress (table #3596's columns beside
    # the lever): it stays, but the next round props the inboard part, not the plate again
    occ = cantilever()
    calls, props_x = [], []

    def physics(model):
        calls.append(len(model))
        weak = [i for i in arm_tips_first(model) if model.placements[i].sx * model.placements[i].sy > 2]
        inboard = model.placements[weak[1]]
        xs = [p.x for p in model.placements if p.color == 71]
        props_x.append(xs)
        n = len(model)
        if any(x <= inboard.x + inboard.sx - 1 for x in xs):
            return fake_report(True, 0.5, [], np.zeros(n), np.array([0.5]))
        stress = 1.5 - 0.001 * len(xs)
        return fake_report(False, 1.0 - stress, weak, np.zeros(n), np.array([stress]))

    cfg = LayoutConfig(max_repair_rounds=0)
    _model, rep = lay_bricks(VoxelGrid(occ), np.where(occ, 4, -1), cfg, stability=physics)
    assert len(calls) == 3 and rep.stable is True and rep.stability_supports == 2
    assert len(props_x[1]) > 0  # the first round's column, under the plate, stayed
    assert all(x in props_x[2] for x in props_x[1])


def test_a_missed_prop_round_is_followed_by_one_where_the_physics_prices_support():
    # the physics double prices a push on any arm part by its distance from x = 20.5 (the best
    # place to prop, say a hinge of the collapse), and the arm stands only with a column there;
    # the guesses prop the arm's tip, which misses and comes out again
    occ = cantilever()
    calls, props_x = [], []

    def physics(model):
        calls.append(len(model))
        xs = [p.x for p in model.placements if p.color == 71]
        props_x.append(xs)
        n = len(model)
        if any(19 <= x <= 21 for x in xs):
            return fake_report(True, 0.5, [], np.zeros(n), np.array([0.5]))
        # price(x) = |x - 20.5| - 30 for arm parts: most negative at x = 20.5
        price = np.zeros((n, 3))
        for i in arm_tips_first(model):
            p = model.placements[i]
            slope = 1.0 if p.x + p.sx / 2 > 20.5 else -1.0
            price[i] = (-30.0 - slope * 20.5, slope, 0.0)
        weak = arm_tips_first(model)
        return fake_report(False, -0.5, weak, np.zeros(n), np.array([1.5]), price)

    cfg = LayoutConfig(max_repair_rounds=0)
    model, rep = lay_bricks(VoxelGrid(occ), np.where(occ, 4, -1), cfg, stability=physics)
    assert len(calls) == 3 and rep.stable is True and rep.stability_supports == 1
    assert props_x[1] and min(props_x[1]) >= 40  # the guess: under the tip
    assert props_x[2] and all(19 <= x <= 21 for x in props_x[2])  # the priced column alone
    assert all(19 <= x <= 21 for x, *_ in model.meta["support_columns"])


def test_props_that_lower_the_total_excess_stay_though_the_margin_does_not_move():
    # two equally loaded spots: propping one leaves the largest stress where it was, but the
    # total excess falls, so the props stay and the next round props the other
    occ = cantilever()
    calls = []

    def answer(props, hanging, n):
        stable = props >= 2
        over = [2.0, 2.0][: 2 - min(props, 2)]
        return fake_report(
            stable,
            1.0 if stable else -0.5,
            [] if stable else hanging,
            np.zeros(n),
            np.array([*over, 0.5]),
        )

    physics = arm_physics(answer, calls)
    cfg = LayoutConfig(max_repair_rounds=0)
    _model, rep = lay_bricks(VoxelGrid(occ), np.where(occ, 4, -1), cfg, stability=physics)
    assert rep.stable is True and rep.stability_supports == 2 and len(calls) == 3


def two_arms() -> np.ndarray:
    """A 2x2 post carrying a low arm to the left and a high arm to the right, 16 studs each."""
    occ = np.zeros((34, 2, 12), bool)
    occ[16:18, :, :] = True
    occ[0:16, :, 3:6] = True
    occ[18:34, :, 9:12] = True
    return occ


def arms_physics(calls, shared: bool = False):
    """A physics double for :func:`two_arms`: each arm is an overloaded spot (stress 1.4, so the
    largest stress alone asks for one column) until a support stands under it. ``shared``:
    the two spots are one load path, named by both (the left arm's parts are also in the right
    arm's spot), so propping the left arm relieves both."""

    def physics(model):
        pl = model.placements
        props = [p for p in pl if p.color == 71]
        calls.append(sorted({p.x >= 17 for p in props}))
        arms = {
            "left": [i for i, p in enumerate(pl) if p.color == 4 and p.z == 3 and p.x + p.sx <= 16],
            "right": [i for i, p in enumerate(pl) if p.color == 4 and p.z == 9 and p.x >= 18],
        }
        held = {"left": any(p.x < 17 for p in props), "right": any(p.x >= 17 for p in props)}
        if shared:
            arms["right"] = arms["right"] + arms["left"]
            held["right"] = held["right"] or held["left"]
        pairs, stress = [], []
        part_stress = np.full(len(pl), 0.1)
        for name in ("left", "right"):
            if held[name]:
                continue
            idx = arms[name]
            pairs += list(itertools.pairwise(idx))
            stress += [1.4] * (len(idx) - 1)
            part_stress[idx] = 1.4
        stable = not pairs
        weakest = [int(i) for i in np.argsort(-part_stress, kind="stable")[:10] if part_stress[i] > 1]
        return fake_report(
            stable,
            1.0 if stable else -0.4,
            weakest,
            part_stress,
            np.array(stress, dtype=np.float64),
            interface_parts=np.array(pairs, dtype=np.int64).reshape(-1, 2),
        )

    return physics


def test_each_overloaded_spot_gets_a_prop_in_the_same_round():
    occ = two_arms()
    calls = []
    cfg = LayoutConfig(max_repair_rounds=0)
    model, rep = lay_bricks(VoxelGrid(occ), np.where(occ, 4, -1), cfg, stability=arms_physics(calls))
    assert rep.stable is True and rep.stability_supports == 1
    assert calls == [[], [False, True]]  # one round, a column under each arm
    assert not (occ & ~model.occupancy()).any()


def test_spots_on_one_load_path_share_their_prop():
    occ = two_arms()
    calls = []
    cfg = LayoutConfig(max_repair_rounds=0)
    physics = arms_physics(calls, shared=True)
    _model, rep = lay_bricks(VoxelGrid(occ), np.where(occ, 4, -1), cfg, stability=physics)
    assert rep.stable is True and rep.stability_supports == 1
    assert calls == [[], [False]]  # the left arm's column serves the right arm's spot too


def test_a_weak_part_on_hanging_plates_gets_them_propped():
    # a plate over a wall's edge whose overhang rests on a plate hanging under it: the weak
    # plate hangs nowhere and carries nothing, so the column goes under the plate below it
    state = layout_state(np.zeros((4, 4, 4), bool))
    wall, under, top = state.add(
        np.array(
            [
                [0, 0, 0, 4, 1, 3, 0, 0],  # a 1x4 brick on the ground
                [0, 1, 2, 4, 2, 1, 0, 0],  # a 2x4 plate beside its top, nothing under it
                [0, 0, 3, 4, 3, 1, 0, 0],  # a 3x4 plate on both
            ]
        )
    )
    state.filled[state.labels >= 0] = True
    assert _prop_candidates(state, np.array([top])) == [under]
    # the wall carries nothing that hangs and rests on the ground: the plate beside its top, hung
    # from the plate over both, is only its last resort (what could tip it)
    assert _prop_candidates(state, np.array([wall])) == [under]
    log_ = RepairLog()
    add_supports(state, log_, 71, targets=np.array([under]))
    assert log_.support_columns and all(z0 == 0 and z1 == 2 for _x, _y, z0, z1 in log_.support_columns)
