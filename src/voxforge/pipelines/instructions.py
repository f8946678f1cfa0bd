"""The instructions job: an LDraw model of catalogue parts -> build plan -> booklets.

The plan is the file's own steps where the reader can recover them (``read_ldraw_plan``), else a
build-order search (``plan_build``); the model is written back as ``model.mpd`` with that plan
(steps, view hints, sub-assemblies), next to the booklets.
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from voxforge.bricks.order.plan import BuildPlan
from voxforge.core.brickmodel import BrickModel
from voxforge.core.config import dump_config
from voxforge.core.errors import GeometryError
from voxforge.core.outputs import OutputDir
from voxforge.core.progress import Progress, ProgressCallback
from voxforge.instructions.booklet import InstructionsConfig, make_scene, write_instructions
from voxforge.instructions.steps import choose_views
from voxforge.pipelines.common import Timer

log = logging.getLogger(__name__)

STAGES = {"read": 1, "plan": 2, "views": 1, "write": 8}


@dataclass
class InstructionsResult:
    model: BrickModel
    plan: BuildPlan
    out_dir: Path
    summary: dict[str, Any]


def read_model_and_plan(path: Path) -> tuple[BrickModel, BuildPlan | None]:
    """The model and the file's own build plan, when the LDraw reader can recover one."""
    from voxforge.bricks import ldraw

    reader = getattr(ldraw, "read_ldraw_plan", None)
    if reader is not None:
        return reader(path)
    return ldraw.read_ldraw(path, steps=False), None


def plan_for(
    model: BrickModel, progress: ProgressCallback | None = None, *, view_hints: bool = True
) -> BuildPlan:
    """A build order for ``model``: the build-order search when it is installed, else bottom
    layers first (:func:`~voxforge.instructions.booklet.layer_plan`).

    ``view_hints`` False skips the planner's heightmap view guesses, for callers that choose
    the views by rendering (:func:`~voxforge.instructions.steps.choose_views`) anyway."""
    try:
        from voxforge.bricks.order.planner import plan_build
    except ImportError:
        from voxforge.instructions.booklet import layer_plan

        log.info("voxforge.bricks.order.planner is not available; building layer by layer")
        return layer_plan(model)
    from voxforge.bricks.order.planner import OrderConfig

    return plan_build(model, OrderConfig(view_hints=view_hints), progress=progress)


def write_model_mpd(model: BrickModel, plan: BuildPlan, path: Path, title: str) -> str:
    """Write ``model`` as an MPD with ``plan``'s steps; returns how the steps were written.

    Uses the writer's ``plan=`` (STEP, ROTSTEP, sub-assembly FILE sections) where it has one,
    else one STEP per plan step through ``Placement.step`` (no view hints, no sub-models).
    """
    from voxforge.bricks.ldraw import write_mpd

    if "plan" in inspect.signature(write_mpd).parameters:
        write_mpd(model, path, title=title, plan=plan)
        return "plan"
    step = plan.step_of(len(model.placements))
    stepped = replace(
        model, placements=[replace(p, step=int(s)) for p, s in zip(model.placements, step, strict=True)]
    )
    write_mpd(stepped, path, title=title, steps="placement")
    return "placement"


def run_instructions(
    mpd_path: str | Path,
    out_dir: str | Path,
    config: InstructionsConfig | None = None,
    progress: ProgressCallback | None = None,
    *,
    title: str | None = None,
) -> InstructionsResult:
    """Building instructions for an existing LDraw model made of catalogue parts.

    Outputs (listed in ``manifest.json``): the booklets ``config.formats`` asks for
    (``instructions.pdf``, ``instructions.html``, ``steps/`` + ``instructions.json``), the
    re-stepped ``model.mpd``, ``summary.json`` and ``config.yaml``. Nothing appears unless all
    of it was written.
    """
    config = config or InstructionsConfig()
    prog = Progress(progress, STAGES)
    timer = Timer()
    path = Path(mpd_path)
    prog("read", 0.0)
    with timer("read"):
        model, plan = read_model_and_plan(path)
    if len(model.placements) == 0:
        raise GeometryError(f"{path}: the model has no parts to build")
    title = title or str(model.meta.get("title") or "") or path.stem
    return instructions_for_model(
        model, out_dir, config, prog, title=title, plan=plan, input_path=path, timer=timer
    )


def instructions_for_model(
    model: BrickModel,
    out_dir: str | Path,
    config: InstructionsConfig | None = None,
    progress: ProgressCallback | None = None,
    *,
    title: str = "model",
    plan: BuildPlan | None = None,
    input_path: Path | None = None,
    timer: Timer | None = None,
) -> InstructionsResult:
    """Plan (unless ``plan`` is given) and write the booklets and ``model.mpd`` of an in-memory
    model, with the same outputs as :func:`run_instructions`."""
    config = config or InstructionsConfig()
    prog = progress if isinstance(progress, Progress) else Progress(progress, STAGES)
    timer = timer or Timer()
    if len(model.placements) == 0:
        raise GeometryError(f"{title}: the model has no parts to build")
    prog("plan", 0.0)
    with timer("plan"):
        source = "file" if plan is not None else "search"
        if plan is None:
            plan = plan_for(model, prog.sub("plan"), view_hints=not config.renders_views)
        plan.validate(len(model.placements))
    scene = None
    if config.formats:
        with timer("views"):
            scene = make_scene(model, config)
            if config.turn_hidden:
                plan = choose_views(scene, plan, config.view_config(), prog.sub("views"))
    where = str(input_path) if input_path is not None else None
    summary: dict[str, Any] = {
        "input": {"path": where, "parts": len(model.placements), "plan": source},
        "plan": _jsonable(plan.summary()),
    }
    prog("write", 0.0)
    with OutputDir(out_dir, extra={"job": "instructions", "title": title}) as od:
        with timer("write"):
            summary["instructions"] = write_instructions(
                model, plan, od, title, config, prog.sub("write"), scene=scene
            )
            summary["model_steps"] = write_model_mpd(model, plan, od.path("model.mpd"), title)
            od.add("model.mpd", "the model with the build plan's steps")
        od.path("config.yaml").write_text(dump_config(config))
        od.add("config.yaml", "resolved configuration")
        summary["timings_s"] = timer.timings
        od.path("summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        od.add("summary.json", "plan figures, booklet figures, timings")
    prog("write", 1.0)
    return InstructionsResult(model, plan, Path(out_dir), summary)


def _jsonable(obj: Any) -> Any:
    """Plain JSON types (numpy scalars and tuples from plan info)."""
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
