"""Leaving out parts that only a hand could hold: kept only when the rest is no worse."""

from __future__ import annotations

from voxforge.bricks.catalogue import catalogue
from voxforge.bricks.order.plan import BuildPlan, BuildStep
from voxforge.bricks.physics.stability import PhysicsConfig, analyze_stability
from voxforge.bricks.repair.leave_out import held_parts, leave_out_held
from voxforge.core.brickmodel import BrickModel, Placement


def _place(key: str, x: int, y: int, z: int) -> Placement:
    part = catalogue()[key]
    return Placement(key, x, y, z, part.length, part.width, part.height, 4, 0)


def _stack(top: str) -> BrickModel:
    """Four 2x4 bricks stacked, and ``top`` on them (the part a plan says must be held)."""
    ps = [_place("3001", 0, 0, 3 * k) for k in range(4)] + [_place(top, 0, 0, 12)]
    return BrickModel(ps, (4, 2, 15))


def _plan(held: list[int]) -> BuildPlan:
    problems = [
        {"step": 1, "submodel": "sub1", "reason": "sub-assembly sub1: it must be held", "parts": held}
    ]
    info = {"problems": problems if held else [], "prefixes_stable": True, "unchecked_steps": []}
    return BuildPlan((BuildStep((0, 1, 2, 3, 4)),), (), info)


def test_a_held_plate_is_left_out_when_the_rest_is_no_worse() -> None:
    model = _stack("3024")  # a 1x1 plate: 1 of 97 cells
    calls: list[int] = []

    def replan(m: BrickModel) -> BuildPlan:
        calls.append(len(m))
        return _plan([])

    kept = leave_out_held(model, analyze_stability(model), _plan([4]), PhysicsConfig(), replan)
    assert kept is not None and calls == [4]
    assert len(kept.model) == 4 and all(p.part == "3001" for p in kept.model.placements)
    assert kept.summary["parts"] == 1 and kept.summary["cells"] == 1
    assert kept.summary["by_part"] == {"3024": 1} and kept.summary["at"] == [[0, 0, 12]]
    assert held_parts(kept.plan) == []


def test_nothing_is_left_out_when_the_new_plan_still_needs_a_hand() -> None:
    model = _stack("3024")
    kept = leave_out_held(
        model, analyze_stability(model), _plan([4]), PhysicsConfig(), lambda m: _plan([3])
    )
    assert kept is None


def test_nothing_is_left_out_past_the_share_of_cells() -> None:
    model = _stack("3001")  # a fifth 2x4 brick: 24 of 120 cells

    def replan(m: BrickModel) -> BuildPlan:
        raise AssertionError("no plan is made for a candidate that drops too much")

    assert leave_out_held(model, analyze_stability(model), _plan([4]), PhysicsConfig(), replan) is None
