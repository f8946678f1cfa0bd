"""The voxelize entry point: a point cloud or mesh in, a coloured grid on the LEGO lattice out.

Steps: fit the object to the lattice (:func:`fit_scale`), mark surface cells (points: the cell of
each point; meshes: exact triangle/cell overlap), optionally extend an open bottom to the base,
fill (solid for watertight meshes, hole-closing enclosed fill for clouds and open meshes), colour
every cell (linear-light means of samples, nearest surface colour inside), optionally hollow.

The grid lives in model metres: ``grid.meta['scale']`` maps the input's metres to them and
``grid.origin`` is cell (0, 0, 0)'s min corner there (see :mod:`voxforge.voxel.lattice`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.core.progress import Progress, ProgressCallback
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.voxel.color import colors_from_sums
from voxforge.voxel.config import VoxelizeConfig
from voxforge.voxel.fill import extend_to_base, fill_enclosed, fill_solid
from voxforge.voxel.hollow import hollow
from voxforge.voxel.lattice import GridFrame, fit_scale
from voxforge.voxel.points import point_spacing, splat_half_width, splat_points
from voxforge.voxel.surface import bin_points, inside_centers, point_bounds, voxelize_triangles

log = logging.getLogger(__name__)

_STAGES = {"surface": 4.0, "fill": 2.0, "colors": 3.0, "hollow": 1.0}


def voxelize(
    obj: PointCloud | Mesh,
    config: VoxelizeConfig | None = None,
    progress: ProgressCallback | None = None,
) -> VoxelGrid:
    """Voxelize a point cloud or mesh (metres, z up) onto the configured lattice.

    Args:
        obj: the object; meshes keep colours from ``tm.visual``, clouds from ``rgb``.
        config: options (default :class:`VoxelizeConfig()`: LEGO lattice, 32 studs wide, auto fill).
        progress: ``callback(stage, fraction)``.

    Returns:
        A :class:`VoxelGrid` with ``colors`` when the input has colours, ``interior`` when
        hollowed, and ``meta`` keys ``lattice, scale_mode, scale, width_studs, source_kind, fill,
        watertight, close_iterations, extend_bottom, hollow, size`` (and ``samples`` for meshes).

    Raises:
        GeometryError: empty or non-finite input, an object too small or flat to fit.
        SizeLimitError: the grid would exceed ``config.max_cells``.
    """
    config = config or VoxelizeConfig()
    if not isinstance(config, VoxelizeConfig):
        raise ConfigError(f"voxelize expects a VoxelizeConfig, got {type(config).__name__}")
    if not isinstance(obj, (PointCloud, Mesh)):
        raise GeometryError(f"cannot voxelize a {type(obj).__name__}; expected PointCloud or Mesh")
    prog = Progress(progress, _STAGES)
    name = str(obj.meta.get("source", type(obj).__name__))
    if isinstance(obj, PointCloud):
        bounds = point_bounds(obj.xyz) if len(obj) else None
        if bounds is None or not np.isfinite(bounds).all():
            obj.validate(name)  # raises with the count of bad points
        frame = fit_scale(bounds, config)
        prog("surface", 0.0)
        counts, sums = bin_points(obj.xyz, frame, obj.rgb)
        surface = counts > 0
        spacing = point_spacing(obj.xyz, seed=config.seed)
        half = splat_half_width(spacing, frame.scale, frame.pitch)
        if config.splat_points and half.any():
            surface |= splat_points(frame.to_cells(obj.xyz), half, frame.shape)
        watertight = False
        extra: dict[str, Any] = {
            "points": len(obj),
            "point_spacing_m": spacing,
            "splat_half_width_cells": [round(float(h), 3) for h in half]
            if config.splat_points
            else None,
        }
    else:
        obj.validate(name)
        triangles = np.asarray(obj.vertices, dtype=np.float64)[np.asarray(obj.faces)]
        bounds = np.stack([triangles.reshape(-1, 3).min(axis=0), triangles.reshape(-1, 3).max(axis=0)])
        frame = fit_scale(bounds, config)
        prog("surface", 0.0)
        surface = voxelize_triangles(triangles, frame)
        samples_xyz, samples_rgb, extra = _mesh_samples(obj, frame, config)
        counts, sums = bin_points(samples_xyz, frame, samples_rgb)
        watertight = obj.is_watertight or _watertight_when_welded(obj)
    prog("surface", 1.0)

    if config.extend_bottom:
        surface = extend_to_base(surface)
    method = _fill_method(config, watertight)
    prog("fill", 0.0)
    occupancy = _fill(surface, method, config.close_iterations)
    rule = "touch"
    if isinstance(obj, Mesh) and method == "solid" and config.cell_rule == "center":
        # Surface cells stay only when their centre is inside; enclosed cells stay regardless, so
        # self-intersecting parts (where parity flips) are not carved out.
        rule = "center"
        occupancy &= ~surface | inside_centers(triangles, frame)
    prog("fill", 1.0)

    colors = None
    if sums is not None:
        prog("colors", 0.0)
        colors = colors_from_sums(counts, sums, occupancy, frame.pitch)
        prog("colors", 1.0)

    grid = VoxelGrid(
        occupancy=occupancy,
        pitch=frame.pitch,
        origin=frame.origin,
        colors=colors,
        meta=_meta(obj, frame, config, method, rule, watertight, surface, extra),
    )
    if grid.count == 0:
        raise GeometryError(f"{name} produced no filled cells")
    if config.hollow is not None:
        prog("hollow", 0.0)
        grid = hollow(grid, config.hollow)
    grid.meta["size"] = grid.size_report()
    prog("hollow", 1.0)
    log.info("voxelized %s into %s cells (%d filled, fill=%s)", name, grid.shape, grid.count, method)
    return grid


def _watertight_when_welded(mesh: Mesh) -> bool:
    """Whether the surface is closed once vertices split at UV/normal seams are welded.

    OBJ files with textures (spot.obj) repeat vertices along seams, so the mesh as loaded has
    open edges although the surface is closed; solid fill is the right method for those.
    """
    import trimesh

    welded = trimesh.Trimesh(vertices=mesh.vertices, faces=mesh.faces, process=True)
    return bool(welded.is_watertight)


def _mesh_samples(
    mesh: Mesh, frame: GridFrame, config: VoxelizeConfig
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Colour samples of a mesh, ``samples_per_cell`` per unit area measured in cell faces."""
    if not mesh.has_colors:
        return np.zeros((0, 3)), None, {"samples": 0}
    from voxforge.mesh.sample import sample_surface

    axis_scale = frame.scale / frame.pitch
    tri = np.asarray(mesh.vertices, dtype=np.float64)[np.asarray(mesh.faces)] * axis_scale
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum()
    count = max(int(np.ceil(config.samples_per_cell * area)), 1)
    samples = sample_surface(mesh, count, seed=config.seed, axis_scale=axis_scale)
    return samples.points, samples.rgb, {"samples": count}


def _fill_method(config: VoxelizeConfig, watertight: bool) -> str:
    """'surface', 'solid' or 'enclosed' (hole closing + enclosed fill)."""
    if config.fill == "auto":
        return "solid" if watertight else "enclosed"
    return config.fill


def _fill(surface: np.ndarray, method: str, close_iterations: int) -> np.ndarray:
    if method == "surface":
        return surface
    if method == "solid":
        return fill_solid(surface)
    return fill_enclosed(surface, close_iterations)


def _meta(
    obj: PointCloud | Mesh,
    frame: GridFrame,
    config: VoxelizeConfig,
    method: str,
    rule: str,
    watertight: bool,
    surface: np.ndarray,
    extra: dict[str, Any],
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "lattice": config.lattice,
        "scale_mode": "fit" if config.lattice == "cubic" else config.scale,
        "scale": frame.scale,
        "width_studs": max(frame.shape[0], frame.shape[1]) if config.lattice == "lego" else None,
        "resolution": config.resolution if config.lattice == "cubic" else None,
        "source_kind": "points" if isinstance(obj, PointCloud) else "mesh",
        "fill": method,
        "cell_rule": rule,
        "watertight": bool(watertight),
        "close_iterations": config.close_iterations if method == "enclosed" else 0,
        "extend_bottom": config.extend_bottom,
        "hollow": config.hollow,
        "surface_cells": int(surface.sum()),
        **extra,
    }
    if "source" in obj.meta:
        meta["source"] = obj.meta["source"]
    return meta
