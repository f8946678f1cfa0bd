"""``voxforge scene SCAN``: the candidate objects of a scan as a table and a picture.

The table lists each candidate by the number ``--pick N`` takes, with its size, points, centre
(input coordinates, a ``--pick-point``) and score; the picture (``scene.png``, drawn by
:func:`voxforge.scan.scene_plot.draw_scene`) shows the scene from above with each candidate
outlined and numbered, the default pick in red.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from voxforge.cli.app import command
from voxforge.cli.options import typer_option
from voxforge.pipelines import options as po

if TYPE_CHECKING:
    from voxforge.scan.clean import Scene

UnitsOpt = typer_option(po.UNITS, show_default=None)
PlaneOpt = typer_option(po.PLANE, help="Remove the table/ground plane.", show_default=None)
PlaneMarginOpt = typer_option(
    po.PLANE_MARGIN, help="Cut this much above the plane, metres (default: measured)."
)
ClusterRadiusOpt = typer_option(po.CLUSTER_RADIUS)


def candidates_table(scene: Scene, limit: int) -> Any:
    """A rich table of the first ``limit`` candidates."""
    from rich.table import Table

    table = Table("#", "size cm", "points", "centre (input)", "score", "view", "size", "pts", "ground")
    for column in table.columns:
        column.no_wrap = True
    for c in scene.report.candidates[:limit]:
        t = c.terms
        table.add_row(
            str(c.number),
            "x".join(f"{v * 100:.0f}" for v in c.size_m),
            f"{c.count:,}",
            ",".join(f"{v:.2f}" for v in c.centre_input),
            f"{c.score:.2f}",
            *(f"{t[k]:.2f}" for k in ("view", "size", "points", "ground")),
        )
    return table


@command
def scene(
    input: Annotated[Path, typer.Argument(help="Scan or capture folder.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Picture of the scene (PNG).")] = Path(
        "scene.png"
    ),
    limit: Annotated[int, typer.Option("--limit", help="Candidates to list.", min=1)] = 20,
    units: UnitsOpt = None,
    plane: PlaneOpt = None,
    plane_margin: PlaneMarginOpt = None,
    cluster_radius: ClusterRadiusOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the candidates as JSON.")] = False,
) -> None:
    """List the candidate objects of SCAN (number, size, points, centre, score) and draw them.

    Pass a number to brickify/voxelize as ``--pick N`` to take that object.
    """
    from rich.console import Console

    from voxforge.core.errors import ConfigError
    from voxforge.core.pointcloud import PointCloud
    from voxforge.scan.capture import load_input
    from voxforge.scan.clean import CleanConfig, segment_scene
    from voxforge.scan.scene_plot import count_text, draw_scene

    po.UNITS.check(units)
    values = {"plane": plane, "plane_margin": plane_margin, "cluster_radius": cluster_radius}
    flags = po.config_overrides((po.PLANE, po.PLANE_MARGIN, po.CLUSTER_RADIUS), values)
    config = CleanConfig(**flags.get("clean", {}))

    if not output.parent.exists():
        raise ConfigError(f"{output.parent}: folder does not exist")
    cloud = load_input(input, units=units)
    if not isinstance(cloud, PointCloud):
        raise ConfigError(
            f"{input}: `voxforge scene` needs a scan (point cloud or capture), "
            f"got a {type(cloud).__name__}"
        )
    found = segment_scene(cloud, config)
    picture = draw_scene(found, output)
    cands = found.report.candidates
    if as_json:
        data = {
            "path": str(input),
            "views": found.views.kind,
            "margin_m": found.report.margin,
            "candidates": [c.to_dict() for c in cands],
            "picture": str(picture),
        }
        typer.echo(json.dumps(data, indent=2))
        return
    console = Console(width=max(Console().width, 100))
    console.print(candidates_table(found, limit))
    more = f" (first {limit} shown)" if len(cands) > limit else ""
    typer.echo(f"{count_text(len(cands))}{more}, seen from {found.views.kind}; default pick #1")
    typer.echo(f"wrote {picture}; take another with brickify/voxelize --pick N")
