"""Brick models in every mesh export format: one mesh, each part in its LEGO colour.

The geometry is :func:`~voxforge.bricks.geometry.brick_model_trimesh` (real part dimensions and
studs) coloured from the LDraw colour table; the writers are :mod:`voxforge.io.mesh_export`'s.
"""

from __future__ import annotations

from pathlib import Path

import trimesh

from voxforge.bricks.colors.palette import load_colors
from voxforge.bricks.geometry import brick_model_trimesh
from voxforge.core.brickmodel import BrickModel
from voxforge.core.errors import GeometryError
from voxforge.io.mesh_export import PbrMaterial, export_mesh, format_for

SURFACE_FORMATS = ("glb", "gltf", "usd", "usda", "usdz", "fbx")
"""Formats for looking at: brick models go out as their visible surface only."""
LEGO_ABS = PbrMaterial(name="lego_abs", roughness=0.35)
"""The material of every part colour: glossy dielectric ABS plastic."""


def brick_model_export_mesh(model: BrickModel, *, surface: bool) -> trimesh.Trimesh:
    """The brick model as one trimesh with each part's LEGO colour as its faces' colour."""

    palette = {code: c.srgb for code, c in load_colors().items()}
    return brick_model_trimesh(model, palette, cull_hidden=surface)


def export_brick_model(
    model: BrickModel,
    path: str | Path,
    *,
    format: str | None = None,
    units: str = "mm",
    surface: bool | None = None,
    material: PbrMaterial | None = None,
) -> Path:
    """Write a :class:`~voxforge.core.BrickModel` as one mesh with each part in its LEGO colour.

    ``surface`` (default: True for the viewing formats glTF, USD and FBX) leaves out the faces
    and studs other parts cover; the printing/CAD formats keep every part whole. The material's
    metallic/roughness apply to every colour (default: ABS plastic, roughness 0.35).
    """
    if not len(getattr(model, "placements", ())):
        raise GeometryError(f"{Path(path).name}: the brick model has no parts; nothing to export")
    spec = format_for(Path(path), format)
    if surface is None:
        surface = spec.name in SURFACE_FORMATS
    tm = brick_model_export_mesh(model, surface=surface)
    mat = material or LEGO_ABS
    return export_mesh(tm, path, format=format, units=units, material=mat)
