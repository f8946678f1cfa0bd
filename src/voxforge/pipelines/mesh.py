"""The mesh pipelines: quality check (with an optional repair) and a LOD chain, written atomically.

Both read any mesh :func:`~voxforge.io.load_mesh` reads, refuse geometry that cannot be measured
(no faces, NaN vertices, absurd size) with a :class:`~voxforge.core.errors.GeometryError`, and
write their files through :class:`~voxforge.core.outputs.OutputDir`, so a failure leaves nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.mesh import Mesh
from voxforge.mesh.check import MeshReport, check_mesh
from voxforge.mesh.lod import LodLevel, build_lod
from voxforge.mesh.repair import RepairResult, repair_mesh

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


def _format(fmt: str) -> str:
    fmt = fmt.lower().lstrip(".")
    if fmt not in MESH_FORMATS:
        raise ConfigError(f"unknown mesh format {fmt!r}; choose one of {', '.join(MESH_FORMATS)}")
    return fmt


@dataclass
class CheckOutcome:
    """The input's report, and the repair when one was asked for."""

    report: MeshReport
    repair: RepairResult | None = None
    output: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"report": self.report.to_dict()}
        if self.repair is not None:
            d["repair"] = self.repair.to_dict()
        return d


def run_check(
    path: str | Path,
    *,
    fix: bool = False,
    output: str | Path | None = None,
    fmt: str = "glb",
    units: str | None = None,
) -> CheckOutcome:
    """Check ``path``; with ``fix``, repair it and write ``mesh.<fmt>`` and ``report.json``
    into the folder ``output``."""
    if fix and output is None:
        raise ConfigError("--fix needs -o OUT (the folder for the repaired mesh)")
    fmt = _format(fmt)
    mesh = load_checked_mesh(path, units=units)
    report = check_mesh(mesh)
    if not fix:
        return CheckOutcome(report)
    from voxforge.core.outputs import OutputDir
    from voxforge.io.meshes import export_mesh

    result = repair_mesh(mesh)
    outcome = CheckOutcome(report, result, Path(output))  # type: ignore[arg-type]
    with OutputDir(output, extra={"command": "mesh check --fix", "input": str(path)}) as od:  # type: ignore[arg-type]
        od.path(f"mesh.{fmt}").write_bytes(export_mesh(result.mesh.tm, fmt))
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
) -> LodOutcome:
    """Write ``lod<i>.<fmt>`` per level and ``lod.json`` (face counts and errors) to ``output``."""
    from voxforge.core.outputs import OutputDir
    from voxforge.io.meshes import export_mesh

    fmt = _format(fmt)
    mesh = load_checked_mesh(path, units=units)
    chain = build_lod(mesh, levels=levels, faces=faces, seed=seed)
    outcome = LodOutcome([lv for _, lv in chain], Path(output))
    with OutputDir(output, extra={"command": "mesh lod", "input": str(path)}) as od:
        for m, lv in chain:
            name = f"lod{lv.level}.{fmt}"
            od.path(name).write_bytes(export_mesh(m.tm, fmt))
            od.add(name, f"level {lv.level}: {lv.faces} faces")
        od.path("lod.json").write_text(json.dumps(outcome.to_dict(), indent=2))
        od.add("lod.json", "faces, Hausdorff/Chamfer error (of the diagonal), silhouette IoU per level")
    return outcome
