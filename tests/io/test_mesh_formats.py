"""Mesh formats on generated fixtures: OFF, STL, OBJ, glTF/GLB scenes, 3MF; up axes and units."""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest
import trimesh

from voxforge.core import ConfigError, GeometryError, InputFormatError
from voxforge.io import load_any, load_mesh, sniff

TET_V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
TET_F = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])


def off_bytes(v=TET_V, f=TET_F, merged_header: bool = False) -> bytes:
    head = f"OFF{len(v)} {len(f)} 0\n" if merged_header else f"OFF\n# c\n{len(v)} {len(f)} 0\n"
    body = "".join(f"{a} {b} {c}\n" for a, b, c in v) + "".join(f"3 {a} {b} {c}\n" for a, b, c in f)
    return (head + body).encode()


def binary_stl_bytes(v=TET_V, f=TET_F, count: int | None = None) -> bytes:
    tri = v[f].astype(np.float32)
    rec = np.zeros(len(f), dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["v"] = tri
    return (
        b"solid but binary".ljust(80, b" ")
        + struct.pack("<I", len(f) if count is None else count)
        + rec.tobytes()
    )


def ascii_stl_bytes(v=TET_V, f=TET_F) -> bytes:
    out = ["solid tet"]
    for a, b, c in f:
        out += ["facet normal 0 0 0", "outer loop"]
        out += [f"vertex {x} {y} {z}" for x, y, z in v[[a, b, c]]]
        out += ["endloop", "endfacet"]
    return ("\n".join([*out, "endsolid tet"]) + "\n").encode()


def obj_bytes(v=TET_V, f=TET_F) -> bytes:
    return (
        "".join(f"v {a} {b} {c}\n" for a, b, c in v)
        + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in f)
    ).encode()


@pytest.mark.parametrize("merged", [False, True])
def test_off_is_z_up(merged):
    data = off_bytes(merged_header=merged)
    assert sniff(data, filename="t.off") == "off"
    mesh = load_mesh(data, filename="t.off")
    assert mesh.meta["up"] == "z" and mesh.meta["units"] == "m"
    np.testing.assert_allclose(mesh.bounds, [[0, 0, 0], [1, 1, 1]])
    assert len(mesh.faces) == 4 and mesh.is_watertight


@pytest.mark.parametrize("maker", [binary_stl_bytes, ascii_stl_bytes])
def test_stl_binary_and_ascii(maker):
    data = maker(TET_V * 20.0)
    assert sniff(data, filename="t.stl") == "stl"
    mesh = load_mesh(data, filename="t.stl")
    assert mesh.meta["units"] == "mm" and mesh.meta["units_guessed"] is True
    np.testing.assert_allclose(mesh.bounds, [[0, 0, 0], [0.02, 0.02, 0.02]], atol=1e-9)
    assert mesh.is_watertight


def test_binary_stl_face_count_checked():
    data = binary_stl_bytes(count=1200)
    with pytest.raises(
        InputFormatError, match=r"t\.stl: binary STL header says 1200 faces, file holds 4"
    ):
        load_mesh(data, filename="t.stl")
    with pytest.raises(InputFormatError, match="file holds 3 and 30 stray bytes"):
        load_mesh(binary_stl_bytes()[:-20], filename="t.stl")


def test_obj_is_turned_from_y_up():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3]], dtype=np.float64)
    mesh = load_mesh(obj_bytes(v), filename="t.obj")
    assert mesh.meta["up"] == "y"
    # (x, y, z) -> (x, -z, y): the 2-high y axis becomes z, the 3-deep z axis becomes -y
    np.testing.assert_allclose(
        sorted(map(tuple, mesh.vertices)), sorted([(0, 0, 0), (1, 0, 0), (0, 0, 2), (0, -3, 0)])
    )
    kept = load_mesh(obj_bytes(v), filename="t.obj", up="z")
    np.testing.assert_allclose(kept.extent, [1, 2, 3])
    assert kept.meta["up"] == "z" and kept.meta["up_guessed"] is False


def test_rotation_is_proper():
    from voxforge.io._base import Y_UP_TO_Z_UP

    r = Y_UP_TO_Z_UP[:3, :3]
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_array_equal(r @ [0, 1, 0], [0, 0, 1])


@pytest.mark.parametrize(
    ("scale", "units", "expected_units", "guessed", "factor"),
    [
        (1.0, None, "m", True, 1.0),
        (100.0, None, "mm", True, 0.001),  # largest extent 100 > 10: millimetres
        (100.0, "cm", "cm", False, 0.01),
        (2.0, "in", "in", False, 0.0254),
    ],
)
def test_mesh_units(scale, units, expected_units, guessed, factor):
    mesh = load_mesh(off_bytes(TET_V * scale), filename="t.off", units=units)
    assert mesh.meta["units"] == expected_units and mesh.meta["units_guessed"] is guessed
    np.testing.assert_allclose(mesh.extent, np.full(3, scale * factor))


def test_bad_units_and_up_are_config_errors():
    with pytest.raises(ConfigError, match="furlong"):
        load_mesh(off_bytes(), filename="t.off", units="furlong")
    with pytest.raises(ConfigError, match="up axis"):
        load_mesh(off_bytes(), filename="t.off", up="x")


def test_glb_scene_is_flattened_with_transforms(tmp_path):
    box = trimesh.creation.box(extents=(1, 1, 1))
    box.visual.face_colors = [255, 0, 0, 255]
    scene = trimesh.Scene()
    scene.add_geometry(
        box, node_name="a", transform=trimesh.transformations.translation_matrix([5, 0, 0])
    )
    scene.add_geometry(box.copy(), node_name="b")
    path = tmp_path / "two.glb"
    path.write_bytes(scene.export(file_type="glb"))
    mesh = load_mesh(path)
    assert len(mesh.faces) == 24
    assert mesh.meta["format"] == "glb" and mesh.meta["up"] == "y"
    # translated along x by 5 (x is kept by the Y-up turn), unit boxes about the origin
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -0.5, -0.5], [5.5, 0.5, 0.5]], atol=1e-6)
    assert mesh.has_colors


def test_gltf_json_with_embedded_buffer(tmp_path):
    box = trimesh.creation.box(extents=(2, 4, 6))
    files = trimesh.Scene(box).export(file_type="gltf", embed_buffers=True)
    path = tmp_path / "b.gltf"
    path.write_bytes(files["model.gltf"])
    assert sniff(path) == "gltf"
    np.testing.assert_allclose(load_mesh(path).extent, [2, 6, 4], atol=1e-6)


def test_3mf_unit_from_file(tmp_path):
    data = trimesh.creation.box(extents=(10, 20, 30)).export(file_type="3mf")
    path = tmp_path / "b.3mf"
    path.write_bytes(data)
    assert sniff(path) == "3mf"
    mesh = load_mesh(path)
    assert mesh.meta["units"] == "mm" and mesh.meta["units_guessed"] is False
    np.testing.assert_allclose(mesh.extent, [0.01, 0.02, 0.03], atol=1e-9)
    # the same package saying inches
    z = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as w:
        for name in z.namelist():
            content = z.read(name)
            if name.endswith(".model"):
                assert b'unit="millimeter"' in content
                content = content.replace(b'unit="millimeter"', b'unit="inch"', 1)
            w.writestr(name, content)
    inch = load_mesh(out.getvalue(), filename="b.3mf")
    assert inch.meta["units"] == "in"
    np.testing.assert_allclose(inch.extent, np.array([10, 20, 30]) * 0.0254, atol=1e-9)


def test_obj_with_mtl_and_texture_from_disk(tmp_path):
    from PIL import Image

    img = np.zeros((4, 4, 3), dtype=np.uint8)
    img[:, :2] = [255, 0, 0]
    img[:, 2:] = [0, 0, 255]
    Image.fromarray(img).save(tmp_path / "tex.png")
    (tmp_path / "m.mtl").write_text("newmtl mat\nKd 1 1 1\nmap_Kd tex.png\n")
    obj = (
        "mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\n"
        "vt 0.1 0.5\nvt 0.9 0.5\nvt 0.1 0.6\nvt 0.9 0.6\n"
        "usemtl mat\nf 1/1 2/2 3/3\nf 2/2 4/4 3/3\n"
    )
    (tmp_path / "q.obj").write_text(obj)
    mesh = load_mesh(tmp_path / "q.obj")
    assert mesh.tm.visual.kind == "texture"
    colors = mesh.tm.visual.to_color().vertex_colors[:, :3]
    assert {tuple(c) for c in colors} == {(255, 0, 0), (0, 0, 255)}


def test_point_only_obj_has_no_faces():
    with pytest.raises(GeometryError, match=r"p\.obj.*no faces"):
        load_mesh(b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", filename="p.obj")


def test_nan_vertex_is_geometry_error():
    with pytest.raises(GeometryError, match=r"n\.obj.*NaN"):
        load_mesh(b"v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n", filename="n.obj")


def test_load_any_gives_mesh_for_off():
    assert load_any(off_bytes(), filename="t.off").__class__.__name__ == "Mesh"
