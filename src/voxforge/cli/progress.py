"""Progress on the command line: a rich bar on a terminal, one stderr line per stage otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, float], None]]:
    """A rich progress bar driven by a pipeline's ``progress(stage, fraction)`` callback; without
    a terminal (stderr redirected to a file or pipe), one stderr line as each stage starts."""
    if not enabled:
        yield lambda stage, fraction: None
        return
    if not sys.stderr.isatty():
        yield stage_lines()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=1.0)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, completed=fraction, description=stage)

        yield update


def stage_lines() -> Callable[[str, float], None]:
    """A progress callback that writes ``voxforge: STAGE (N%, T s)`` when a new stage starts."""
    import time

    start = time.perf_counter()
    last: list[str] = []

    def report(stage: str, fraction: float) -> None:
        if last and last[-1] == stage:
            return
        last.append(stage)
        elapsed = time.perf_counter() - start
        sys.stderr.write(f"voxforge: {stage} ({fraction:.0%} done, {elapsed:.1f} s)\n")
        sys.stderr.flush()

    return report
