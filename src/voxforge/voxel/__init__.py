"""voxforge.voxel stage: voxelize point clouds and meshes on the LEGO lattice or a cubic grid.

The public entry is :func:`voxelize`; its building blocks are exported for reuse and tests.
"""

from voxforge.voxel.color import cell_colors, linear_to_srgb, mean_srgb, srgb_to_linear
from voxforge.voxel.config import VoxelizeConfig
from voxforge.voxel.fill import extend_to_base, fill_enclosed, fill_solid, outside
from voxforge.voxel.hollow import hollow, shell_distance
from voxforge.voxel.lattice import GridFrame, fit_scale
from voxforge.voxel.surface import bin_points, inside_centers, voxelize_points, voxelize_triangles
from voxforge.voxel.voxelize import voxelize

__all__ = [
    "GridFrame",
    "VoxelizeConfig",
    "bin_points",
    "cell_colors",
    "extend_to_base",
    "fill_enclosed",
    "fill_solid",
    "fit_scale",
    "hollow",
    "inside_centers",
    "linear_to_srgb",
    "mean_srgb",
    "outside",
    "shell_distance",
    "srgb_to_linear",
    "voxelize",
    "voxelize_points",
    "voxelize_triangles",
]
