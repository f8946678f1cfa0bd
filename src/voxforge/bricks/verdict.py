"""One verdict a builder can trust: can this brick model be built as one piece that stands?

A model is **buildable** only when all of these hold:

* it is **one piece**: every part is joined to every other through studs (a model in several
  pieces falls apart when lifted, and each piece needs its own baseplate or glue);
* it **stands on the ground**: every part has a chain of stud contacts down to the table;
* it **stands with room to spare**: the physics finds a force distribution in which the most
  loaded stud uses at most ``1 - safety_margin`` of its clutch (see ``margin`` below);
* when a build order was planned, **every step stands**: the model built up to any step stands
  on its own (checked by the build-order search; a step left unchecked for lack of budget is not
  known to stand), and
* **nothing must be held by hand**: no step leaves a part hanging without a stud path to the
  ground or a sub-assembly that does not hold together on the table.

**Margin.** The physics (:mod:`voxforge.bricks.physics.stability`) loads every stud by tension (pull)
and compression. A stud's capacity is the tension it holds before it lets go
(``points_per_stud * friction_capacity_n``, 4 x 0.98 N). The stress of an interface is the
largest tension per stud over that capacity, and

    ``margin = 1 - max_stress = 1 - (largest stud tension) / (stud capacity)``

in the force distribution the analysis finds. 1 means no stud is pulled at all, 0 means the
worst stud holds exactly what it can, below 0 the model breaks. The distribution is the one
with the least total tension (or a greedy pass's proof when it is within capacity), so the
margin is a lower bound of the best reserve: a model called buildable at ``margin >= 0.2``
keeps at least 20% of every stud's clutch unused. The **safety margin** (default 0.2) leaves
room for what the model does not know: worn parts, a push from a hand, parts not pressed fully.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_SAFETY_MARGIN = 0.2
"""Share of every stud's clutch that must stay unused for a model to be called buildable."""

MARGIN_TOLERANCE = 1e-6
"""A margin this close under the safety margin meets it (the physics' round-off guard,
``physics.lp.STRESS_TOLERANCE``: the analysis at the safety margin proves exactly the limit)."""

HOLD_PHRASES = ("must be held", "no stud path to the ground", "not held together")
"""Build-order problems (``BuildPlan.info["problems"]``) that mean a part must be held by hand."""


@dataclass
class WeakSpot:
    """One of the most stressed parts: what a builder should look at first.

    Attributes:
        part: placement index in the model.
        key: part number (``3001``).
        at: (x, y, z) stud, stud, plate position of the part's corner.
        stress: largest stud tension at the part over the stud capacity (1 = at the limit).
    """

    part: int
    key: str
    at: tuple[int, int, int]
    stress: float

    def as_dict(self) -> dict[str, Any]:
        s = float(self.stress)
        return {
            "part": self.part,
            "key": self.key,
            "at": list(self.at),
            "stress": round(s, 4) if math.isfinite(s) else None,
        }


@dataclass
class BuildVerdict:
    """The builder's verdict (see the module docstring); ``reasons`` say why it is not buildable.

    Attributes:
        buildable: one grounded piece that stands with ``margin >= safety_margin``, every
            planned step stands and nothing is held by hand.
        pieces: separate stud-connected pieces of the model.
        grounded: every part has a stud path to the ground.
        physics: the physics verdict (``STABLE``, ``UNSTABLE``, ``FLOATING``, ``UNKNOWN``).
        margin: ``1 - max_stress`` (None when the physics has none).
        safety_margin: the margin the model must reach.
        steps_stand: every step of the planned build order stands (None: no order planned,
            or some step was not checked).
        unstable_steps: 1-based steps whose build so far does not stand.
        held_parts: build-order problems that need a part held by hand.
        weak: the most stressed parts, worst first.
        joints: the most stressed interfaces (see :func:`weak_joints`).
        reasons: one plain sentence per failed condition.
        short: the same in a few words each (the booklet's cover).
    """

    buildable: bool
    pieces: int
    grounded: bool
    physics: str
    margin: float | None
    safety_margin: float
    steps_stand: bool | None = None
    unstable_steps: list[int] = field(default_factory=list)
    held_parts: int = 0
    weak: list[WeakSpot] = field(default_factory=list)
    joints: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    short: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The ``verdict`` entry of ``summary.json`` (with ``headline``, the CLI's line)."""
        return {
            "buildable": self.buildable,
            "headline": self.headline(),
            "pieces": self.pieces,
            "grounded": self.grounded,
            "physics": self.physics,
            "margin": None if self.margin is None else round(float(self.margin), 4),
            "safety_margin": self.safety_margin,
            "steps_stand": self.steps_stand,
            "unstable_steps": list(self.unstable_steps),
            "held_parts": self.held_parts,
            "weak_spot": [w.as_dict() for w in self.weak],
            "weak_joints": list(self.joints),
            "reasons": list(self.reasons),
        }

    def headline(self) -> str:
        """One line for a person: ``buildable: yes - ...`` or ``buildable: NO - reasons``."""
        if self.buildable:
            return (
                f"buildable: yes - one piece that stands on its own; {grip_text(self.margin)} "
                f"(safety margin {self.safety_margin:.0%})"
            )
        return "buildable: NO - " + "; ".join(self.reasons)

    def cover_line(self) -> str:
        """The booklet cover's line."""
        if self.buildable:
            return f"Buildable: one piece that stands on its own ({grip_text(self.margin)})."
        return "Not buildable as planned: " + "; ".join(self.short) + " (see summary.json)."


def grip_text(margin: float | None) -> str:
    """``the most loaded stud uses 42% of its clutch`` from a margin (1 - max stress)."""
    if margin is None or not math.isfinite(margin):
        return "stud loads not determined"
    used = max(0.0, 1.0 - float(margin))
    return f"the most loaded stud uses {_percent(used)} of its clutch"


def _percent(x: float) -> str:
    """``42%``; ``99.97%`` near the limit, so that 0.9997 never reads as 100%."""
    text = f"{x:.0%}"
    if text in ("100%", "0%") and x not in (0.0, 1.0):
        text = f"{x:.2%}"
    return text


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def weak_spots(model: Any, stability: Any, k: int = 5) -> list[WeakSpot]:
    """The ``k`` most stressed parts of a :class:`~voxforge.bricks.physics.report.StabilityReport`."""
    if stability is None:
        return []
    stress = np.asarray(getattr(stability, "stress", np.zeros(0)), dtype=np.float64)
    out = []
    for i in list(getattr(stability, "weakest", []))[:k]:
        p = model.placements[int(i)]
        out.append(WeakSpot(int(i), str(p.part), (int(p.x), int(p.y), int(p.z)), float(stress[int(i)])))
    return out


def weak_joints(stability: Any, k: int = 5) -> list[dict[str, Any]]:
    """The ``k`` most stressed interfaces of a stability report: ``upper`` and ``lower`` part
    (``None``: the ground) and their stress, worst first."""
    pairs = np.asarray(getattr(stability, "interface_parts", np.zeros((0, 2))), dtype=np.int64)
    stress = np.asarray(getattr(stability, "interface_stress", np.zeros(0)), dtype=np.float64)
    if len(pairs) != len(stress) or not len(stress):
        return []
    s = np.where(np.isfinite(stress), stress, -1.0)
    top = [int(i) for i in np.argsort(-s, kind="stable")[:k] if s[i] > 0]
    return [
        {
            "upper": int(pairs[i, 0]),
            "lower": None if pairs[i, 1] < 0 else int(pairs[i, 1]),
            "stress": round(float(stress[i]), 4),
        }
        for i in top
    ]


def judge(
    connectivity: dict[str, Any],
    stability: dict[str, Any] | None,
    plan_info: dict[str, Any] | None = None,
    safety_margin: float = DEFAULT_SAFETY_MARGIN,
    weak: list[WeakSpot] | None = None,
    joints: list[dict[str, Any]] | None = None,
) -> BuildVerdict:
    """The verdict from the summary's pieces: ``connectivity`` (``connectivity_report(...).as_dict()``),
    ``stability`` (``StabilityReport.as_dict()``), ``plan_info`` (``BuildPlan.info``; None when no
    build order was planned), the most stressed parts ``weak`` and interfaces ``joints``."""
    pieces = int(connectivity.get("n_components", 0))
    floating = int(connectivity.get("n_floating", 0))
    grounded = bool(connectivity.get("grounded", False))
    stab = stability or {}
    physics = str(stab.get("verdict", "UNKNOWN"))
    margin = _num(stab.get("margin"))
    reasons: list[str] = []
    short: list[str] = []
    if pieces > 1:
        reasons.append(
            f"the model is {pieces} separate pieces (parts not joined by studs fall apart when "
            "lifted; build each piece on its own or on a shared baseplate; the loose pieces are "
            "outlined in red in preview.png)"
        )
        short.append(f"{pieces} separate pieces")
    if floating:
        reasons.append(f"{floating} parts have no stud path down to the ground")
        short.append(f"{floating} parts with nothing under them")
    if physics == "UNKNOWN":
        reasons.append(f"the stability check gave up ({stab.get('status', 'no result')})")
        short.append("stability not checked")
    elif physics == "UNSTABLE":
        reasons.append(
            f"it does not stand: {_over_text(margin)} (weak spot outlined in red in preview.png)"
        )
        short.append("does not stand")
    elif physics == "STABLE" and (margin is None or margin < safety_margin - MARGIN_TOLERANCE):
        reasons.append(
            f"it stands, but {grip_text(margin)}, more than the {_percent(1 - safety_margin)} a "
            f"safety margin of {safety_margin:.0%} allows (weak spot outlined in red in preview.png)"
        )
        short.append(f"stands with too little to spare ({grip_text(margin)})")
    steps_stand, unstable, held = plan_checks(plan_info)
    if unstable:
        first = ", ".join(str(s) for s in unstable[:3]) + (" ..." if len(unstable) > 3 else "")
        reasons.append(
            f"the build order passes through {len(unstable)} steps where the model built so far "
            f"would not stand (steps {first})"
        )
        short.append(f"{len(unstable)} steps where the model so far does not stand")
    if held:
        reasons.append(f"{held} build steps need parts held by hand")
        short.append(f"{held} steps need parts held by hand")
    unchecked = list((plan_info or {}).get("unchecked_steps") or [])
    if unchecked and not unstable:
        why = (
            "the check hit its time cap on this machine"
            if (plan_info or {}).get("physics_time_limited")
            else "the check used its whole work budget"
        )
        reasons.append(
            f"{len(unchecked)} steps of the build order were not checked for stability ({why}), "
            "so it is not known that every step stands"
        )
        short.append(f"{len(unchecked)} steps not checked")
    buildable = not reasons and physics == "STABLE" and pieces == 1 and grounded
    return BuildVerdict(
        buildable=buildable,
        pieces=pieces,
        grounded=grounded,
        physics=physics,
        margin=margin,
        safety_margin=float(safety_margin),
        steps_stand=steps_stand,
        unstable_steps=unstable,
        held_parts=held,
        weak=list(weak or []),
        joints=list(joints or []),
        reasons=reasons,
        short=short,
    )


def _over_text(margin: float | None) -> str:
    if margin is None:
        return "some parts have nothing to stand on"
    return f"the most loaded stud would need {_percent(1.0 - margin)} of its clutch"


def plan_checks(info: dict[str, Any] | None) -> tuple[bool | None, list[int], int]:
    """(every step stands or None, 1-based steps that do not stand, problems needing a hand)."""
    if not info:
        return None, [], 0
    problems = list(info.get("problems") or [])
    unstable = sorted(
        {
            int(p["step"])
            for p in problems
            if p.get("step") is not None
            and "submodel" not in p
            and str(p.get("reason", "")).startswith("the build so far")
        }
    )
    held = sum(any(h in str(p.get("reason", "")) for h in HOLD_PHRASES) for p in problems)
    stands = info.get("prefixes_stable")
    if unstable:
        stands = False
    return (None if stands is None else bool(stands)), unstable, int(held)


__all__ = [
    "DEFAULT_SAFETY_MARGIN",
    "BuildVerdict",
    "WeakSpot",
    "grip_text",
    "judge",
    "weak_joints",
    "weak_spots",
]
