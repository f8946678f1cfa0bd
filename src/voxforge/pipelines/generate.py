"""The generate job: a sentence in, N different 3D models (and LEGO models) out.

:func:`run_generate` reads the prompt, draws ``variations`` shapes from the text-to-shape generator
(:mod:`voxforge.nn.generate.generator`) and writes, for each variation ``vK/``: ``voxels.npz`` (the
grid, with the probabilities), ``model.obj`` / ``model.stl`` / ``model.glb`` (the surface),
``model.ply`` (surface points, with ``output: points``), ``preview.png`` and, with ``brickify``,
``bricks/`` (the full brick engine output: model.mpd, parts lists, booklets). The top folder holds
``variations.png`` (every variation side by side to choose from; also as ``preview.png``),
``model.glb`` (variation 1, for a viewer that shows one model), ``summary.json`` (how the prompt
was read, the note for an unknown object, timings) and ``config.yaml``. Everything goes through
:class:`~voxforge.core.outputs.OutputDir`, so nothing appears when a step fails.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from voxforge.core.config import dump_config
from voxforge.core.outputs import OutputDir
from voxforge.core.progress import Progress, ProgressCallback
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.pipelines.brickify import BrickifyConfig
from voxforge.pipelines.common import Timer, jsonable

STAGES = {"generate": 0.3, "write": 0.3, "bricks": 0.4}


class GenerateConfig(BaseModel):
    """Everything the generate job needs; loadable from YAML (CLI flags win)."""

    model_config = ConfigDict(extra="forbid")

    variations: int = Field(4, ge=1, le=16, description="Different shapes made for the prompt.")
    seed: int = Field(0, ge=0, description="Seed of the variations (same seed, same shapes).")
    guidance: float | None = Field(
        None,
        ge=0.0,
        le=20.0,
        description="Classifier-free guidance: higher follows the prompt "
        "more closely with less variety; 1 samples the model as trained, 0 ignores the prompt; "
        "default: the model's own (its card says how it was chosen).",
    )
    steps: int = Field(40, ge=2, le=1000, description="Denoising steps (DDIM).")
    image_strength: float = Field(
        0.6,
        gt=0.0,
        le=1.0,
        description="With an image: share of the denoising run from the picture's shape "
        "(lower keeps more of the picture, 1 ignores it).",
    )
    output: Literal["voxels", "mesh", "points"] = Field(
        "mesh",
        description="'mesh': smoothed surface of the occupancy; 'voxels': the surface of the "
        "filled cells as they are; 'points': the smoothed surface plus surface points (PLY).",
    )
    threshold: float | None = Field(
        None, gt=0.0, lt=1.0, description="Occupancy of a filled cell; default: the model's."
    )
    height_cm: float = Field(
        20.0, gt=0.0, le=100_000.0, description="Height the meshes are scaled to, cm."
    )
    weights: Path | None = Field(None, description="Generator weights; default: the shipped model.")
    preview_size: int = Field(256, ge=64, le=4096, description="Height of each preview.png, pixels.")
    brickify: bool = Field(False, description="Build each variation in bricks (vK/bricks/).")
    stud_budget: int = Field(32, ge=1, le=1000, description="Longest side of each brick model, studs.")
    bricks: BrickifyConfig = Field(default_factory=BrickifyConfig, description="Brick engine options.")


class GenerateJobConfig(GenerateConfig):
    """The generate job as the service takes it: the options plus the prompt (a JSON body)."""

    prompt: str = Field(..., description='What to make, e.g. "a low wide sofa".')

    @field_validator("prompt")
    @classmethod
    def _usable(cls, v: str) -> str:
        from voxforge.nn.generate.prompts import check_prompt

        return check_prompt(v)  # PromptError (422) names the classes it makes


def run_generate_job(
    input_path: Path | None,
    out_dir: str | Path,
    config: GenerateJobConfig,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Service adapter: the prompt comes in the options, there is no uploaded file."""
    return run_generate(config.prompt, out_dir, config, progress)


def run_generate(
    prompt: str,
    out_dir: str | Path,
    config: GenerateConfig | None = None,
    progress: ProgressCallback | None = None,
    generator: Any = None,
    image: Path | str | bytes | None = None,
) -> dict[str, Any]:
    """Generate ``config.variations`` models for ``prompt`` into ``out_dir``; returns the summary.

    With ``image`` (a photo of one object) the shapes start from the picture's reconstruction and
    follow the prompt (:mod:`voxforge.nn.generate.hybrid`).

    Raises:
        PromptError: unusable prompt (empty, overlong, another script).
        ConfigError: missing weights, options out of range.
        InputFormatError, UnsupportedInputError, SizeLimitError, GeometryError: an unusable image.
    """
    from voxforge.nn.generate.generator import DEFAULT_MODEL, load_generator
    from voxforge.nn.generate.prompts import check_prompt

    config = config or GenerateConfig()
    check_prompt(prompt)
    stages = dict(STAGES) if config.brickify else {k: v for k, v in STAGES.items() if k != "bricks"}
    prog = Progress(progress, stages)
    timer = Timer()
    with timer("generate"):
        prog("generate")
        picture = None
        if image is not None:  # a bad picture fails before any model loads
            from voxforge.nn.generate.hybrid import generate_with_picture, picture_shape

            picture = picture_shape(image)
        gen = generator or load_generator(config.weights or DEFAULT_MODEL)
        if config.threshold is not None:
            gen.threshold = config.threshold
        if picture is None:
            result = gen.generate(prompt, config.variations, config.seed, config.guidance, config.steps)
        else:
            result = generate_with_picture(
                gen, prompt, picture, config.variations, config.seed, config.guidance,
                config.steps, config.image_strength,
            )  # fmt: skip
            result.info["image"] = str(image) if isinstance(image, str | Path) else "upload"
            result.info["image_cut_out"] = picture.method
    summary: dict[str, Any] = {
        "job": "generate",
        "prompt": result.reading.prompt,
        "class": result.reading.cls,
        "class_named_in_prompt": result.reading.named,
        "note": result.reading.note,
        "seed": config.seed,
        "guidance": gen.resolve_guidance(config.guidance),
        "model": str(gen.info.get("name", DEFAULT_MODEL)),
        "variations": [],
    }
    if result.info:
        summary["image"] = result.info
    with OutputDir(out_dir, extra={"job": "generate"}) as od:
        with timer("write"):
            prog("write")
            panels = []
            for k, (prob, occ) in enumerate(zip(result.probability, result.occupancy, strict=True)):
                grid, preview, info = write_variation(od, f"v{k + 1}", prob, occ, gen.threshold, config)
                panels.append(preview)
                summary["variations"].append(info)
            _save_png(od.path("variations.png"), _side_by_side(panels))
            od.add("variations.png", "every variation side by side (three-quarter view), v1 first")
            shutil.copyfile(od.path("variations.png"), od.path("preview.png"))
            od.add("preview.png", "every variation side by side (the job's picture)")
            shutil.copyfile(od.path("v1/model.glb"), od.path("model.glb"))
            od.add("model.glb", "variation 1's surface (the job's 3D view), binary glTF")
        if config.brickify:
            bp = prog.sub("bricks")
            with timer("bricks"):
                for k, info in enumerate(summary["variations"]):
                    grid = _grid(result.occupancy[k], config.height_cm, prompt=result.reading.prompt)
                    info["bricks"] = brickify_variation(od, f"v{k + 1}", grid, config, bp)
        summary["timings_s"] = dict(timer.timings)
        summary["generate_s_per_shape"] = round(result.seconds / config.variations, 3)
        _write_text(od, "summary.json", json.dumps(jsonable(summary), indent=2) + "\n", "job summary")
        _write_text(od, "config.yaml", dump_config(config), "resolved configuration")
    prog("write", 1.0)
    return summary


def _grid(occ: np.ndarray, height_cm: float, prompt: str) -> VoxelGrid:
    """The 32³ occupancy as a metric grid whose filled cells are ``height_cm`` tall, base at z=0."""
    z = np.flatnonzero(occ.any(axis=(0, 1)))
    pitch = height_cm / 100.0 / float(z[-1] - z[0] + 1)
    s = occ.shape[0]
    origin = np.array([-s / 2 * pitch, -s / 2 * pitch, -float(z[0]) * pitch])
    meta = {
        "source": "generate",
        "units": "m",
        "scale": "assumed",
        "height_cm": height_cm,
        "prompt": prompt,
    }
    return VoxelGrid(occupancy=occ.astype(bool), pitch=np.full(3, pitch), origin=origin, meta=meta)


def write_variation(
    od: OutputDir, name: str, prob: np.ndarray, occ: np.ndarray, threshold: float, config: GenerateConfig
) -> tuple[VoxelGrid, np.ndarray, dict[str, Any]]:
    """Write one variation's grid, meshes, points and preview under ``name/``."""
    from voxforge.io.meshes import export_mesh
    from voxforge.pipelines.reconstruct import occupancy_surface, preview_image

    grid = _grid(occ, config.height_cm, prompt="")
    pitch, origin, s = float(grid.pitch[0]), grid.origin, occ.shape[0]
    if config.output == "voxels":
        verts, faces = occupancy_surface(occ.astype(np.float32), 0.5)
        smooth = 0
    else:
        verts, faces = occupancy_surface(
            np.where(occ, np.maximum(prob, threshold), np.minimum(prob, threshold * 0.99)), threshold
        )
        smooth = 10
    mesh = _mesh((verts + 0.5) * s * pitch + origin, faces, smooth)
    for ext, what in (
        ("obj", "Wavefront OBJ, y-up, metres"),
        ("stl", "binary STL, z-up, millimetres"),
        ("glb", "binary glTF, y-up, metres"),
    ):
        od.path(f"{name}/model.{ext}").write_bytes(export_mesh(mesh.tm, ext))
        od.add(f"{name}/model.{ext}", f"generated surface, {what}")
    if config.output == "points":
        from voxforge.core.pointcloud import PointCloud
        from voxforge.io.ply import encode_ply

        pts, _ = _surface_points(mesh, 4096, config.seed)
        od.path(f"{name}/model.ply").write_bytes(encode_ply(PointCloud(xyz=pts)))
        od.add(f"{name}/model.ply", "4,096 surface points, metres, z up")
    od.path(f"{name}/voxels.npz").write_bytes(_grid_npz(grid, prob))
    od.add(f"{name}/voxels.npz", "voxforge voxel grid (32³ occupancy) + probability array")
    preview = preview_image(mesh, config.preview_size)
    _save_png(od.path(f"{name}/preview.png"), preview)
    od.add(f"{name}/preview.png", "the model from the side and from three-quarters")
    idx = np.argwhere(occ)
    ext = idx.max(0) - idx.min(0) + 1
    info = {"folder": f"{name}/", "filled_cells": int(occ.sum()), "extent_cells": [int(e) for e in ext]}
    return grid, preview[:, preview.shape[1] // 2 :], info


def _mesh(vertices: np.ndarray, faces: np.ndarray, smooth: int) -> Any:
    import trimesh
    from trimesh.smoothing import filter_taubin

    from voxforge.core.errors import GeometryError
    from voxforge.core.mesh import Mesh

    tm = trimesh.Trimesh(vertices=vertices, faces=faces, process=True)
    if smooth > 0:
        filter_taubin(tm, iterations=smooth)
    if len(tm.faces) == 0:
        raise GeometryError("the generated surface has no faces")
    return Mesh(tm=tm, meta={"source": "generate", "units": "m"})


def _surface_points(mesh: Any, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    pts, face = trimesh.sample.sample_surface(mesh.tm, n, seed=seed)
    return np.asarray(pts, np.float64), np.asarray(face)


def brickify_variation(
    od: OutputDir, name: str, grid: VoxelGrid, config: GenerateConfig, progress: ProgressCallback
) -> dict[str, Any]:
    """Run the brick engine on one variation's grid into ``name/bricks/``."""
    from voxforge.io.voxels import encode_npz
    from voxforge.pipelines.brickify import run_brickify
    from voxforge.pipelines.reconstruct import budget_width_studs

    bricks = config.bricks
    if "voxel" not in bricks.model_fields_set:
        width = budget_width_studs(grid, config.stud_budget)
        bricks = bricks.model_copy(
            update={"voxel": bricks.voxel.model_copy(update={"scale": "fit", "width_studs": width})}
        )
    if bricks.title is None:
        bricks = bricks.model_copy(update={"title": str(grid.meta.get("prompt") or name)[:60]})
    with tempfile.TemporaryDirectory(prefix="voxforge-gen-") as tmp:
        src = Path(tmp) / f"{name}.npz"
        src.write_bytes(encode_npz(grid))
        result = run_brickify(src, od.path(f"{name}/bricks"), bricks, progress=progress)
    manifest = json.loads(od.path(f"{name}/bricks/manifest.json").read_text(encoding="utf-8"))
    for art in manifest["outputs"]:
        od.add(f"{name}/bricks/{art['name']}", f"brick model: {art.get('description', '')}".rstrip(": "))
    od.add(f"{name}/bricks/manifest.json", "manifest of the brick model")
    s = result.summary
    return {
        "folder": f"{name}/bricks/",
        "parts": s.get("parts", {}).get("total"),
        "size": s.get("size"),
        "stability": (s.get("stability") or {}).get("verdict"),
        "buildable": (s.get("verdict") or {}).get("buildable"),
    }


def _grid_npz(grid: VoxelGrid, probability: np.ndarray) -> bytes:
    from voxforge.io.voxels import encode_npz

    with np.load(io.BytesIO(encode_npz(grid)), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["probability"] = probability.astype(np.float16)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _side_by_side(panels: list[np.ndarray]) -> np.ndarray:
    h = max(p.shape[0] for p in panels)
    padded = [np.pad(p, ((0, h - p.shape[0]), (0, 0), (0, 0)), constant_values=255) for p in panels]
    return np.concatenate(padded, axis=1)


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(image)).save(path, format="PNG")


def _write_text(od: OutputDir, name: str, text: str, description: str) -> None:
    od.path(name).write_text(text, encoding="utf-8")
    od.add(name, description)
