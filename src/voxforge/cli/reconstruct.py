"""``voxforge reconstruct IMAGES -o OUT``: photos or sketches of one object in, a 3D model out.

Parses the flags into a :class:`~voxforge.pipelines.reconstruct.ReconstructConfig` (``--config``
YAML first, flags win), calls :func:`~voxforge.pipelines.reconstruct.run_reconstruct`, prints where
the results are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voxforge.cli.app import command
from voxforge.cli.progress import progress_bar


@command
def reconstruct(
    images: Annotated[
        list[Path], typer.Argument(help="Photos or sketches of ONE object, first view first.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder (written atomically).")],
    as_: Annotated[
        str | None, typer.Option("--as", help="voxels (default) | points | mesh: which head shapes it.")
    ] = None,
    sketch: Annotated[bool, typer.Option("--sketch", help="The inputs are line drawings.")] = False,
    brickify: Annotated[
        bool, typer.Option("--brickify", help="Continue into the brick engine (OUT/bricks/).")
    ] = False,
    height_cm: Annotated[
        float | None,
        typer.Option(
            "--height-cm",
            help="Real height of the object (a photo has no scale); bricks then at real size.",
            min=0.01,
            show_default="20 for the 3D model, bricks by --stud-budget",
        ),
    ] = None,
    stud_budget: Annotated[
        int | None,
        typer.Option(
            "--stud-budget",
            help="Longest side of the brick model in studs when no --height-cm is given.",
            min=1,
            show_default="32",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Build bricks even past the part budget (8,000).")
    ] = False,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Occupancy probability of a filled cell.")
    ] = None,
    azimuths: Annotated[
        str | None,
        typer.Option("--azimuths", help="Camera azimuth of each image, degrees: A1,A2,..."),
    ] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="Network weights (.safetensors/.json stem).")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option("--device", help="auto | cpu | cuda | mps (auto: CUDA, then MPS, then CPU)."),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML config (flags win).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Reconstruct a 3D model from photos or sketches: OBJ, STL, PLY, GLB, voxels, previews."""
    from voxforge.core.config import build_config, load_config
    from voxforge.core.errors import ConfigError
    from voxforge.pipelines.reconstruct import ReconstructConfig, run_reconstruct

    flags: dict[str, object] = {}
    if sketch:
        flags["kind"] = "sketch"
    if brickify:
        flags["brickify"] = True
    if force:
        flags["bricks"] = {"max_parts": None}
    for key, value in (
        ("output", as_),
        ("height_cm", height_cm),
        ("stud_budget", stud_budget),
        ("threshold", threshold),
        ("weights", None if weights is None else str(weights)),
        ("device", device),
    ):
        if value is not None:
            flags[key] = value
    if azimuths is not None:
        try:
            flags["azimuths"] = [float(a) for a in azimuths.replace(" ", "").split(",")]
        except ValueError:
            raise ConfigError(f"--azimuths needs comma-separated degrees, got {azimuths!r}") from None
    cfg = (
        load_config(ReconstructConfig, config, flags)
        if config is not None
        else build_config(ReconstructConfig, flags)
    )
    with progress_bar(not quiet) as cb:
        result = run_reconstruct(images, output, cfg, progress=cb)
    s = result.summary
    methods = ", ".join(sorted({i["cut_out"] for i in s["inputs"]}))
    size = " x ".join(f"{c:g}" for c in s["mesh"]["extent_cm"])
    typer.echo(
        f"{len(s['inputs'])} image(s) ({methods}) -> {s['grid']['filled']:,} cells, mesh "
        f"{s['mesh']['faces']:,} faces, {size} cm (height assumed {cfg.height_cm:g} cm; "
        "set --height-cm)"
    )
    if "warning" in s:
        typer.echo(f"warning: {s['warning']}")
    typer.echo(f"confidence {s['confidence']:.2f} ({s['confidence_meaning']})")
    if "bricks" in s:
        b = s["bricks"]
        studs = "x".join(str(v) for v in (b.get("size") or {}).get("studs", []))
        typer.echo(
            f"bricks: {b['parts']} parts, {studs} studs ({b['sizing']}; --height-cm builds "
            f"it at real size) -> {output}/bricks/; {b['verdict']}"
        )
    typer.echo(
        f"wrote {output}/ (model.obj, model.stl, model.ply, model.glb, voxels.npz, preview.png, "
        "inputs.png, summary.json, manifest.json)"
    )
