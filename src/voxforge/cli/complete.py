"""``voxforge complete SCAN -o OUT``: fill in the unseen side of a scan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voxforge.cli.app import command
from voxforge.cli.progress import progress_bar


@command
def complete_cmd(
    input: Annotated[Path, typer.Argument(help="Scan, capture folder or mesh.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")],
    method: Annotated[
        str, typer.Option("--method", help="network | symmetry (the non-learned baseline)")
    ] = "network",
    weights: Annotated[
        str | None, typer.Option("--weights", help="Completion weights (default: shipped).")
    ] = None,
    clean: Annotated[
        bool | None, typer.Option("--clean/--no-clean", help="Clean up point clouds first.")
    ] = None,
    up: Annotated[str | None, typer.Option("--up", help="Up axis of a mesh: y or z.")] = None,
    units: Annotated[str | None, typer.Option("--units", help="m, cm, mm or in.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fill in the unseen side of a scan: writes the completed grid, its mesh and a preview."""
    from voxforge.core.config import build_config
    from voxforge.pipelines.complete import CompleteJobConfig, run_complete

    cfg = build_config(
        CompleteJobConfig,
        {"method": method, "weights": weights,
         "input": {"clean": clean, "up": up, "units": units}},
    )  # fmt: skip
    with progress_bar(not quiet) as cb:
        result = run_complete(input, output, cfg, progress=cb)
    c = result.summary["completion"]
    side = "one-sided" if c["one_sided"] else "not one-sided"
    typer.echo(
        f"{c['observed_cells']:,} observed cells + {c['added_cells']:,} completed "
        f"({c['method']}); the seen surface faces {c['coverage_deg']:.0f} deg ({side})"
    )
    typer.echo(f"wrote {output}/ (completed.npz, completed.ply, preview.png, summary.json)")
