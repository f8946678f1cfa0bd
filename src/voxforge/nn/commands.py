"""CLI commands of the classifier: ``train classifier``, ``evaluate classifier``, ``data download``,
``classify``. Thin: parse flags, call one library function, print where results are.

``voxforge.cli`` registers these at its end; the helpers of ``voxforge.cli`` (``guarded``,
``progress_bar``) are imported inside the commands so importing this module never imports the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

train_app = typer.Typer(help="Train neural networks.", no_args_is_help=True)


@train_app.command("classifier")
def train_classifier_cmd(
    config: Annotated[Path, typer.Option("--config", help="configs/classifier/<name>.yaml")],
    device: Annotated[str | None, typer.Option("--device", help="cpu or cuda")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from <run>/last.pt.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a shape classifier from a YAML config; runs go to <output_dir>/<name>/."""
    from voxforge.cli import guarded, progress_bar

    def run() -> None:
        from voxforge.nn.classify.train import load_train_config, train_classifier

        cfg = load_train_config(config, {"device": device} if device else None)
        with progress_bar(not quiet) as cb:
            result = train_classifier(cfg, resume=resume, progress=cb)
        b = result.best
        typer.echo(
            f"best epoch {result.best_epoch}/{result.epochs_run}: val acc {b.get('val_acc', 0):.4f}, "
            f"val loss {b.get('val_loss', 0):.4f}{' (stopped early)' if result.stopped_early else ''}"
            f" in {result.seconds / 60:.1f} min"
        )
        typer.echo(f"wrote {result.run_dir}/ (best.pt, last.pt, metrics.csv, config.yaml)")

    guarded(run)


@train_app.command("ship-classifier")
def ship_classifier_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A training run folder (best.pt, config.yaml).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Weights stem, e.g. models/classifier-voxel")],
    trained_on: Annotated[
        str | None,
        typer.Option("--trained-on", help="Machine and wall time for the card (default: kept)."),
    ] = None,
    command: Annotated[
        str | None, typer.Option("--command", help="The training command (default: kept).")
    ] = None,
    views: Annotated[int, typer.Option("--views", min=1, help="Default voting views.")] = 4,
) -> None:
    """Export a run's best checkpoint with validation metrics, latency and a model card.

    Re-shipping over an existing model keeps its card's training provenance unless given anew.
    """
    from voxforge.cli import guarded

    def run() -> None:
        from voxforge.nn.classify.export import ship_classifier, ship_provenance

        cmd, where = ship_provenance(run_dir, out, "classifier", command=command, trained_on=trained_on)
        info = ship_classifier(run_dir, out, command=cmd, trained_on=where, voting_views=views)
        acc = (
            info["validation"][f"views_{views}"]["accuracy"]
            if f"views_{views}" in info["validation"]
            else None
        )
        lat = info["latency"].get(f"views_{views}_ms_per_shape")
        typer.echo(
            f"{info['name']}: validation accuracy {acc} with {views} views, {lat} ms per shape; "
            f"wrote {out}.safetensors, .json, .md"
        )

    guarded(run)


@train_app.command("calibrate-classifier")
def calibrate_classifier_cmd(
    data: Annotated[Path, typer.Option("--data", help="The npz the model was trained on.")],
    model: Annotated[str, typer.Option("--model", help="Shipped model name or path.")] = (
        "classifier-voxel"
    ),
    score: Annotated[str, typer.Option("--score", help="energy or max_probability.")] = "energy",
    max_unknown: Annotated[
        float, typer.Option("--max-unknown", help="Largest share of held-out shapes called unknown.")
    ] = 0.02,
) -> None:
    """Fit temperature and "unknown shape" threshold on held-out shapes; store them in the JSON."""
    from voxforge.cli import guarded

    def run() -> None:
        from voxforge.nn.classify.evaluate import calibrate_classifier

        c = calibrate_classifier(data, model, score=score, max_unknown_rate=max_unknown)
        typer.echo(
            f"{model}: temperature {c['temperature']:.4f}, unknown when {c['score']} passes "
            f"{c['threshold']:.4f} ({c['unknown_rate']:.1%} of {c['fitted_on']}); "
            f"NLL {c['nll_before']} -> {c['nll_after']}"
        )

    guarded(run)


evaluate_app = typer.Typer(help="Evaluate neural networks.", no_args_is_help=True)


@evaluate_app.command("classifier")
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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix of a classifier."""
    from voxforge.cli import guarded, progress_bar

    def run() -> None:
        import json

        from voxforge.core.errors import ConfigError
        from voxforge.nn.classify.evaluate import evaluate_classifier, evaluate_grouped

        if views is not None and not 1 <= views <= 36:
            raise ConfigError(f"--views must be 1..36, got {views}")
        if grouped and report is not None:
            raise ConfigError("--report is not available with --grouped")
        with progress_bar(not quiet and not as_json) as cb:
            if grouped:
                m = evaluate_grouped(data, model, views=views, progress=cb)
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
        for name, r in m["per_class"].items():
            typer.echo(f"  {name:<12} P {r['precision']:.3f}  R {r['recall']:.3f}  F1 {r['f1']:.3f}"
                       f"  n={r['support']}")  # fmt: skip
        if report is not None:
            typer.echo(
                f"wrote {report}/ (metrics.json, confusion.png, misclassified.png, saliency.html)"
            )

    guarded(run)


data_app = typer.Typer(help="Fetch and prepare public data sets.", no_args_is_help=True)


@data_app.command("download")
def data_download_cmd(
    dataset: Annotated[str, typer.Argument(help="Data set name: modelnet10.")],
    dest: Annotated[Path, typer.Option("--dest", help="Folder to unpack into.")] = Path("data"),
    url: Annotated[str | None, typer.Option("--url", help="Mirror URL (http(s) or file://).")] = None,
    voxelize: Annotated[
        bool, typer.Option("--voxelize/--no-voxelize", help="Voxelize and cache both splits.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Download a public data set (network needed); only ever on this explicit command."""
    from voxforge.cli import guarded, progress_bar

    def run() -> None:
        from voxforge.core.errors import ConfigError
        from voxforge.nn.classify.data import MODELNET10_URL, download_modelnet, voxelize_modelnet

        if dataset.lower() != "modelnet10":
            raise ConfigError(f"unknown data set {dataset!r} (known: modelnet10)")
        with progress_bar(not quiet) as cb:
            root = download_modelnet(dest, url=url or MODELNET10_URL, progress=cb)
            n_off = sum(1 for _ in root.rglob("*.off"))
            typer.echo(f"unpacked {n_off} OFF meshes into {root}/")
            if voxelize:
                for split in ("train", "test"):
                    d = voxelize_modelnet(root, split, progress=cb)
                    typer.echo(f"{split}: {len(d)} shapes voxelized at 32³, {len(d.skipped)} skipped")
                    for f, why in d.skipped:
                        typer.echo(f"  skipped {f}: {why}", err=True)

    guarded(run)


def classify(
    input: Annotated[Path, typer.Argument(help="Scan, mesh or voxel grid.")],
    model: Annotated[str, typer.Option("--model", help="Shipped model name or path.")] = (
        "classifier-voxel"
    ),
    top: Annotated[int, typer.Option("--top", help="How many classes to list.")] = 3,
    views: Annotated[int | None, typer.Option("--views", help="Rotation-voting views.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Name the object in a file: the top classes with probabilities (ModelNet10 classes)."""
    from voxforge.cli import guarded

    def run() -> None:
        import json

        from voxforge.core.errors import ConfigError
        from voxforge.nn.classify.inference import LOW_CONFIDENCE, classify_file

        if not 1 <= top <= 100:
            raise ConfigError(f"--top must be 1..100, got {top}")
        if views is not None and not 1 <= views <= 36:
            raise ConfigError(f"--views must be 1..36, got {views}")
        result = classify_file(input, model, k=top, views=views)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=2))
            return
        if result.unknown and result.open_set is not None:
            o = result.open_set
            typer.echo(
                f"unknown shape: not one of the model's classes ({o['score'].replace('_', ' ')} "
                f"{o['value']:.2f} {'above' if o['score'] == 'energy' else 'below'} the threshold "
                f"{o['threshold']:.2f}); closest classes:"
            )
        for name, p in result.top:
            typer.echo(f"{name:<12} {p:6.1%}")
        if result.low_confidence and not result.unknown:
            typer.echo(
                f"low confidence: top probability {result.top[0][1]:.0%} < {LOW_CONFIDENCE:.0%}; "
                "the object may not be one of the model's classes"
            )

    guarded(run)
