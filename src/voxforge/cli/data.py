"""``voxforge data ...``: fetch a public data set, render the image/sketch training set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voxforge.cli.app import command
from voxforge.cli.progress import progress_bar

data_app = typer.Typer(help="Fetch and prepare public data sets.", no_args_is_help=True)


@data_app.command("download")
@command
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


@data_app.command("render-set")
@command
def render_set_cmd(
    data: Annotated[Path, typer.Option("--data", help="npz with voxels, labels, classes.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Render set folder.")],
    views: Annotated[int, typer.Option("--views", help="Views per object.")] = 6,
    size: Annotated[int, typer.Option("--size", help="Image side, pixels.")] = 128,
    seed: Annotated[int, typer.Option("--seed", help="Seeds every view.")] = 0,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML RenderSetConfig (flags win).")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Render processes.")] = 2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Render views and sketches of every object for the image/sketch-to-3D models (cached)."""
    from voxforge.core.config import build_config, load_config
    from voxforge.nn.reconstruct.renderset import RenderSetConfig, build_render_set

    flags = {"views": views, "size": size, "seed": seed}
    cfg = load_config(RenderSetConfig, config, flags) if config else build_config(RenderSetConfig, flags)
    with progress_bar(not quiet) as cb:
        folder = build_render_set(data, out, cfg, progress=cb, workers=workers)
    typer.echo(f"wrote {folder}/ (index.json, objects.npz, shard_*.npz)")
