"""A build plan: the order in which a brick model's parts go on, step by step.

The plan is plain data shared by the build-order search (``bricks/order/planner.py``), the LDraw writer
(``0 STEP`` / ``0 ROTSTEP`` / sub-assembly ``0 FILE`` sections) and the instruction renderer.
Parts are always named by their index into ``BrickModel.placements`` of the *whole* model, so a
sub-assembly is a set of the model's own parts, not a copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxforge.core.errors import ConfigError


@dataclass(frozen=True)
class BuildStep:
    """One instruction step.

    Attributes:
        parts: placement indices that appear in this step. For a step that attaches a
            sub-assembly these are all the sub-assembly's parts.
        submodel: index into ``BuildPlan.submodels`` when this step attaches that sub-assembly
            as one unit, else ``None``.
        rotation: a view hint in degrees ``(rx, ry, rz)`` (LDraw ``0 ROTSTEP rx ry rz ABS``) when
            the default view would hide the new parts; ``None`` keeps the default view.
    """

    parts: tuple[int, ...]
    submodel: int | None = None
    rotation: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class SubAssembly:
    """Parts built separately on the table and attached to the main model as one step.

    ``upside_down``: the steps build it turned over (top face on the table, each part pressed
    onto the parts above it in the model), and it is turned back before it is attached.
    """

    name: str
    parts: tuple[int, ...]
    steps: tuple[BuildStep, ...]
    upside_down: bool = False


@dataclass(frozen=True)
class BuildPlan:
    """Steps of the main model in build order, plus the sub-assemblies some steps attach."""

    steps: tuple[BuildStep, ...]
    submodels: tuple[SubAssembly, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    def step_of(self, n: int) -> np.ndarray:
        """(n,) int64: the main-model step (0-based) in which each placement first appears."""
        out = np.full(n, -1, dtype=np.int64)
        for i, step in enumerate(self.steps):
            idx = np.asarray(step.parts, dtype=np.int64)
            if len(idx) and (idx.min() < 0 or idx.max() >= n):
                raise ConfigError(f"build step {i + 1} names a part outside the model's {n} parts")
            out[idx] = np.where(out[idx] < 0, i, out[idx])
        return out

    def validate(self, n: int) -> None:
        """Raise ``ConfigError`` unless every one of ``n`` placements appears in exactly one step."""
        counts = np.zeros(n, dtype=np.int64)
        for i, step in enumerate(self.steps):
            if not step.parts:
                raise ConfigError(f"build step {i + 1} places no parts")
            idx = np.asarray(step.parts, dtype=np.int64)
            if idx.min() < 0 or idx.max() >= n:
                raise ConfigError(f"build step {i + 1} names a part outside the model's {n} parts")
            np.add.at(counts, idx, 1)
            if step.submodel is not None:
                if not 0 <= step.submodel < len(self.submodels):
                    raise ConfigError(f"build step {i + 1}: no sub-assembly {step.submodel}")
                if set(step.parts) != set(self.submodels[step.submodel].parts):
                    raise ConfigError(f"build step {i + 1} does not place all of its sub-assembly")
        missing = np.flatnonzero(counts == 0)
        doubled = np.flatnonzero(counts > 1)
        if len(missing):
            raise ConfigError(f"{len(missing)} parts are in no build step (first: {int(missing[0])})")
        if len(doubled):
            raise ConfigError(f"{len(doubled)} parts are in several steps (first: {int(doubled[0])})")

    def summary(self) -> dict[str, Any]:
        """Step count and parts-per-step figures for ``summary.json``."""
        sizes = np.array([len(s.parts) for s in self.steps], dtype=np.int64)
        return {
            "steps": len(self.steps),
            "parts_per_step": {
                "min": int(sizes.min()) if len(sizes) else 0,
                "median": float(np.median(sizes)) if len(sizes) else 0.0,
                "mean": round(float(sizes.mean()), 2) if len(sizes) else 0.0,
                "max": int(sizes.max()) if len(sizes) else 0,
            },
            "submodels": [
                {
                    "name": s.name,
                    "parts": len(s.parts),
                    "steps": len(s.steps),
                    "upside_down": s.upside_down,
                }
                for s in self.submodels
            ],
            "rotated_views": sum(s.rotation is not None for s in self.steps),
            **self.info,
        }
