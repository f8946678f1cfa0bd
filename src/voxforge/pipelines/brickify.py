"""The brickify job: any input -> voxel grid -> LEGO colours -> brick layout -> physics -> outputs."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from voxforge.bricks.colors.assign import ColorConfig
from voxforge.bricks.lay import LayoutConfig
from voxforge.bricks.physics.stability import PhysicsConfig
from voxforge.bricks.repair.leave_out import held_parts
from voxforge.bricks.verdict import DEFAULT_SAFETY_MARGIN
from voxforge.core.brickmodel import BrickModel
from voxforge.core.config import dump_config
from voxforge.core.errors import SizeLimitError, VoxforgeError
from voxforge.core.outputs import OutputDir
from voxforge.core.progress import Progress, ProgressCallback
from voxforge.instructions.booklet import InstructionsConfig
from voxforge.pipelines.common import InputConfig, Timer, check_single_units, jsonable, prepare_grid
from voxforge.pipelines.options import BRICKIFY_OPTIONS, check_choices
from voxforge.scan import CleanConfig
from voxforge.voxel import VoxelizeConfig

MESH_OUTPUTS = {
    "glb": "glTF binary, y-up, metres, colours; the visible surface only",
    "obj": "Wavefront OBJ, y-up, metres",
    "stl": "binary STL, z-up, millimetres",
    "ply": "binary PLY, z-up, millimetres, vertex colours",
    "gltf": "glTF with its buffer embedded, y-up, metres, a material per colour",
    "3mf": "3MF, z-up, millimetres, a base material per colour",
    "usda": "USD text, y-up, millimetres, a UsdPreviewSurface per colour",
    "usdz": "USDZ for AR Quick Look, y-up, millimetres, a UsdPreviewSurface per colour",
    "fbx": "FBX (Blender or assimp), y-up, centimetres, a material per colour",
}
"""The brick model as meshes, each in its format's own up axis and unit (see ``export_mesh``;
glb, obj and stl through ``io.meshes``, the others through ``bricks.export``)."""

MeshFormat = Literal["glb", "obj", "stl", "ply", "gltf", "3mf", "usda", "usdz", "fbx"]


class BrickifyConfig(BaseModel):
    """Everything the brickify job needs; loadable from YAML (CLI flags win)."""

    model_config = ConfigDict(extra="forbid")

    input: InputConfig = Field(default_factory=InputConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    voxel: VoxelizeConfig = Field(default_factory=VoxelizeConfig)
    colors: ColorConfig = Field(default_factory=ColorConfig)
    layout: LayoutConfig = Field(default_factory=LayoutConfig)
    physics: PhysicsConfig = Field(
        default_factory=lambda: PhysicsConfig(safety_margin=DEFAULT_SAFETY_MARGIN),
        description="Stability analysis; safety_margin: the share of every stud's clutch a "
        "buildable model leaves unused (default 0.2).",
    )
    max_filled_cells: int = Field(
        400_000, ge=1, description="Refuse grids with more filled cells than this (memory/time cap)."
    )
    max_parts: int | None = Field(
        8_000,
        ge=1,
        description="Part budget: refuse a model over this many parts (estimated before the "
        "layout as filled cells / 24, a 2 x 4 brick's cells; counted after it); None (--force) "
        "builds any size.",
    )
    preview_size: int = Field(1024, ge=64, le=4096, description="Preview PNG size in pixels.")
    complete: Literal["auto", "on", "off"] = Field(
        "off",
        description="Fill the unseen side of a scan with the completion network (auto: only when "
        "the scan is one-sided); completed parts are shaded lighter in preview.png.",
    )
    title: str | None = Field(None, description="Model title in the LDraw file; default: input name.")
    classify: bool = Field(
        False,
        description="Name the object with the shipped ModelNet10 classifier (summary.json; "
        "costs seconds, so only when asked).",
    )
    meshes: list[MeshFormat] = Field(
        default_factory=lambda: ["glb"],
        description="Brick-model meshes to write: any of glb, obj, stl, ply, gltf, 3mf, usda, usdz, "
        "fbx (model.EXT); [] or 'none' "
        "writes none. A comma-separated string is accepted.",
    )
    build_order: bool | None = Field(
        None,
        description="Plan a build order (model.mpd steps and sub-assemblies); None: only when "
        "instruction booklets are written (else model.mpd has one STEP per layer).",
    )
    leave_out_held: bool = Field(
        True,
        description="When the build order leaves parts that only a hand could hold in place "
        "(hanging inside a sub-assembly whichever way up it is built), leave them out if the "
        "model still stands in one piece and they hold at most 2% of its cells; summary.json "
        "lists them (left_out).",
    )
    instructions: InstructionsConfig = Field(
        default_factory=InstructionsConfig,
        description="Building instructions: booklets to write (formats: [] for none) and their look.",
    )

    @field_validator("meshes", mode="before")
    @classmethod
    def _split_meshes(cls, value: Any) -> Any:
        if isinstance(value, str):
            items = [v.strip().lower() for v in value.split(",") if v.strip()]
            return [] if items in (["none"], ["off"]) else items
        return value

    @field_validator("meshes")
    @classmethod
    def _unique_meshes(cls, value: list[str]) -> list[str]:
        return [f for f in MESH_OUTPUTS if f in value]

    @property
    def plans(self) -> bool:
        """Whether the job plans a build order (booklets or a stepped ``model.mpd`` asked for)."""
        return bool(self.instructions.formats) if self.build_order is None else self.build_order

    @model_validator(mode="after")
    def _one_unit_knob(self) -> BrickifyConfig:
        check_single_units(self.input, self.clean)
        return self

    @model_validator(mode="after")
    def _known_choices(self) -> BrickifyConfig:
        check_choices(self, BRICKIFY_OPTIONS)  # an unknown layout strategy fails before any reading
        return self


@dataclass
class BrickifyResult:
    model: BrickModel
    out_dir: Path
    summary: dict[str, Any]


log = logging.getLogger(__name__)

WEAK_SPOT_STYLE = {"highlight_rgb": (0.9, 0.05, 0.05), "highlight_width": 5.0}
"""How ``preview.png`` outlines the most stressed parts of a model that is not buildable
(:class:`~voxforge.render.raster.RenderOptions` fields)."""

STAGES = {
    "read": 1,
    "clean": 2,
    "voxelize": 3,
    "colors": 1,
    "layout": 6,
    "physics": 3,
    "plan": 2,
    "write": 6,
}


def run_brickify(
    input_path: str | Path,
    out_dir: str | Path,
    config: BrickifyConfig | None = None,
    progress: ProgressCallback | None = None,
) -> BrickifyResult:
    """Turn any supported input into a buildable brick model and write every output atomically.

    Outputs (listed in ``manifest.json``): ``model.mpd`` (with the build plan's steps),
    ``bom.csv``, ``bricklink.xml``, ``rebrickable.csv``, ``summary.json``, ``preview.png``,
    the meshes ``config.meshes`` asks for (``model.glb`` by default, ``model.obj``,
    ``model.stl``), ``grid.npz``, ``config.yaml``, and the instruction booklets
    ``config.instructions.formats`` asks for (``instructions.pdf``, ``instructions.html``,
    ``steps/`` + ``instructions.json``).
    """
    config = config or BrickifyConfig()
    prog = Progress(progress, STAGES)
    timer = Timer()
    input_path = Path(input_path)

    grid, source_info, clean_report = prepare_grid(
        input_path, config.input, config.clean, config.voxel, prog, timer, config.complete
    )

    def classify_and_lay(grid: Any, config: BrickifyConfig) -> tuple[Any, ...]:
        check_grid_caps(grid, config)
        classification = None
        if config.classify:
            with timer("classify"):
                classification = classify_grid(grid)
        return classification, *lay_and_check(grid, config, prog, timer)

    try:
        classification, model, layout_report, stab = classify_and_lay(grid, config)
    except PartBudgetError as e:
        if not fits_width_by_default(config):
            raise
        # The width is the default, not the user's: build the widest model that fits (a tall
        # bottle at 32 studs wide would stand 290 plates high) and say so.
        config = config.model_copy(
            update={"voxel": config.voxel.model_copy(update={"width_studs": e.fits_width})}
        )
        grid, source_info, clean_report = prepare_grid(
            input_path, config.input, config.clean, config.voxel, prog, timer, config.complete
        )
        classification, model, layout_report, stab = classify_and_lay(grid, config)
        source_info["width_note"] = (
            f"built {e.fits_width} studs wide: at the default width the model would take "
            f"{e.what}, over the part budget of {config.max_parts:,}; --width-studs chooses the "
            "width, --force builds it anyway"
        )
    plan = scene = None
    if config.plans:
        prog("plan", 0.0)
        with timer("plan"):
            plan, scene = plan_with_views(model, config.instructions, prog.sub("plan"))
    left_out = None
    if plan is not None and config.leave_out_held and held_parts(plan):
        with timer("leave_out"):
            model, stab, kept_plan, left_out = leave_out_held_parts(model, stab, plan, config)
        if left_out is not None:  # the kept model's plan is made: only its views are left
            plan, scene = plan_with_views(model, config.instructions, prog.sub("plan"), kept_plan)
    prog("plan", 1.0)

    title = config.title or input_path.stem
    summary = build_summary(model, grid, layout_report, stab, source_info, clean_report, timer)
    summary["input"]["path"] = str(input_path)
    if classification is not None:
        summary["classification"] = classification
    if "completion" in grid.meta:
        summary["completion"] = completion_summary(grid, model)
    if left_out is not None:
        summary["left_out"] = left_out
    verdict = judge_model(model, stab, summary, plan, config.physics.safety_margin)

    prog("write", 0.0)
    with timer("write"):
        write_brick_outputs(
            model,
            Path(out_dir),
            title,
            summary,
            config,
            grid,
            prog.sub("write"),
            plan=plan,
            scene=scene,
            weak=outlined_parts(model, verdict),
        )
    return BrickifyResult(model=model, out_dir=Path(out_dir), summary=summary)


def check_grid_caps(grid: Any, config: BrickifyConfig) -> None:
    """Refuse a grid over the layout's cell cap or, by its estimated part count, the part budget,
    before any layout work starts.

    Raises:
        SizeLimitError: naming the cap and what to change.
    """
    if grid.count > config.max_filled_cells:
        raise SizeLimitError(
            f"{grid.count:,} filled cells is over the brick-layout cap of "
            f"{config.max_filled_cells:,}; use a smaller --width-studs or --hollow"
        )
    check_part_budget(config.max_parts, grid.count // CELLS_PER_PART_ESTIMATE, grid, estimated=True)


def lay_and_check(
    grid: Any, config: BrickifyConfig, prog: Progress, timer: Timer
) -> tuple[BrickModel, Any, Any]:
    """(model, layout report, stability analysis): LEGO colours, the layout with its stability
    repair, the part budget on the laid model and the final physics check of ``grid``.

    The steps every brick job shares (the ``brickify`` job and :func:`voxforge.api.brickify`),
    timed under ``timer`` and reported to ``prog`` as the stages colors, layout and physics.
    """
    from voxforge.bricks.colors.assign import assign_colors
    from voxforge.bricks.lay import lay_bricks
    from voxforge.bricks.physics.stability import analyze_stability

    prog("colors", 0.0)
    with timer("colors"):
        codes = assign_colors(grid, config.colors)
    checked: dict[tuple, Any] = {}

    def stability(model: BrickModel) -> Any:
        # The layout's repair loop checks the model it returns; remember that verdict so the
        # final check does not solve the same LP twice.
        key = tuple(model.placements)
        if key not in checked:
            checked.clear()
            checked[key] = analyze_stability(model, config.physics)
        return checked[key]

    prog("layout", 0.0)
    with timer("layout"):
        model, layout_report = lay_bricks(
            grid,
            codes,
            config.layout,
            stability=stability,
            progress=prog.sub("layout"),
            target_margin=config.physics.safety_margin,
        )
    check_part_budget(config.max_parts, len(model.placements), grid, estimated=False)
    prog("physics", 0.0)
    with timer("physics"):
        stab = stability(model)
    prog("physics", 1.0)
    return model, layout_report, stab


def leave_out_held_parts(
    model: BrickModel, stab: Any, plan: Any, config: BrickifyConfig
) -> tuple[BrickModel, Any, Any, dict[str, Any] | None]:
    """(model, stability, build plan, what was left out or None): the model without the parts
    only a hand could hold, when that model is no worse
    (:func:`voxforge.bricks.repair.leave_out.leave_out_held`); its plan is made with the view
    hints :func:`plan_with_views` asks for, so that it can go on from there."""
    from voxforge.bricks.repair.leave_out import leave_out_held
    from voxforge.pipelines.instructions import plan_for

    rendered = bool(config.instructions.formats) and config.instructions.renders_views
    kept = leave_out_held(
        model, stab, plan, config.physics, lambda m: plan_for(m, None, view_hints=not rendered)
    )
    if kept is None:
        return model, stab, plan, None
    return kept.model, kept.stability, kept.plan, kept.summary


CELLS_PER_PART_ESTIMATE = 24
"""Cells of a 2 x 4 brick: laid models average 8-22 cells per part, so filled cells / 24 seldom
overestimates the part count (the budget is checked again on the laid model)."""


class PartBudgetError(SizeLimitError):
    """A model over the part budget; ``fits_width`` is a width in studs that should fit (parts
    grow with the square of the width, about) and ``what`` the count that was over."""

    def __init__(self, message: str, fits_width: int, what: str) -> None:
        super().__init__(message)
        self.fits_width = fits_width
        self.what = what


def fits_width_by_default(config: BrickifyConfig) -> bool:
    """Whether a model over the part budget may be built narrower instead of refused: the width
    is the default one (no ``width_studs`` chosen), fitted on the LEGO lattice."""
    v = config.voxel
    return (
        config.max_parts is not None
        and v.scale == "fit"
        and v.lattice == "lego"
        and "width_studs" not in v.model_fields_set
    )


def check_part_budget(budget: int | None, parts: int, grid: Any, *, estimated: bool) -> None:
    """Refuse a model over the part budget, naming a width that fits and ``--force``.

    Raises:
        PartBudgetError: ``parts`` is over ``budget`` (None: no budget).
    """
    if budget is None or parts <= budget:
        return
    what = (
        f"about {parts:,} parts (from {grid.count:,} filled cells)" if estimated else f"{parts:,} parts"
    )
    width = max(int(grid.shape[0]), int(grid.shape[1]))
    smaller = max(1, int(width * (budget / parts) ** 0.5))
    raise PartBudgetError(
        f"the model would take {what}, over the part budget of {budget:,} (max_parts); "
        f"use --width-studs {smaller} or less, or --force to build it anyway",
        smaller,
        what,
    )


def completed_parts(model: BrickModel, grid: Any) -> np.ndarray | None:
    """(n,) bool: parts whose cells are mostly completion-added (None without a completion)."""
    cells = None if grid is None else grid.meta.get("completed_cells")
    if cells is None or not len(model.placements):
        return None
    added = np.zeros(grid.shape, dtype=bool)
    added[tuple(np.asarray(cells, dtype=np.int64).reshape(-1, 3).T)] = True
    out = np.zeros(len(model.placements), dtype=bool)
    for i, p in enumerate(model.placements):
        box = added[p.x : p.x + p.sx, p.y : p.y + p.sy, p.z : p.z + p.h]
        out[i] = box.size > 0 and box.mean() > 0.5
    return out


def completion_summary(grid: Any, model: BrickModel) -> dict[str, Any]:
    """The completion report with the added cells' (x, y, z) lattice indices and the indices of
    the parts standing mostly on them."""
    info = dict(grid.meta["completion"])
    cells = grid.meta.get("completed_cells")
    if cells is not None:
        info["added_cell_indices"] = np.asarray(cells).tolist()
        parts = completed_parts(model, grid)
        info["completed_parts"] = [] if parts is None else np.flatnonzero(parts).tolist()
    return jsonable(info)


def plan_with_views(
    model: BrickModel,
    config: InstructionsConfig,
    progress: ProgressCallback | None = None,
    plan: Any = None,
) -> tuple[Any, Any]:
    """The build plan of ``model`` and, when booklets are wanted, the step renderer, with turned
    views chosen for steps whose new parts the default view hides (so ``model.mpd`` carries the
    same ``ROTSTEP`` hints the booklet shows). ``plan``: the model's plan, already searched with
    heightmap view hints exactly when the views are not rendered (the search is skipped)."""
    from voxforge.instructions.booklet import make_scene
    from voxforge.instructions.steps import choose_views
    from voxforge.pipelines.instructions import plan_for

    report = progress or (lambda stage, f: None)
    booklet = bool(config.formats) and len(model.placements) > 0
    rendered = booklet and config.renders_views
    if plan is None:
        plan = plan_for(model, lambda stage, f: report("plan", 0.8 * f), view_hints=not rendered)
    scene = None
    if booklet:
        scene = make_scene(model, config)
        if rendered:
            plan = choose_views(scene, plan, config.view_config())
    report("plan", 1.0)
    return plan, scene


def judge_model(
    model: BrickModel, stab: Any, summary: dict[str, Any], plan: Any, safety_margin: float
) -> Any:
    """The builder's verdict (:func:`voxforge.bricks.verdict.judge`), stored as
    ``summary["verdict"]`` and, for the booklet's cover, as ``plan.info["verdict"]``."""
    from voxforge.bricks.verdict import judge, weak_joints, weak_spots

    info = plan.info if plan is not None else None
    verdict = judge(
        summary["connectivity"],
        summary["stability"],
        info,
        safety_margin,
        weak_spots(model, stab),
        weak_joints(stab),
    )
    summary["verdict"] = verdict.as_dict()
    if plan is not None:
        plan.info["verdict"] = verdict.cover_line()
    return verdict


def outlined_parts(model: BrickModel, verdict: Any) -> list[int]:
    """Parts ``preview.png`` outlines in red: the most stressed ones when the model does not
    stand with the safety margin, and every part outside the biggest piece when it is in
    several; none for a buildable model."""
    from voxforge.bricks.connectivity import components

    out: list[int] = []
    if verdict.physics != "STABLE" or (verdict.margin or 0.0) < verdict.safety_margin:
        out += [w.part for w in verdict.weak]
    if verdict.pieces > 1:
        comp = components(model)
        main = int(np.argmax(np.bincount(comp)))
        out += np.flatnonzero(comp != main).tolist()
    return sorted(set(out))


def preview_image(
    model: BrickModel, palette: dict[int, Any], size: int, weak: list[int], dim: Any = None
) -> np.ndarray:
    """The preview: the model from the front corner, with the ``weak`` parts outlined in red,
    where they show and, as an x-ray silhouette, where other parts hide them (``dim``: parts
    drawn faded, see ``render_bricks``)."""
    from voxforge.render.bricks import model_corners, render_bricks
    from voxforge.render.camera import framing_camera
    from voxforge.render.raster import RenderOptions

    if not weak:
        return render_bricks(model, palette, size=size, dim=dim)
    cam = framing_camera(model_corners(model), size, 45.0, 30.0, 0.04)
    style = RenderOptions(**WEAK_SPOT_STYLE)
    image = render_bricks(model, palette, camera=cam, highlight=weak, dim=dim, options=style)
    only = BrickModel([model.placements[i] for i in weak], model.shape, model.pitch, model.origin)
    alpha = render_bricks(only, palette, camera=cam, background=None)[..., 3] > 0
    ring = _ring(alpha, max(2, size // 300))
    red = np.array([round(255 * c) for c in WEAK_SPOT_STYLE["highlight_rgb"]], dtype=np.uint8)
    image[ring] = red
    return image


def _ring(mask: np.ndarray, width: int) -> np.ndarray:
    """(H, W) bool pixels within ``width`` outside the silhouette ``mask``."""
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=width) & ~mask


def classify_grid(grid: Any) -> dict[str, Any]:
    """Top classes of the shipped classifier for the voxel grid; an error is recorded, not raised.

    Naming the object is a courtesy in the summary: a missing model or an odd grid must not cost
    the user the brick model.
    """
    try:
        from voxforge.nn.classify.inference import classify_object

        return classify_object(grid).to_dict()
    except (VoxforgeError, ImportError) as err:
        log.warning("classification skipped: %s", err)
        return {"error": str(err)}


def build_summary(
    model: BrickModel,
    grid: Any,
    layout_report: Any,
    stability: Any,
    source_info: dict[str, Any],
    clean_report: dict[str, Any] | None,
    timer: Timer,
) -> dict[str, Any]:
    """Everything a person or a test wants to know about the result, JSON-safe."""
    from voxforge.bricks.catalogue import catalogue
    from voxforge.bricks.colors.palette import load_colors
    from voxforge.bricks.connectivity import connectivity_report

    parts = catalogue()
    colours = load_colors()
    part_counts = Counter(p.part for p in model.placements)
    kind_counts = Counter(parts[p.part].kind for p in model.placements)
    colour_counts = Counter(p.color for p in model.placements)
    mass = float(sum(parts[k].mass_g * n for k, n in part_counts.items()))
    occ = model.occupancy()
    size: dict[str, Any] = {}
    if occ.any():
        idx = np.argwhere(occ)
        cells = idx.max(axis=0) - idx.min(axis=0) + 1
        size = {
            "studs": [int(cells[0]), int(cells[1])],
            "plates": int(cells[2]),
            "cm": [round(float(c), 1) for c in cells * model.pitch * 100],
        }
    return {
        "input": dict(source_info),
        "clean": clean_report,
        "grid": {"shape": list(grid.shape), "filled": grid.count},
        "parts": {
            "total": len(model),
            "distinct": len(part_counts),
            "by_part": dict(sorted(part_counts.items())),
            "by_kind": dict(sorted(kind_counts.items())),
        },
        "colors": [
            {
                "code": int(code),
                "name": colours[code].name if code in colours else str(code),
                "parts": int(n),
            }
            for code, n in colour_counts.most_common()
        ],
        "size": size,
        "mass_g": round(mass, 1),
        "stability": jsonable(_as_dict(stability)),
        "connectivity": connectivity_report(model).as_dict(),
        "layout": jsonable(_as_dict(layout_report)),
        "timings_s": timer.timings,
    }


def write_brick_outputs(
    model: BrickModel,
    out_dir: Path,
    title: str,
    summary: dict[str, Any],
    config: BaseModel,
    grid: Any = None,
    progress: ProgressCallback | None = None,
    *,
    plan: Any = None,
    scene: Any = None,
    weak: list[int] | None = None,
) -> None:
    """Write the LDraw model, parts lists, preview, GLB and summary into ``out_dir`` atomically;
    with a build ``plan`` (:class:`~voxforge.bricks.order.plan.BuildPlan`), ``model.mpd`` follows its
    steps and the booklets ``config.instructions`` asks for are written (``scene``: a step
    renderer to reuse). ``weak``: parts outlined in red in ``preview.png`` (the weak spot of a
    model that is not buildable)."""
    from PIL import Image

    from voxforge.bricks import bom
    from voxforge.bricks.colors.palette import load_colors
    from voxforge.bricks.geometry import brick_model_trimesh
    from voxforge.bricks.ldraw import write_mpd
    from voxforge.instructions.booklet import write_instructions
    from voxforge.io import save_voxels
    from voxforge.io.meshes import export_mesh
    from voxforge.pipelines.instructions import write_model_mpd

    report = progress or (lambda stage, f: None)
    palette = {code: c.srgb for code, c in load_colors().items()}
    with OutputDir(out_dir, extra={"job": "brickify", "title": title}) as od:
        if plan is None or not len(model.placements):
            write_mpd(model, od.path("model.mpd"), title=title)
            od.add("model.mpd", "LDraw model, one STEP per layer")
        else:
            write_model_mpd(model, plan, od.path("model.mpd"), title)
            od.add("model.mpd", "LDraw model, one STEP per build step")
        rows = bom.bill_of_materials(model)
        bom.write_bom_csv(rows, od.path("bom.csv"))
        od.add("bom.csv", "bill of materials")
        bom.write_bricklink_xml(rows, od.path("bricklink.xml"))
        od.add("bricklink.xml", "BrickLink wanted-list upload")
        bom.write_rebrickable_csv(rows, od.path("rebrickable.csv"))
        od.add("rebrickable.csv", "Rebrickable part list")
        report("write", 0.3)
        image = preview_image(
            model,
            palette,
            getattr(config, "preview_size", 1024),
            weak or [],
            dim=completed_parts(model, grid),
        )
        Image.fromarray(image).save(od.path("preview.png"))
        od.add(
            "preview.png",
            "rendered preview of the brick model" + (" (the weak spot outlined in red)" if weak else ""),
        )
        report("write", 0.6)
        meshes: dict[bool, Any] = {}
        for ext in getattr(config, "meshes", MESH_OUTPUTS):
            # the glTF file is for looking at: its surface only (faces and studs other parts
            # cover left out, a fraction of the bytes); OBJ and STL keep every part whole
            if ext not in ("glb", "obj", "stl"):
                from voxforge.bricks.export import export_brick_model

                export_brick_model(model, od.path(f"model.{ext}"))
                od.add(f"model.{ext}", f"brick model geometry with studs ({MESH_OUTPUTS[ext]})")
                continue
            surface = ext == "glb"
            if surface not in meshes:
                meshes[surface] = brick_model_trimesh(model, palette, cull_hidden=surface)
            od.path(f"model.{ext}").write_bytes(export_mesh(meshes[surface], ext))
            od.add(f"model.{ext}", f"brick model geometry with studs ({MESH_OUTPUTS[ext]})")
        if grid is not None:
            save_voxels(grid, od.path("grid.npz"))
            od.add("grid.npz", "the voxel grid the bricks were laid on")
        booklet = getattr(config, "instructions", None)
        if plan is not None and len(model.placements):
            figures = {"formats": []}
            if booklet is not None and booklet.formats:
                figures = write_instructions(
                    model,
                    plan,
                    od,
                    title,
                    booklet,
                    lambda s, f: report("write", 0.7 + 0.25 * f),
                    scene=scene,
                )
            summary["instructions"] = jsonable({**plan.summary(), **figures})
        od.path("config.yaml").write_text(dump_config(config))
        od.add("config.yaml", "resolved configuration")
        od.path("summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        od.add("summary.json", "part counts, size, mass, stability, timings")
    report("write", 1.0)


def _as_dict(obj: Any) -> Any:
    if obj is None:
        return None
    if hasattr(obj, "as_dict"):
        return obj.as_dict()
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    return obj
