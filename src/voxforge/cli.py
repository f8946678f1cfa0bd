"""The ``voxforge`` command line (typer). Commands are thin: parse, call a pipeline, report."""

from __future__ import annotations

import typer

app = typer.Typer(help="voxforge: scans and meshes in, clean 3D and buildable LEGO models out.")


@app.command()
def version() -> None:
    """Print the voxforge version."""
    from voxforge import __version__

    typer.echo(__version__)
