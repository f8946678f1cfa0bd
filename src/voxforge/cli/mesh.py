"""``voxforge mesh ...``: quality check and repair, and levels of detail, of triangle meshes.

Thin commands over :mod:`voxforge.pipelines.mesh`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from voxforge.cli.app import EXIT_EPILOG, command

mesh_app = typer.Typer(help="Check, repair and simplify triangle meshes.", no_args_is_help=True)

Input = Annotated[Path, typer.Argument(help="A mesh file (OBJ, STL, PLY, OFF, GLB/glTF, 3MF, USD).")]
Format = Annotated[str, typer.Option("--format", help="Output format: glb, obj, ply, stl or off.")]
Units = Annotated[
    str | None, typer.Option("--units", help="Units of the input (mm, cm, m, in); default: guessed.")
]


@mesh_app.command("check", epilog=EXIT_EPILOG)
@command
def check_cmd(
    input: Input,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    fix: Annotated[
        bool, typer.Option("--fix", help="Repair (never worse than the input) and write it to -o.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Folder for --fix (written atomically).")
    ] = None,
    fmt: Format = "glb",
    units: Units = None,
) -> None:
    """Report watertightness, manifoldness, winding, defects, holes, scale and UVs of a mesh."""
    from voxforge.pipelines.mesh import run_check

    outcome = run_check(input, fix=fix, output=output, fmt=fmt, units=units)
    if as_json:
        typer.echo(json.dumps(outcome.to_dict(), indent=2))
        return
    typer.echo(outcome.report.summary())
    if outcome.repair is not None:
        typer.echo("repair:")
        for change in outcome.repair.changes:
            typer.echo(f"  - {change}")
        typer.echo("after repair:")
        typer.echo("  " + outcome.repair.after.summary().replace("\n", "\n  "))
        typer.echo(f"wrote {outcome.output}/ (mesh.{fmt}, report.json)")


def _faces(value: str | None) -> list[int] | None:
    if value is None:
        return None
    from voxforge.core.errors import ConfigError

    try:
        return [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--faces takes comma-separated integers, got {value!r}") from None


@mesh_app.command("lod", epilog=EXIT_EPILOG)
@command
def lod_cmd(
    input: Input,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder (written atomically).")],
    levels: Annotated[
        int | None,
        typer.Option("--levels", help="Levels incl. level 0; each a quarter of the last."),
    ] = None,
    faces: Annotated[
        str | None, typer.Option("--faces", help="Face counts below level 0, e.g. 50000,10000,2000,500.")
    ] = None,
    fmt: Format = "glb",
    units: Units = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the error-measuring samples.")] = 0,
) -> None:
    """Build a LOD chain by quadric decimation; one mesh per level and lod.json with the errors
    (Hausdorff, Chamfer, silhouette IoU over 8 views)."""
    from voxforge.pipelines.mesh import run_lod

    outcome = run_lod(input, output, levels=levels, faces=_faces(faces), fmt=fmt, units=units, seed=seed)
    for lv in outcome.levels:
        typer.echo(
            f"lod{lv.level}: {lv.faces} faces, Hausdorff {lv.hausdorff:.4f}, "
            f"Chamfer {lv.chamfer:.5f} (of the diagonal), "
            f"silhouette IoU {lv.silhouette_iou:.3f} (worst of 8 views)"
        )
    typer.echo(f"wrote {outcome.output}/ (lod0..lod{len(outcome.levels) - 1}.{fmt}, lod.json)")
