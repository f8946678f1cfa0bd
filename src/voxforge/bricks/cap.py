"""A wall-clock safety cap over work that is bounded by counts.

The brick engine's work is bounded by deterministic limits (bridging tries, repair rounds, CP-SAT
deterministic time, HiGHS nodes), so its result is a function of the grid, the config and the
seed. A :class:`TimeCap` only guards against a run that takes far longer than those limits allow
on a typical machine; when it stops a stage, the stage is recorded in :attr:`TimeCap.hit` and the
layout report says the result depends on the machine's speed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

__all__ = ["TIME_LIMIT_NOTE", "TimeCap", "no_cap"]

TIME_LIMIT_NOTE = (
    "layout stopped by the time limit ({stages}); the result depends on machine speed: "
    "raise --time-budget"
)
"""The one-line note a capped layout carries (``summary.json`` and the CLI)."""


@dataclass
class TimeCap:
    """Seconds of wall clock from creation; :meth:`expired` records which stage it stopped.

    Attributes:
        seconds: the cap (``inf``: none).
        start: ``time.perf_counter()`` at creation.
        hit: the stages the cap stopped, in order, each once.
    """

    seconds: float
    start: float = field(default_factory=lambda: time.perf_counter())
    hit: list[str] = field(default_factory=list)

    def left(self) -> float:
        """Seconds left before the cap (never negative; ``inf`` without a cap)."""
        if math.isinf(self.seconds):
            return math.inf
        return max(0.0, self.start + self.seconds - time.perf_counter())

    def expired(self, stage: str) -> bool:
        """Whether the cap is reached; if so, ``stage`` is recorded as stopped by it."""
        if self.left() > 0.0:
            return False
        self.stopped(stage)
        return True

    def stopped(self, stage: str) -> None:
        """Record that the cap (or a solver's wall-clock limit taken from it) stopped ``stage``."""
        if stage not in self.hit:
            self.hit.append(stage)


def no_cap() -> TimeCap:
    """A cap that never expires (library callers and tests that bound work by counts only)."""
    return TimeCap(math.inf)
