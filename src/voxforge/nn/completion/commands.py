"""CLI commands of scan completion: ``train completion``, ``ship-completion``, ``evaluate
completion`` and ``complete``.

``voxforge.cli`` registers them; the CLI's helpers are imported inside the commands so importing
this module never imports the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def train_completion_cmd(
    config: Annotated[Path, typer.Option("--config", help="configs/completion/<name>.yaml")],
    minutes: Annotated[
        float | None,
        typer.Option(
            "--minutes",
            help="Safety stop after this wall time (overrides max_minutes; a run stopped on the "
            "clock is not reproducible).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train the scan-completion U-Net from a YAML config; the run goes to <output_dir>/<name>/."""
    from voxforge.cli import guarded, progress_bar

    def run() -> None:
        from voxforge.nn.completion.train import load_completion_config, train_completion

        overrides: dict[str, object] = {}
        if minutes is not None:
            overrides["max_minutes"] = minutes
        cfg = load_completion_config(config, overrides)
        with progress_bar(not quiet) as cb:
            result = train_completion(cfg, progress=cb)
        typer.echo(
            f"best step {result.best_step}/{result.steps_run}: validation IoU "
            f"{result.best.get('iou_0.4', 0.0):.4f} at 0.4 in {result.seconds / 60:.1f} min"
        )
        typer.echo(f"wrote {result.run_dir}/ (best.pt, metrics.csv, config.yaml)")

    guarded(run)


def evaluate_completion_cmd(
    data: Annotated[Path, typer.Option("--data", help="Voxel set npz (voxels, labels, classes).")],
    weights: Annotated[
        str | None, typer.Option("--weights", help="Weights (.safetensors/.json/stem or best.pt).")
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="all | val (the training split's validation objects)")
    ] = "all",
    limit: Annotated[int | None, typer.Option("--limit", help="First N shapes only.", min=1)] = None,
    views: Annotated[int, typer.Option("--views", help="Cameras per scan (one side).", min=1)] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated scans.")] = 1,
    no_network: Annotated[
        bool, typer.Option("--no-network", help="Only the symmetry baseline and no completion.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Completion IoU, Chamfer and F-score on simulated one-sided scans of a voxel set: the
    network, the mirror-symmetry baseline and no completion."""
    from voxforge.cli import guarded, progress_bar

    def run() -> None:
        import json

        from voxforge.core.errors import ConfigError, InputFormatError
        from voxforge.nn.completion.evaluate import evaluate_completion
        from voxforge.nn.completion.infer import load_checkpoint, load_completer

        if split not in ("all", "val"):
            raise ConfigError(f"--split must be all or val, got {split!r}")
        if not data.is_file():
            raise InputFormatError(f"{data}: no such voxel set")
        completer = None
        if not no_network:
            completer = (
                load_checkpoint(weights)
                if weights and weights.endswith(".pt")
                else load_completer(weights)
            )
        with progress_bar(not quiet and not as_json) as cb:
            report = evaluate_completion(
                data, completer, split=split, limit=limit, views=views, seed=seed, progress=cb
            )
        if as_json:
            typer.echo(json.dumps(report, indent=2))
            return
        typer.echo(f"{report['shapes']} shapes, {views} view(s) from one side")
        typer.echo(f"{'method':10s} {'IoU':>7s} {'Chamfer-L1':>11s} {'F-score':>8s}")
        for name, m in report["methods"].items():
            typer.echo(f"{name:10s} {m['iou']:7.4f} {m['chamfer_l1']:11.5f} {m['fscore']:8.4f}")

    guarded(run)


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
    from voxforge.cli import guarded, progress_bar

    def run() -> None:
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

    guarded(run)


def ship_completion_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A completion run folder (best.pt, metrics.csv).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Weights stem: models/completion-unet")],
    trained_on: Annotated[
        str, typer.Option("--trained-on", help="Machine and wall time for the card.")
    ] = "CPU",
    command: Annotated[
        str, typer.Option("--command", help="The training command for the card.")
    ] = "voxforge train completion --config configs/completion/unet.yaml",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Export a completion run's best checkpoint with validation metrics and a model card."""
    from voxforge.cli import guarded, progress_bar

    def run() -> None:
        from voxforge.nn.completion.ship import ship_completion

        with progress_bar(not quiet) as cb:
            info = ship_completion(run_dir, out, command=command, trained_on=trained_on, progress=cb)
        m = info["validation"]["methods"]
        typer.echo(
            f"validation IoU: network {m['network']['iou']:.4f}, symmetry "
            f"{m['symmetry']['iou']:.4f}, none {m['none']['iou']:.4f}; wrote {out}.safetensors, "
            ".json, .md"
        )

    guarded(run)
