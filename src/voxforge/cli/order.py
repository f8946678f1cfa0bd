"""``voxforge order MODEL -o OUT.mpd``: plan the build of an LDraw model and write it with steps.

Reads the model, calls :func:`voxforge.bricks.order.planner.plan_build`, writes the MPD (one
``0 STEP`` per step, ``ROTSTEP`` view hints, sub-assemblies as ``0 FILE`` sections), prints the
summary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from voxforge.cli.app import command
from voxforge.cli.progress import progress_bar


@command
def order(
    model: Annotated[Path, typer.Argument(help="LDraw model (.ldr or .mpd) made of catalogue parts.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="MPD file to write.")],
    target: Annotated[int, typer.Option("--parts-per-step", help="Parts per step to aim for.")] = 6,
    physics: Annotated[
        bool, typer.Option("--physics/--no-physics", help="Check that every step prefix stands.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Order a model's parts into build steps in which every prefix is connected and stands."""
    from voxforge.bricks.ldraw import read_ldraw, write_mpd
    from voxforge.bricks.order.planner import OrderConfig, plan_build
    from voxforge.core.errors import ConfigError

    try:
        cfg = OrderConfig(
            target_parts=target,
            min_parts=min(3, target),
            max_parts=max(10, target),
            physics=physics,
        )
    except ValueError as err:  # pydantic's field bounds
        raise ConfigError(f"--parts-per-step {target}: {err.errors()[0]['msg']}") from err
    brick_model = read_ldraw(model, steps=False)
    with progress_bar(not quiet) as cb:
        plan = plan_build(brick_model, cfg, progress=cb)
    title = str(brick_model.meta.get("title") or model.stem)
    write_mpd(brick_model, output, title=title, plan=plan)
    summary = plan.summary()
    if as_json:
        typer.echo(json.dumps(summary, default=str))
        return
    pps = summary["parts_per_step"]
    typer.echo(
        f"{summary['steps']} steps ({pps['min']}-{pps['max']} parts, median {pps['median']:g}), "
        f"{len(plan.submodels)} sub-assemblies; prefixes connected "
        f"{summary['prefixes_connected']}, stable {summary['prefixes_stable']}, pressed from "
        f"above {summary['press_from_above']}"
    )
    for p in summary["problems"][:10]:
        typer.echo(f"  step {p['step']}: {p['reason']}")
    typer.echo(f"wrote {output}")
