"""The surface of an occupancy grid as a clean, watertight, outward mesh with vertex colours.

:func:`grid_to_mesh` smooths the occupancy with a Gaussian (``smooth_sigma`` cells) and extracts
its 0.5 level surface with marching cubes on a padded grid, which closes every surface; drops
fragments below ``min_component_fraction`` of the faces; moves the surface onto the input's
points when given (a cloud's occupied cells lie about a cell outside its points); removes the
staircase with Taubin smoothing (a shrink step and an inflate step per iteration, so the volume
stays); decimates by quadrics to ``max_faces`` when the result stays watertight; and colours
each vertex from the nearest coloured cell. :func:`voxforge.pipelines.mesh.make_mesh` decides
whether an input is kept, repaired or remeshed and builds the grid (the voxel stage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import trimesh
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage
from scipy.spatial import cKDTree

from voxforge.core.errors import GeometryError
from voxforge.core.mesh import Mesh
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.mesh.check import MeshReport, check_mesh


class MakeConfig(BaseModel):
    """Options of :func:`make_mesh`."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "remesh", "repair"] = Field(
        "auto",
        description="For mesh inputs: 'auto' keeps a clean mesh, repairs a broken one and remeshes "
        "what repair cannot close; 'repair' never remeshes; 'remesh' always does.",
    )
    resolution: int = Field(
        128, ge=16, le=512, description="Cells along the longest side of the remeshing grid."
    )
    close_iterations: int = Field(
        2, ge=0, le=16, description="Closing steps that seal holes of scans and open meshes."
    )
    smooth_sigma: float = Field(
        0.8, ge=0.0, le=4.0, description="Gaussian smoothing of the occupancy, in cells."
    )
    taubin_iterations: int = Field(
        10, ge=0, le=200, description="Taubin smoothing iterations (volume-preserving)."
    )
    min_component_fraction: float = Field(
        0.01, ge=0.0, lt=1.0, description="Drop surface fragments with fewer than this share of faces."
    )
    max_faces: int | None = Field(
        200_000, ge=100, description="Decimate to at most this many faces (None: keep all)."
    )
    seed: int = Field(0, ge=0, description="Seed of the voxelizer's surface sampling (colours).")


@dataclass
class MakeResult:
    """The mesh, how it was made, and its quality report."""

    mesh: Mesh
    method: str
    report: MeshReport
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "steps": self.steps, "report": self.report.to_dict()}


def grid_to_mesh(
    grid: VoxelGrid,
    config: MakeConfig | None = None,
    steps: list[str] | None = None,
    data: np.ndarray | None = None,
    colors: tuple[np.ndarray, np.ndarray] | None = None,
) -> Mesh:
    """Smoothed-occupancy marching cubes, fragment removal, a fit to the ``data`` points (when
    given), Taubin smoothing, decimation, colours: from ``colors`` (points and their sRGB) when
    given, else from the grid's cells."""
    from voxforge.mesh.occupancy import grid_surface

    config = config or MakeConfig()
    steps = steps if steps is not None else []
    occ = grid.occupancy.astype(np.float32)
    if config.smooth_sigma > 0:
        occ = ndimage.gaussian_filter(np.pad(occ, 2), config.smooth_sigma)[2:-2, 2:-2, 2:-2]
    if occ.max() <= 0.5:
        raise GeometryError(
            "the object is thinner than the smoothing; lower --smooth or raise --resolution"
        )
    v, f = grid_surface(occ, 0.5, grid.pitch, grid.origin)
    tm = trimesh.Trimesh(v, f, process=True)
    steps.append(f"marching cubes: {len(tm.faces)} faces")
    tm = _drop_fragments(tm, config.min_component_fraction, steps)
    if data is not None and len(data):
        _fit_to_points(tm, np.asarray(data, dtype=np.float64), 1.5 * float(grid.pitch.max()), steps)
    if config.taubin_iterations:
        trimesh.smoothing.filter_taubin(tm, lamb=0.5, nu=0.53, iterations=config.taubin_iterations)
        steps.append(f"Taubin smoothing: {config.taubin_iterations} iterations")
    if config.max_faces is not None and len(tm.faces) > config.max_faces:
        tm = _decimate(tm, config.max_faces, steps)
    if colors is not None and len(colors[0]):
        tm.visual = trimesh.visual.ColorVisuals(
            tm, vertex_colors=point_colors(*colors, tm, 0.5 * float(grid.pitch.max()))
        )
        steps.append("vertex colours from the input points")
    elif grid.colors is not None:
        tm.visual = trimesh.visual.ColorVisuals(tm, vertex_colors=vertex_colors(grid, tm.vertices))
        steps.append("vertex colours from the input")
    return Mesh(tm=tm, meta={"units": "m", "made_from": grid.meta.get("source_kind", "voxels")})


def surface_points(mesh: Mesh, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """200 000 area-uniform samples of the surface of ``mesh`` and their colours (or None): the
    points a remesh fits to and takes its colours from."""
    from voxforge.mesh.sample import sample_surface

    s = sample_surface(mesh, 200_000, seed=seed)
    return s.points, s.rgb


def point_colors(
    points: np.ndarray, rgb: np.ndarray, tm: trimesh.Trimesh, scale: float, k: int = 16
) -> np.ndarray:
    """(n, 4) uint8 RGBA: per vertex, the mean colour of its ``k`` nearest coloured points,
    weighted by a Gaussian (width ``scale``) of their offset along the vertex normal, so a thin
    wall's far side (a mug's white inside behind its red outside) does not bleed through."""
    k = min(k, len(points))
    v = np.asarray(tm.vertices)
    _, idx = cKDTree(points).query(v, k=k)
    idx = idx.reshape(len(v), k)
    along = np.einsum("nkj,nj->nk", points[idx] - v[:, None, :], np.asarray(tm.vertex_normals))
    w = np.exp(-((along / max(scale, 1e-12)) ** 2)) + 1e-9
    mixed = np.einsum("nk,nkc->nc", w, np.asarray(rgb, dtype=np.float64)[idx]) / w.sum(axis=1)[:, None]
    return _rgba(mixed)


def _fit_to_points(tm: trimesh.Trimesh, data: np.ndarray, limit: float, steps: list[str]) -> None:
    """Move each vertex along its normal onto the data: by the signed distance to the mean of its
    16 nearest data points, at most ``limit``. The occupancy of a cloud's cells (and of the cells
    its points splat into) lies about a cell outside the points; this puts the surface on them."""
    k = min(16, len(data))
    v = np.asarray(tm.vertices)
    _, idx = cKDTree(data).query(v, k=k)
    centre = data[idx.reshape(len(v), k)].mean(axis=1)
    normals = np.asarray(tm.vertex_normals)
    offset = np.clip(np.einsum("ij,ij->i", v - centre, normals), -limit, limit)
    tm.vertices = v - normals * offset[:, None]
    steps.append(f"fitted to the input points (median move {np.median(np.abs(offset)) * 1000:.3g} mm)")


def _drop_fragments(tm: trimesh.Trimesh, fraction: float, steps: list[str]) -> trimesh.Trimesh:
    parts = tm.split(only_watertight=False)
    if len(parts) <= 1:
        return tm
    keep = [p for p in parts if len(p.faces) >= fraction * len(tm.faces)]
    keep = keep or [max(parts, key=lambda p: len(p.faces))]
    if len(keep) < len(parts):
        steps.append(f"dropped {len(parts) - len(keep)} small fragment(s)")
    return trimesh.util.concatenate(keep) if len(keep) > 1 else keep[0]


def _decimate(tm: trimesh.Trimesh, target: int, steps: list[str]) -> trimesh.Trimesh:
    """Quadric decimation to ``target`` faces, kept only when it stays watertight and outward."""
    import fast_simplification

    v, f = fast_simplification.simplify(
        np.asarray(tm.vertices), np.asarray(tm.faces, dtype=np.int64), target_count=target
    )
    out = trimesh.Trimesh(v, f, process=True)
    rep = check_mesh(out)
    if rep.watertight and rep.manifold and rep.outward and rep.degenerate_faces == 0:
        steps.append(f"decimated to {len(out.faces)} faces")
        return out
    steps.append(f"decimation to {target} faces would open the mesh; kept {len(tm.faces)} faces")
    return tm


def transfer_colors(
    source: Mesh, vertices: np.ndarray, samples: int = 200_000, seed: int = 0
) -> np.ndarray:
    """(n, 4) uint8 RGBA: per vertex, the mean colour of the 4 nearest surface samples of ``source``
    (vertex colours, face colours or texture, as :func:`~voxforge.mesh.sample.sample_surface` reads)."""
    from voxforge.mesh.sample import sample_surface

    s = sample_surface(source, samples, seed=seed)
    assert s.rgb is not None
    _, nearest = cKDTree(s.points).query(np.asarray(vertices), k=4)
    return _rgba(s.rgb[nearest].mean(axis=1))


def _rgba(rgb: np.ndarray) -> np.ndarray:
    rgba = np.empty((len(rgb), 4), dtype=np.uint8)
    rgba[:, :3] = np.clip(np.round(np.asarray(rgb) * 255.0), 0, 255).astype(np.uint8)
    rgba[:, 3] = 255
    return rgba


def vertex_colors(grid: VoxelGrid, vertices: np.ndarray) -> np.ndarray:
    """(n, 4) uint8 RGBA: the colour of the nearest filled cell of ``grid`` per vertex."""
    assert grid.colors is not None
    idx = np.argwhere(grid.occupancy)
    centres = grid.origin + (idx + 0.5) * grid.pitch
    _, nearest = cKDTree(centres).query(np.asarray(vertices), k=1)
    return _rgba(grid.colors[tuple(idx[nearest].T)])
