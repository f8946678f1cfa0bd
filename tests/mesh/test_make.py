"""mesh make: point clouds, voxel grids and broken meshes become closed, outward meshes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from voxforge.core.errors import GeometryError
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.mesh.check import check_mesh
from voxforge.mesh.make import MakeConfig
from voxforge.mesh.sample import sample_surface
from voxforge.mesh.texture import bake_vertex_colors
from voxforge.pipelines.mesh import make_mesh

SMALL = MakeConfig(resolution=40)


def sphere_cloud(n: int = 6000, r: float = 0.05) -> PointCloud:
    rng = np.random.default_rng(0)
    d = rng.normal(size=(n, 3))
    xyz = d / np.linalg.norm(d, axis=1, keepdims=True) * r
    rgb = np.where(xyz[:, 2:3] > 0, [[0.9, 0.1, 0.1]], [[0.1, 0.2, 0.9]]).astype(np.float32)
    return PointCloud(xyz, rgb)


def test_point_cloud_to_closed_coloured_sphere() -> None:
    result = make_mesh(sphere_cloud(), SMALL)
    report = check_mesh(result.mesh)
    assert report.watertight and report.manifold and report.outward and report.components == 1
    # Volume within 15% of the sphere's (Taubin keeps it; a shrinking Laplacian would not).
    assert report.volume == pytest.approx(4 / 3 * np.pi * 0.05**3, rel=0.15)
    v = result.mesh.tm.vertices
    rgb = result.mesh.tm.visual.vertex_colors[:, :3]
    top, bottom = v[:, 2] > 0.02, v[:, 2] < -0.02
    assert rgb[top, 0].mean() > 200 and rgb[bottom, 2].mean() > 200


def test_taubin_keeps_volume_and_smooths() -> None:
    cloud = sphere_cloud()
    rough = make_mesh(cloud, SMALL.model_copy(update={"taubin_iterations": 0}))
    smooth = make_mesh(cloud, SMALL)
    assert smooth.report.volume == pytest.approx(rough.report.volume, rel=0.05)

    # Smoother: the spread of vertex radii shrinks.
    def spread(m: Mesh) -> float:
        return float(np.linalg.norm(m.tm.vertices, axis=1).std())

    assert spread(smooth.mesh) < spread(rough.mesh)


def test_voxel_grid_keeps_its_place_and_size() -> None:
    occ = np.zeros((12, 12, 12), bool)
    occ[2:10, 3:9, 4:8] = True
    grid = VoxelGrid(occ, pitch=0.01, origin=(1.0, 0.0, 0.0))
    result = make_mesh(grid, MakeConfig(taubin_iterations=0, smooth_sigma=0.0))
    lo, hi = result.mesh.bounds
    assert np.allclose(lo, [1.025, 0.035, 0.045], atol=0.006)
    assert np.allclose(hi, [1.095, 0.085, 0.075], atol=0.006)
    assert result.report.watertight and result.report.outward


def test_clean_mesh_is_kept_and_broken_mesh_repaired() -> None:
    box = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    kept = make_mesh(Mesh(box), SMALL)
    assert kept.method == "kept" and len(kept.mesh.faces) == 12
    holed = trimesh.Trimesh(box.vertices, box.faces[1:], process=False)
    fixed = make_mesh(Mesh(holed), SMALL)
    assert fixed.method == "repair" and fixed.report.watertight


def test_remesh_closes_an_open_mesh() -> None:
    cyl = trimesh.creation.cylinder(radius=0.03, height=0.08, sections=24)
    keep = cyl.faces[np.asarray(cyl.triangles_center)[:, 2] > -0.039]  # no bottom cap
    open_mesh = Mesh(trimesh.Trimesh(cyl.vertices, keep))
    result = make_mesh(open_mesh, SMALL.model_copy(update={"method": "remesh"}))
    assert result.method == "marching cubes" and result.report.watertight and result.report.outward
    with pytest.raises(GeometryError):
        make_mesh(Mesh(trimesh.Trimesh(np.zeros((3, 3)), np.zeros((0, 3), int))), SMALL)


def test_texture_bake_shows_the_vertex_colours() -> None:
    made = make_mesh(sphere_cloud(), SMALL).mesh
    baked = bake_vertex_colors(made)
    assert baked.tm.visual.kind == "texture" and len(baked.faces) == len(made.faces)
    a = sample_surface(made, 3000, seed=2).rgb
    b = sample_surface(baked, 3000, seed=2).rgb
    assert float(np.abs(a - b).mean()) < 0.02
