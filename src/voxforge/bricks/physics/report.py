"""The outcome of a stability analysis: :class:`StabilityReport`, the one type that the analysis
returns and the repair loop reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from voxforge.core.brickmodel import BrickModel

Verdict = Literal["STABLE", "UNSTABLE", "FLOATING", "UNKNOWN"]


@dataclass
class StabilityReport:
    """Outcome of :func:`~voxforge.bricks.physics.stability.analyze_stability`.

    Attributes:
        stable: True only for verdict ``STABLE``.
        verdict: ``STABLE``, ``UNSTABLE``, ``FLOATING`` or ``UNKNOWN`` (the solver ran out of
            time or failed; ``status`` says which).
        margin: ``1 - max_stress`` (see :mod:`voxforge.bricks.physics.stability`); ``-inf`` when
            floating, ``nan`` when unknown.
        max_stress: largest contact stress (tension / capacity); ``inf`` when floating, ``nan``
            when unknown.
        stress: (n,) float64 per-part stress, ``inf`` for floating parts, ``nan`` for supported
            parts when unknown.
        weakest: up to ``top_k`` part indices with positive stress, most stressed first (ties:
            the part farther from the ground first, as it is the one that would come off).
        n_parts: parts in the model.
        n_contacts: vertical contacts (stud columns, resting columns and ground columns).
        n_interfaces: part-on-part and part-on-ground interfaces (the program's contact unit).
        n_variables: columns of the (last) linear program (0 when no program was solved).
        solve_time_s: wall time of the whole analysis, seconds.
        floating: indices of parts with no support.
        status: how the answer was found: ``compression-only load path``, ``friction load
            path (upper bound)`` (the greedy pass held every load, some by stud friction; the
            stress is that distribution's, an upper bound), ``optimal`` (one
            program over the whole model), ``optimal (region of k parts)`` (the same optimum
            from a program over k parts, see :mod:`voxforge.bricks.physics.decompose`),
            ``upper bound (region of k parts)`` (a proven force distribution whose stress may
            exceed the optimum's; only when it is within capacity), ``witness (upper bound)``
            (the whole program's rough solve, see ``witness_from``, found forces within
            capacity), ``near-optimal`` (its rough solve proved that nothing stands; stresses
            of the least total excess to 1%), ``not solved``
            when nothing was supported, ``time limit`` or ``solver failed: ...`` when unknown.
        n_region: parts inside the program (0 when none was solved).
        weight_n: total weight of the supported parts, newtons.
        ground_reaction_n: net vertical force the ground exerts in the solution, newtons (equals
            ``weight_n`` up to solver tolerance; a physics sanity check).
        tension_max_n: largest tension per contact point in the solution, newtons (the stud's
            tension shared by its ``points_per_stud`` points).
        interface_parts: (q, 2) int64 upper and lower part (-1: the ground) of each interface
            among the supported parts, in the model's numbering.
        interface_stress: (q,) float64 stress of each of those interfaces in the solution
            (``nan`` when unknown): what a build-order check can add to (``order.checks``).
        interface_net: (q, 3) float64 load each of those interfaces puts on its lower part in
            the solution: force (newtons, negative: a pull) and its first moments ``f * x``,
            ``f * y`` (newton * lattice unit); ``nan`` when unknown. With the stresses, the
            whole force distribution, which ``order.checks`` keeps fixed around a local re-solve.
        prop_price: (n, 3) float64 ``(c0, cx, cy)`` per part: one newton pushing the part up at
            lattice point (x, y) (from a support on the ground) changes the least total stud
            overload, in newtons, by about ``c0 + cx x + cy y`` (the program's dual prices;
            negative where a support helps: what the repair loop props after its own guesses
            miss). Zeros for parts no program solved, and when the model stands.
    """

    stable: bool
    verdict: Verdict
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
    n_region: int = 0
    interface_parts: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    interface_stress: np.ndarray = field(default_factory=lambda: np.zeros(0))
    interface_net: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    prop_price: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

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
            "n_region": self.n_region,
            "solve_time_s": round(float(self.solve_time_s), 4),
            "floating": [int(i) for i in self.floating],
            "status": self.status,
            "weight_n": float(self.weight_n),
            "ground_reaction_n": float(self.ground_reaction_n),
            "tension_max_n": float(self.tension_max_n),
        }


StabilityFn = Callable[[BrickModel], StabilityReport]
"""``stability(model) -> report``: what the layout's repair loop calls to judge a model
(:func:`~voxforge.bricks.physics.stability.analyze_stability`, or a test's stand-in)."""
