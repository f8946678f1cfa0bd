"""The voxelize job: any input -> clean-up (scans) -> voxel grid on the LEGO lattice -> preview."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from voxforge.core.config import dump_config
from voxforge.core.outputs import OutputDir
from voxforge.core.progress import Progress, ProgressCallback
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.pipelines.common import InputConfig, Timer, check_single_units, prepare_grid
from voxforge.scan import CleanConfig
from voxforge.voxel import VoxelizeConfig


class VoxelizeJobConfig(BaseModel):
    """Everything the voxelize job needs; loadable from YAML."""

    model_config = ConfigDict(extra="forbid")

    input: InputConfig = Field(default_factory=InputConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    voxel: VoxelizeConfig = Field(default_factory=VoxelizeConfig)
    preview_size: int = Field(800, ge=64, le=4096, description="Preview PNG size in pixels.")

    @model_validator(mode="after")
    def _one_unit_knob(self) -> VoxelizeJobConfig:
        check_single_units(self.input, self.clean)
        return self


@dataclass
class VoxelizeResult:
    grid: VoxelGrid
    out_dir: Path
    summary: dict[str, Any]


def run_voxelize(
    input_path: str | Path,
    out_dir: str | Path,
    config: VoxelizeJobConfig | None = None,
    progress: ProgressCallback | None = None,
) -> VoxelizeResult:
    """Read ``input_path``, voxelize it and write ``grid.npz``, ``preview.png``, ``summary.json``,
    ``config.yaml`` and ``manifest.json`` to ``out_dir`` (atomically: all or nothing)."""
    from PIL import Image

    from voxforge.io import save_voxels
    from voxforge.render.voxels import render_voxels

    config = config or VoxelizeJobConfig()
    prog = Progress(progress, {"read": 1, "clean": 2, "voxelize": 4, "render": 2, "write": 1})
    timer = Timer()
    out_dir = Path(out_dir)

    grid, source_info, clean_report = prepare_grid(
        input_path, config.input, config.clean, config.voxel, prog, timer
    )
    prog("render", 0.0)
    with timer("render"):
        image = render_voxels(grid, size=config.preview_size)
    prog("write", 0.0)
    summary = {
        "input": {"path": str(input_path), **source_info},
        "clean": clean_report,
        "grid": {"shape": list(grid.shape), **grid.size_report(), "meta": _meta(grid)},
        "timings_s": timer.timings,
    }
    with OutputDir(out_dir, extra={"job": "voxelize", "input": str(input_path)}) as od:
        save_voxels(grid, od.path("grid.npz"))
        od.add("grid.npz", "voxel grid (occupancy, colours, pitch, origin)")
        Image.fromarray(image).save(od.path("preview.png"))
        od.add("preview.png", "shaded isometric preview")
        od.path("config.yaml").write_text(dump_config(config))
        od.add("config.yaml", "resolved configuration")
        od.path("summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        od.add("summary.json", "sizes, counts and timings")
    prog("write", 1.0)
    return VoxelizeResult(grid=grid, out_dir=out_dir, summary=summary)


def _meta(grid: VoxelGrid) -> dict[str, Any]:
    from voxforge.pipelines.common import jsonable

    return jsonable({k: v for k, v in grid.meta.items() if k != "source"})
