"""The reconstruct job: photos or sketches of one object -> a 3D model (and, optionally, bricks).

Steps: each input is cut out and framed like the render set
(:func:`voxforge.nn.reconstruct.photo.prepare_image`),
the shipped image or sketch network predicts a 32³ occupancy (plus points and an icosphere mesh)
fused over the views in the first view's yaw frame, and the prediction becomes:

* ``voxels`` (default): a smooth, watertight mesh by marching cubes on the probabilities at the
  threshold (Taubin-smoothed, which keeps the volume), and the thresholded grid;
* ``points``: the network's surface points, or points sampled on the marching-cubes surface when
  the model has no point head (``model.ply`` is then a point cloud; the OBJ, STL and GLB carry
  the voxel mesh, since points have no faces);
* ``mesh``: the network's deformed icosphere.

Colours (``colours``, photos only): the photos' colours are projected onto the side of the grid
each camera saw and mirrored to the hidden side where the shape is symmetric
(:mod:`voxforge.nn.reconstruct.colour`); the mesh carries them as vertex colours and the grid as
cell colours, which the brick engine's colour step uses.

Scale: a photo carries none, so the 3D model is scaled to ``height_cm`` (default 20 cm) tall; the
summary says so. Bricks follow a stud budget instead (``stud_budget``, 32 studs on the longest
side, height included) unless the height was given or ``bricks.voxel`` sizes them, so an
object of unknown size never becomes a model of thousands of parts. Frame: z up, metres, the
object standing on z = 0 and centred in x/y; the first image's camera looks from +x toward -x
(screen right is +y).

Outputs (through :class:`~voxforge.core.outputs.OutputDir`, listed in ``manifest.json``):
``model.obj``, ``model.stl``, ``model.ply``, ``model.glb``, ``voxels.npz`` (a voxforge voxel grid
with the probabilities as an extra ``probability`` array), ``preview.png`` (the model seen from the
first camera and from three-quarters), ``inputs.png`` (each input with the found object's box
above what the network saw), ``summary.json``, ``config.yaml``. With ``brickify`` the grid goes on
through :func:`voxforge.pipelines.brickify.run_brickify` into ``bricks/`` (its own manifest; its
files are listed in the top manifest too).
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from voxforge.core.config import dump_config
from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.mesh import Mesh
from voxforge.core.outputs import OutputDir
from voxforge.core.progress import Progress, ProgressCallback
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.mesh.occupancy import occupancy_surface
from voxforge.nn.reconstruct.photo import MAX_PIXELS, PreparedImage
from voxforge.pipelines.brickify import BrickifyConfig
from voxforge.pipelines.common import Timer, jsonable
from voxforge.voxel import VoxelizeConfig
from voxforge.voxel.connect import JoinReport, join_pieces

log = logging.getLogger(__name__)

GRID = 32
"""Cells per side of the networks' occupancy grid."""

MAX_INPUTS = 24
"""Most views of one object a job accepts (the networks were trained with up to a few)."""

SCALE_NOTE = "a photo carries no scale: the model is scaled to height_cm (--height-cm) tall"


SURFACE_POINTS = 1024
"""Points sampled on the marching-cubes surface for ``--as points`` when the model has no point
head (as many as the point heads give)."""


class ReconstructConfig(BaseModel):
    """Everything the reconstruct job needs; loadable from YAML (CLI flags win)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["image", "sketch"] = Field(
        "image", description="'image' for photos and renders, 'sketch' for line drawings."
    )
    output: Literal["voxels", "points", "mesh"] = Field(
        "voxels",
        description="Which network head makes the model: 'voxels' (marching cubes on the "
        "occupancy, watertight), 'points' (surface points: the point head's, else sampled on "
        "the marching-cubes surface), 'mesh' (deformed icosphere).",
    )
    threshold: float = Field(0.4, gt=0.0, lt=1.0, description="Occupancy probability of a filled cell.")
    height_cm: float = Field(
        20.0, gt=0.0, le=100_000.0, description="Real height the model is scaled to, centimetres."
    )
    azimuths: list[float] | None = Field(
        None,
        description="Camera azimuth of each image, degrees (only differences matter); default: "
        "an object-frame network estimates them, a view-frame one assumes the images walk once "
        "around the object in equal steps.",
    )
    weights: Path | None = Field(None, description="Network weights; default: the shipped model.")
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda|mps|cuda:\d+)$",
        description="Torch device of the network: auto (CUDA, then Apple's MPS, then the CPU), "
        "cpu, cuda or mps.",
    )
    colours: bool = Field(
        True,
        description="Carry the photos' colours onto the visible side of the model (mirrored to "
        "the hidden side where the shape is symmetric): vertex colours, grid colours for bricks.",
    )
    one_piece: bool = Field(
        True,
        description="Join the pieces of the prediction to the largest along its most probable "
        "cells (a seat the network left floating over its legs); pieces no path above "
        "probability 0.1 reaches get a one-cell strut along the shortest path, specks of 1-2 "
        "cells are dropped.",
    )
    smooth_iterations: int = Field(
        10, ge=0, le=200, description="Taubin smoothing steps of the voxel mesh (volume-preserving)."
    )
    preview_size: int = Field(512, ge=64, le=4096, description="Height of preview.png, pixels.")
    max_pixels: int = Field(MAX_PIXELS, ge=1, description="Refuse input images with more pixels.")
    brickify: bool = Field(False, description="Continue into the brick engine (outputs in bricks/).")
    stud_budget: int = Field(
        32,
        ge=1,
        le=1000,
        description="Longest side of the brick model (width, depth or height) in studs, used "
        "unless height_cm or bricks.voxel is given: a photo has no scale to build at.",
    )
    bricks: BrickifyConfig = Field(
        default_factory=BrickifyConfig,
        description="Brick engine options; unless bricks.voxel is given the model is built to "
        "stud_budget, or at its real size when height_cm is given.",
    )

    @model_validator(mode="after")
    def _real_size_when_told(self) -> ReconstructConfig:
        if "voxel" not in self.bricks.model_fields_set and "height_cm" in self.model_fields_set:
            self.bricks = self.bricks.model_copy(
                update={"voxel": VoxelizeConfig(scale="real", width_studs=None)}
            )
        return self

    @property
    def bricks_by_budget(self) -> bool:
        """True when nothing sized the bricks, so ``stud_budget`` does."""
        return "voxel" not in self.bricks.model_fields_set and "height_cm" not in self.model_fields_set


class Predictor(Protocol):
    """What the job needs of a reconstructor
    (:class:`voxforge.nn.reconstruct.inference.Reconstructor`)."""

    kind: str
    info: dict[str, Any]

    def predict(self, images: list[np.ndarray], azimuths: list[float] | None = None) -> Any: ...


@dataclass
class ReconstructResult:
    """What the job made: the folder, the summary, the prediction and the geometry in metres."""

    out_dir: Path
    summary: dict[str, Any]
    reconstruction: Any
    grid: VoxelGrid
    mesh: Mesh
    points: np.ndarray | None


STAGES = {"prepare": 2, "predict": 2, "geometry": 1, "write": 1, "bricks": 8}


def run_reconstruct(
    inputs: list[Path] | list[str] | list[Any],
    out_dir: str | Path,
    config: ReconstructConfig | None = None,
    progress: ProgressCallback | None = None,
    *,
    reconstructor: Predictor | None = None,
) -> ReconstructResult:
    """Reconstruct one object from its photos (or sketches) and write every output atomically.

    Args:
        inputs: image files (or encoded bytes / arrays) of ONE object, first view first.
        out_dir: output folder (written through ``OutputDir``: nothing appears on failure).
        config: job options.
        progress: ``callback(stage, fraction)``.
        reconstructor: an already loaded network (the service keeps one warm); default: load
            the shipped one for ``config.kind``.

    Raises:
        ConfigError: no inputs, too many, azimuths that do not match, missing weights, a head the
            model lacks.
        InputFormatError, UnsupportedInputError, SizeLimitError, GeometryError: a bad image (see
            :func:`~voxforge.nn.reconstruct.photo.prepare_image`), or a prediction with nothing in it.
    """
    from voxforge.nn.reconstruct.photo import prepare_image

    config = config or ReconstructConfig()
    stages = dict(STAGES) if config.brickify else {k: v for k, v in STAGES.items() if k != "bricks"}
    prog = Progress(progress, stages)
    timer = Timer()
    sources = list(inputs)
    if not sources:
        raise ConfigError("reconstruct needs at least one image")
    if len(sources) > MAX_INPUTS:
        raise ConfigError(f"{len(sources)} images is over the limit of {MAX_INPUTS} views of one object")
    if config.azimuths is not None and len(config.azimuths) != len(sources):
        raise ConfigError(
            f"got {len(sources)} images but {len(config.azimuths)} azimuths; give one per image"
        )

    prepared: list[PreparedImage] = []
    with timer("prepare"):
        for i, src in enumerate(sources):
            prog("prepare", i / len(sources))
            name = str(src) if isinstance(src, str | Path) else f"image {i + 1}"
            prepared.append(
                prepare_image(
                    src, sketch=config.kind == "sketch", max_pixels=config.max_pixels, name=name
                )
            )
    prog("predict", 0.0)
    with timer("load"):
        model = reconstructor or _load(config)
    if model.kind != config.kind:
        log.warning("the %s network reconstructs %s inputs", model.kind, config.kind)
    with timer("predict"):
        rec = model.predict([p.image for p in prepared], config.azimuths)
    prog("geometry", 0.0)
    with timer("geometry"):
        geo = build_geometry(rec, config)
        coloured = _colour(geo, prepared, rec, config)
    summary = build_summary(sources, prepared, rec, geo, config, model, timer)
    if coloured is not None:
        summary["colours"] = coloured
    prog("write", 0.0)
    with timer("write"), OutputDir(out_dir, extra={"job": "reconstruct"}) as od:
        write_outputs(od, geo, prepared, sources, config)
        if config.brickify:
            prog("bricks", 0.0)
            summary["bricks"] = _brickify(od, geo.grid, config, prog.sub("bricks"))
        summary["timings_s"] = timer.timings
        _write_text(od, "summary.json", json.dumps(jsonable(summary), indent=2) + "\n", "job summary")
        _write_text(od, "config.yaml", dump_config(config), "resolved configuration")
    prog("write", 1.0)
    return ReconstructResult(Path(out_dir), summary, rec, geo.grid, geo.mesh, geo.points)


def _load(config: ReconstructConfig) -> Predictor:
    from voxforge.nn.reconstruct.inference import load_reconstructor

    return load_reconstructor(config.kind, config.weights, config.device)


# --------------------------------------------------------------------------------------- geometry


@dataclass
class Geometry:
    """The prediction in metres: z up, standing on z = 0, centred in x/y."""

    grid: VoxelGrid
    mesh: Mesh
    points: np.ndarray | None
    probability: np.ndarray
    pitch_m: float
    mesh_source: str
    joined: JoinReport | None = None


def build_geometry(rec: Any, config: ReconstructConfig) -> Geometry:
    """Scale the unit-cube prediction to ``height_cm`` and build the grid, the mesh and points.

    The height is the filled cells' z extent at the threshold; every output shares that scale.
    """
    prob = np.asarray(rec.occupancy, dtype=np.float32)
    if prob.shape != (GRID, GRID, GRID) or not np.isfinite(prob).all():
        raise GeometryError(f"the network returned an occupancy of shape {prob.shape} (or NaN)")
    if not (prob >= config.threshold).any():
        raise GeometryError(
            f"the model found no object (highest occupancy {float(prob.max()):.2f} is below the "
            f"threshold {config.threshold}); try a clearer image or a lower --threshold"
        )
    joined = None
    if config.one_piece:
        prob, joined = join_pieces(prob, config.threshold)
    occ = prob >= config.threshold
    z = np.flatnonzero(occ.any(axis=(0, 1)))
    pitch = config.height_cm / 100.0 / float(z[-1] - z[0] + 1)
    origin = np.array([-GRID / 2 * pitch, -GRID / 2 * pitch, -float(z[0]) * pitch])
    grid = VoxelGrid(
        occupancy=occ,
        pitch=np.full(3, pitch),
        origin=origin,
        meta={"source": "reconstruct", "units": "m", "scale": "assumed", "height_cm": config.height_cm},
    )

    def to_world(unit: np.ndarray) -> np.ndarray:
        """Unit-cube ``[-0.5, 0.5]^3`` coordinates of the 32³ grid -> metres in the job frame."""
        return (np.asarray(unit, np.float64) + 0.5) * GRID * pitch + origin

    points = None
    if config.output == "points" and getattr(rec, "points", None) is not None:
        points = to_world(rec.points)
    if config.output == "mesh":
        if getattr(rec, "mesh_vertices", None) is None or getattr(rec, "mesh_faces", None) is None:
            raise ConfigError("this model has no mesh head; use --as voxels")
        mesh = _trimesh(to_world(rec.mesh_vertices), np.asarray(rec.mesh_faces), smooth=0)
        source = "network mesh head (deformed icosphere)"
    else:
        verts, faces = occupancy_surface(prob, config.threshold)
        mesh = _trimesh(to_world(verts), faces, smooth=config.smooth_iterations)
        source = "marching cubes on the occupancy probabilities"
    if config.output == "points" and points is None:  # no point head: points on that surface
        points = np.asarray(mesh.tm.sample(SURFACE_POINTS, seed=0), dtype=np.float64)
        source += f", {SURFACE_POINTS} points sampled on it (the model has no point head)"
    return Geometry(grid, mesh, points, prob, pitch, source, joined)


def _colour(
    geo: Geometry, prepared: list[PreparedImage], rec: Any, config: ReconstructConfig
) -> dict[str, Any] | None:
    """Colour the grid and the mesh's vertices from the photos (in place); None for sketches or
    when ``colours`` is off (:mod:`voxforge.nn.reconstruct.colour`)."""
    if not config.colours or config.kind == "sketch":
        return None
    from scipy import ndimage

    from voxforge.nn.reconstruct.colour import project_colours

    occ = geo.grid.occupancy
    azimuths = list(getattr(rec, "azimuths", ()) or []) or None
    if azimuths is not None and len(azimuths) != len(prepared):
        azimuths = None
    sc = project_colours(occ, [p.image for p in prepared], [p.mask for p in prepared], azimuths)
    geo.grid.colors = sc.colors
    cell = np.floor((np.asarray(geo.mesh.tm.vertices) - geo.grid.origin) / geo.pitch_m).astype(int)
    cell = np.clip(cell, 0, np.array(occ.shape) - 1)
    near = ndimage.distance_transform_edt(~occ, return_distances=False, return_indices=True)
    src = near[:, cell[:, 0], cell[:, 1], cell[:, 2]]
    rgb = sc.colors[src[0], src[1], src[2]]
    rgba = np.concatenate([np.rint(rgb * 255.0), np.full((len(rgb), 1), 255.0)], axis=1)
    geo.mesh.tm.visual.vertex_colors = rgba.astype(np.uint8)
    return sc.report()


def _trimesh(vertices: np.ndarray, faces: np.ndarray, smooth: int) -> Mesh:
    import trimesh
    from trimesh.smoothing import filter_taubin

    tm = trimesh.Trimesh(vertices=vertices, faces=faces, process=True)
    if smooth > 0:
        filter_taubin(tm, iterations=smooth)
    if len(tm.faces) == 0:
        raise GeometryError("the reconstructed surface has no faces")
    return Mesh(tm=tm, meta={"source": "reconstruct", "units": "m"})


# ---------------------------------------------------------------------------------------- outputs


def write_outputs(
    od: OutputDir,
    geo: Geometry,
    prepared: list[PreparedImage],
    sources: list[Any],
    config: ReconstructConfig,
) -> None:
    """Write the meshes, the grid, the point cloud (``points``) and the two pictures into ``od``."""
    from voxforge.core.pointcloud import PointCloud
    from voxforge.io.meshes import export_mesh
    from voxforge.io.ply import encode_ply

    tm = geo.mesh.tm
    for ext, what in (
        ("obj", "Wavefront OBJ, y-up, metres"),
        ("stl", "binary STL, z-up, millimetres"),
        ("glb", "binary glTF, y-up, metres"),
    ):
        od.path(f"model.{ext}").write_bytes(export_mesh(tm, ext))
        od.add(f"model.{ext}", f"reconstructed mesh ({geo.mesh_source}), {what}")
    if geo.points is not None:
        od.path("model.ply").write_bytes(encode_ply(PointCloud(xyz=geo.points)))
        od.add("model.ply", f"{len(geo.points)} reconstructed surface points, metres, z up")
    else:
        od.path("model.ply").write_bytes(export_mesh(tm, "ply"))
        od.add("model.ply", "reconstructed mesh, metres, z up, PLY")
    od.path("voxels.npz").write_bytes(_grid_npz(geo.grid, geo.probability))
    od.add("voxels.npz", "voxforge voxel grid (occupancy at the threshold) + probability array")
    _save_png(od.path("preview.png"), preview_image(geo.mesh, config.preview_size))
    od.add("preview.png", "the model seen from the first camera and from three-quarters")
    _save_png(od.path("inputs.png"), inputs_image(prepared, sources))
    od.add("inputs.png", "each input with the object's box, above what the network saw")


def _grid_npz(grid: VoxelGrid, probability: np.ndarray) -> bytes:
    """The voxforge npz of ``grid`` (readable by ``load_voxels``) plus a float16 ``probability``."""
    from voxforge.io.voxels import encode_npz

    with np.load(io.BytesIO(encode_npz(grid)), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["probability"] = probability.astype(np.float16)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, format="PNG")


def _write_text(od: OutputDir, name: str, text: str, description: str) -> None:
    od.path(name).write_text(text, encoding="utf-8")
    od.add(name, description)


PREVIEW_VIEWS = ((0.0, 15.0), (45.0, 30.0))
"""(azimuth, elevation) of the preview panels, degrees: the first camera's side (+x), then a
three-quarter view."""


def preview_image(mesh: Mesh, height: int = 512) -> np.ndarray:
    """(H, 2H, 3) uint8: the mesh flat-shaded from :data:`PREVIEW_VIEWS`, side by side, in its
    vertex colours when it has them."""
    from voxforge.render.camera import framing_camera
    from voxforge.render.raster import RenderOptions, render_mesh

    v = np.asarray(mesh.vertices, np.float64)
    f = np.asarray(mesh.faces, np.int64)
    rgb = np.broadcast_to(np.array([0.62, 0.68, 0.78], np.float32), (len(f), 3))
    if mesh.tm.visual.kind == "vertex":  # the photo's colours (sRGB), one per face
        vc = np.asarray(mesh.tm.visual.vertex_colors, np.float32)[:, :3] / 255.0
        rgb = vc[f].mean(axis=1)
    panels = []
    for az, el in PREVIEW_VIEWS:
        cam = framing_camera(v, height, az, el, 0.06, perspective=True)
        opt = RenderOptions(background=(1.0, 1.0, 1.0), edges=False)
        panels.append(render_mesh(v, f, rgb, cam, options=opt))
    return np.concatenate(panels, axis=1)


def inputs_image(prepared: list[PreparedImage], sources: list[Any], tile: int = 256) -> np.ndarray:
    """(2 tile, n tile, 3) uint8: each source with the found box (green) above its prepared image."""
    import cv2

    columns = []
    for p, src in zip(prepared, sources, strict=True):
        top = np.full((tile, tile, 3), 255, np.uint8)
        thumb = _thumbnail(src, p, tile)
        if thumb is not None:
            h, w = thumb.shape[:2]
            y0, x0 = (tile - h) // 2, (tile - w) // 2
            top[y0 : y0 + h, x0 : x0 + w] = thumb
        bottom = cv2.resize(p.image, (tile, tile), interpolation=cv2.INTER_NEAREST)
        col = np.concatenate([top, bottom], axis=0)
        cv2.rectangle(col, (0, 0), (tile - 1, 2 * tile - 1), (200, 200, 200), 1)
        columns.append(col)
    return np.concatenate(columns, axis=1)


def _thumbnail(src: Any, p: PreparedImage, tile: int) -> np.ndarray | None:
    """The source image fitted into ``tile`` with the object's box drawn, or None if unreadable."""
    import cv2

    from voxforge.nn.reconstruct.photo import read_image

    try:
        rgb, _, _ = read_image(src, max_pixels=2**62)
    except Exception:  # the picture is a courtesy; the input was read once already
        return None
    h, w = rgb.shape[:2]
    f = tile / max(w, h)
    thumb = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = (round(v * f) for v in p.bbox)
    cv2.rectangle(thumb, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), (40, 200, 60), 2)
    return thumb


# ---------------------------------------------------------------------------------------- summary


def build_summary(
    sources: list[Any],
    prepared: list[PreparedImage],
    rec: Any,
    geo: Geometry,
    config: ReconstructConfig,
    model: Predictor,
    timer: Timer,
) -> dict[str, Any]:
    """JSON-safe facts of the job: inputs and how each was cut out, the model, sizes, the scale note."""
    tm = geo.mesh.tm
    info = getattr(model, "info", {}) or {}
    summary: dict[str, Any] = {
        "inputs": [
            {
                "path": str(s) if isinstance(s, str | Path) else f"image {i + 1}",
                "cut_out": p.method,
                "bbox": list(p.bbox),
                "source_size": list(p.source_size),
                "object_share": round(float(p.mask.mean()), 4),
            }
            for i, (s, p) in enumerate(zip(sources, prepared, strict=True))
        ],
        "model": {"name": info.get("name", "in-memory"), "kind": model.kind},
        "output": config.output,
        "threshold": config.threshold,
        "azimuths_deg": list(getattr(rec, "azimuths", ()) or []),
        "scale": {
            "height_cm": config.height_cm,
            "note": SCALE_NOTE,
            "cell_mm": round(geo.pitch_m * 1000, 3),
        },
        "grid": geo.grid.size_report(),
        "mesh": {
            "source": geo.mesh_source,
            "vertices": len(tm.vertices),
            "faces": len(tm.faces),
            "watertight": bool(tm.is_watertight),
            "extent_cm": [round(float(e) * 100, 2) for e in tm.extents],
        },
    }
    if geo.joined is not None:
        j = geo.joined
        summary["pieces"] = {"predicted": j.pieces, "joined": j.joined, "bridged": j.bridged,
                             "dropped": j.dropped, "path_cells": j.cells}  # fmt: skip
    raw = np.asarray(rec.occupancy, dtype=np.float32)  # calibrated on the network's own output
    summary.update(_confidence_report(raw, info, config.kind, rec))
    if tm.is_watertight:
        summary["mesh"]["volume_cm3"] = round(float(tm.volume) * 1e6, 2)
    if geo.points is not None:
        summary["points"] = len(geo.points)
    return summary


UNFAMILIAR = "this does not look like any of the shapes the model knows (nearest: {nearest})"


def _confidence_report(prob: np.ndarray, info: dict[str, Any], kind: str, rec: Any) -> dict[str, Any]:
    """``confidence`` (calibrated: the expected IoU with the true shape, when the model's sidecar
    has a ``calibration``; else the raw mean certainty), what it means, and the model's
    familiarity verdict with a ``warning`` for inputs unlike its training classes."""
    from voxforge.nn.reconstruct.calibration import confidence

    cal = info.get("calibration_sketch" if kind == "sketch" else "calibration")
    out: dict[str, Any] = {}
    if cal:
        out["confidence"] = round(confidence(prob, cal), 4)
        out["confidence_meaning"] = (
            f"expected IoU with the true shape, calibrated on {cal.get('fitted_on', 'validation')}"
            f" (mean |confidence - IoU| there {cal.get('mae')})"
        )
    else:
        out["confidence"] = round(float(_confidence(prob)), 4)
        out["confidence_meaning"] = "mean certainty of the cells (uncalibrated)"
    fam = getattr(rec, "familiarity", None)
    if fam:
        out["familiarity"] = dict(fam)
        if not fam.get("familiar", True):
            out["warning"] = UNFAMILIAR.format(nearest=fam.get("nearest", "?"))
    return out


def _confidence(prob: np.ndarray) -> float:
    """Mean certainty of the cells, 0 (all 0.5) .. 1 (all 0 or 1): a rough sign of a clear input."""
    return float(np.abs(prob - 0.5).mean() * 2.0)


# ---------------------------------------------------------------------------------------- bricks


def budget_width_studs(grid: VoxelGrid, budget: int) -> int:
    """The ``width_studs`` that puts the grid's longest side (height included) at ``budget`` studs.

    Fitting scales the longest horizontal side to ``width_studs``; a tall object's height then
    comes out at ``width_studs * height / width`` studs, so the width shrinks to keep that within
    the budget too.
    """
    idx = np.argwhere(grid.occupancy)
    ext = (idx.max(axis=0) - idx.min(axis=0) + 1) * grid.pitch
    width = float(max(ext[0], ext[1]))
    return max(1, int(budget * width / max(width, float(ext[2]))))


def _brickify(
    od: OutputDir, grid: VoxelGrid, config: ReconstructConfig, progress: ProgressCallback
) -> dict[str, Any]:
    """Run the brick engine on the grid into ``bricks/``; list its files in the top manifest."""
    from voxforge.io.voxels import encode_npz
    from voxforge.pipelines.brickify import run_brickify

    with tempfile.TemporaryDirectory(prefix="voxforge-recon-") as tmp:
        src = Path(tmp) / "reconstruction.npz"
        src.write_bytes(encode_npz(grid))
        bricks = config.bricks
        if config.bricks_by_budget:
            width = budget_width_studs(grid, config.stud_budget)
            voxel = bricks.voxel.model_copy(update={"scale": "fit", "width_studs": width})
            bricks = bricks.model_copy(update={"voxel": voxel})
        if bricks.title is None:
            bricks = bricks.model_copy(update={"title": "reconstruction"})
        result = run_brickify(src, od.path("bricks"), bricks, progress=progress)
    manifest = json.loads(od.path("bricks/manifest.json").read_text(encoding="utf-8"))
    for art in manifest["outputs"]:
        od.add(f"bricks/{art['name']}", f"brick model: {art.get('description', '')}".rstrip(": "))
    od.add("bricks/manifest.json", "manifest of the brick model")
    s = result.summary
    if config.bricks_by_budget:
        sizing = f"stud budget: {config.stud_budget} studs on the longest side"
    elif "voxel" in config.bricks.model_fields_set and "height_cm" not in config.model_fields_set:
        sizing = "bricks.voxel"
    else:
        sizing = f"real size: {config.height_cm:g} cm tall"
    return {
        "folder": "bricks/",
        "sizing": sizing,
        "parts": s.get("parts", {}).get("total"),
        "size": s.get("size"),
        "stability": (s.get("stability") or {}).get("verdict"),
        "buildable": (s.get("verdict") or {}).get("buildable"),
        "verdict": (s.get("verdict") or {}).get("headline"),
    }
