"""The pipelines a batch runs: name -> config model, user options, input kind and runner.

Each runner is a module-level function ``run(input_path, out_dir, config, progress) -> dict`` that
calls one pipeline of :mod:`voxforge.pipelines` (which writes ``out_dir`` through ``OutputDir``)
and returns the item's counts for ``batch.jsonl`` (cells, parts, steps ...). Module-level functions
pickle by reference, so a Ray worker imports them instead of receiving code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from voxforge.core.errors import ConfigError
from voxforge.core.progress import ProgressCallback
from voxforge.pipelines.options import BRICKIFY_OPTIONS, VOXELIZE_OPTIONS, UserOption

ItemRunner = Callable[[Path | None, Path, Any, ProgressCallback], dict[str, Any]]
InputKind = Literal["model", "image", "prompt"]


@dataclass(frozen=True)
class BatchPipeline:
    """One pipeline as ``voxforge batch`` runs it.

    Attributes:
        name: what ``--pipeline`` says.
        config: the pipeline's pydantic config (``extra="forbid"``): every item's options are
            validated into it before anything runs.
        run: the module-level runner.
        input: what an item's input is: a model file (scan, mesh, voxels, capture), an image,
            or a text prompt (``prompt`` column, or a ``.txt`` file holding it).
        options: the flat user options (``width_studs`` ...) items may name besides config
            fields; declared once in :mod:`voxforge.pipelines.options`.
        grid: whether the job makes a voxel grid from ``voxel.width_studs`` (the memory estimate
            counts its cells).
    """

    name: str
    config: type[BaseModel]
    run: ItemRunner
    input: InputKind
    options: tuple[UserOption, ...] = ()
    grid: bool = False


def _counts_brickify(summary: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cells": summary["grid"]["filled"],
        "parts": summary["parts"]["total"],
        "distinct_parts": summary["parts"]["distinct"],
    }
    if "instructions" in summary:
        out["steps"] = summary["instructions"].get("steps")
    return out


def run_brickify_item(
    input_path: Path | None, out_dir: Path, config: Any, progress: ProgressCallback
) -> dict[str, Any]:
    """``run_brickify``; counts: filled cells, parts, distinct parts, build steps."""
    from voxforge.pipelines.brickify import run_brickify

    result = run_brickify(_need(input_path), out_dir, config, progress)
    return _counts_brickify(result.summary)


def run_voxelize_item(
    input_path: Path | None, out_dir: Path, config: Any, progress: ProgressCallback
) -> dict[str, Any]:
    """``run_voxelize``; counts: filled cells."""
    from voxforge.pipelines.voxelize import run_voxelize

    result = run_voxelize(_need(input_path), out_dir, config, progress)
    return {"cells": int(result.summary["grid"]["filled"])}


def run_reconstruct_item(
    input_path: Path | None, out_dir: Path, config: Any, progress: ProgressCallback
) -> dict[str, Any]:
    """``run_reconstruct`` on one image; counts: filled cells and mesh faces."""
    from voxforge.pipelines.reconstruct import run_reconstruct

    result = run_reconstruct([_need(input_path)], out_dir, config, progress)
    out: dict[str, Any] = {"cells": int(result.grid.count), "faces": len(result.mesh.tm.faces)}
    bricks = result.summary.get("bricks")
    if isinstance(bricks, dict) and "parts" in bricks:
        out["parts"] = bricks["parts"]
    return out


def run_generate_item(
    input_path: Path | None, out_dir: Path, config: Any, progress: ProgressCallback
) -> dict[str, Any]:
    """``run_generate`` on the item's prompt; counts: variations."""
    from voxforge.pipelines.generate import run_generate

    summary = run_generate(config.prompt, out_dir, config, progress)
    variations = summary.get("variations") if isinstance(summary, dict) else None
    return {"variations": len(variations) if isinstance(variations, list) else None}


def run_mesh_item(
    input_path: Path | None, out_dir: Path, config: Any, progress: ProgressCallback
) -> dict[str, Any]:
    """The service's mesh job (``run_mesh_job``: make, LOD chain, checks, exports); counts: the
    made mesh's faces and how it was made."""
    from voxforge.pipelines.mesh import run_mesh_job

    outcome = run_mesh_job(_need(input_path), out_dir, config, progress)
    return {"faces": int(outcome.result.report.faces), "method": outcome.result.method}


def _need(path: Path | None) -> Path:
    if path is None:
        raise ConfigError("this pipeline needs an input file")
    return path


def batch_pipelines() -> dict[str, BatchPipeline]:
    """Every pipeline ``voxforge batch --pipeline`` accepts, by name (configs imported lazily)."""
    from voxforge.pipelines.brickify import BrickifyConfig
    from voxforge.pipelines.generate import GenerateJobConfig
    from voxforge.pipelines.mesh import MeshJobConfig
    from voxforge.pipelines.reconstruct import ReconstructConfig
    from voxforge.pipelines.voxelize import VoxelizeJobConfig

    return {
        "brickify": BatchPipeline(
            "brickify", BrickifyConfig, run_brickify_item, "model", BRICKIFY_OPTIONS, grid=True
        ),
        "voxelize": BatchPipeline(
            "voxelize", VoxelizeJobConfig, run_voxelize_item, "model", VOXELIZE_OPTIONS, grid=True
        ),
        "reconstruct": BatchPipeline("reconstruct", ReconstructConfig, run_reconstruct_item, "image"),
        "generate": BatchPipeline("generate", GenerateJobConfig, run_generate_item, "prompt"),
        "mesh": BatchPipeline("mesh", MeshJobConfig, run_mesh_item, "model"),
    }


PIPELINE_NAMES = ("brickify", "voxelize", "reconstruct", "generate", "mesh")
"""The names of :func:`batch_pipelines`, for ``--help`` without importing the pipelines."""


def get_pipeline(name: str) -> BatchPipeline:
    """The batch pipeline ``name``.

    Raises:
        ConfigError: an unknown name (the message lists the known ones).
    """
    table = batch_pipelines()
    if name not in table:
        raise ConfigError(f"--pipeline must be one of {', '.join(PIPELINE_NAMES)}; got {name!r}")
    return table[name]
