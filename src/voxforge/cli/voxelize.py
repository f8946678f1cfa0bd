"""``voxforge voxelize INPUT -o OUT``: the input on the LEGO lattice as a voxel grid."""

from __future__ import annotations

import typer

from voxforge.cli.app import command
from voxforge.cli.options import (
    AppMeshOpt,
    BottomOpt,
    CleanOpt,
    ClusterRadiusOpt,
    ConfigOpt,
    InputArg,
    OutOpt,
    PickBoxOpt,
    PickOpt,
    PickPointOpt,
    PlaneMarginOpt,
    PlaneOpt,
    QuietOpt,
    ScaleOpt,
    UnitsOpt,
    UpOpt,
    WidthOpt,
    check_size,
    job_config,
    typer_option,
)
from voxforge.cli.progress import progress_bar
from voxforge.cli.report import echo_input_notes, pick_lines
from voxforge.pipelines import options as po

HollowOpt = typer_option(po.HOLLOW)


@command
def voxelize(
    input: InputArg,
    output: OutOpt,
    width_studs: WidthOpt = None,
    scale: ScaleOpt = None,
    hollow: HollowOpt = None,
    up: UpOpt = None,
    units: UnitsOpt = None,
    clean: CleanOpt = None,
    use_app_mesh: AppMeshOpt = None,
    plane: PlaneOpt = None,
    plane_margin: PlaneMarginOpt = None,
    cluster_radius: ClusterRadiusOpt = None,
    pick_point: PickPointOpt = None,
    pick_box: PickBoxOpt = None,
    pick: PickOpt = None,
    extend_bottom: BottomOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Voxelize INPUT onto the LEGO lattice: grid.npz, preview.png, summary.json, manifest.json."""
    from voxforge.pipelines.voxelize import VoxelizeJobConfig, run_voxelize

    check_size(width_studs, scale)
    values = {
        "width_studs": width_studs, "scale": scale, "hollow": hollow, "up": up, "units": units,
        "clean": clean, "use_app_mesh": use_app_mesh, "plane": plane,
        "plane_margin": plane_margin, "cluster_radius": cluster_radius, "pick_point": pick_point,
        "pick_box": pick_box, "pick": pick, "extend_bottom": extend_bottom,
    }  # fmt: skip
    cfg = job_config(VoxelizeJobConfig, config, po.config_overrides(po.VOXELIZE_OPTIONS, values))
    with progress_bar(not quiet) as cb:
        result = run_voxelize(input, output, cfg, progress=cb)
    g = result.summary["grid"]
    size = (
        f"{g['studs'][0]} x {g['studs'][1]} studs x {g['plates']} plates"
        if "studs" in g
        else (" x ".join(str(c) for c in g["cells"]) + " cells")
    )
    echo_input_notes(result.summary.get("input") or {})
    for line in pick_lines(result.summary.get("clean")):
        typer.echo(line)
    typer.echo(f"{g['filled']:,} cells, {size} ({' x '.join(str(c) for c in g['size_cm'])} cm)")
    typer.echo(f"wrote {output}/ (grid.npz, preview.png, summary.json, manifest.json)")
