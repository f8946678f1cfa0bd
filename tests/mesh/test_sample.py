"""Surface sampling with colours: determinism, area weighting, colour lookup."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.mesh import Mesh
from voxforge.mesh.sample import bilinear_linear, sample_surface
from voxforge.voxel.color import linear_to_srgb


def _two_triangles() -> Mesh:
    """Two triangles, the second six times the area of the first, coloured per vertex."""
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0], [5, 0, 0], [2, 2, 0]], dtype=float)
    tm = trimesh.Trimesh(v, [[0, 1, 2], [3, 4, 5]], process=False)
    tm.visual.vertex_colors = [[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]] * 2
    return Mesh(tm=tm)


def test_sampling_is_deterministic_and_area_weighted() -> None:
    mesh = _two_triangles()
    a = sample_surface(mesh, 40_000, seed=7)
    b = sample_surface(mesh, 40_000, seed=7)
    c = sample_surface(mesh, 40_000, seed=8)
    assert np.array_equal(a.points, b.points) and np.array_equal(a.rgb, b.rgb)
    assert not np.array_equal(a.points, c.points)
    share = (a.face_index == 1).mean()
    assert abs(share - 6 / 7) < 4 * np.sqrt(6 / 49 / 40_000)
    # points lie on their faces, at their barycentric coordinates
    tri = mesh.vertices[mesh.faces][a.face_index]
    assert np.allclose(np.einsum("ni,nij->nj", a.barycentric, tri), a.points)
    assert (a.barycentric >= 0).all() and np.allclose(a.barycentric.sum(axis=1), 1.0)


def test_vertex_colours_are_interpolated_barycentrically() -> None:
    s = sample_surface(_two_triangles(), 1000, seed=0)
    assert np.allclose(s.rgb, s.barycentric, atol=1e-6)  # corners are pure R, G, B


def test_spacing_and_count_and_errors() -> None:
    mesh = _two_triangles()  # area 0.5 + 3.0
    assert len(sample_surface(mesh, spacing=0.1).points) == 350
    with pytest.raises(ConfigError, match="exactly one"):
        sample_surface(mesh, 10, spacing=0.1)
    flat = Mesh(tm=trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[0, 1, 2]], process=False))
    with pytest.raises(GeometryError, match="zero surface area"):
        sample_surface(flat, 10)


def test_uncoloured_mesh_has_no_rgb_and_face_colours_are_looked_up() -> None:
    tm = trimesh.creation.box()
    assert sample_surface(Mesh(tm=tm), 10).rgb is None
    tm.visual.face_colors = np.where(np.arange(12)[:, None] < 6, [255, 0, 0, 255], [0, 0, 255, 255])
    s = sample_surface(Mesh(tm=tm), 500, seed=1)
    expect = np.where(s.face_index[:, None] < 6, [1.0, 0, 0], [0, 0, 1.0])
    assert np.array_equal(s.rgb, expect.astype(np.float32))


def test_bilinear_lookup_flips_v_and_wraps() -> None:
    img = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]], dtype=np.uint8)
    uv = np.array([[0.25, 0.75], [0.75, 0.75], [0.25, 0.25], [0.75, 0.25], [-0.75, 1.75], [0.5, 0.75]])
    out = linear_to_srgb(bilinear_linear(img, uv))
    assert np.allclose(out[:5], [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [1, 0, 0]], atol=1e-6)
    assert np.allclose(out[5], [0.7354, 0.7354, 0.0], atol=1e-3)  # halfway: linear-light mix


def test_fuze_texture_samples(shared_data) -> None:
    tm = trimesh.load(shared_data / "meshes" / "fuze.obj", force="mesh")
    s = sample_surface(Mesh(tm=tm), 5000, seed=0)
    assert s.rgb.shape == (5000, 3) and s.rgb.dtype == np.float32
    assert len(np.unique(np.round(s.rgb, 2), axis=0)) > 200
