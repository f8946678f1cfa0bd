"""Repair passes: supports under floating parts, bridging, the stability loop."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from voxforge.bricks.connectivity import components, connectivity_report
from voxforge.bricks.layout import LayoutConfig, lay_bricks
from voxforge.bricks.layout_greedy import part_table
from voxforge.bricks.layout_state import LayoutState
from voxforge.bricks.physics.stability import analyze_stability
from voxforge.bricks.repair import (
    RepairLog,
    _prop_candidates,
    add_supports,
    bridge_components,
    join_shape,
)
from voxforge.core.errors import SizeLimitError
from voxforge.core.voxelgrid import VoxelGrid


def floating_cube() -> np.ndarray:
    occ = np.zeros((4, 4, 9), bool)
    occ[:, :, 0:3] = True  # a 4x4 brick course on the ground
    occ[1:3, 1:3, 6:9] = True  # a 2x2 brick floating 3 plates above it
    return occ


def test_floating_cube_gets_a_reported_support():
    occ = floating_cube()
    model, rep = lay_bricks(VoxelGrid(occ), None)
    # a 2x2 column (one 2x2 brick) from the course below up to the cube, not a 1x1
    assert rep.added_cells == 12 and rep.support_parts == 1
    assert sorted(model.meta["support_columns"]) == [
        (1, 1, 3, 6),
        (1, 2, 3, 6),
        (2, 1, 3, 6),
        (2, 2, 3, 6),
    ]
    support = [p for p in model.placements if p.z == 3]
    assert [(p.part, p.color, p.h, p.x, p.y) for p in support] == [("3003", 71, 3, 1, 1)]
    assert any("12 cells added" in n for n in rep.connectivity["notes"])
    conn = connectivity_report(model)
    assert conn.connected and conn.grounded
    np.testing.assert_array_equal(model.occupancy() & ~occ, model.occupancy() ^ occ)


def test_without_repair_the_cube_floats():
    _model, rep = lay_bricks(VoxelGrid(floating_cube()), None, LayoutConfig(repair=False))
    assert rep.added_cells == 0
    # one floating 2x2 brick: a slab one brick covers whole stays a brick
    assert rep.connectivity["n_floating"] == 1 and not rep.connectivity["grounded"]


def _state(occ: np.ndarray) -> LayoutState:
    code = np.full(occ.shape, 4, np.int32)
    palette = np.array([4, 71], np.int32)
    table = part_table()
    return LayoutState(occ.copy(), code, palette, np.ones((len(table.fps), 2), bool), table)


def test_bridge_joins_two_stacked_towers_side_by_side():
    occ = np.ones((4, 2, 6), bool)
    state = _state(occ)
    b24 = state.table.index("3003")
    # two 2x2 towers of two bricks each: grounded but not joined
    rows = [(x, 0, z, 2, 2, 3, b24, 4) for x in (0, 2) for z in (0, 3)]
    state.add(np.array(rows, np.int64))
    assert state.connectivity().n_components == 2
    log = RepairLog()
    conn = bridge_components(state, log, seed=0, deadline=float("inf"))
    assert conn.n_components == 1 and conn.n_floating == 0
    assert log.bridged_layers
    assert (state.labels >= 0).sum() == occ.sum()


def test_bridge_replaces_a_brick_by_plates_where_only_a_stagger_joins():
    # bathtub #54's seam: a 2x4 brick on one tower touches, side by side, two plates on the
    # other; no plate across the seam can hold on to a brick that spans all three levels
    occ = np.zeros((8, 2, 9), bool)
    occ[0:2, :, :] = True
    occ[0:4, :, 6:9] = True
    occ[6:8, :, 0:6] = True
    occ[4:8, :, 6:8] = True
    state = _state(occ)
    b22, b24, p24 = (state.table.index(p) for p in ("3003", "3001", "3020"))
    rows = [(x, 0, z, 2, 2, 3, b22, 4) for x in (0, 6) for z in (0, 3)]
    rows += [(0, 0, 6, 4, 2, 3, b24, 4), (4, 0, 6, 4, 2, 1, p24, 4), (4, 0, 7, 4, 2, 1, p24, 4)]
    state.add(np.array(rows, np.int64))
    assert state.connectivity().n_components == 2
    log = RepairLog()
    conn = bridge_components(state, log, seed=0, deadline=float("inf"))
    assert conn.n_components == 1 and conn.n_floating == 0
    assert (state.labels >= 0).sum() == occ.sum()


def test_box_contacts_agree_with_connectivity_module():
    occ = np.ones((5, 4, 7), bool)
    occ[2, :, 3:] = False
    model, _ = lay_bricks(VoxelGrid(occ), None, LayoutConfig(repair=False, parts="mixed"))
    state = _state(occ)
    table = part_table()
    rows = [(p.x, p.y, p.z, p.sx, p.sy, p.h, table.index(p.part), p.color) for p in model.placements]
    state.add(np.array(rows, np.int64))
    ours = state.connectivity()
    theirs = components(model)
    # same partition (labels may be numbered differently)
    pairs = set(zip(ours.comp.tolist(), theirs.tolist(), strict=True))
    assert len(pairs) == len(set(theirs.tolist())) == ours.n_components


@dataclass
class FakeReport:
    stable: bool
    margin: float
    weakest: list[int]
    stress: np.ndarray


def test_stability_loop_relays_until_physics_is_happy():
    occ = np.ones((8, 4, 9), bool)
    calls = []

    def physics(model):
        calls.append(len(model))
        stable = len(calls) >= 3
        n = len(model)
        margin = (-0.2, -0.1, 0.1)[min(len(calls), 3) - 1]  # each re-lay helps a little
        return FakeReport(stable, margin, [] if stable else [n - 1], np.zeros(n))

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
        return FakeReport(stable, 0.0, [] if stable else hanging, np.zeros(len(model)))

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


def test_join_shape_links_an_edge_touching_piece_with_studs():
    occ = np.zeros((6, 6, 9), bool)
    occ[0:2, 0:2, 0:6] = True  # a post on the ground
    occ[2:4, 2:4, 6:9] = True  # a block touching it only along an edge, in the air
    added = join_shape(occ)
    assert not (added & occ).any() and added.any()
    _lab, n = ndimage.label(occ | added)
    assert n == 1
    model, rep = lay_bricks(VoxelGrid(occ), None)
    assert rep.added_cells == int(added.sum())
    conn = connectivity_report(model)
    assert conn.connected and conn.grounded


def test_join_shape_leaves_one_grounded_piece_alone():
    occ = np.zeros((4, 4, 6), bool)
    occ[1:3, 1:3, :] = True
    assert not join_shape(occ).any()


def test_two_pieces_side_by_side_on_the_ground_become_one():
    occ = np.zeros((9, 2, 6), bool)
    occ[0:4, :, :] = True
    occ[5:9, :, :] = True  # a one-stud gap: only new cells can join them
    model, rep = lay_bricks(VoxelGrid(occ), None)
    conn = connectivity_report(model)
    assert conn.connected and conn.grounded and rep.added_cells > 0
    assert not (occ & ~model.occupancy()).any()


@dataclass
class UndecidedReport:
    stable: bool = False
    verdict: str = "UNKNOWN"
    margin: float = float("nan")
    weakest: tuple[int, ...] = (0,)


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
        return FakeReport(stable, 0.5 if stable else -1.0, [] if stable else post, np.zeros(len(model)))

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
        return FakeReport(stable, margin, [] if stable else hanging, np.zeros(n))

    physics = arm_physics(answer, calls)
    _model, rep = lay_bricks(VoxelGrid(occ), np.where(occ, 4, -1), stability=physics)
    assert rep.repair_rounds == 0 and rep.stable is True
    assert rep.stability_supports == 1 and rep.support_parts == 3 and len(calls) == 2


@dataclass
class StressReport(FakeReport):
    interface_stress: np.ndarray = field(default_factory=lambda: np.zeros(0))


def test_props_that_do_not_lower_the_stress_come_out_again():
    # physics says the arm is 2x over capacity however it is propped: each round's column
    # changes nothing, so it is taken out again; after two such rounds (each under another
    # part) the loop ends with the shape as it was
    occ = cantilever()
    calls = []

    def answer(_props, hanging, n):
        return StressReport(False, -1.0, hanging, np.zeros(n), np.array([2.0, 0.5]))

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
            return StressReport(True, 0.5, [], np.zeros(n), np.array([0.5]))
        return StressReport(False, -0.5, arm_tips_first(model), np.zeros(n), np.array([1.5, 0.5]))

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
            return StressReport(True, 0.5, [], np.zeros(n), np.array([0.5]))
        stress = 1.5 - 0.001 * len(xs)
        return StressReport(False, 1.0 - stress, weak, np.zeros(n), np.array([stress]))

    cfg = LayoutConfig(max_repair_rounds=0)
    _model, rep = lay_bricks(VoxelGrid(occ), np.where(occ, 4, -1), cfg, stability=physics)
    assert len(calls) == 3 and rep.stable is True and rep.stability_supports == 2
    assert len(props_x[1]) > 0  # the first round's column, under the plate, stayed
    assert all(x in props_x[2] for x in props_x[1])


@dataclass
class PricedReport(StressReport):
    prop_price: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


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
            return PricedReport(True, 0.5, [], np.zeros(n), np.array([0.5]))
        # price(x) = |x - 20.5| - 30 for arm parts: most negative at x = 20.5
        price = np.zeros((n, 3))
        for i in arm_tips_first(model):
            p = model.placements[i]
            slope = 1.0 if p.x + p.sx / 2 > 20.5 else -1.0
            price[i] = (-30.0 - slope * 20.5, slope, 0.0)
        weak = arm_tips_first(model)
        return PricedReport(False, -0.5, weak, np.zeros(n), np.array([1.5]), price)

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
        return StressReport(
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


@dataclass
class SpotReport(StressReport):
    interface_parts: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))


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
        return SpotReport(
            stable,
            1.0 if stable else -0.4,
            weakest,
            part_stress,
            np.array(stress, dtype=np.float64),
            np.array(pairs, dtype=np.int64).reshape(-1, 2),
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
    state = _state(np.zeros((4, 4, 4), bool))
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
