"""Steps shared by the pipelines: reading the input and turning it into a voxel grid."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.errors import GeometryError
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.core.progress import ProgressCallback
from voxforge.core.voxelgrid import VoxelGrid

log = logging.getLogger(__name__)

Loaded = PointCloud | Mesh | VoxelGrid


class InputConfig(BaseModel):
    """How to read the input."""

    model_config = ConfigDict(extra="forbid")

    units: Literal["m", "cm", "mm", "in"] | None = Field(
        None,
        description="Units of the input coordinates; default: metres for scans, guessed for meshes.",
    )
    up: Literal["y", "z"] | None = Field(
        None,
        description="Up axis of a mesh; default: Y for glTF, Z for OFF/3MF, guessed from a flat "
        "base for OBJ/STL/PLY.",
    )
    clean: bool | None = Field(
        None,
        description="Clean up point clouds (outliers, table plane, isolate the object); "
        "default: on for point clouds, off otherwise.",
    )
    use_app_mesh: bool | None = Field(
        None,
        description="For a phone capture export that holds the app's own mesh (export.obj, "
        "textured_output.obj): read that mesh instead of fusing the frames.",
    )


def check_single_units(input_config: InputConfig, clean_config: Any) -> None:
    """Refuse a config that scales units twice (``input.units`` and ``clean.units``).

    Readers convert to metres with ``input.units``; ``CleanConfig.units`` exists for library
    users who hand ``clean_scan`` raw clouds, and must stay metres inside a pipeline.
    """
    units = getattr(clean_config, "units", "m")
    if units not in ("m", 1.0):
        raise ValueError(
            f"clean.units={units!r}: inside a pipeline the reader converts units; "
            "set input.units (--units) instead"
        )


class Timer:
    """Collect wall-clock timings per stage (seconds), for summary.json."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def __call__(self, name: str) -> _Span:
        return _Span(self, name)


class _Span:
    def __init__(self, timer: Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        dt = time.perf_counter() - self.t0
        self.timer.timings[self.name] = round(self.timer.timings.get(self.name, 0.0) + dt, 4)


def read_input(path: str | Path, config: InputConfig) -> Loaded:
    """Read any supported input (scan, mesh, voxel grid, capture folder) into a core type."""
    from voxforge.scan.capture import load_input

    if config.use_app_mesh:
        from voxforge.io.captures import load_app_mesh

        return load_app_mesh(path)
    return load_input(path, up=config.up, units=config.units)


def describe(obj: Loaded) -> dict[str, Any]:
    """A short JSON-safe description of what was read (for `voxforge info` and summaries)."""
    info: dict[str, Any] = {"kind": type(obj).__name__}
    if isinstance(obj, PointCloud):
        info.update(points=len(obj), colors=obj.has_colors, normals=obj.normals is not None)
    elif isinstance(obj, Mesh):
        info.update(
            vertices=len(obj.vertices),
            faces=len(obj.faces),
            colors=obj.has_colors,
            watertight=obj.is_watertight,
        )
    elif isinstance(obj, VoxelGrid):
        info.update(
            shape=list(obj.shape),
            filled=obj.count,
            colors=obj.has_colors,
            pitch_m=[float(p) for p in obj.pitch],
        )
    if not isinstance(obj, VoxelGrid) or obj.count:
        if isinstance(obj, VoxelGrid):
            lo = obj.origin
            hi = obj.origin + obj.pitch * obj.shape
        else:
            lo, hi = obj.bounds
        info["bounds_m"] = [[round(float(v), 6) for v in lo], [round(float(v), 6) for v in hi]]
        info["extent_m"] = [round(float(b - a), 6) for a, b in zip(lo, hi, strict=True)]
    meta = getattr(obj, "meta", {}) or {}
    for key in ("source", "format", "units", "units_guessed", "up", "up_note", "crs", "app_mesh"):
        if key in meta:
            value = meta[key]
            info[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
    if meta.get("warnings"):
        info["warnings"] = [str(w) for w in meta["warnings"]]
    if isinstance(meta.get("capture"), dict):
        info["capture"] = dict(meta["capture"])
    return info


def clean_if_scan(
    obj: Loaded, input_config: InputConfig, clean_config: Any, progress: ProgressCallback | None = None
) -> tuple[Loaded, dict[str, Any] | None]:
    """Clean up a point cloud (unless switched off); meshes and grids pass through."""
    if not isinstance(obj, PointCloud):
        return obj, None
    if input_config.clean is False:
        return obj.validate(str(obj.meta.get("source", "point cloud"))), None
    from voxforge.scan import clean_scan

    cleaned, report = clean_scan(obj, clean_config, progress=progress)
    return cleaned, _report_dict(report)


def to_grid(obj: Loaded, voxel_config: Any, progress: ProgressCallback | None = None) -> VoxelGrid:
    """Voxelize a cloud or mesh onto the configured lattice.

    A voxel grid already on the LEGO lattice is used as it is (hollowed if asked) unless a size
    was asked for explicitly; any other grid (cubic cells: binvox, ModelNet, npy) is resampled onto
    the configured lattice so its proportions survive.
    """
    from voxforge.voxel import VoxelizeConfig, voxelize
    from voxforge.voxel.hollow import hollow
    from voxforge.voxel.resample import resample_grid

    if isinstance(obj, VoxelGrid):
        if obj.count == 0:
            raise GeometryError(f"voxel grid {obj.meta.get('source', '')} has no filled cells".strip())
        cfg = voxel_config or VoxelizeConfig()
        sized = {"width_studs", "scale"} & cfg.model_fields_set
        if obj.is_lego and cfg.lattice == "lego" and not sized:
            return obj if cfg.hollow is None else hollow(obj, cfg.hollow)
        return resample_grid(obj, cfg)

    return voxelize(obj, voxel_config, progress=progress)


def prepare_grid(
    input_path: str | Path,
    input_config: InputConfig,
    clean_config: Any,
    voxel_config: Any,
    prog: Any,
    timer: Timer,
    complete: str = "off",
) -> tuple[VoxelGrid, dict[str, Any], dict[str, Any] | None]:
    """Read, clean (scans) and voxelize, timing each step and reporting progress.

    ``prog`` is a :class:`~voxforge.core.progress.Progress` with ``read``, ``clean`` and
    ``voxelize`` stages. ``complete`` (``off``, ``on``, ``auto``) fills the unseen side of a scan
    or mesh (:func:`voxforge.nn.completion.apply.complete_grid`; the report lands in
    ``grid.meta["completion"]``, the added cells' (k, 3) indices in
    ``grid.meta["completed_cells"]``). Returns the grid, a description of the input and the
    clean-up report.
    """
    prog("read", 0.0)
    with timer("read"):
        obj = read_input(input_path, input_config)
    source_info = describe(obj)
    prog("clean", 0.0)
    with timer("clean"):
        obj, clean_report = clean_if_scan(obj, input_config, clean_config, prog.sub("clean"))
    prog("voxelize", 0.0)
    with timer("voxelize"):
        grid = to_grid(obj, voxel_config, prog.sub("voxelize"))
    if complete != "off":
        from voxforge.nn.completion.apply import complete_grid

        with timer("complete"):
            grid = complete_grid(obj, grid, complete)
    return grid, source_info, clean_report


def _report_dict(report: Any) -> dict[str, Any]:
    if hasattr(report, "as_dict"):
        return report.as_dict()
    if hasattr(report, "__dataclass_fields__"):
        import dataclasses

        return _jsonable(dataclasses.asdict(report))
    return _jsonable(dict(report))


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"array{list(value.shape)}"
    if isinstance(value, np.generic):
        return value.item()
    return value


jsonable = _jsonable
