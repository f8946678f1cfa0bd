"""``voxforge evaluate ...``: the metrics of a classifier, the reconstructor or the completion
network on a data set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from voxforge.cli.app import command
from voxforge.cli.progress import progress_bar

evaluate_app = typer.Typer(help="Evaluate neural networks.", no_args_is_help=True)


@evaluate_app.command("classifier")
@command
def evaluate_classifier_cmd(
    data: Annotated[Path, typer.Option("--data", help="npz with voxels, labels, classes.")],
    model: Annotated[str, typer.Option("--model", help="Shipped model name or path.")] = (
        "classifier-voxel"
    ),
    views: Annotated[
        int | None, typer.Option("--views", help="Rotation-voting views (1 = off).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Also write a report folder.")] = None,
    grouped: Annotated[
        bool,
        typer.Option(
            "--grouped",
            help="Evaluate on the grouped validation split of --data (near-duplicates kept on one "
            "side) and on the shapes the model never saw a near-duplicate of.",
        ),
    ] = False,
    remeshed: Annotated[
        int,
        typer.Option(
            "--remeshed",
            help="With --grouped: also score the never-seen shapes as meshes arrive, each "
            "voxelized from its surface at N random yaws.",
        ),
    ] = 0,
    scanned: Annotated[
        int,
        typer.Option(
            "--scanned",
            help="With --grouped: also score the never-seen shapes as N simulated one-sided "
            "phone scans each.",
        ),
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix of a classifier."""
    import json

    from voxforge.core.errors import ConfigError
    from voxforge.nn.classify.evaluate import evaluate_classifier, evaluate_grouped

    if views is not None and not 1 <= views <= 36:
        raise ConfigError(f"--views must be 1..36, got {views}")
    if grouped and report is not None:
        raise ConfigError("--report is not available with --grouped")
    if not 0 <= remeshed <= 64 or (remeshed and not grouped):
        raise ConfigError(f"--remeshed must be 0..64 and needs --grouped, got {remeshed}")
    if not 0 <= scanned <= 64 or (scanned and not grouped):
        raise ConfigError(f"--scanned must be 0..64 and needs --grouped, got {scanned}")
    with progress_bar(not quiet and not as_json) as cb:
        if grouped:
            m = evaluate_grouped(data, model, views=views, remeshed=remeshed, scanned=scanned,
                                 progress=cb)  # fmt: skip
        else:
            m = evaluate_classifier(data, model, views=views, report_dir=report, progress=cb)
    if as_json:
        typer.echo(json.dumps(m, indent=2))
        return
    split = "grouped validation split of " if grouped else ""
    typer.echo(
        f"{m['model']} on {split}{m['data']}: accuracy {m['accuracy']:.4f} over "
        f"{m['samples']} shapes ({m['views']} views), macro F1 {m['macro_f1']:.4f}"
    )
    if grouped and m["protocol"]["val_seen_by_model"]:
        typer.echo(f"  {m['protocol']['val_seen_by_model']} of them the model trained on or "
                   "on a near-duplicate of: this number flatters it")  # fmt: skip
    if "unseen" in m:
        u = m["unseen"]
        typer.echo(f"  never-seen objects: accuracy {u['accuracy']:.4f} (95% CI {u['ci95'][0]:.4f}"
                   f"-{u['ci95'][1]:.4f}) over {u['samples']} shapes")  # fmt: skip
        if "remeshed" in u:
            r = u["remeshed"]
            typer.echo(f"  the same as meshes at {r['copies']} yaws: accuracy {r['accuracy']:.4f} "
                       f"(95% CI {r['ci95'][0]:.4f}-{r['ci95'][1]:.4f})")  # fmt: skip
        if "scanned" in u:
            r = u["scanned"]
            lo, hi = r["ci95"]
            typer.echo(f"  the same as {r['copies']} one-sided scans each: accuracy "
                       f"{r['accuracy']:.4f} (95% CI {lo:.4f}-{hi:.4f})")  # fmt: skip
    for name, r in m["per_class"].items():
        typer.echo(f"  {name:<12} P {r['precision']:.3f}  R {r['recall']:.3f}  F1 {r['f1']:.3f}"
                   f"  n={r['support']}")  # fmt: skip
    if report is not None:
        typer.echo(f"wrote {report}/ (metrics.json, confusion.png, misclassified.png, saliency.html)")


def _load_reconstructor(kind: str, weights: Path | None, device: str = "auto") -> Any:
    """The shipped (or ``weights``) reconstructor of ``kind``; a seam the tests replace."""
    from voxforge.nn.reconstruct.inference import load_reconstructor

    return load_reconstructor(kind, weights=weights, device=device)  # type: ignore[arg-type]


@evaluate_app.command("reconstruction")
@command
def evaluate_reconstruction_cmd(
    data: Annotated[Path, typer.Option("--data", help="npz with voxels, labels, classes.")],
    views: Annotated[int, typer.Option("--views", help="Views per object, fused (1 or 5).")] = 1,
    sketch: Annotated[bool, typer.Option("--sketch", help="Feed sketches of the views.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the views.")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", help="Only N objects (seeded).")] = None,
    weights: Annotated[Path | None, typer.Option("--weights", help="Weights file to test.")] = None,
    baselines: Annotated[
        Path | None,
        typer.Option("--baselines", help="Render set folder: also score both baselines."),
    ] = None,
    device: Annotated[
        str, typer.Option("--device", help="auto | cpu | cuda | mps (auto: CUDA, MPS, CPU).")
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """IoU, Dice, Chamfer and F-score of the image (or sketch) reconstructor on rendered views."""
    import json

    from voxforge.core.errors import ConfigError
    from voxforge.nn.reconstruct.eval import baselines_from_render_set, evaluate_reconstruction

    if not 1 <= views <= 24:
        raise ConfigError(f"--views must be 1..24, got {views}")
    if not data.is_file():
        raise ConfigError(f"--data {data}: no such file")
    model = _load_reconstructor("sketch" if sketch else "image", weights, device)
    base = baselines_from_render_set(baselines, sketch=sketch) if baselines else None
    with progress_bar(not quiet and not as_json) as cb:
        m = evaluate_reconstruction(
            data, model, views=views, sketch=sketch, seed=seed, limit=limit, progress=cb,
            baselines=base,
        )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(m, indent=2))
        return
    typer.echo(
        f"{m['input']} x{m['views']} on {m['data']}: mean IoU {m['mean_iou']:.4f} (t=0.4) over "
        f"{m['objects']} objects, Dice {m['dice']:.4f}, Chamfer-L1 {m['chamfer_l1']:.4f}, "
        f"F@1/32 {m['fscore']:.4f}, {m['latency_ms_per_image']['median']:.1f} ms/image"
    )
    for name, b in m.get("baselines", {}).items():
        typer.echo(f"  baseline {name:<10} mean IoU {b['mean_iou']:.4f}  ({b['note']})")
    for name, r in m["per_class"].items():
        typer.echo(f"  {name:<12} IoU {r['mean_iou']:.3f}  n={r['objects']}")


@evaluate_app.command("completion")
@command
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
            load_checkpoint(weights) if weights and weights.endswith(".pt") else load_completer(weights)
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
