"""The stability loop: re-lay weak regions, then prop weak parts, until the model stands with the
safety margin.

When the physics (a :data:`~voxforge.bricks.physics.report.StabilityFn`) says the model fails, or
that it stands with less than the safety margin (``target_margin``: the share of the most loaded
stud's clutch that must stay unused), the weakest parts and their neighbours are re-laid with
another seed, the other orientation preference and a stronger bonding reward; then supports go
under the weakest parts that still hang (:mod:`voxforge.bricks.repair.supports`). When the budget
ends short of the margin the log says so in plain words (``notes``, ``margin_reached``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from voxforge.bricks.cap import TimeCap
from voxforge.bricks.layout.problem import LayerWeights
from voxforge.bricks.layout.state import LayoutState
from voxforge.bricks.physics.lp import STRESS_TOLERANCE
from voxforge.bricks.physics.report import StabilityFn, StabilityReport
from voxforge.bricks.repair.log import RepairLog
from voxforge.bricks.repair.relay import relay, restore
from voxforge.bricks.repair.supports import lay_supports, place_props, priced_columns
from voxforge.core.errors import SizeLimitError


def _neighbours(state: LayoutState, rows: np.ndarray) -> np.ndarray:
    """Rows sharing a stud contact with any of ``rows`` (``rows`` included)."""
    c = state.contacts()
    sel = np.isin(c.lower, rows) | np.isin(c.upper, rows)
    return np.unique(np.concatenate([rows, c.lower[sel], c.upper[sel]]))


def _check(
    stability: StabilityFn,
    state: LayoutState,
    pitch: np.ndarray,
    origin: np.ndarray,
    log_: RepairLog,
    cap: TimeCap,
) -> StabilityReport | None:
    """The physics report of the current state; None (with a note) when the analysis gives up.

    A report whose solver ran out of its wall-clock limit is recorded in ``cap.hit`` as
    ``physics``: what the repair does next depends on the machine's speed."""
    try:
        report = stability(state.model(pitch, origin))
    except SizeLimitError as err:
        log_.notes.append(f"stability not checked: {err}")
        return None
    if report.verdict == "UNKNOWN" and report.status == "time limit":
        cap.stopped("physics")
    return report


def _margin(report: StabilityReport) -> float:
    """The report's margin as a float; -inf when nan (unknown: nothing to compare against)."""
    m = float(report.margin)
    return m if math.isfinite(m) or m == math.inf else -math.inf


def _reached(report: StabilityReport, target: float) -> bool:
    """The report stands with at least ``target`` margin."""
    return bool(report.stable) and _margin(report) >= target - STRESS_TOLERANCE


def _settled(report: StabilityReport | None, cap: TimeCap, target: float = 0.0) -> bool:
    """Stop the loop: no report, stands with the target margin, undecided (the solver gave up),
    or past the wall-clock cap (recorded in ``cap.hit``)."""
    if report is None or _reached(report, target) or cap.expired("stability"):
        return True
    return report.verdict == "UNKNOWN"


def _excess(report: StabilityReport, limit: float = 1.0) -> float:
    """Total stress over ``limit`` across the report's interfaces (at 1: the program's objective,
    StableLego's slack, in stud capacities)."""
    s = np.asarray(report.interface_stress, dtype=np.float64)
    return float(np.maximum(s[np.isfinite(s)] - limit, 0.0).sum())


def _progress(before: StabilityReport, after: StabilityReport | None, target: float = 0.0) -> float:
    """How much better the check after a round of props is: the larger of the margin's gain and
    the total excess's fall (stress over ``1 - target``), each relative to its size (one of two
    equally loaded twins propped leaves the margin where it was); infinite when the model now
    stands with the target margin (or the physics gave up).
    """
    if after is None or _reached(after, target):
        return float("inf")
    m0, m1 = _margin(before), _margin(after)
    gain = (m1 - m0) / max(1.0, abs(m0))
    e0, e1 = _excess(before, 1.0 - target), _excess(after, 1.0 - target)
    return max(gain, (e0 - e1) / max(1.0, e0))


PROGRESS_TOLERANCE = 1e-6
"""Relative change of the margin or the total excess that counts as progress (the programs agree
to about 1e-9 between solves of the same structure)."""

SMALL_PROGRESS = 0.05
"""Progress (see :func:`_progress`) below which a round's props stay but their parts are not
propped again: a column that takes a few per mille off the stress stands beside the lever, and
more of them there cost a check each, while a column elsewhere (under the far edge of a table
top) is what makes the model stand."""


@dataclass
class _Snapshot:
    """What a round of props changes, to take the round back out."""

    n_rows: int
    added: np.ndarray
    code: np.ndarray
    cidx: np.ndarray
    n_columns: int
    support_parts: int

    @classmethod
    def of(cls, state: LayoutState, log_: RepairLog) -> _Snapshot:
        return cls(
            len(state.rows),
            state.added.copy(),
            state.code.copy(),
            state.cidx.copy(),
            len(log_.support_columns),
            log_.support_parts,
        )

    def restore(self, state: LayoutState, log_: RepairLog) -> None:
        new = np.arange(self.n_rows, len(state.rows))
        state.remove(new[state.alive[new]])
        cells = state.added & ~self.added
        state.filled[cells] = False
        state.added[cells] = False
        state.code[cells] = self.code[cells]
        state.cidx[cells] = self.cidx[cells]
        del log_.support_columns[self.n_columns :]
        log_.support_parts = self.support_parts


def _weak_rows(state: LayoutState, report: StabilityReport) -> np.ndarray:
    """(k,) int64 state rows of the report's weakest placements, most stressed first."""
    live = state.live_index()
    weak = np.asarray(list(report.weakest), dtype=np.int64)
    return live[weak[(weak >= 0) & (weak < len(live))]]


def _overloaded_spots(
    state: LayoutState, report: StabilityReport, limit: int = 10, over_stress: float = 1.0
) -> list[np.ndarray]:
    """State rows of each separate overloaded spot of the report (parts joined by interfaces over
    ``over_stress``, the capacity or the safety margin's share of it; most stressed first, at
    most ``limit``), the worst spot first; then the report's
    weakest parts, which also name parts near capacity (a spot's overload is often a part's
    lower down that is not over capacity itself: a chair back's top pulling on the seat)."""
    weak = _weak_rows(state, report)
    pairs = np.asarray(report.interface_parts, dtype=np.int64)
    stress = np.asarray(report.interface_stress, dtype=np.float64)
    part_stress = np.asarray(report.stress, dtype=np.float64)
    if len(stress) != len(pairs) or len(part_stress) == 0:
        return [weak]
    over = np.isfinite(stress) & (stress > over_stress + STRESS_TOLERANCE)
    n = len(part_stress)
    up, lo = pairs[over, 0], pairs[over, 1]
    lo = np.where(lo >= 0, lo, up)  # a part over capacity on the ground: a spot of its own
    graph = sparse.coo_matrix((np.ones(len(up)), (up, lo)), shape=(n, n)).tocsr()
    _, label = csgraph.connected_components(graph, directed=False)
    parts = np.unique(np.concatenate([up, lo]))
    spots = []
    for lab in np.unique(label[parts]):
        members = parts[label[parts] == lab]
        spots.append(members[np.argsort(-part_stress[members], kind="stable")][:limit])
    spots.sort(key=lambda m: -part_stress[m[0]])
    live = state.live_index()
    return [live[m] for m in spots] + [weak]


RELAY_MIN_MARGIN = -1.0
"""Below this physics margin (stress over twice the capacity) re-lays are skipped for props: a
better bond changes what the studs hold by a small factor, not by several (a thin arm far over
capacity needs props)."""


PROP_MISSES = 2
"""Prop rounds in a row that may fail to lower the stress (each taken out again, its rows not
propped again) before the loop gives up: one more check for a model that stays unstable."""


MAX_EXTRA_PROPS = 4
"""Props added per round beyond ``props_per_round`` when the stress is far over capacity (one
per unit of stress over it): a long thin arm needs several, and every round costs a check."""


def stabilise(
    state: LayoutState,
    stability: StabilityFn,
    log_: RepairLog,
    *,
    seed: int,
    rounds: int,
    support_color: int,
    pitch: np.ndarray,
    origin: np.ndarray,
    cap: TimeCap,
    plates_only: bool = False,
    support_rounds: int = 12,
    props_per_round: int = 1,
    target_margin: float = 0.0,
) -> StabilityReport | None:
    """Make the model stand with ``target_margin`` to spare (the share of the most loaded stud's
    clutch left unused; 0: just stand): re-lay the weakest region, then prop the weakest parts;
    last report.

    Up to ``rounds`` times the weakest parts and their stud neighbours are re-laid with another
    seed, the other orientation preference and a stronger bonding reward; a re-lay is kept only if
    the physics margin grows and the model stays one piece (the first that does not help ends the
    re-lays; skipped when the stress is far over capacity). Then, up to ``support_rounds`` times,
    columns (2x2 where they fit) go down to the part below or the ground, and the model is checked
    again: under the weakest hanging parts, each at the bottom cell farthest from where the part
    rests, one under every separate overloaded spot, then up to ``props_per_round`` in all (one more
    per unit of stress over capacity; see :func:`~voxforge.bricks.repair.supports.place_props`). A
    round that lowers neither the largest stress nor the total excess comes out again, and the next
    stands one column per overloaded spot where the report's dual prices say a support takes the
    most overload off (:func:`~voxforge.bricks.repair.supports.priced_columns`), then the guesses
    again; two such rounds in a row end the loop (the overload sits where no column helps). A model
    that stands but under ``target_margin`` goes through the same rounds, its spots the interfaces
    over ``1 - target_margin`` of capacity. The rounds bound the work; ``cap`` only stops a run that
    takes far longer than they should (recorded in ``cap.hit``). A model left under the target
    margin gets a plain note saying so. Returns the last report (None when the physics gave up).

    The prices are not the first choice: their columns are just enough, which leaves the stress
    near capacity, where the analysis of the next model takes its slowest path, while the
    guesses overshoot; over many shapes the prices save hardly any checks or parts.
    """
    report = _check(stability, state, pitch, origin, log_, cap)
    weights = LayerWeights(bond_w=60.0, seam_w=20.0)
    target = float(target_margin)
    for r in range(rounds):
        if _settled(report, cap, target) or _margin(report) < RELAY_MIN_MARGIN:
            break
        log_.rounds = r + 1
        weak = _weak_rows(state, report)
        if len(weak) == 0:
            break
        region = _neighbours(state, weak)
        before = state.connectivity()
        n_before = state.n_parts
        old_rows = state.rows[region].copy()
        new = relay(state, region, weights, seed + 7919 * (r + 1), 1 + r, plates_only)
        if state.connectivity().key() > before.key():
            restore(state, new, old_rows)
            continue
        if report.stable and state.n_parts - n_before > _growth_cap(n_before):
            # a model that stands is not worth many more parts: props are cheaper
            restore(state, new, old_rows)
            break
        after = _check(stability, state, pitch, origin, log_, cap)
        if after is None or not _better(after, report):
            restore(state, new, old_rows)
            break  # a re-lay that does not help says the shape, not the bond, is the problem
        log_.relaid_parts += len(region)
        report = after
    spent: set[int] = set()
    misses = 0
    use_prices = False
    for _ in range(support_rounds):
        if _settled(report, cap, target):
            break
        snap = _Snapshot.of(state, log_)
        n0 = len(log_.support_columns)
        budget = props_per_round + min(int(-_margin(report)), MAX_EXTRA_PROPS)
        spots = _overloaded_spots(state, report, over_stress=1.0 - target if report.stable else 1.0)
        placed: set[int] = set()
        if use_prices:  # one per spot: a second column beside the best mostly shares its load
            columns = priced_columns(state, report, max(1, len(spots) - 1))
            lay_supports(state, log_, columns, support_color, plates_only)
        priced = len(log_.support_columns) > n0
        if not priced:
            skip = frozenset(spent)
            placed = place_props(state, log_, spots, budget, support_color, plates_only, skip)
        if len(log_.support_columns) == n0:
            log_.notes.append("the weakest parts have nothing under them to stand a support on")
            break
        after = _check(stability, state, pitch, origin, log_, cap)
        progress = _progress(report, after, target)
        if after is not None and report.stable and not after.stable:
            progress = -math.inf  # a prop never makes a standing model fall: the check says no
        if progress <= PROGRESS_TOLERANCE:
            # the round's columns come out again (a column under the span of a bridge does
            # nothing for the lever that tips it) and the next round goes the other way
            # (priced columns, or the guesses with new candidates), until PROP_MISSES rounds in
            # a row miss: the overload sits where props cannot reach
            snap.restore(state, log_)
            spent |= placed
            misses += 1
            use_prices = not priced
            if misses < PROP_MISSES:
                continue
            log_.notes.append("supports under the weakest parts did not lower the stress")
            break
        misses = 0
        use_prices = False
        if progress < SMALL_PROGRESS:
            spent |= placed
        log_.stability_supports += 1
        report = after
    log_.stable = None if report is None else bool(report.stable)
    if report is not None:
        log_.margin = _margin(report) if math.isfinite(_margin(report)) else None
        log_.margin_reached = _reached(report, target)
    if report is not None and not report.stable:
        verdict = report.verdict
        m = _margin(report)
        log_.notes.append(
            f"still {verdict} after re-lays and supports (margin {m:.3f}"
            + (
                f": the most loaded stud would need {1 - m:.0%} of its clutch)"
                if math.isfinite(m)
                else ")"
            )
        )
    elif report is not None and not log_.margin_reached:
        log_.notes.append(
            f"stands, but the re-lays and supports did not reach the safety margin: the most "
            f"loaded stud uses {1 - _margin(report):.1%} of its clutch, over the "
            f"{1 - target:.0%} allowed"
        )
    return report


STANDING_RELAY_GROWTH = 0.05
"""Share of a standing model's parts a re-lay towards the safety margin may add (a seat re-laid
in plates can nearly double its parts for a margin that one 2x2 column reaches)."""


def _growth_cap(n_parts: int) -> int:
    """Parts a re-lay of a standing model of ``n_parts`` may add (see STANDING_RELAY_GROWTH)."""
    return max(8, int(STANDING_RELAY_GROWTH * n_parts))


def _better(after: StabilityReport, before: StabilityReport) -> bool:
    """A re-lay helped: the margin grew, and a standing model still stands."""
    if bool(before.stable) and not bool(after.stable):
        return False
    return _margin(after) > _margin(before)
