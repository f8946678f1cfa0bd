"""Mesh repair that says what it changed and never hands back a mesh worse than its input.

:func:`repair_mesh` first cleans with trimesh (merge vertices, drop degenerate and duplicate
faces, make winding consistent and outward), then, for each component still open or
non-manifold (components are joined through two-face edges only, so a non-manifold edge
separates them), fills small holes with trimesh and, where that does not close it, runs MeshFix
(``pymeshfix``: removes self-intersections and non-manifold parts, fills holes), keeping the best
of the three by the report. Components with fewer than four faces cannot close and are dropped.
Closed parts are then merged by a boolean union (``manifold3d``), so parts that touched through
a non-manifold edge or vertex become one manifold solid. The
:class:`~voxforge.mesh.check.MeshReport` of the result is compared with the input's: if the
result is worse by :meth:`~voxforge.mesh.check.MeshReport.worse_than`, the input is returned
unchanged and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trimesh

from voxforge.core.mesh import Mesh
from voxforge.mesh.check import MeshReport, check_mesh

MIN_COMPONENT_FACES = 4


@dataclass
class RepairResult:
    """The repaired mesh (or the input, when repairing made it worse), both reports and the changes."""

    mesh: Mesh
    before: MeshReport
    after: MeshReport
    changes: list[str] = field(default_factory=list)
    kept_input: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "changes": self.changes,
            "kept_input": self.kept_input,
        }


def repair_mesh(mesh: Mesh) -> RepairResult:
    """Repair ``mesh``; see the module docstring for the steps and the "never worse" rule."""
    before = check_mesh(mesh)
    if before.ok:
        return RepairResult(mesh, before, before, ["nothing to repair"])
    changes: list[str] = []
    tm = _trimesh_clean(mesh.tm, changes)
    if not (check_mesh(tm).watertight and check_mesh(tm).manifold):
        tm = _meshfix_components(tm, changes)
        _orient(tm, changes)
    out = Mesh(tm=tm, meta=dict(mesh.meta))
    after = check_mesh(out)
    if after.worse_than(before) or len(tm.faces) == 0:
        return RepairResult(
            mesh,
            before,
            before,
            [*changes, "the repaired mesh was worse by the report; kept the input unchanged"],
            kept_input=True,
        )
    return RepairResult(out, before, after, changes)


def _trimesh_clean(src: trimesh.Trimesh, changes: list[str]) -> trimesh.Trimesh:
    """Merge vertices, drop degenerate/duplicate faces and unused vertices, fix winding."""
    tm = trimesh.Trimesh(np.asarray(src.vertices), np.asarray(src.faces), process=False)
    nv, nf = len(tm.vertices), len(tm.faces)
    tm.merge_vertices()
    if len(tm.vertices) < nv:
        changes.append(f"merged {nv - len(tm.vertices)} duplicate vertices")
    tm.update_faces(tm.nondegenerate_faces(height=None))
    if len(tm.faces) < nf:
        changes.append(f"removed {nf - len(tm.faces)} degenerate faces")
    nf = len(tm.faces)
    tm.update_faces(tm.unique_faces())
    if len(tm.faces) < nf:
        changes.append(f"removed {nf - len(tm.faces)} duplicate faces")
    tm.remove_unreferenced_vertices()
    _orient(tm, changes)
    return tm


def _orient(tm: trimesh.Trimesh, changes: list[str]) -> None:
    """Make winding consistent per component and outward where the component is closed."""
    if len(tm.faces) == 0:
        return
    before = np.asarray(tm.faces).copy()
    trimesh.repair.fix_winding(tm)
    trimesh.repair.fix_inversion(tm, multibody=True)
    flipped = int((np.asarray(tm.faces) != before).any(axis=1).sum())
    if flipped:
        changes.append(f"re-oriented {flipped} faces (consistent, outward winding)")


def _repair_component(part: trimesh.Trimesh) -> tuple[trimesh.Trimesh, str]:
    """The best of: the component as is, with small holes filled by trimesh, through MeshFix."""
    import pymeshfix

    report = check_mesh(part)
    if report.watertight and report.manifold:
        return part, "kept"
    filled = part.copy()
    trimesh.repair.fill_holes(filled)
    filled_report = check_mesh(filled)
    if filled_report.watertight and filled_report.manifold:
        return filled, "filled"
    fix = pymeshfix.MeshFix(np.asarray(filled.vertices), np.asarray(filled.faces))
    fix.repair(joincomp=False, remove_smallest_components=False)
    candidates = [(part, report, "kept"), (filled, filled_report, "filled")]
    if len(fix.faces):
        fixed = trimesh.Trimesh(fix.points, fix.faces, process=False)
        candidates.append((fixed, check_mesh(fixed), "meshfix"))

    def rank(c: tuple[trimesh.Trimesh, MeshReport, str]) -> tuple[bool, int]:
        return (not (c[1].watertight and c[1].manifold), c[1].defects())

    best = min(candidates, key=rank)
    return best[0], best[2]


def _split(tm: trimesh.Trimesh) -> list[trimesh.Trimesh]:
    """Components joined through two-face edges only, so a non-manifold edge separates parts
    (no hole filling; each part gets its own copy of the shared vertices)."""
    return list(trimesh.graph.split(tm, only_watertight=False, repair=False))


def _union(parts: list[trimesh.Trimesh], changes: list[str]) -> trimesh.Trimesh | None:
    """Boolean union (manifold3d) of closed parts: merges parts that touch or overlap."""
    if len(parts) < 2 or not all(p.is_watertight for p in parts):
        return None
    try:
        union = trimesh.boolean.union(parts, engine="manifold")
    except Exception:  # manifold3d refuses some inputs; the parts are then kept as they are
        return None
    report = check_mesh(union) if len(union.faces) else None
    if report is None or not (report.watertight and report.manifold):
        return None
    changes.append(f"merged {len(parts)} closed parts by boolean union into {report.components}")
    return union


def _meshfix_components(tm: trimesh.Trimesh, changes: list[str]) -> trimesh.Trimesh:
    """Run MeshFix on each component that is not closed and manifold; keep the closed ones."""
    parts = _split(tm)
    kept: list[trimesh.Trimesh] = []
    dropped = filled = fixed = 0
    for part in parts:
        if len(part.faces) < MIN_COMPONENT_FACES:
            dropped += 1
            continue
        best, how = _repair_component(part)
        kept.append(best)
        filled += how == "filled"
        fixed += how == "meshfix"
    if dropped:
        changes.append(f"dropped {dropped} component(s) of fewer than {MIN_COMPONENT_FACES} faces")
    if filled:
        changes.append(f"filled small holes (triangles and quads) in {filled} component(s)")
    if fixed:
        changes.append(
            f"MeshFix closed holes and removed non-manifold and self-intersecting parts "
            f"in {fixed} component(s)"
        )
    if not kept:
        return trimesh.Trimesh()
    return _union(kept, changes) or trimesh.util.concatenate(kept)
