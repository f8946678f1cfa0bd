"""Leave out the parts a build order can only place by holding them, when the rest is no worse.

A part that hangs inside a sub-assembly whichever way up it is built (under a part, with a gap
over an earlier one) cannot be pressed on: the builder would hold it until the parts above are
on. Leaving such parts out (usually 1x1 and 1x2 plates on an underside) costs a few cells of the
shape and gives a model every step of which is placed by a press. The edit needs the build
order (to know which parts are held) and a new one for every candidate, so the caller passes
the planner it uses (``replan``): this module stays below the pipelines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voxforge.bricks.connectivity import connectivity_report
from voxforge.bricks.order.plan import BuildPlan
from voxforge.bricks.physics.stability import PhysicsConfig, analyze_stability
from voxforge.bricks.verdict import plan_checks
from voxforge.core.brickmodel import BrickModel

LEAVE_OUT_SHARE = 0.02
"""At most this share of a model's cells is left out to spare parts held by hand."""
LEAVE_OUT_ROUNDS = 3
"""Rounds of leaving out held parts (a part left out can leave another hanging)."""


@dataclass
class LeftOut:
    """The model kept after leaving parts out, its stability report and build plan, and what was
    left out (``summary``: parts, cells, by_part, at, reason: the ``left_out`` of summary.json)."""

    model: BrickModel
    stability: Any
    plan: BuildPlan
    summary: dict[str, Any]


def held_parts(plan: BuildPlan) -> list[int]:
    """Parts the build order can only place by holding them (the problems that name parts)."""
    return sorted({int(i) for p in plan.info.get("problems") or [] for i in p.get("parts") or []})


def _cells(model: BrickModel) -> int:
    a = model.arrays()
    return int((a["sx"] * a["sy"] * a["h"]).sum())


def leave_out_held(
    model: BrickModel,
    stability: Any,
    plan: BuildPlan,
    physics: PhysicsConfig,
    replan: Callable[[BrickModel], BuildPlan],
) -> LeftOut | None:
    """The model without the parts only a hand could hold, or None when that is not better.

    The result is kept only when it stands at ``physics.safety_margin`` (or at the margin the
    model had, when that is lower), is in no more pieces and still grounded, has fewer held
    parts and no more steps that do not stand, and left out at most :data:`LEAVE_OUT_SHARE` of
    the cells. Each round is checked with the physics and a new build order from ``replan``.
    """
    total = _cells(model)
    pieces = connectivity_report(model).n_components
    margin = min(float(getattr(stability, "margin", 0.0) or 0.0), physics.safety_margin)
    _, unstable, held = plan_checks(plan.info)
    best: LeftOut | None = None
    left: list[Any] = []
    current, current_plan = model, plan
    for _ in range(LEAVE_OUT_ROUNDS):
        drop = set(held_parts(current_plan))
        if not drop:
            break
        out = [p for i, p in enumerate(current.placements) if i in drop]
        cand = BrickModel(
            [p for i, p in enumerate(current.placements) if i not in drop],
            current.shape,
            current.pitch,
            current.origin,
        )
        if not len(cand) or total - _cells(cand) > LEAVE_OUT_SHARE * total:
            break
        cand_stab = analyze_stability(cand, physics)
        conn = connectivity_report(cand)
        if cand_stab.verdict != "STABLE" or float(cand_stab.margin) < margin:
            break
        if conn.n_components > pieces or not conn.grounded:
            break
        cand_plan = replan(cand)
        _, cand_unstable, cand_held = plan_checks(cand_plan.info)
        if cand_held >= held or len(cand_unstable) > len(unstable):
            break
        left += out
        held, unstable = cand_held, cand_unstable
        best = LeftOut(cand, cand_stab, cand_plan, {})
        current, current_plan = cand, cand_plan
    if best is None:
        return None
    best.summary = {
        "parts": len(left),
        "cells": total - _cells(best.model),
        "by_part": dict(sorted(Counter(p.part for p in left).items())),
        "at": [[int(p.x), int(p.y), int(p.z)] for p in left],
        "reason": "parts that only a hand could hold in place while the parts above them go on",
    }
    return best
