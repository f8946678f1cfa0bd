"""Progress reporting: library code calls a callback, the CLI draws bars, the service streams events."""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[str, float], None]
"""``callback(stage, fraction)``: ``stage`` names the step, ``fraction`` is 0..1 within it."""


def null_progress(stage: str, fraction: float) -> None:
    """The default callback: ignore progress."""


class Progress:
    """Map the progress of consecutive stages onto one 0..1 scale.

    A pipeline declares its stages with weights; each stage reports its own 0..1 fraction and the
    callback receives the stage name and the overall fraction, which never goes backwards (a stage
    that ends at 1.0 and the next one starting at 0.0 would otherwise differ in the last bit).
    """

    def __init__(self, callback: ProgressCallback | None, stages: dict[str, float]) -> None:
        self.callback = callback or null_progress
        total = float(sum(stages.values())) or 1.0
        self._start: dict[str, float] = {}
        self._weight: dict[str, float] = {}
        acc = 0.0
        for name, w in stages.items():
            self._start[name] = acc / total
            self._weight[name] = w / total
            acc += w
        self._last = 0.0

    def __call__(self, stage: str, fraction: float = 0.0) -> None:
        f = min(max(float(fraction), 0.0), 1.0)
        if stage in self._start:
            overall = max(self._start[stage] + self._weight[stage] * f, self._last)
            self._last = overall
        else:
            overall = f
        self.callback(stage, overall)

    def sub(self, stage: str) -> ProgressCallback:
        """A callback for one stage, for handing to a stage function."""

        def report(_: str, fraction: float) -> None:
            self(stage, fraction)

        return report
