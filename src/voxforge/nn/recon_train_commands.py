"""CLI commands of the reconstruction networks: ``train reconstruction`` and
``ship reconstruction`` (export a run as shipped weights with a model card).

``voxforge.cli`` registers them on its ``train_app`` (and an app of its choosing for shipping);
the helpers of ``voxforge.cli`` are imported inside the commands so importing this module never
imports the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def train_reconstruction_cmd(
    config: Annotated[Path, typer.Option("--config", help="configs/reconstruction/<kind>.yaml")],
    device: Annotated[str | None, typer.Option("--device", help="cpu or cuda")] = None,
    minutes: Annotated[
        float | None, typer.Option("--minutes", help="Wall-time budget (overrides max_minutes).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from <run>/last.pt.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train an image or sketch -> 3D network from a YAML config; runs go to <output_dir>/<name>/."""
    from voxforge.cli import guarded, progress_bar

    def run() -> None:
        from voxforge.nn.reconstruct.train import load_recon_config, train_reconstruction

        overrides: dict[str, object] = {}
        if device:
            overrides["device"] = device
        if minutes is not None:
            overrides["max_minutes"] = minutes
        cfg = load_recon_config(config, overrides)
        with progress_bar(not quiet) as cb:
            result = train_reconstruction(cfg, resume=resume, progress=cb)
        b = result.best
        iou = b.get(f"iou_{result.threshold}", 0.0)
        typer.echo(
            f"best epoch {result.best_epoch}/{result.epochs_run}: validation single-view IoU "
            f"{iou:.4f} at threshold {result.threshold} in {result.seconds / 60:.1f} min"
        )
        typer.echo(f"wrote {result.run_dir}/ (best.pt, last.pt, metrics.csv, config.yaml)")

    guarded(run)


def ship_reconstruction_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A training run folder (best.pt, config.yaml).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Weights stem, e.g. models/reconstruction-image")
    ],
    trained_on: Annotated[
        str | None,
        typer.Option("--trained-on", help="Machine and wall time for the card (default: kept)."),
    ] = None,
    command: Annotated[
        str | None, typer.Option("--command", help="The training command (default: kept).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Export a run's best checkpoint with validation metrics, latency and a model card.

    Re-shipping over an existing model keeps its card's training provenance unless given anew.
    """
    from voxforge.cli import guarded, progress_bar

    def run() -> None:
        from voxforge.nn.classify.export import ship_provenance
        from voxforge.nn.reconstruct.train import ship_reconstruction

        cmd, where = ship_provenance(
            run_dir, out, "reconstruction", command=command, trained_on=trained_on
        )
        with progress_bar(not quiet) as cb:
            info = ship_reconstruction(run_dir, out, command=cmd, trained_on=where, progress=cb)
        sv = info["validation"]["single_view"]
        typer.echo(
            f"{info['name']}: single-view IoU {sv['iou_' + str(info['threshold'])]:.4f} "
            f"(threshold {info['threshold']}); wrote {out}.safetensors, .json, .md"
        )

    guarded(run)
