"""The mesh pipelines: make, edit, quality check (with an optional repair and print checks) and a
LOD chain, written atomically.

They read any mesh :func:`~voxforge.io.load_mesh` reads, refuse geometry that cannot be measured
(no faces, NaN vertices, absurd size) with a :class:`~voxforge.core.errors.GeometryError`, and
write their files through :class:`~voxforge.core.outputs.OutputDir`, so a failure leaves nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.core.progress import ProgressCallback
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.mesh.check import MeshReport, check_mesh
from voxforge.mesh.edit import EditConfig, Material, edit_mesh, material_of
from voxforge.mesh.lod import NORMAL_MAP_MAX_FACES, LodLevel, build_lod
from voxforge.mesh.make import MakeConfig, MakeResult, grid_to_mesh, surface_points, transfer_colors
from voxforge.mesh.printcheck import PrintConfig, PrintReport, print_report
from voxforge.mesh.repair import RepairResult, repair_mesh
from voxforge.pipelines.common import InputConfig

MESH_FORMATS = ("glb", "obj", "ply", "stl", "off")
ABSURD_DIAGONAL_M = (1e-9, 1e7)
"""Bounding diagonals outside these (1 nm, 10 000 km) are refused as a units or data error."""


def load_checked_mesh(path: str | Path, *, units: str | None = None) -> Mesh:
    """Read a mesh and refuse faceless, non-finite or absurdly sized geometry (one-line errors)."""
    from voxforge.io import load_mesh

    mesh = load_mesh(path, units=units).validate(Path(path).name)
    with np.errstate(over="ignore", invalid="ignore"):
        diag = float(np.linalg.norm(np.ptp(np.asarray(mesh.vertices), axis=0)))
    lo, hi = ABSURD_DIAGONAL_M
    if not np.isfinite(diag) or not lo <= diag <= hi:
        raise GeometryError(
            f"{Path(path).name}: bounding diagonal {diag:.3g} m is absurd; check the file or --units"
        )
    return mesh


def mesh_formats() -> tuple[str, ...]:
    """Formats the mesh commands write: the exporters' list when :mod:`voxforge.io.mesh_export` is
    installed, else :data:`MESH_FORMATS`."""
    try:
        from voxforge.io.mesh_export import export_formats
    except ImportError:
        return MESH_FORMATS
    return tuple(row["name"] if isinstance(row, dict) else str(row) for row in export_formats())


def _format(fmt: str) -> str:
    fmt = fmt.lower().lstrip(".")
    formats = mesh_formats()
    if fmt not in formats:
        raise ConfigError(f"unknown mesh format {fmt!r}; choose one of {', '.join(formats)}")
    return fmt


def write_mesh(path: Path, mesh: Mesh, fmt: str, material: Material | None = None) -> Path:
    """Write ``mesh`` as ``fmt`` through :func:`voxforge.io.mesh_export.export_mesh` when it is
    installed (every format, materials), else through trimesh's writers (the GLB gets the
    material's PBR factors)."""
    try:
        from voxforge.io.mesh_export import PbrMaterial
        from voxforge.io.mesh_export import export_mesh as export
    except ImportError:
        export = None
    if export is not None:
        pbr = None if material is None else PbrMaterial(**material.to_dict())
        return Path(export(mesh, path, format=fmt, material=pbr))
    from voxforge.io.meshes import export_mesh

    data = export_mesh(mesh.tm, fmt)
    if material is not None and fmt == "glb":
        from voxforge.mesh.edit import glb_with_material

        data = glb_with_material(data, material)
    path.write_bytes(data)
    return path


@dataclass
class CheckOutcome:
    """The input's report, and the repair when one was asked for."""

    report: MeshReport
    repair: RepairResult | None = None
    output: Path | None = None
    printing: PrintReport | None = None

    @property
    def defective(self) -> bool:
        """The (repaired, when repaired) mesh has defects, or is not printable when checked for it."""
        final = self.repair.after if self.repair is not None else self.report
        return not final.ok or (self.printing is not None and not self.printing.printable)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"report": self.report.to_dict()}
        if self.repair is not None:
            d["repair"] = self.repair.to_dict()
        if self.printing is not None:
            d["print"] = self.printing.to_dict()
        return d


def run_check(
    path: str | Path,
    *,
    fix: bool = False,
    output: str | Path | None = None,
    fmt: str = "glb",
    units: str | None = None,
    printing: PrintConfig | None = None,
) -> CheckOutcome:
    """Check ``path``; with ``printing``, also for 3D printing (of the repaired mesh when fixing);
    with ``fix``, repair it and write ``mesh.<fmt>`` and ``report.json`` into the folder ``output``."""
    if fix and output is None:
        raise ConfigError("--fix needs -o OUT (the folder for the repaired mesh)")
    fmt = _format(fmt)
    mesh = load_checked_mesh(path, units=units)
    report = check_mesh(mesh)
    if not fix:
        return CheckOutcome(report, printing=None if printing is None else print_report(mesh, printing))
    from voxforge.core.outputs import OutputDir

    result = repair_mesh(mesh)
    outcome = CheckOutcome(report, result, Path(output))  # type: ignore[arg-type]
    if printing is not None:
        outcome.printing = print_report(result.mesh, printing)
    with OutputDir(output, extra={"command": "mesh check --fix", "input": str(path)}) as od:  # type: ignore[arg-type]
        write_mesh(od.path(f"mesh.{fmt}"), result.mesh, fmt)
        od.add(f"mesh.{fmt}", "repaired mesh" if not result.kept_input else "input mesh (unchanged)")
        od.path("report.json").write_text(json.dumps(outcome.to_dict(), indent=2))
        od.add("report.json", "quality report before and after the repair, and the changes")
    return outcome


@dataclass
class LodOutcome:
    levels: list[LodLevel]
    output: Path

    def to_dict(self) -> dict[str, Any]:
        return {"levels": [lv.to_dict() for lv in self.levels]}


def run_lod(
    path: str | Path,
    output: str | Path,
    *,
    levels: int | None = None,
    faces: list[int] | None = None,
    fmt: str = "glb",
    units: str | None = None,
    seed: int = 0,
    chain: bool = True,
    normal_maps: int = NORMAL_MAP_MAX_FACES,
) -> LodOutcome:
    """Write ``lod<i>.<fmt>`` per level and ``lod.json`` (face counts and errors) to ``output``;
    with ``chain`` and GLB also ``lod_chain.glb``, every level in one file (``MSFT_lod``).
    Levels of at most ``normal_maps`` faces carry a normal map baked from level 0 (in the
    formats that have them; see :func:`voxforge.mesh.lod.build_lod`)."""
    from voxforge.core.outputs import OutputDir

    fmt = _format(fmt)
    mesh = load_checked_mesh(path, units=units)
    chain_meshes = build_lod(mesh, levels=levels, faces=faces, seed=seed, normal_maps=normal_maps)
    outcome = LodOutcome([lv for _, lv in chain_meshes], Path(output))
    with OutputDir(output, extra={"command": "mesh lod", "input": str(path)}) as od:
        for m, lv in chain_meshes:
            name = f"lod{lv.level}.{fmt}"
            write_mesh(od.path(name), m, fmt)
            od.add(name, f"level {lv.level}: {lv.faces} faces")
        if chain and fmt == "glb":
            from voxforge.mesh.lod import lod_glb

            od.path("lod_chain.glb").write_bytes(lod_glb([m for m, _ in chain_meshes]))
            od.add("lod_chain.glb", "every level in one GLB (MSFT_lod extension)")
        od.path("lod.json").write_text(json.dumps(outcome.to_dict(), indent=2))
        od.add(
            "lod.json",
            "faces, Hausdorff/Chamfer error (of the diagonal), silhouette IoU and SSIM per level",
        )
    return outcome


def make_mesh(obj: Mesh | PointCloud | VoxelGrid, config: MakeConfig | None = None) -> MakeResult:
    """Turn any input into a clean, watertight, outward triangle mesh.

    A mesh that :func:`~voxforge.mesh.check.check_mesh` finds clean is kept (``method="auto"``);
    otherwise :func:`~voxforge.mesh.repair.repair_mesh` runs and its result is kept when it is
    clean (colours sampled from the input surface); otherwise (or with ``method="remesh"``) it is
    remeshed. Point clouds (and remeshed meshes) are voxelized onto a cubic grid with hole
    closing and enclosed fill, so the occupancy is closed; a voxel grid is used as it is; the
    grid's surface comes from :func:`~voxforge.mesh.make.grid_to_mesh`.

    Raises:
        GeometryError: empty input, or a result that is not closed and outward.
    """
    config = config or MakeConfig()
    steps: list[str] = []
    if isinstance(obj, Mesh):
        name = str(obj.meta.get("source", "mesh"))
        obj.validate(name)
        if config.method != "remesh":
            kept = _keep_or_repair(obj, steps)
            if kept is not None:
                return _result(kept, "repair" if len(steps) > 1 else "kept", steps)
            if config.method == "repair":
                raise GeometryError(f"{name}: repair cannot make it watertight; use --method remesh")
        grid = _voxelize(obj, config)
        pts, rgb = surface_points(obj, config.seed)
        data = None if grid.meta.get("fill") == "solid" else pts
        colors = None if rgb is None else (pts, rgb)
    elif isinstance(obj, PointCloud):
        obj.validate(str(obj.meta.get("source", "point cloud")))
        grid = _voxelize(obj, config)
        data = obj.xyz
        colors = None if obj.rgb is None else (obj.xyz, obj.rgb)
    elif isinstance(obj, VoxelGrid):
        if obj.count == 0:
            raise GeometryError("voxel grid has no filled cells")
        grid, data, colors = obj, None, None
    else:
        raise GeometryError(f"cannot make a mesh from a {type(obj).__name__}")
    steps.append(f"occupancy grid {'x'.join(map(str, grid.shape))} ({grid.count} filled cells)")
    mesh = grid_to_mesh(grid, config, steps, data, colors)
    mesh.meta.update({k: v for k, v in getattr(obj, "meta", {}).items() if k in ("source", "format")})
    return _result(mesh, "marching cubes", steps)


def _result(mesh: Mesh, method: str, steps: list[str]) -> MakeResult:
    report = check_mesh(mesh)
    if not (report.watertight and report.manifold and report.outward):
        raise GeometryError(
            f"the made mesh is not closed and outward ({report.defects()} defects); "
            "try a higher --resolution"
        )
    return MakeResult(mesh, method, report, steps)


def _keep_or_repair(mesh: Mesh, steps: list[str]) -> Mesh | None:
    """The mesh when it is clean, its repair when that is clean, else None."""
    from voxforge.mesh.repair import repair_mesh

    report = check_mesh(mesh)
    if report.ok:
        steps.append("input mesh is already clean; kept")
        return mesh
    steps.append(f"input mesh has {report.defects()} defect(s)")
    result = repair_mesh(mesh)
    if result.after.ok and not result.kept_input:
        steps.extend(f"repair: {c}" for c in result.changes)
        out = result.mesh
        if mesh.has_colors and not out.has_colors:
            out.tm.visual = trimesh.visual.ColorVisuals(
                out.tm, vertex_colors=transfer_colors(mesh, out.tm.vertices)
            )
            steps.append("vertex colours sampled from the input surface")
        return out
    steps.append("repair does not close it; remeshing")
    return None


def _voxelize(obj: Mesh | PointCloud, config: MakeConfig) -> VoxelGrid:
    from voxforge.voxel import VoxelizeConfig, voxelize

    vconf = VoxelizeConfig(
        lattice="cubic",
        resolution=config.resolution,
        margin=1,
        fill="auto",
        close_iterations=config.close_iterations,
        cell_rule="center",
        max_cells=(config.resolution + 2) ** 3,
        seed=config.seed,
    )
    return voxelize(obj, vconf)


def read_any(path: str | Path, *, units: str | None = None, up: str | None = None) -> Any:
    """Read any input (scan, capture, mesh, voxel grid); point clouds are cleaned up like the
    voxelize pipeline does (outliers, table plane, the object isolated)."""
    from voxforge.pipelines.common import clean_if_scan, read_input
    from voxforge.scan import CleanConfig

    config = InputConfig(units=units, up=up)  # type: ignore[arg-type]
    obj, _ = clean_if_scan(read_input(path, config), config, CleanConfig())
    return obj


@dataclass
class MakeOutcome:
    result: MakeResult
    output: Path
    files: list[str]

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict() | {"files": self.files}


def run_make(
    path: str | Path,
    output: str | Path,
    *,
    config: MakeConfig | None = None,
    formats: list[str] | None = None,
    units: str | None = None,
    texture: bool = False,
) -> MakeOutcome:
    """Make a clean mesh of any input; write ``mesh.<fmt>`` per format, ``report.json`` and
    ``preview.png`` (and with ``texture`` a UV-atlas textured ``mesh_textured.glb``)."""
    from voxforge.core.outputs import OutputDir
    from voxforge.mesh.preview import preview_png

    fmts = [_format(f) for f in (formats or ["glb"])]
    result = make_mesh(read_any(path, units=units), config)
    files = []
    with OutputDir(output, extra={"command": "mesh make", "input": str(path)}) as od:
        for fmt in fmts:
            write_mesh(od.path(f"mesh.{fmt}"), result.mesh, fmt)
            od.add(f"mesh.{fmt}", f"clean watertight mesh ({result.report.faces} faces)")
            files.append(f"mesh.{fmt}")
        if texture:
            from voxforge.mesh.texture import bake_vertex_colors

            baked = bake_vertex_colors(result.mesh)
            write_mesh(od.path("mesh_textured.glb"), baked, "glb")
            od.add("mesh_textured.glb", "the mesh with its colours baked into a UV texture atlas")
            files.append("mesh_textured.glb")
        od.path("preview.png").write_bytes(preview_png(result.mesh.tm))
        od.add("preview.png", "a shaded view of the mesh")
        outcome = MakeOutcome(result, Path(output), files)
        od.path("report.json").write_text(json.dumps(outcome.to_dict(), indent=2))
        od.add("report.json", "how the mesh was made and its quality report")
    return outcome


@dataclass
class EditOutcome:
    changes: list[str]
    material: Material | None
    report: MeshReport
    output: Path
    files: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "changes": self.changes,
            "material": None if self.material is None else self.material.to_dict(),
            "report": self.report.to_dict(),
            "files": self.files,
        }


def run_edit(
    path: str | Path,
    output: str | Path,
    config: EditConfig,
    *,
    formats: list[str] | None = None,
    units: str | None = None,
    variations: int = 1,
) -> EditOutcome:
    """Edit a mesh and write ``mesh.<fmt>`` (or ``mesh_<seed>.<fmt>`` per seeded variation),
    ``report.json`` and ``preview.png``."""
    from voxforge.core.outputs import OutputDir
    from voxforge.mesh.preview import preview_png

    if variations > 1 and not config.palette:
        raise ConfigError("--variations needs --palette (variations shuffle the palette)")
    if not 1 <= variations <= 32:
        raise ConfigError(f"--variations must be between 1 and 32, got {variations}")
    fmts = [_format(f) for f in (formats or ["glb"])]
    mesh = load_checked_mesh(path, units=units)
    material = material_of(config)
    seeds = [config.seed] if variations == 1 else [(config.seed or 0) + i for i in range(variations)]
    edited = [edit_mesh(mesh, config.model_copy(update={"seed": s})) for s in seeds]
    changes = edited[0][1] + ([f"material: {material.to_dict()}"] if material else [])
    files: list[str] = []
    with OutputDir(output, extra={"command": "mesh edit", "input": str(path)}) as od:
        for (m, _), s in zip(edited, seeds, strict=True):
            stem = "mesh" if variations == 1 else f"mesh_{s}"
            for fmt in fmts:
                write_mesh(od.path(f"{stem}.{fmt}"), m, fmt, material)
                od.add(f"{stem}.{fmt}", "edited mesh" + (f" (seed {s})" if variations > 1 else ""))
                files.append(f"{stem}.{fmt}")
        od.path("preview.png").write_bytes(preview_png(edited[0][0].tm))
        od.add("preview.png", "a shaded view of the (first) edited mesh")
        outcome = EditOutcome(changes, material, check_mesh(edited[0][0]), Path(output), files)
        od.path("report.json").write_text(json.dumps(outcome.to_dict(), indent=2))
        od.add("report.json", "the changes, the material and the quality report")
    return outcome


MESH_JOB_STAGES = {"read": 1, "make": 4, "lod": 4, "check": 2, "write": 1}


class MeshJobConfig(BaseModel):
    """The service's ``mesh`` pipeline: make, LOD chain, checks and exports in one job."""

    model_config = ConfigDict(extra="forbid")

    input: InputConfig = Field(default_factory=InputConfig)
    make: MakeConfig = Field(default_factory=lambda: MakeConfig(resolution=96, max_faces=100_000))
    levels: int = Field(
        4, ge=1, le=8, description="LOD levels incl. level 0, each a quarter of the last."
    )
    faces: list[int] | None = Field(None, description="Explicit face counts below level 0.")
    print: PrintConfig = Field(default_factory=PrintConfig)
    formats: list[str] = Field(
        default_factory=lambda: ["glb", "stl", "obj"], description="Formats of the made mesh."
    )


def run_mesh_job(
    input_path: str | Path,
    out_dir: str | Path,
    config: MeshJobConfig | None = None,
    progress: ProgressCallback | None = None,
) -> MakeOutcome:
    """Make a clean mesh of any input, build its LOD chain and check it (also for printing); write
    ``mesh.<fmt>`` per format, ``lod<i>.glb`` per level, ``lod_chain.glb`` (``MSFT_lod``),
    ``preview.png`` and ``report.json`` (``{"make", "check", "print", "lod"}``) atomically."""
    from voxforge.core.outputs import OutputDir
    from voxforge.core.progress import Progress
    from voxforge.mesh.lod import lod_glb
    from voxforge.mesh.preview import preview_png

    config = config or MeshJobConfig()
    prog = Progress(progress, MESH_JOB_STAGES)
    fmts = [_format(f) for f in config.formats]
    prog("read", 0.0)
    obj = read_any(input_path, units=config.input.units, up=config.input.up)
    prog("make", 0.0)
    result = make_mesh(obj, config.make)
    prog("lod", 0.0)
    chain = build_lod(result.mesh, levels=config.levels, faces=config.faces, seed=config.make.seed)
    prog("check", 0.0)
    printing = print_report(result.mesh, config.print)
    report = {
        "make": {"method": result.method, "steps": result.steps},
        "check": result.report.to_dict(),
        "print": printing.to_dict(),
        "lod": [lv.to_dict() for _, lv in chain],
    }
    prog("write", 0.0)
    files = []
    with OutputDir(out_dir, extra={"job": "mesh", "input": Path(input_path).name}) as od:
        for fmt in fmts:
            write_mesh(od.path(f"mesh.{fmt}"), result.mesh, fmt)
            od.add(f"mesh.{fmt}", f"clean watertight mesh ({result.report.faces} faces)")
            files.append(f"mesh.{fmt}")
        for m, lv in chain:
            write_mesh(od.path(f"lod{lv.level}.glb"), m, "glb")
            od.add(f"lod{lv.level}.glb", f"level of detail {lv.level}: {lv.faces} faces")
        od.path("lod_chain.glb").write_bytes(lod_glb([m for m, _ in chain]))
        od.add("lod_chain.glb", "every level in one GLB (MSFT_lod extension)")
        od.path("preview.png").write_bytes(preview_png(result.mesh.tm))
        od.add("preview.png", "a shaded view of the mesh")
        od.path("report.json").write_text(json.dumps(report, indent=2))
        od.add("report.json", "how the mesh was made, its quality and print checks, LOD errors")
    prog("write", 1.0)
    return MakeOutcome(result, Path(out_dir), files)
