"""The builder's verdict: one piece, grounded, stands with the safety margin, every step stands,
nothing held by hand; and the repair loop's work towards the margin."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.bricks.connectivity import connectivity_report
from voxforge.bricks.lay import lay_bricks
from voxforge.bricks.physics.report import StabilityReport
from voxforge.bricks.physics.stability import analyze_stability
from voxforge.bricks.verdict import grip_text, judge, weak_joints, weak_spots
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.voxelgrid import VoxelGrid

from .fakes import fake_report

ONE_PIECE = {"n_components": 1, "n_floating": 0, "grounded": True}


def stands(margin: float) -> dict:
    return {"verdict": "STABLE", "margin": margin, "status": "optimal"}


def two_towers() -> BrickModel:
    """Two 2x2 towers two bricks high, a stud apart: each stands, nothing joins them."""
    parts = [Placement("3003", x, 0, z, 2, 2, 3, 71) for x in (0, 3) for z in (0, 3)]
    return BrickModel(parts, shape=(5, 2, 6))


def test_a_model_in_two_pieces_is_not_buildable_though_each_stands():
    model = two_towers()
    stab = analyze_stability(model)
    assert stab.verdict == "STABLE" and stab.margin >= 0.99  # the physics alone says fine
    v = judge(connectivity_report(model).as_dict(), stab.as_dict())
    assert not v.buildable and v.pieces == 2
    assert v.headline().startswith("buildable: NO - the model is 2 separate pieces")
    assert "2 separate pieces" in v.cover_line()


@pytest.mark.parametrize("safety, buildable", [(0.2, False), (0.05, True), (0.0, True)])
def test_the_margin_must_reach_the_safety_margin(safety, buildable):
    v = judge(ONE_PIECE, stands(0.05), None, safety)
    assert v.buildable is buildable
    if not buildable:
        assert "95% of its clutch" in v.headline() and "safety margin of 20%" in v.headline()
    else:
        assert v.headline().startswith("buildable: yes") and "95%" in v.headline()


def test_a_margin_just_above_zero_never_reads_as_zero_or_a_full_stud():
    assert grip_text(0.0003) == "the most loaded stud uses 99.97% of its clutch"
    assert not judge(ONE_PIECE, stands(0.0003)).buildable


@pytest.mark.parametrize(
    "stab, needle",
    [
        ({"verdict": "UNSTABLE", "margin": -0.3}, "does not stand"),
        ({"verdict": "FLOATING", "margin": None}, "1 parts have no stud path"),
        ({"verdict": "UNKNOWN", "margin": None, "status": "time limit"}, "gave up (time limit)"),
    ],
)
def test_a_model_that_does_not_stand_is_not_buildable(stab, needle):
    conn = dict(ONE_PIECE, n_floating=1 if stab["verdict"] == "FLOATING" else 0)
    v = judge(conn, stab)
    assert not v.buildable and needle in v.headline()


def test_steps_that_do_not_stand_or_need_a_hand_make_it_not_buildable():
    ok = {"prefixes_stable": True, "problems": []}
    assert judge(ONE_PIECE, stands(0.5), ok).buildable
    assert judge(ONE_PIECE, stands(0.5), ok).steps_stand is True
    assert judge(ONE_PIECE, stands(0.5), None).steps_stand is None  # no order planned
    falls = {
        "prefixes_stable": False,
        "problems": [{"step": k, "reason": "the build so far does not stand"} for k in (160, 161)],
    }
    v = judge(ONE_PIECE, stands(0.5), falls)
    assert not v.buildable and v.steps_stand is False and v.unstable_steps == [160, 161]
    assert "2 steps where the model built so far would not stand (steps 160, 161)" in v.headline()
    held = {
        "prefixes_stable": True,
        "problems": [
            {"step": 3, "submodel": "sub1", "reason": "sub-assembly sub1: 2 parts ... must be held"}
        ],
    }
    v = judge(ONE_PIECE, stands(0.5), held)
    assert not v.buildable and v.held_parts == 1 and "held by hand" in v.headline()
    unchecked = {"prefixes_stable": None, "problems": [], "unchecked_steps": [7, 8]}
    v = judge(ONE_PIECE, stands(0.5), unchecked)
    assert (
        not v.buildable
        and v.steps_stand is None
        and "2 steps of the build order were not" in v.headline()
    )


def test_weak_spot_names_the_most_stressed_parts_and_joints():
    occ = cantilever(38)
    model, _ = lay_bricks(VoxelGrid(occ), None)
    stab = analyze_stability(model)
    weak = weak_spots(model, stab, k=3)
    assert len(weak) == 3 and weak[0].stress == pytest.approx(stab.max_stress)
    assert weak[0].stress >= weak[1].stress >= weak[2].stress
    joints = weak_joints(stab, k=2)
    assert joints[0]["stress"] == pytest.approx(stab.max_stress, abs=1e-4)
    assert joints[0]["upper"] in {w.part for w in weak}


def cantilever(length: int) -> np.ndarray:
    """A 2x2 post one brick high under a 2-stud-wide arm ``length`` studs long."""
    occ = np.zeros((length, 2, 6), bool)
    occ[0:2, :, 0:3] = True
    occ[:, :, 3:6] = True
    return occ


def test_repair_raises_the_margin_of_a_standing_cantilever_to_the_safety_margin():
    occ = cantilever(36)
    plain, rep0 = lay_bricks(VoxelGrid(occ), None, stability=analyze_stability)
    before = analyze_stability(plain)
    # it stands with 13% to spare: enough for the physics, so no target means no props
    assert before.verdict == "STABLE" and 0.0 < before.margin < 0.2
    assert rep0.stability_supports == 0 and rep0.margin_reached is True
    model, rep = lay_bricks(VoxelGrid(occ), None, stability=analyze_stability, target_margin=0.2)
    after = analyze_stability(model)
    assert after.verdict == "STABLE" and after.margin >= 0.2 > before.margin
    assert rep.stability_supports >= 1 and rep.margin_reached is True
    assert not (occ & ~model.occupancy()).any()  # the shape is kept; props only add cells


def WeakButStanding() -> StabilityReport:
    """A physics double: the model stands with 10% to spare whatever the repair does."""
    return fake_report(True, 0.1, [0, 1], np.zeros(2))


def test_repair_says_plainly_when_it_cannot_reach_the_margin():
    calls = []

    def physics(model):
        calls.append(len(model))
        return WeakButStanding()

    _model, rep = lay_bricks(VoxelGrid(cantilever(36)), None, stability=physics, target_margin=0.2)
    assert rep.margin_reached is False and rep.stable is True
    assert rep.stability_supports == 0 and rep.added_cells == 0  # props that did not help came out
    assert 2 <= len(calls) <= 6  # it tried, within its budget
    note = rep.connectivity["notes"][-1]
    assert "did not reach the safety margin" in note and "90.0% of its clutch" in note


def test_two_pieces_of_different_colours_side_by_side_are_joined_by_one_recoloured_cell():
    occ = np.ones((4, 2, 6), bool)
    colors = np.full(occ.shape, 4, np.int32)  # red
    colors[2:] = 1  # blue: the layout lays each colour's tower apart, side by side
    model, rep = lay_bricks(VoxelGrid(occ), colors)
    assert connectivity_report(model).connected
    assert rep.added_cells == 0 and 1 <= rep.recoloured_cells <= 2
    labels = model.label_grid()
    for x, y, z in model.meta["recoloured_cells"]:
        # the cell took its neighbour's colour
        assert model.placements[labels[x, y, z]].color != colors[x, y, z]
