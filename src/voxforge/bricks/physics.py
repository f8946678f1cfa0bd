"""Physical stability of brick models: rigid-block equilibrium under stud friction.

After StableLego (Liu et al., RA-L 2024): every part is a rigid block loaded by its weight and
held by contact forces where it touches the parts above and below it (and the ground, a baseplate
with studs everywhere): compression anywhere over the touching rectangle, and stud-friction
tension up to ``T = 0.98 N`` per contact point, ``points_per_stud`` points per stud. One linear
program (HiGHS, interior point) finds the force distribution that needs the least friction; see
:mod:`voxforge.bricks.physics_lp` for the unknowns and the objective. Horizontal knob and side
presses are not modelled: with purely vertical loads they only add horizontal couples (see
``physics_lp``). A fast compression-only test (:mod:`voxforge.bricks.physics_support`) skips the
program when no tension is needed at all.

What the report means:

* interface stress = largest tension per stud at an interface divided by the stud's capacity
  ``points_per_stud * T`` (= largest per-point tension / T with the tension shared by the stud's
  points); at an interface without studs (a part resting on a tile) any tension is a failure, so
  its stress is ``1 + t / capacity`` when it must carry ``t > 0`` and 0 otherwise;
* part stress = largest stress over the interfaces the part takes part in (above or below it);
* ``max_stress`` = largest interface stress; ``margin = 1 - max_stress``. When the model stands,
  the program minimises the largest tension, so the margin is the maximin friction reserve of
  Luo et al. 2015: the fraction of capacity still unused at the most loaded stud under the most
  favourable force distribution (1 = no tension needed anywhere, 0 = just holds). When it does
  not stand, the margin is negative: how far the worst stud is over capacity in the distribution
  that minimises the total excess (per-part stresses then mark where it breaks);
* verdict ``STABLE`` when ``max_stress <= 1``, ``UNSTABLE`` otherwise, ``FLOATING`` when some
  part has no chain of vertical contacts to the ground (those parts get stress ``inf``; the rest
  are still analysed).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from voxforge.bricks.physics_contacts import (
    GROUND,
    Interfaces,
    centres_of_mass,
    interfaces,
    part_masses,
    support_depth,
    vertical_contacts,
)
from voxforge.bricks.physics_lp import solve_equilibrium
from voxforge.bricks.physics_support import compression_only_path
from voxforge.core.brickmodel import BrickModel
from voxforge.core.errors import GeometryError
from voxforge.core.progress import ProgressCallback, null_progress

log = logging.getLogger(__name__)

STRESS_TOLERANCE = 1e-6
"""Stress above ``1 + STRESS_TOLERANCE`` counts as over capacity (solver round-off guard)."""
TENSION_TOLERANCE_N = 1e-7
"""Tension below this many newtons is solver round-off, read as zero."""


class PhysicsConfig(BaseModel, extra="forbid"):
    """Settings of the stability analysis.

    Attributes:
        friction_capacity_n: tension one stud contact point holds before it lets go, newtons
            (StableLego's measured 0.98 N).
        points_per_stud: tension points on each stud's circumference (compression always acts
            at the 4 corners of the stud's cell).
        gravity: m/s^2.
        top_k: how many weakest parts the report lists.
        time_limit_s: wall-clock limit for the HiGHS solve.
        precheck: first look for a compression-only load path
            (:mod:`voxforge.bricks.physics_support`); when one exists the model stands with
            margin 1 and the linear program is skipped.
    """

    friction_capacity_n: float = Field(0.98, gt=0)
    points_per_stud: int = Field(4, ge=3, le=16)
    gravity: float = Field(9.81, gt=0)
    top_k: int = Field(10, ge=0)
    time_limit_s: float = Field(30.0, gt=0)
    precheck: bool = True


@dataclass
class StabilityReport:
    """Outcome of :func:`analyze_stability`.

    Attributes:
        stable: True only for verdict ``STABLE``.
        verdict: ``STABLE``, ``UNSTABLE`` or ``FLOATING``.
        margin: ``1 - max_stress`` (see the module docstring); ``-inf`` when floating.
        max_stress: largest contact stress (tension / capacity); ``inf`` when floating.
        stress: (n,) float64 per-part stress, ``inf`` for floating parts.
        weakest: up to ``top_k`` part indices with positive stress, most stressed first (ties:
            the part farther from the ground first, as it is the one that would come off).
        n_parts: parts in the model.
        n_contacts: vertical contacts (stud columns, resting columns and ground columns).
        n_interfaces: part-on-part and part-on-ground interfaces (the program's contact unit).
        n_variables: columns of the linear program (0 when no program was solved).
        solve_time_s: wall time of the whole analysis, seconds.
        floating: indices of parts with no support.
        status: the solver's status (``optimal``, or ``not solved`` when nothing was supported).
        weight_n: total weight of the supported parts, newtons.
        ground_reaction_n: net vertical force the ground exerts in the solution, newtons (equals
            ``weight_n`` up to solver tolerance; a physics sanity check).
        tension_max_n: largest tension per contact point in the solution, newtons (the stud's
            tension shared by its ``points_per_stud`` points).
    """

    stable: bool
    verdict: Literal["STABLE", "UNSTABLE", "FLOATING"]
    margin: float
    max_stress: float
    stress: np.ndarray
    weakest: list[int]
    n_parts: int
    n_contacts: int
    n_variables: int
    solve_time_s: float
    floating: list[int]
    status: str
    n_interfaces: int = 0
    weight_n: float = 0.0
    ground_reaction_n: float = 0.0
    tension_max_n: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe summary (non-finite numbers become ``None``; per-part stress only for the
        weakest parts)."""

        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {
            "stable": self.stable,
            "verdict": self.verdict,
            "margin": num(self.margin),
            "max_stress": num(self.max_stress),
            "weakest": [{"part": int(i), "stress": num(self.stress[i])} for i in self.weakest],
            "n_parts": self.n_parts,
            "n_contacts": self.n_contacts,
            "n_interfaces": self.n_interfaces,
            "n_variables": self.n_variables,
            "solve_time_s": round(float(self.solve_time_s), 4),
            "floating": [int(i) for i in self.floating],
            "status": self.status,
            "weight_n": float(self.weight_n),
            "ground_reaction_n": float(self.ground_reaction_n),
            "tension_max_n": float(self.tension_max_n),
        }


def _interface_stress(tension: np.ndarray, studded: np.ndarray, capacity: float) -> np.ndarray:
    """(p,) stress per interface from (p, 4) per-stud tensions; see the module docstring."""
    t = tension.max(axis=1) if tension.size else np.zeros(len(studded))
    t = np.where(t > TENSION_TOLERANCE_N, t, 0.0)
    return np.where(studded, t / capacity, np.where(t > 0, 1.0 + t / capacity, 0.0))


def _part_stress(n: int, iface: Interfaces, stress_i: np.ndarray) -> np.ndarray:
    """(n,) largest stress over the interfaces each part takes part in (above or below it)."""
    stress = np.zeros(n)
    np.maximum.at(stress, iface.upper, stress_i)
    below = iface.lower != GROUND
    np.maximum.at(stress, iface.lower[below], stress_i[below])
    return stress


def _weakest(stress: np.ndarray, depth: np.ndarray, top_k: int) -> list[int]:
    """Indices of the top_k most stressed parts with positive stress (ties: deeper first)."""
    cand = np.nonzero((stress > 0) & np.isfinite(stress))[0]
    order = np.lexsort((cand, -depth[cand], -stress[cand]))
    return [int(i) for i in cand[order][:top_k]]


def _renumber(iface: Interfaces, keep: np.ndarray) -> Interfaces:
    """Interfaces among the kept parts, renumbered 0..keep.sum()-1 (ground stays GROUND)."""
    new = np.full(len(keep) + 1, -2, dtype=np.int64)
    new[np.nonzero(keep)[0]] = np.arange(int(keep.sum()))
    new[-1] = GROUND  # the ground's index -1 maps to itself
    sel = keep[iface.upper]
    return Interfaces(
        lower=new[iface.lower[sel]],
        upper=new[iface.upper[sel]],
        z=iface.z[sel],
        rect=iface.rect[sel],
        stud_rect=iface.stud_rect[sel],
        n_studs=iface.n_studs[sel],
        n_cells=iface.n_cells[sel],
    )


def analyze_stability(
    model: BrickModel,
    config: PhysicsConfig | None = None,
    progress: ProgressCallback | None = None,
) -> StabilityReport:
    """Decide whether ``model`` stands, and how close to breaking its weakest connections are.

    Args:
        model: the placed parts (lattice units, z up; the ground is z = 0).
        config: capacities and limits; defaults to :class:`PhysicsConfig`.
        progress: ``callback(stage, fraction)``.

    Raises:
        GeometryError: the model has no parts or uses a part missing from the catalogue.
        SizeLimitError: the solver did not finish within ``config.time_limit_s``.
    """
    cfg = config or PhysicsConfig()
    report = progress or null_progress
    t0 = time.perf_counter()
    n = len(model)
    if n == 0:
        raise GeometryError("brick model has no placements; nothing to analyse")
    report("physics", 0.0)
    arrays = model.arrays()
    labels = model.label_grid()
    weight = part_masses(model) * cfg.gravity
    com = centres_of_mass(arrays)
    vc = vertical_contacts(model, labels)
    iface = interfaces(n, vc)
    depth = support_depth(n, vc)
    supported = np.isfinite(depth)
    floating = np.nonzero(~supported)[0]
    report("physics", 0.2)

    stress = np.full(n, np.inf)
    n_var, status, reaction, t_max = 0, "not solved", 0.0, 0.0
    max_contact = 0.0
    sub = _renumber(iface, supported)
    tops = (arrays["z"] + arrays["h"])[supported]
    if (
        supported.any()
        and cfg.precheck
        and compression_only_path(com[supported], weight[supported], tops, sub)
    ):
        stress[supported] = 0.0
        status, reaction = "compression-only load path", float(weight[supported].sum())
    elif supported.any():
        capacity = cfg.friction_capacity_n * cfg.points_per_stud
        sol = solve_equilibrium(
            com[supported], weight[supported], sub, capacity, cfg.time_limit_s, model.pitch
        )
        stress_i = _interface_stress(sol.tension, sub.n_studs > 0, capacity)
        stress[supported] = _part_stress(int(supported.sum()), sub, stress_i)
        max_contact = float(stress_i.max()) if len(stress_i) else 0.0
        g = sub.lower == GROUND
        reaction = float(sol.compression[g].sum() + sol.stud_force[g].sum())
        t_max = float(sol.tension.max() / cfg.points_per_stud) if sol.tension.size else 0.0
        n_var, status = sol.n_variables, sol.status
    report("physics", 1.0)

    if len(floating):
        verdict: Literal["STABLE", "UNSTABLE", "FLOATING"] = "FLOATING"
        max_stress, margin = math.inf, -math.inf
    else:
        max_stress = max_contact
        margin = 1.0 - max_stress
        verdict = "STABLE" if max_stress <= 1.0 + STRESS_TOLERANCE else "UNSTABLE"
    out = StabilityReport(
        stable=verdict == "STABLE",
        verdict=verdict,
        margin=margin,
        max_stress=max_stress,
        stress=stress,
        weakest=_weakest(stress, depth, cfg.top_k),
        n_parts=n,
        n_contacts=len(vc),
        n_variables=n_var,
        solve_time_s=time.perf_counter() - t0,
        floating=[int(i) for i in floating],
        status=status,
        n_interfaces=len(iface),
        weight_n=float(weight[supported].sum()),
        ground_reaction_n=reaction,
        tension_max_n=t_max,
    )
    log.info(
        "stability: %s, max stress %.3f, %d parts, %d contacts, %.2f s",
        verdict,
        max_stress,
        n,
        len(vc),
        out.solve_time_s,
    )
    return out
