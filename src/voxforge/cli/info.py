"""``voxforge version``, ``formats`` and ``info FILE``: what voxforge is and what it reads."""

from __future__ import annotations

import json

import typer

from voxforge.cli.app import command
from voxforge.cli.options import InputArg, JsonOpt, UnitsOpt, UpOpt


def version() -> None:
    """Print the voxforge version."""
    from voxforge import __version__

    typer.echo(__version__)


@command
def formats() -> None:
    """List the file formats voxforge reads and writes."""
    from rich.console import Console
    from rich.table import Table

    from voxforge.io import available_formats

    table = Table("format", "kind", "extensions", "read", "write")
    for f in available_formats():
        table.add_row(
            str(f["name"]),
            str(f["kind"]),
            " ".join(f["extensions"]),
            "yes" if f.get("read", True) else "",
            "yes" if f.get("write") else "",
        )
    Console().print(table)


@command
def info(path: InputArg, up: UpOpt = None, units: UnitsOpt = None, as_json: JsonOpt = False) -> None:
    """Say what was read from FILE: points, colours, bounds, units."""
    from voxforge.core.config import build_config
    from voxforge.pipelines import options as po
    from voxforge.pipelines.common import InputConfig, describe, read_input

    flags = po.config_overrides((po.UP, po.UNITS), {"up": up, "units": units})
    cfg = build_config(InputConfig, flags.get("input", {}))
    data = {"path": str(path), **describe(read_input(path, cfg))}
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if isinstance(value, dict):  # a capture: what the app wrote
            for sub, v in value.items():
                shown = ", ".join(v) if isinstance(v, list) else v
                typer.echo(f"{sub:>14}: {shown if shown not in (None, '') else '-'}")
            if value.get("app_meshes"):
                typer.echo(f"{'':>14}  (the app's own mesh: read it with --use-app-mesh)")
            continue
        typer.echo(f"{key:>14}: {value}")
