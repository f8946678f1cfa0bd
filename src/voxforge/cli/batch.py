"""``voxforge batch INPUTS... -o OUT --pipeline P``: many inputs through one pipeline, on Ray."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from voxforge.batch.pipelines import PIPELINE_NAMES
from voxforge.cli.app import command
from voxforge.cli.options import ConfigOpt, QuietOpt
from voxforge.core.errors import ConfigError, VoxforgeError

OutOpt = Annotated[
    Path,
    typer.Option(
        "-o",
        "--output",
        help="Batch folder: OUT/<item>/ per item (each written atomically) and OUT/batch.jsonl.",
    ),
]


class BatchFailed(VoxforgeError):
    """Some items of a batch failed (each alone; the others are written)."""


@command
def batch(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Files, folders, globs, or CSV/JSONL manifests (one item a line)."),
    ],
    output: OutOpt,
    pipeline: Annotated[
        str, typer.Option("--pipeline", "-p", help=f"One of {', '.join(PIPELINE_NAMES)}.")
    ] = "brickify",
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Option for every item: KEY=VALUE (width_studs=24, "
            "layout.strategy=optimal); repeatable; manifest columns win.",
        ),
    ] = None,
    width_studs: Annotated[
        int | None, typer.Option("--width-studs", help="Longest side in studs, every item.", min=1)
    ] = None,
    config: ConfigOpt = None,
    runner: Annotated[
        str, typer.Option("--runner", help="ray (tasks on a Ray cluster) or local (one by one here).")
    ] = "ray",
    workers: Annotated[
        int | None, typer.Option("--workers", "-j", help="CPUs of the local Ray (default: all).", min=1)
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address", help="Join a running Ray cluster: auto, HOST:PORT or ray://HOST:PORT."
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip items whose folder is complete; append to the report.")
    ] = False,
    max_retries: Annotated[
        int, typer.Option("--max-retries", help="Re-runs of an item whose worker or node died.", min=0)
    ] = 2,
    quiet: QuietOpt = False,
) -> None:
    """Run PIPELINE over every input into OUT/<item>/ (each folder written atomically) with a
    batch.jsonl report; a failing item fails alone, the exit code says whether any did."""
    from voxforge.batch import LocalExecutor, RayExecutor, expand_items, get_pipeline, run_batch
    from voxforge.batch.items import option_overrides, parse_set

    if runner not in ("ray", "local"):
        raise ConfigError(f"--runner must be 'ray' or 'local', got {runner!r}")
    if runner == "local" and (address or workers):
        raise ConfigError("--address and --workers need --runner ray")
    spec = get_pipeline(pipeline)
    base = _base_config(config)
    values: dict[str, Any] = dict(parse_set(set_ or []))
    if width_studs is not None:
        if not spec.grid:
            raise ConfigError(f"--width-studs is an option of brickify and voxelize, not {pipeline}")
        values["width_studs"] = str(width_studs)
    from voxforge.core.config import _deep_merge

    base = _deep_merge(base, option_overrides(spec, values, text=True))
    items = expand_items(spec, inputs, base)
    executor = (
        LocalExecutor()
        if runner == "local"
        else RayExecutor(address=address, workers=workers or 0, max_retries=max_retries)
    )
    if isinstance(executor, RayExecutor) and not executor.workers:
        import os

        executor.workers = os.cpu_count() or 1
    with batch_bar(len(items), pipeline, not quiet) as on_done:
        result = run_batch(spec, items, output, executor, resume=resume, progress=on_done)
    for rec in result.failed:
        typer.echo(f"voxforge: {rec['name']}: {rec['error']}", err=True)
    typer.echo(result.line())
    typer.echo(f"wrote {output}/ ({output}/batch.jsonl)")
    if result.failed:
        n = len(result.failed)
        raise BatchFailed(
            f"{n} of {len(result.records)} items failed; their errors are in {output}/batch.jsonl"
        )


def _base_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of options, found {type(data).__name__}")
    return data


Progress = Callable[[dict[str, Any], int, int], None]


@contextmanager
def batch_bar(total: int, label: str, enabled: bool = True) -> Iterator[Progress]:
    """One rich bar over the batch on a terminal (items done, failures); one stderr line per
    finished item otherwise."""
    if not enabled:
        yield lambda rec, done, n: None
        return
    if not sys.stderr.isatty():

        def line(rec: dict[str, Any], done: int, n: int) -> None:
            secs = f", {rec['seconds']:.1f} s" if rec.get("seconds") is not None else ""
            sys.stderr.write(f"voxforge: [{done}/{n}] {rec['name']} {rec['status']}{secs}\n")
            sys.stderr.flush()

        yield line
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    failed = [0]
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total, failed="")

        def update(rec: dict[str, Any], done: int, n: int) -> None:
            failed[0] += rec["status"] == "failed"
            bar.update(task, completed=done, failed=f"{failed[0]} failed" if failed[0] else "")

        yield update
