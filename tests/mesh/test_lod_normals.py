"""LOD normal transfer: every level ships normals taken from level 0, and the exporters write them."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh

from voxforge.core.mesh import Mesh
from voxforge.io.export_checks import check_usd, validate_gltf
from voxforge.io.mesh_export import export_mesh
from voxforge.mesh.lod import build_lod, decimate, lod_glb, transfer_normals, weld


def _sphere() -> Mesh:
    return Mesh(trimesh.creation.icosphere(subdivisions=4))  # 5120 faces, unit radius


def _mean_angle(normals: np.ndarray, vertices: np.ndarray) -> float:
    """Mean angle in degrees between ``normals`` and the sphere's true (radial) normals."""
    radial = vertices / np.linalg.norm(vertices, axis=1, keepdims=True)
    return float(np.degrees(np.arccos(np.clip((normals * radial).sum(axis=1), -1.0, 1.0))).mean())


def test_transferred_normals_follow_the_original_surface() -> None:
    ref = _sphere().tm
    v, f = decimate(*weld(ref.vertices, ref.faces), 150)
    moved = transfer_normals(ref.vertices, ref.vertex_normals, v, f)
    tri = v[f]  # the area-weighted normals a writer or viewer computes from the coarse faces
    own = np.zeros_like(v)
    for c in range(3):
        np.add.at(own, f[:, c], np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
    own /= np.linalg.norm(own, axis=1, keepdims=True)
    assert np.allclose(np.linalg.norm(moved, axis=1), 1.0)
    assert _mean_angle(moved, v) < 1.0 < 2.0 < _mean_angle(own, v)


def test_transfer_skips_normals_of_the_far_side() -> None:
    """A thin plate's coarse top face sunk below the middle: its nearest level-0 vertices are
    the bottom ones, whose normals face away; the top's normals must win."""
    plate = trimesh.creation.box((2.0, 2.0, 0.01)).subdivide().subdivide()
    top = np.array([[0.0, 0.0, -0.001], [0.4, 0.0, -0.001], [0.0, 0.4, -0.001]])
    tri = np.array([[0, 1, 2]])  # faces +z
    n = transfer_normals(plate.vertices, plate.vertex_normals, top, tri, k=16)
    assert (n[:, 2] > 0.9).all()


def test_levels_ship_their_normals_and_shade_closer_to_level_0() -> None:
    moved = build_lod(_sphere(), faces=[150], samples=2000, views=4, normal_maps=0)
    plain = build_lod(_sphere(), faces=[150], samples=2000, views=4, normals=False)
    mesh, level = moved[1]
    assert "vertex_normals" in mesh.tm._cache.cache  # set on the level, not computed later
    assert _mean_angle(mesh.tm.vertex_normals, mesh.vertices) < 1.0
    assert level.ssim > plain[1][1].ssim


def _glb_normals(data: bytes) -> list[np.ndarray]:
    """Every primitive's NORMAL accessor of a GLB written by voxforge (tightly packed)."""
    n = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20 : 20 + n])
    blob = data[28 + n :]
    out = []
    for mesh in doc["meshes"]:
        acc = doc["accessors"][mesh["primitives"][0]["attributes"]["NORMAL"]]
        bv = doc["bufferViews"][acc["bufferView"]]
        start = bv.get("byteOffset", 0) + acc.get("byteOffset", 0)
        out.append(np.frombuffer(blob, "<f4", acc["count"] * 3, start).reshape(-1, 3))
    return out


def test_exports_carry_the_transferred_normals(tmp_path: Path) -> None:
    chain = build_lod(_sphere(), faces=[500, 100], samples=2000, views=0, normal_maps=0)
    mesh = chain[1][0]
    normals = np.asarray(mesh.tm.vertex_normals)
    y_up = normals[:, [0, 2, 1]] * (1.0, 1.0, -1.0)  # z-up -> y-up, as the GLB writer turns it
    glb = export_mesh(mesh, tmp_path / "lod1.glb")
    (written,) = _glb_normals(glb.read_bytes())
    assert np.allclose(written, y_up, atol=1e-5)
    obj = export_mesh(mesh, tmp_path / "lod1.obj").read_text()
    assert obj.count("\nvn ") == len(mesh.vertices) and "//" in obj
    back = trimesh.load(tmp_path / "lod1.obj", process=False)
    assert np.allclose(np.abs((back.vertex_normals * y_up).sum(axis=1)), 1.0, atol=1e-4)
    ply = export_mesh(mesh, tmp_path / "lod1.ply").read_bytes()
    assert b"property float nx" in ply.split(b"end_header")[0]
    data = lod_glb([m for m, _ in chain])
    per_level = _glb_normals(data)
    assert [len(n) for n in per_level] == [len(m.vertices) for m, _ in chain]
    assert np.allclose(per_level[1], y_up, atol=1e-5)
    (tmp_path / "chain.glb").write_bytes(data)
    for path in (glb, tmp_path / "chain.glb"):
        report = validate_gltf(path)
        if report is None:
            pytest.skip("gltf-validator not installed (make gltf-validator)")
        assert report.ok, report.errors


def test_usd_carries_the_transferred_normals(tmp_path: Path) -> None:
    pytest.importorskip("pxr")
    from pxr import Usd, UsdGeom

    mesh = build_lod(_sphere(), faces=[300], samples=2000, views=0, normal_maps=0)[1][0]
    y_up = np.asarray(mesh.tm.vertex_normals)[:, [0, 2, 1]] * (1.0, 1.0, -1.0)
    path = export_mesh(mesh, tmp_path / "lod1.usda")
    stage = Usd.Stage.Open(str(path))  # held: the prim is valid while its stage lives
    prim = UsdGeom.Mesh(stage.GetPrimAtPath("/Root/Mesh"))
    assert prim.GetNormalsInterpolation() == UsdGeom.Tokens.vertex
    assert np.allclose(np.asarray(prim.GetNormalsAttr().Get()), y_up, atol=1e-5)
    usdz = export_mesh(mesh, tmp_path / "lod1.usdz")
    report = check_usd(usdz, arkit=True)
    assert report is None or report.ok, report.errors
