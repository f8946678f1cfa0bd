"""3D-printing checks: wall thickness, overhangs, volume, self-intersections and a verdict.

:func:`print_report` measures a mesh (metres) against a nozzle and layer height:

- **wall thickness**: rays cast inward along the negated face normal from seeded area-uniform
  surface samples; the distance to the first surface hit is the local thickness. The report
  gives the 1st percentile (``min_wall_mm``, robust against a single grazing ray) and the share
  of samples thinner than the nozzle. A wall under one nozzle width cannot be extruded.
- **overhangs**: faces whose downward normal leans more than ``max_overhang_deg`` from vertical
  (support needed), except faces within one layer of the bed; their area and share.
- **self-intersections**: triangles MeshFix (``pymeshfix``) finds crossing others. They are a
  warning, not a failure: slicers union overlapping shells, and MeshFix also flags touching
  sliver triangles (marching-cubes output near grid corners).
- **volume** (cm³) and the size (mm).

The verdict is ``printable``, ``printable with supports`` or ``not printable`` with the reasons.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import trimesh
from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.mesh import Mesh
from voxforge.mesh.check import check_mesh


class PrintConfig(BaseModel):
    """Printer settings the checks are measured against."""

    model_config = ConfigDict(extra="forbid")

    nozzle_mm: float = Field(0.4, gt=0.0, le=5.0, description="Nozzle (extrusion width), mm.")
    layer_mm: float = Field(0.2, gt=0.0, le=2.0, description="Layer height, mm.")
    max_overhang_deg: float = Field(45.0, ge=0.0, le=89.0, description="Largest unsupported overhang.")
    samples: int = Field(4000, ge=100, le=200_000, description="Wall-thickness ray samples.")
    seed: int = Field(0, ge=0)


@dataclass
class PrintReport:
    """What :func:`print_report` measured (lengths in mm, volume in cm³)."""

    size_mm: list[float]
    volume_cm3: float | None
    min_wall_mm: float | None
    median_wall_mm: float | None
    thin_wall_fraction: float
    overhang_area_mm2: float
    overhang_fraction: float
    self_intersecting_faces: int | None
    watertight: bool
    manifold: bool
    verdict: str
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    nozzle_mm: float = 0.4
    layer_mm: float = 0.2

    @property
    def printable(self) -> bool:
        return not self.verdict.startswith("not")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"printable": self.printable}

    def summary(self) -> str:
        def mm(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.3g} mm"

        lines = [
            f"print (nozzle {self.nozzle_mm:g} mm, layer {self.layer_mm:g} mm): size "
            + " x ".join(f"{s:.4g}" for s in self.size_mm)
            + " mm, volume "
            + ("n/a" if self.volume_cm3 is None else f"{self.volume_cm3:.4g} cm³"),
            f"wall thickness: min {mm(self.min_wall_mm)} (1st percentile), median "
            f"{mm(self.median_wall_mm)}, {100 * self.thin_wall_fraction:.1f}% under the nozzle",
            f"overhangs: {self.overhang_area_mm2:.4g} mm² ({100 * self.overhang_fraction:.1f}% of "
            "the surface) need support",
            "self-intersecting faces: "
            + ("n/a" if self.self_intersecting_faces is None else str(self.self_intersecting_faces)),
            f"print verdict: {self.verdict}" + (f" ({'; '.join(self.reasons)})" if self.reasons else ""),
        ]
        lines += [f"print warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def print_report(mesh: Mesh, config: PrintConfig | None = None) -> PrintReport:
    """Measure ``mesh`` for printing; see the module docstring."""
    config = config or PrintConfig()
    tm = mesh.tm
    topo = check_mesh(mesh)
    walls = wall_thickness(tm, config.samples, config.seed) * 1000.0
    walls = walls[np.isfinite(walls)]
    area_mm2, fraction = overhangs(tm, config.max_overhang_deg, config.layer_mm / 1000.0)
    inter = self_intersections(tm)
    min_wall = float(np.percentile(walls, 1)) if len(walls) else None
    thin = float((walls < config.nozzle_mm).mean()) if len(walls) else 0.0
    reasons, supports = [], fraction > 0.0
    if not topo.watertight or not topo.manifold:
        reasons.append("not watertight and manifold (run mesh check --fix)")
    if topo.outward is False:
        reasons.append("faces point inward")
    if min_wall is not None and min_wall < config.nozzle_mm:
        reasons.append(
            f"walls down to {min_wall:.3g} mm, thinner than the {config.nozzle_mm:g} mm nozzle"
        )
    warnings = [f"{inter} self-intersecting faces (check in the slicer)"] if inter else []
    verdict = "not printable" if reasons else ("printable with supports" if supports else "printable")
    return PrintReport(
        size_mm=[round(float(e) * 1000.0, 4) for e in np.ptp(tm.vertices, axis=0)],
        volume_cm3=None if topo.volume is None else topo.volume * 1e6,
        min_wall_mm=min_wall,
        median_wall_mm=float(np.median(walls)) if len(walls) else None,
        thin_wall_fraction=thin,
        overhang_area_mm2=area_mm2,
        overhang_fraction=fraction,
        self_intersecting_faces=inter,
        watertight=topo.watertight,
        manifold=topo.manifold,
        verdict=verdict,
        reasons=reasons,
        warnings=warnings,
        nozzle_mm=config.nozzle_mm,
        layer_mm=config.layer_mm,
    )


def wall_thickness(tm: trimesh.Trimesh, samples: int, seed: int = 0) -> np.ndarray:
    """(n,) metres from surface samples inward to the next surface (inf where no hit)."""
    pts, face = trimesh.sample.sample_surface(tm, samples, seed=seed)
    normals = np.asarray(tm.face_normals)[face]
    eps = 1e-6 * float(np.linalg.norm(np.ptp(tm.vertices, axis=0)))
    origins = np.asarray(pts) - normals * eps
    locs, ray_idx, _ = tm.ray.intersects_location(origins, -normals, multiple_hits=False)
    dist = np.full(len(origins), np.inf)
    if len(ray_idx):
        dist[ray_idx] = np.linalg.norm(locs - origins[ray_idx], axis=1) + eps
    return dist


def overhangs(tm: trimesh.Trimesh, max_deg: float, bed_band_m: float) -> tuple[float, float]:
    """(area in mm², share of the surface) of faces needing support."""
    n = np.asarray(tm.face_normals)
    down = -n[:, 2]  # cosine between the normal and straight down
    steep = down > np.cos(np.radians(90.0 - max_deg)) + 1e-9
    zmin = float(tm.bounds[0][2])
    on_bed = np.asarray(tm.triangles_center)[:, 2] <= zmin + bed_band_m
    areas = np.asarray(tm.area_faces)
    over = float(areas[steep & ~on_bed].sum())
    total = float(areas.sum()) or 1.0
    return over * 1e6, over / total


def self_intersections(tm: trimesh.Trimesh) -> int | None:
    """Number of triangles crossing another (MeshFix), or None when pymeshfix is absent."""
    try:
        import pymeshfix
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    t = pymeshfix.PyTMesh()
    t.set_quiet(True)
    t.load_array(np.asarray(tm.vertices, dtype=np.float64), np.asarray(tm.faces, dtype=np.int32))
    return len(t.select_intersecting_triangles(justproper=True))
