"""``voxforge mesh export INPUT -o OUT.ext``: write a mesh, or a brick model, in another format.

A thin command over :mod:`voxforge.io.mesh_export`; registered on ``voxforge mesh`` by
:func:`register`. LDraw files (``.ldr``/``.mpd``, such as brickify's ``model.mpd``) and brickify
output folders are exported as brick models, each part in its LEGO colour.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from voxforge.cli.app import EXIT_EPILOG, command

LDRAW_SUFFIXES = (".ldr", ".mpd", ".dat")


def _help() -> str:
    from voxforge.io.mesh_export import EXPORT_FORMATS

    rows = "\n\n".join(
        f"* {f.name} ({' '.join(f.suffixes)}): {f.up.upper()}-up, {f.units}; {f.carries}"
        + (f" [needs {f.needs}]" if f.needs else "")
        for f in EXPORT_FORMATS
    )
    return (
        "Export a mesh (any format `voxforge formats` reads) or a brick model (LDraw .ldr/.mpd or a "
        "brickify output folder) to another format, chosen by OUT's suffix or --format.\n\n"
        f"Formats:\n\n{rows}"
    )


def _brick_model_path(path: Path) -> Path | None:
    if path.is_dir() and (path / "model.mpd").exists():
        return path / "model.mpd"
    if path.suffix.lower() in LDRAW_SUFFIXES:
        return path
    return None


@command
def export_cmd(
    input: Annotated[
        Path, typer.Argument(help="A mesh file, an LDraw model, or a brickify output folder.")
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output file; its suffix picks the format.")
    ],
    fmt: Annotated[
        str | None, typer.Option("--format", help="Format name (overrides the suffix), e.g. usdz.")
    ] = None,
    units: Annotated[
        str, typer.Option("--units", help="Output units for OBJ/STL/PLY/3MF/USD: mm, cm, m or in.")
    ] = "mm",
    color: Annotated[
        str | None,
        typer.Option(
            "--color", help="Paint the mesh one colour (#RRGGBB or r,g,b): the material's base colour."
        ),
    ] = None,
    metallic: Annotated[float, typer.Option("--metallic", help="PBR metallic, 0..1.")] = 0.0,
    roughness: Annotated[float | None, typer.Option("--roughness", help="PBR roughness, 0..1.")] = None,
    opacity: Annotated[float, typer.Option("--opacity", help="PBR opacity, 0..1.")] = 1.0,
    input_units: Annotated[
        str | None, typer.Option("--input-units", help="Units of the input mesh; default: guessed.")
    ] = None,
) -> None:
    from pydantic import ValidationError

    from voxforge.core.errors import ConfigError
    from voxforge.io.mesh_export import PbrMaterial, export_mesh, parse_rgb

    values: dict[str, Any] = {"metallic": metallic, "opacity": opacity}
    if roughness is not None:
        values["roughness"] = roughness
    if color is not None:
        values["base_color"] = parse_rgb(color)
    ldraw = _brick_model_path(input)
    try:
        material = PbrMaterial(**({"name": "lego_abs", "roughness": 0.35} if ldraw else {}) | values)
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigError(f"--{err['loc'][0]}: {err['msg']}") from None
    if ldraw is not None:
        from voxforge.bricks.export import export_brick_model
        from voxforge.bricks.ldraw import read_ldraw

        model = read_ldraw(ldraw, steps=False)
        written = export_brick_model(model, output, format=fmt, units=units, material=material)
        what = f"{len(model.placements)} parts"
    else:
        from voxforge.pipelines.mesh import load_checked_mesh

        mesh = load_checked_mesh(input, units=input_units)
        if color is not None:  # one colour: the mesh's own colours give way to the material
            import trimesh

            mesh.tm.visual = trimesh.visual.ColorVisuals(mesh.tm)
        written = export_mesh(mesh, output, format=fmt, units=units, material=material)
        what = f"{len(mesh.faces)} faces"
    typer.echo(f"wrote {written} ({what})")


def register(mesh_app: typer.Typer) -> None:
    """Add ``export`` to the ``voxforge mesh`` group."""
    mesh_app.command("export", help=_help(), epilog=EXIT_EPILOG)(export_cmd)
