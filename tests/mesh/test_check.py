"""The mesh quality report and the repair on small generated meshes with known defects."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from voxforge.core.errors import GeometryError
from voxforge.core.mesh import Mesh
from voxforge.mesh import repair as repair_module
from voxforge.mesh.check import check_mesh
from voxforge.mesh.repair import repair_mesh


def cube() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(0.1, 0.1, 0.1))


def with_faces(faces: np.ndarray, tm: trimesh.Trimesh | None = None) -> Mesh:
    tm = tm or cube()
    return Mesh(trimesh.Trimesh(np.asarray(tm.vertices), faces, process=False))


def test_clean_cube_is_ok() -> None:
    r = check_mesh(Mesh(cube()))
    assert r.ok and r.watertight and r.manifold and r.outward
    assert (r.faces, r.vertices, r.components, r.holes) == (12, 8, 1, [])
    assert r.volume == pytest.approx(1e-3)
    assert r.diagonal == pytest.approx(np.sqrt(3) * 0.1)
    assert r.to_dict()["ok"] is True


def test_uv_seams_do_not_open_the_surface() -> None:
    # a textured export repeats vertices at one position along UV seams (every face its own
    # corners here): the surface is still closed, and the vertex list keeps its length
    box = cube()
    split = trimesh.Trimesh(
        box.vertices[box.faces].reshape(-1, 3), np.arange(36).reshape(-1, 3), process=False
    )
    r = check_mesh(Mesh(split))
    assert r.watertight and r.manifold and r.outward and r.components == 1
    assert (r.vertices, r.boundary_edges, r.holes) == (36, 0, [])
    assert r.volume == pytest.approx(1e-3)


def test_hole_is_found_with_its_size() -> None:
    r = check_mesh(with_faces(cube().faces[1:]))
    assert not r.watertight and r.manifold
    assert r.boundary_edges == 3
    assert len(r.holes) == 1 and r.holes[0]["edges"] == 3
    assert r.holes[0]["perimeter"] == pytest.approx(0.1 + 0.1 + 0.1 * np.sqrt(2))


def test_flipped_face_breaks_winding() -> None:
    f = cube().faces.copy()
    f[0] = f[0][::-1]
    r = check_mesh(with_faces(f))
    assert r.watertight and not r.winding_consistent
    assert r.inconsistent_edges == 3


def test_inside_out_cube_is_not_outward() -> None:
    r = check_mesh(with_faces(cube().faces[:, ::-1]))
    assert r.winding_consistent and r.outward is False and not r.ok


def test_duplicate_and_degenerate_faces() -> None:
    f = cube().faces
    r = check_mesh(with_faces(np.vstack([f, f[:2], [[0, 0, 1]]])))
    assert r.duplicate_faces == 2
    assert r.degenerate_faces == 1
    assert r.non_manifold_edges > 0  # a duplicated face gives its edges a third and fourth face


def test_two_components_and_a_small_one() -> None:
    big = trimesh.creation.icosphere(subdivisions=3)
    a = trimesh.util.concatenate([big, cube().apply_translation([3, 0, 0])])
    r = check_mesh(Mesh(a))
    assert r.components == 2 and r.small_components == 1 and r.ok


def test_bowtie_vertex_is_non_manifold() -> None:
    a = trimesh.creation.box(extents=(1, 1, 1)).apply_translation([0.5, 0.5, 0.5])
    b = trimesh.creation.box(extents=(1, 1, 1)).apply_translation([-0.5, -0.5, -0.5])
    both = trimesh.util.concatenate([a, b])
    both.merge_vertices()  # the two cubes now share the origin only
    r = check_mesh(Mesh(both))
    assert r.watertight and r.non_manifold_edges == 0
    assert r.non_manifold_vertices == 1 and not r.manifold


def test_bad_geometry_raises() -> None:
    with pytest.raises(GeometryError, match="no faces"):
        check_mesh(Mesh(trimesh.Trimesh(np.zeros((3, 3)), np.zeros((0, 3), int))))
    v = cube().vertices.copy()
    v[0, 0] = np.nan
    with pytest.raises(GeometryError, match="NaN"):
        check_mesh(Mesh(trimesh.Trimesh(v, cube().faces, process=False)))


@pytest.mark.parametrize(
    "faces",
    [
        cube().faces[1:],  # hole
        np.vstack([cube().faces[:1, ::-1], cube().faces[1:]]),  # flipped face
        np.vstack([cube().faces, cube().faces[:3]]),  # duplicates
        cube().faces[:, ::-1],  # inside out
    ],
    ids=["hole", "flipped", "duplicates", "inside-out"],
)
def test_repair_makes_the_cube_ok(faces: np.ndarray) -> None:
    mesh = with_faces(faces)
    result = repair_mesh(mesh)
    assert not result.before.ok
    assert result.after.ok, result.after.summary()
    assert result.changes and not result.kept_input
    assert result.after.volume == pytest.approx(1e-3, rel=1e-6)


def test_repair_keeps_the_input_when_the_result_is_worse(monkeypatch: pytest.MonkeyPatch) -> None:
    def ruin(tm: trimesh.Trimesh, changes: list[str]) -> trimesh.Trimesh:
        return trimesh.Trimesh(tm.vertices, np.vstack([tm.faces, tm.faces]), process=False)

    monkeypatch.setattr(repair_module, "_meshfix_components", ruin)
    mesh = with_faces(cube().faces[1:])
    monkeypatch.setattr(repair_module, "_trimesh_clean", lambda tm, changes: tm.copy())
    result = repair_mesh(mesh)
    assert result.kept_input
    assert result.mesh is mesh
    assert "kept the input" in result.changes[-1]


def test_repair_of_a_clean_mesh_changes_nothing() -> None:
    mesh = Mesh(cube())
    result = repair_mesh(mesh)
    assert result.mesh is mesh and result.changes == ["nothing to repair"]
