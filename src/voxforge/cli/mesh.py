"""``voxforge mesh ...``: make, edit, check (repair, print checks) and levels of detail of meshes.

Thin commands over :mod:`voxforge.pipelines.mesh`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from voxforge.cli.app import EXIT_EPILOG, command

mesh_app = typer.Typer(
    help="Make, edit, check, repair and simplify triangle meshes.", no_args_is_help=True
)

Input = Annotated[Path, typer.Argument(help="A mesh file (OBJ, STL, PLY, OFF, GLB/glTF, 3MF, USD).")]
Format = Annotated[str, typer.Option("--format", help="Output format: glb, obj, ply, stl or off.")]
Formats = Annotated[
    str,
    typer.Option(
        "--format",
        help="Output format(s), comma-separated, e.g. glb,stl,obj (every format the exporters write).",
    ),
]
Output = Annotated[Path, typer.Option("-o", "--output", help="Output folder (written atomically).")]
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
    for_print: Annotated[
        bool,
        typer.Option("--print", help="Also check for 3D printing: walls, overhangs, volume, verdict."),
    ] = False,
    nozzle: Annotated[float, typer.Option("--nozzle", help="Nozzle width, mm (--print).")] = 0.4,
    layer: Annotated[float, typer.Option("--layer", help="Layer height, mm (--print).")] = 0.2,
    overhang: Annotated[
        float, typer.Option("--overhang", help="Largest unsupported overhang, degrees (--print).")
    ] = 45.0,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Exit 1 when the (repaired) mesh has defects or is not printable."
        ),
    ] = False,
) -> None:
    """Report watertightness, manifoldness, winding, defects, holes, scale and UVs of a mesh."""
    from voxforge.mesh.printcheck import PrintConfig
    from voxforge.pipelines.mesh import run_check

    printing = (
        PrintConfig(nozzle_mm=nozzle, layer_mm=layer, max_overhang_deg=overhang) if for_print else None
    )
    outcome = run_check(input, fix=fix, output=output, fmt=fmt, units=units, printing=printing)
    if as_json:
        typer.echo(json.dumps(outcome.to_dict(), indent=2))
        _strict_exit(strict, outcome.defective)
        return
    typer.echo(outcome.report.summary())
    if outcome.repair is not None:
        typer.echo("repair:")
        for change in outcome.repair.changes:
            typer.echo(f"  - {change}")
        typer.echo("after repair:")
        typer.echo("  " + outcome.repair.after.summary().replace("\n", "\n  "))
        typer.echo(f"wrote {outcome.output}/ (mesh.{fmt}, report.json)")
    if outcome.printing is not None:
        typer.echo(outcome.printing.summary())
    _strict_exit(strict, outcome.defective)


def _strict_exit(strict: bool, defective: bool) -> None:
    if strict and defective:
        typer.echo("strict: the mesh has defects", err=True)
        raise typer.Exit(1)


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
    chain: Annotated[
        bool,
        typer.Option("--chain/--no-chain", help="GLB: also write lod_chain.glb (all levels, MSFT_lod)."),
    ] = True,
    normal_maps: Annotated[
        int,
        typer.Option(
            "--normal-maps",
            min=0,
            help="Levels of at most this many faces get a normal map baked from level 0 (0: none).",
        ),
    ] = 4096,
    max_error: Annotated[
        float | None,
        typer.Option(
            "--max-error",
            min=0.0,
            help="Name the levels whose rendered difference (1 - IoU or 1 - SSIM) is above this.",
        ),
    ] = None,
) -> None:
    """Build a LOD chain by quadric decimation; one mesh per level and lod.json with the errors
    (Hausdorff, Chamfer, silhouette IoU and SSIM over 8 views). Coarse levels carry a normal
    map baked from level 0 (glTF, OBJ, USD, FBX)."""
    from voxforge.pipelines.mesh import run_lod

    outcome = run_lod(
        input,
        output,
        levels=levels,
        faces=_faces(faces),
        fmt=fmt,
        units=units,
        seed=seed,
        chain=chain,
        normal_maps=normal_maps,
    )
    above = 0
    for lv in outcome.levels:
        diff = max(1.0 - lv.silhouette_iou, 1.0 - lv.ssim)
        over = max_error is not None and diff > max_error
        above += over
        typer.echo(
            f"lod{lv.level}: {lv.faces} faces, Hausdorff {lv.hausdorff:.4f}, "
            f"Chamfer {lv.chamfer:.5f} (of the diagonal), "
            f"silhouette IoU {lv.silhouette_iou:.3f}, SSIM {lv.ssim:.3f} (worst of 8 views)"
            + (f", normal map {lv.normal_map_px} px" if lv.normal_map_px else "")
            + (f"; rendered difference {diff:.3f} is above --max-error {max_error}" if over else "")
        )
    if max_error is not None:
        typer.echo(f"{above} of {len(outcome.levels)} levels above --max-error {max_error}")
    typer.echo(f"wrote {outcome.output}/ (lod0..lod{len(outcome.levels) - 1}.{fmt}, lod.json)")


def _config(cls: type[BaseModel], **values: Any) -> Any:
    """``cls(**values)``, with a validation failure as one :class:`ConfigError` line."""
    from pydantic import ValidationError

    from voxforge.core.config import format_validation_error
    from voxforge.core.errors import ConfigError

    try:
        return cls(**values)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err)) from None


def _split(value: str) -> list[str]:
    return [x.strip() for x in value.split(",") if x.strip()]


@mesh_app.command("make", epilog=EXIT_EPILOG)
@command
def make_cmd(
    input: Annotated[
        Path,
        typer.Argument(help="A scan/point cloud, phone capture folder, voxel grid or mesh."),
    ],
    output: Output,
    fmt: Formats = "glb",
    units: Units = None,
    method: Annotated[
        str,
        typer.Option("--method", help="Meshes: auto (keep/repair/remesh), repair or remesh."),
    ] = "auto",
    resolution: Annotated[
        int, typer.Option("--resolution", help="Grid cells along the longest side (remeshing).")
    ] = 128,
    smooth: Annotated[
        float, typer.Option("--smooth", help="Gaussian smoothing of the occupancy, cells.")
    ] = 0.8,
    taubin: Annotated[int, typer.Option("--taubin", help="Taubin smoothing iterations.")] = 10,
    max_faces: Annotated[
        int | None, typer.Option("--max-faces", help="Decimate to at most this many faces.")
    ] = 200_000,
    texture: Annotated[
        bool,
        typer.Option("--texture", help="Also bake the colours into a UV atlas (mesh_textured.glb)."),
    ] = False,
) -> None:
    """Turn any input into a clean, watertight, outward mesh with vertex colours."""
    from voxforge.mesh.make import MakeConfig
    from voxforge.pipelines.mesh import run_make

    config = _config(
        MakeConfig,
        method=method,
        resolution=resolution,
        smooth_sigma=smooth,
        taubin_iterations=taubin,
        max_faces=max_faces,
    )
    outcome = run_make(input, output, config=config, formats=_split(fmt), units=units, texture=texture)
    r = outcome.result
    typer.echo(f"method: {r.method}")
    for step in r.steps:
        typer.echo(f"  - {step}")
    typer.echo(r.report.summary())
    typer.echo(f"wrote {outcome.output}/ ({', '.join(outcome.files)}, preview.png, report.json)")


@mesh_app.command("edit", epilog=EXIT_EPILOG)
@command
def edit_cmd(
    input: Input,
    output: Output,
    fmt: Formats = "glb",
    units: Units = None,
    size: Annotated[
        str | None, typer.Option("--size", help="Longest side, e.g. 120mm, 12cm, 0.3m.")
    ] = None,
    scale: Annotated[float | None, typer.Option("--scale", help="Uniform scale factor.")] = None,
    rotate: Annotated[
        list[str] | None, typer.Option("--rotate", help="Rotation like x90 or z-45 (repeatable).")
    ] = None,
    center: Annotated[
        bool, typer.Option("--center", help="Centre on the origin with the base at z=0.")
    ] = False,
    mirror: Annotated[str | None, typer.Option("--mirror", help="Mirror across x, y or z.")] = None,
    palette: Annotated[
        str | None, typer.Option("--palette", help="Recolour with these hex colours, comma-separated.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Shuffle the palette assignment (a variation).")
    ] = None,
    variations: Annotated[
        int, typer.Option("--variations", help="Write this many seeded palette variations.")
    ] = 1,
    base_color: Annotated[
        str | None, typer.Option("--base-color", help="PBR base colour (hex).")
    ] = None,
    metallic: Annotated[float | None, typer.Option("--metallic", help="PBR metallic, 0..1.")] = None,
    roughness: Annotated[float | None, typer.Option("--roughness", help="PBR roughness, 0..1.")] = None,
    opacity: Annotated[float | None, typer.Option("--opacity", help="Opacity, 0..1.")] = None,
) -> None:
    """Scale, rotate, centre, mirror, recolour a mesh and set its PBR material."""
    from voxforge.mesh.edit import EditConfig
    from voxforge.pipelines.mesh import run_edit

    config = _config(
        EditConfig,
        size=size,
        scale=scale,
        rotate=rotate or [],
        center=center,
        mirror=mirror,
        palette=_split(palette) if palette else None,
        seed=seed,
        base_color=base_color,
        metallic=metallic,
        roughness=roughness,
        opacity=opacity,
    )
    outcome = run_edit(input, output, config, formats=_split(fmt), units=units, variations=variations)
    for change in outcome.changes or ["no changes"]:
        typer.echo(f"  - {change}")
    size_mm = " x ".join(
        f"{(hi - lo) * 1000:.4g}" for lo, hi in zip(*outcome.report.bounds, strict=True)
    )
    typer.echo(f"size: {size_mm} mm")
    typer.echo(f"wrote {outcome.output}/ ({', '.join(outcome.files)}, preview.png, report.json)")


@mesh_app.command("parts", epilog=EXIT_EPILOG)
@command
def parts_cmd(
    model: Annotated[
        Path, typer.Argument(help="An LDraw model (model.mpd of voxforge brickify) or its folder.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="The GLB to write.")],
) -> None:
    """Write a brick model as a GLB with one object per part and LEGO colours as materials."""
    from voxforge.core.errors import UnsupportedInputError
    from voxforge.mesh.parts import parts_glb

    mpd = model / "model.mpd" if model.is_dir() else model
    if not mpd.is_file():
        raise UnsupportedInputError(f"{model}: no LDraw model (model.mpd) there")
    data = parts_glb(mpd)
    tmp = output.with_name(output.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(output)
    typer.echo(f"wrote {output} ({len(data):,} bytes)")
