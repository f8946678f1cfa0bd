"""``voxforge brickify INPUT -o OUT``: a buildable LEGO model with steps, booklets and parts lists."""

from __future__ import annotations

from typing import Annotated

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
from voxforge.cli.report import (
    echo_input_notes,
    physics_text,
    pick_lines,
    problem_lines,
    steps_text,
    top_level_outputs,
)
from voxforge.pipelines import options as po

ColorsOpt = typer_option(po.COLORS)
HollowOpt = typer_option(po.HOLLOW_SWITCH)
ShellOpt = Annotated[int, typer.Option(po.SHELL.flag, help=po.SHELL.help, min=po.SHELL.minimum)]
PartsOpt = typer_option(po.PARTS)
StrategyOpt = typer_option(po.STRATEGY)
SeedOpt = typer_option(po.SEED)
TimeBudgetOpt = typer_option(po.TIME_BUDGET)
InstructionsOpt = typer_option(po.INSTRUCTIONS)
MeshesOpt = typer_option(po.MESHES)
BuildOrderOpt = typer_option(po.BUILD_ORDER)
ClassifyOpt = typer_option(po.CLASSIFY)
CompleteOpt = typer_option(po.COMPLETE)
SafetyMarginOpt = typer_option(po.SAFETY_MARGIN)
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Build even past the part budget (max_parts, 8,000).")
]


@command
def brickify(
    input: InputArg,
    output: OutOpt,
    width_studs: WidthOpt = None,
    scale: ScaleOpt = None,
    colors: ColorsOpt = None,
    hollow: HollowOpt = None,
    shell: ShellOpt = po.DEFAULT_SHELL,
    parts: PartsOpt = None,
    strategy: StrategyOpt = None,
    seed: SeedOpt = None,
    time_budget: TimeBudgetOpt = None,
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
    instructions: InstructionsOpt = None,
    force: ForceOpt = False,
    meshes: MeshesOpt = None,
    build_order: BuildOrderOpt = None,
    classify: ClassifyOpt = None,
    complete: CompleteOpt = None,
    safety_margin: SafetyMarginOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Turn INPUT into a buildable LEGO model: steps, booklets, parts lists, preview, GLB."""
    from voxforge.pipelines.brickify import BrickifyConfig, run_brickify

    check_size(width_studs, scale)
    values = {
        "width_studs": width_studs, "scale": scale, "colors": colors,
        "hollow": None if hollow is None else (shell if hollow else 0),
        "parts": parts, "strategy": strategy, "seed": seed, "time_budget": time_budget,
        "up": up, "units": units, "clean": clean, "use_app_mesh": use_app_mesh, "plane": plane,
        "plane_margin": plane_margin, "cluster_radius": cluster_radius, "pick_point": pick_point,
        "pick_box": pick_box, "pick": pick, "extend_bottom": extend_bottom,
        "instructions": instructions, "meshes": meshes, "build_order": build_order,
        "classify": classify, "complete": complete, "safety_margin": safety_margin,
    }  # fmt: skip
    flags = po.config_overrides(po.BRICKIFY_OPTIONS, values)
    if force:
        flags["max_parts"] = None
    cfg = job_config(BrickifyConfig, config, flags)
    with progress_bar(not quiet) as cb:
        result = run_brickify(input, output, cfg, progress=cb)
    s = result.summary
    for line in pick_lines(s.get("clean")):
        typer.echo(line)
    size = s["size"]
    stab = s["stability"] or {}
    echo_input_notes(s.get("input") or {})
    typer.echo(
        f"{s['parts']['total']:,} parts ({s['parts']['distinct']} kinds, "
        f"{len(s['colors'])} colours), "
        f"{size['studs'][0]} x {size['studs'][1]} studs x {size['plates']} plates "
        f"({' x '.join(str(c) for c in size['cm'])} cm), {s['mass_g']} g"
    )
    typer.echo(f"physics: {physics_text(stab)}")
    if s.get("left_out"):
        lo = s["left_out"]
        typer.echo(
            f"left out {lo['parts']} parts ({lo['cells']} cells) that only a hand could hold in "
            "place; every other part is pressed on (summary.json: left_out)"
        )
    if (s.get("layout") or {}).get("time_limited"):
        typer.echo(f"warning: {s['layout']['connectivity']['notes'][-1]}", err=True)
    if s.get("completion"):
        c = s["completion"]
        done = f"added {c.get('added_cells', 0):,} cells" if c["applied"] else "not applied"
        typer.echo(f"completion: {done} ({c['reason']})")
    steps = s.get("instructions") or {}
    if steps.get("steps"):
        typer.echo(f"instructions: {steps['steps']} steps ({steps_text(steps)})")
    for line in problem_lines(steps.get("problems") or []):
        typer.echo(line, err=True)
    typer.echo(f"wrote {output}/ ({', '.join(top_level_outputs(output))})")
    typer.echo(s["verdict"]["headline"])
