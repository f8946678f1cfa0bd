"""The complete job: a scan (or mesh) -> clean-up -> completed 32³ grid, its mesh and a preview."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from voxforge.core.config import dump_config
from voxforge.core.errors import GeometryError
from voxforge.core.outputs import OutputDir
from voxforge.core.progress import Progress, ProgressCallback
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.pipelines.common import (
    InputConfig,
    Timer,
    check_single_units,
    clean_if_scan,
    describe,
    read_input,
)
from voxforge.scan import CleanConfig

OBSERVED_RGB = (0.62, 0.64, 0.68)
"""Colour of observed cells in the outputs."""
COMPLETED_RGB = (0.95, 0.62, 0.25)
"""Colour of the cells the completion adds (a different shade in preview and mesh)."""


class CompleteJobConfig(BaseModel):
    """Everything the complete job needs; loadable from YAML."""

    model_config = ConfigDict(extra="forbid")

    input: InputConfig = Field(default_factory=InputConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    method: Literal["network", "symmetry"] = Field(
        "network", description="The completion network or the mirror-symmetry baseline."
    )
    weights: str | None = Field(None, description="Completion weights (default: the shipped model).")
    preview_size: int = Field(800, ge=64, le=4096, description="Preview PNG size in pixels.")

    @model_validator(mode="after")
    def _one_unit_knob(self) -> CompleteJobConfig:
        check_single_units(self.input, self.clean)
        return self


@dataclass
class CompleteResult:
    grid: VoxelGrid
    out_dir: Path
    summary: dict[str, Any]


def run_complete(
    input_path: str | Path,
    out_dir: str | Path,
    config: CompleteJobConfig | None = None,
    progress: ProgressCallback | None = None,
) -> CompleteResult:
    """Complete the scanned object of ``input_path``; write ``completed.npz`` (cubic grid, metres;
    colours mark observed and added cells), ``completed.ply`` (its cell faces), ``preview.png``,
    ``summary.json``, ``config.yaml`` and ``manifest.json`` to ``out_dir`` atomically."""
    from PIL import Image

    from voxforge.io import save_voxels
    from voxforge.nn.completion.apply import complete_scan
    from voxforge.render.voxels import render_voxels

    config = config or CompleteJobConfig()
    prog = Progress(progress, {"read": 1, "clean": 2, "complete": 3, "render": 1, "write": 1})
    timer = Timer()
    prog("read", 0.0)
    with timer("read"):
        obj = read_input(input_path, config.input)
    source_info = describe(obj)
    if isinstance(obj, VoxelGrid):
        raise GeometryError(
            f"{input_path}: completion needs a scan or mesh (points and normals), not a voxel grid"
        )
    prog("clean", 0.0)
    with timer("clean"):
        obj, clean_report = clean_if_scan(obj, config.input, config.clean, prog.sub("clean"))
    prog("complete", 0.0)
    with timer("complete"):
        result = complete_scan(obj, method=config.method, weights=config.weights)
    colors = np.zeros((*result.completed.shape, 3), dtype=np.float32)
    colors[result.scan.partial] = OBSERVED_RGB
    colors[result.added] = COMPLETED_RGB
    grid = VoxelGrid(result.completed, pitch=result.scan.pitch, origin=result.scan.origin,
                     colors=colors, meta={"completion": result.summary()})  # fmt: skip
    prog("render", 0.0)
    with timer("render"):
        image = render_voxels(grid, size=config.preview_size)
    summary = {
        "input": {"path": str(input_path), **source_info},
        "clean": clean_report,
        "completion": result.summary(),
        "colors": {"observed": OBSERVED_RGB, "completed": COMPLETED_RGB},
        "timings_s": timer.timings,
    }
    prog("write", 0.0)
    with OutputDir(Path(out_dir), extra={"job": "complete", "input": str(input_path)}) as od:
        save_voxels(grid, od.path("completed.npz"))
        od.add("completed.npz", "completed 32³ grid (metres; colours: observed grey, added orange)")
        _write_mesh(grid, od.path("completed.ply"))
        od.add("completed.ply", "cell faces of the completed grid, coloured like the grid")
        Image.fromarray(image).save(od.path("preview.png"))
        od.add("preview.png", "preview: observed cells grey, completed cells orange")
        od.path("config.yaml").write_text(dump_config(config))
        od.add("config.yaml", "resolved configuration")
        od.path("summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        od.add("summary.json", "coverage, cell counts and timings")
    prog("write", 1.0)
    return CompleteResult(grid=grid, out_dir=Path(out_dir), summary=summary)


def _write_mesh(grid: VoxelGrid, path: Path) -> None:
    import trimesh

    from voxforge.render.voxels import voxel_mesh

    verts, faces, face_rgb, _ = voxel_mesh(grid)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    mesh.visual.face_colors = np.clip(np.round(face_rgb * 255), 0, 255).astype(np.uint8)
    mesh.export(path)
