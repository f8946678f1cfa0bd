"""``voxforge train ...``: train the networks (classifier, reconstruction, completion) and
ship a run as weights with a model card."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from voxforge.cli.app import command
from voxforge.cli.progress import progress_bar

train_app = typer.Typer(help="Train neural networks.", no_args_is_help=True)

Nodes = Annotated[
    int, typer.Option("--nodes", help="Machines of a distributed run (torchrun, DDP).", min=1)
]
ProcsPerNode = Annotated[
    int,
    typer.Option(
        "--procs-per-node", help="Training processes on this machine (one per GPU, or CPU).", min=1
    ),
]
NodeRank = Annotated[int, typer.Option("--node-rank", help="This machine's index (0 = master).")]
MasterAddr = Annotated[
    str, typer.Option("--master-addr", help="Address of node 0, where the processes meet.")
]
MasterPort = Annotated[int, typer.Option("--master-port", help="Port on node 0.")]


def _torchrun(args: list[str], nodes: int, procs: int, rank: int, addr: str, port: int) -> bool:
    """Start this command again under torchrun when several processes are asked for (and this
    is not already one of them); True when it ran (its exit status is raised as typer.Exit)."""
    import subprocess

    from voxforge.nn.training import torchrun_command, under_torchrun

    if nodes * procs <= 1 or under_torchrun():
        return False
    cmd = torchrun_command(
        args, nodes=nodes, procs_per_node=procs, node_rank=rank, master_addr=addr, master_port=port
    )
    code = subprocess.call(cmd)
    if code:
        raise typer.Exit(code)
    return True


@train_app.command("classifier")
@command
def train_classifier_cmd(
    config: Annotated[Path, typer.Option("--config", help="configs/classifier/<name>.yaml")],
    device: Annotated[str | None, typer.Option("--device", help="cpu or cuda")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from <run>/last.pt.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    nodes: Nodes = 1,
    procs_per_node: ProcsPerNode = 1,
    node_rank: NodeRank = 0,
    master_addr: MasterAddr = "127.0.0.1",
    master_port: MasterPort = 29500,
) -> None:
    """Train a shape classifier from a YAML config; runs go to <output_dir>/<name>/.

    With --nodes/--procs-per-node the run is data-parallel through torchrun (gloo on CPU, nccl on
    CUDA): the config's batch_size is the global batch, split evenly over the processes.
    """
    from voxforge.nn.classify.train import load_train_config, train_classifier
    from voxforge.nn.training import Dist, check_global_batch

    cfg = load_train_config(config, {"device": device} if device else None)
    check_global_batch(cfg.batch_size, Dist(0, nodes * procs_per_node))
    args = ["train", "classifier", "--config", str(config)]
    args += ["--device", device] if device else []
    args += ["--resume"] if resume else []
    args += ["--quiet"] if quiet else []
    if _torchrun(args, nodes, procs_per_node, node_rank, master_addr, master_port):
        return
    main = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 alone reports
    with progress_bar(not quiet and main) as cb:
        result = train_classifier(cfg, resume=resume, progress=cb)
    if not main:
        return
    b = result.best
    typer.echo(
        f"best epoch {result.best_epoch}/{result.epochs_run}: val acc {b.get('val_acc', 0):.4f}, "
        f"val loss {b.get('val_loss', 0):.4f}{' (stopped early)' if result.stopped_early else ''}"
        f" in {result.seconds / 60:.1f} min"
    )
    typer.echo(f"wrote {result.run_dir}/ (best.pt, last.pt, metrics.csv, config.yaml)")


@train_app.command("ship-classifier")
@command
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


@train_app.command("calibrate-classifier")
@command
def calibrate_classifier_cmd(
    data: Annotated[Path, typer.Option("--data", help="The npz the model was trained on.")],
    model: Annotated[str, typer.Option("--model", help="Shipped model name or path.")] = (
        "classifier-voxel"
    ),
    score: Annotated[
        str, typer.Option("--score", help="energy, max_probability or outlier.")
    ] = "energy",
    max_unknown: Annotated[
        float, typer.Option("--max-unknown", help="Largest share of held-out shapes called unknown.")
    ] = 0.02,
    outliers: Annotated[
        Path | None,
        typer.Option("--outliers", help="Folder of non-furniture meshes for the outlier head."),
    ] = None,
    synthetic_kinds: Annotated[
        str,
        typer.Option(
            "--synthetic-kinds",
            help="Synthetic outliers for the outlier head, comma-separated: blobs, animals, "
            "handles, tall, machined.",
        ),
    ] = "blobs",
    remeshed: Annotated[
        int,
        typer.Option(
            "--remeshed",
            help="Also hold the shapes out as meshes arrive (voxelized from their surface at N "
            "random yaws): each form keeps under --max-unknown.",
        ),
    ] = 0,
    scanned: Annotated[
        int,
        typer.Option(
            "--scanned",
            help="Also hold the shapes out as N simulated one-sided phone scans each: each form "
            "keeps under --max-unknown.",
        ),
    ] = 0,
    descriptors: Annotated[
        bool,
        typer.Option(
            "--descriptors/--no-descriptors",
            help="The outlier head also reads 26 shape descriptors of the input (flat panels, "
            "legs, symmetry, proportions) beside the network's features.",
        ),
    ] = True,
) -> None:
    """Fit temperature and "unknown shape" threshold on held-out shapes; store them in the JSON."""
    from voxforge.core.errors import ConfigError
    from voxforge.nn.classify.evaluate import calibrate_classifier

    if not 0 <= remeshed <= 64:
        raise ConfigError(f"--remeshed must be 0..64, got {remeshed}")
    if not 0 <= scanned <= 64:
        raise ConfigError(f"--scanned must be 0..64, got {scanned}")
    kinds = tuple(k.strip() for k in synthetic_kinds.split(",") if k.strip())
    c = calibrate_classifier(data, model, score=score, max_unknown_rate=max_unknown,
                             outlier_meshes=outliers, synthetic_kinds=kinds,
                             remeshed=remeshed, scanned=scanned,
                             descriptors=descriptors)  # fmt: skip
    meshes = f", {c['unknown_rate_remeshed']:.1%} as meshes" if remeshed else ""
    meshes += f", {c['unknown_rate_scanned']:.1%} as scans" if scanned else ""
    typer.echo(
        f"{model}: temperature {c['temperature']:.4f}, unknown when {c['score']} passes "
        f"{c['threshold']:.4f} ({c['unknown_rate']:.1%} of {c['fitted_on']}{meshes}); "
        f"NLL {c['nll_before']} -> {c['nll_after']}"
    )


@train_app.command("ensemble-classifier")
@command
def ensemble_classifier_cmd(
    member: Annotated[list[str], typer.Option("--member", help="Shipped voxel model (2 or more).")],
    data: Annotated[Path, typer.Option("--data", help="The npz the members were trained on.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Weights stem, e.g. models/classifier-voxel")],
    views: Annotated[int, typer.Option("--views", help="Voting views.")] = 4,
) -> None:
    """Combine voxel classifiers trained on one split into an ensemble (mean calibrated log-probs)."""
    from voxforge.nn.classify.export import ship_ensemble

    info = ship_ensemble(member, out, data_path=data, views=views)
    temps = ", ".join(f"{m['name']} T={m['temperature']}" for m in info["members"])
    typer.echo(f"wrote {out}.safetensors/.json ({temps}); calibrate it next")


@train_app.command("reconstruction")
@command
def train_reconstruction_cmd(
    config: Annotated[Path, typer.Option("--config", help="configs/reconstruction/<kind>.yaml")],
    device: Annotated[
        str | None, typer.Option("--device", help="auto | cpu | cuda | mps (auto: CUDA, MPS, CPU).")
    ] = None,
    minutes: Annotated[
        float | None, typer.Option("--minutes", help="Wall-time budget (overrides max_minutes).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from <run>/last.pt.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    nodes: Nodes = 1,
    procs_per_node: ProcsPerNode = 1,
    node_rank: NodeRank = 0,
    master_addr: MasterAddr = "127.0.0.1",
    master_port: MasterPort = 29500,
) -> None:
    """Train an image or sketch -> 3D network from a YAML config; runs go to <output_dir>/<name>/.

    With --nodes/--procs-per-node the run is data-parallel through torchrun (the config's
    batch_size is the global batch, split evenly over the processes).
    """
    from voxforge.nn.reconstruct.train import load_recon_config, train_reconstruction
    from voxforge.nn.training import Dist, check_global_batch

    overrides: dict[str, object] = {}
    if device:
        overrides["device"] = device
    if minutes is not None:
        overrides["max_minutes"] = minutes
    cfg = load_recon_config(config, overrides)
    check_global_batch(cfg.batch_size, Dist(0, nodes * procs_per_node))
    args = ["train", "reconstruction", "--config", str(config)]
    args += ["--device", device] if device else []
    args += ["--minutes", str(minutes)] if minutes is not None else []
    args += ["--resume"] if resume else []
    args += ["--quiet"] if quiet else []
    if _torchrun(args, nodes, procs_per_node, node_rank, master_addr, master_port):
        return
    main = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 alone reports
    with progress_bar(not quiet and main) as cb:
        result = train_reconstruction(cfg, resume=resume, progress=cb)
    if not main:
        return
    b = result.best
    iou = b.get(f"iou_{result.threshold}", 0.0)
    typer.echo(
        f"best epoch {result.best_epoch}/{result.epochs_run}: validation single-view IoU "
        f"{iou:.4f} at threshold {result.threshold} in {result.seconds / 60:.1f} min"
    )
    typer.echo(f"wrote {result.run_dir}/ (best.pt, last.pt, metrics.csv, config.yaml)")


@train_app.command("ship-reconstruction")
@command
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
    from voxforge.nn.classify.export import ship_provenance
    from voxforge.nn.reconstruct.train import ship_reconstruction

    cmd, where = ship_provenance(run_dir, out, "reconstruction", command=command, trained_on=trained_on)
    with progress_bar(not quiet) as cb:
        info = ship_reconstruction(run_dir, out, command=cmd, trained_on=where, progress=cb)
    sv = info["validation"]["single_view"]
    typer.echo(
        f"{info['name']}: single-view IoU {sv['iou_' + str(info['threshold'])]:.4f} "
        f"(threshold {info['threshold']}); wrote {out}.safetensors, .json, .md"
    )


@train_app.command("completion")
@command
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


@train_app.command("ship-completion")
@command
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
    from voxforge.nn.completion.ship import ship_completion

    with progress_bar(not quiet) as cb:
        info = ship_completion(run_dir, out, command=command, trained_on=trained_on, progress=cb)
    m = info["validation"]["methods"]
    typer.echo(
        f"validation IoU: network {m['network']['iou']:.4f}, symmetry "
        f"{m['symmetry']['iou']:.4f}, none {m['none']['iou']:.4f}; wrote {out}.safetensors, "
        ".json, .md"
    )
