"""Mesh exporters: every format read back by our readers at the same size, colours and materials
carried, the USDZ package laid out for AR Quick Look, and bad input refused with nothing written.

The real clients (glTF validator, usdchecker, Blender, assimp) are in test_export_clients.py."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from typer.testing import CliRunner

from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.errors import ConfigError, GeometryError, UnsupportedInputError
from voxforge.core.mesh import Mesh
from voxforge.io import load_mesh
from voxforge.io.mesh_export import (
    PbrMaterial,
    export_formats,
    export_mesh,
    parse_rgb,
)

ROUND_TRIP = ["obj", "stl", "ply", "glb", "gltf", "3mf", "usd", "usda", "usdz", "off"]


def _sphere(colors: str | None = "vertex") -> Mesh:
    tm = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    tm.apply_translation((0.01, -0.02, 0.05))
    if colors == "vertex":
        c = ((tm.vertices - tm.vertices.min(0)) / np.ptp(tm.vertices, 0) * 255).astype(np.uint8)
        tm.visual.vertex_colors = np.hstack([c, np.full((len(c), 1), 255, np.uint8)])
    elif colors == "face":
        rgba = np.where(
            (tm.triangles_center[:, 2] > 0.05)[:, None], [200, 30, 20, 255], [20, 40, 220, 255]
        )
        tm.visual.face_colors = rgba.astype(np.uint8)
    return Mesh(tm)


def bricks() -> BrickModel:
    P = Placement
    return BrickModel(
        [
            P("3001", 0, 0, 0, 4, 2, 3, 4),  # red 2x4 brick
            P("3001", 0, 2, 0, 4, 2, 3, 1),  # blue
            P("3003", 0, 0, 3, 2, 2, 3, 14),  # yellow 2x2 on top
            P("3039", 2, 0, 3, 2, 2, 3, 15),  # white slope
        ],
        (4, 4, 6),
    )


@pytest.mark.parametrize("ext", ROUND_TRIP)
def test_round_trip_same_size_and_faces(tmp_path: Path, ext: str) -> None:
    mesh = _sphere()
    path = export_mesh(mesh, tmp_path / f"m.{ext}", units="cm")
    units = "cm" if ext in ("obj", "stl", "ply", "off") else None  # formats without a unit in the file
    back = load_mesh(path, units=units, up="y" if ext == "obj" else None)
    assert len(back.faces) == len(mesh.faces)
    np.testing.assert_allclose(back.bounds, mesh.bounds, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


@pytest.mark.parametrize("ext", ["ply", "glb", "usda"])
def test_vertex_colours_survive(tmp_path: Path, ext: str) -> None:
    mesh = _sphere("vertex")
    back = load_mesh(export_mesh(mesh, tmp_path / f"m.{ext}"))
    assert back.tm.visual.kind in ("vertex", "face")
    face_rgb = back.tm.visual.face_colors[:, :3].astype(int) if back.tm.visual.kind == "face" else None
    if face_rgb is None:
        got = back.tm.visual.vertex_colors[:, :3].astype(int)
        want = mesh.tm.visual.vertex_colors[:, :3].astype(int)
        # same geometry order for these writers: compare by nearest vertex
        idx = np.argmin(((back.vertices[:, None] - mesh.vertices[None]) ** 2).sum(-1), axis=1)
        assert np.abs(got - want[idx]).max() <= 2  # 8-bit linear/sRGB round trips
    else:
        assert face_rgb.std(axis=0).min() > 10  # a gradient, not one colour


def test_3mf_colours(tmp_path: Path) -> None:
    with zipfile.ZipFile(export_mesh(_sphere("vertex"), tmp_path / "v.3mf")) as z:
        model = z.read("3D/3dmodel.model").decode()
    assert model.count("<m:color ") == 162 and 'p3="' in model
    with zipfile.ZipFile(export_mesh(_sphere("face"), tmp_path / "f.3mf")) as z:
        model = z.read("3D/3dmodel.model").decode()
    assert 'displaycolor="#C81E14FF"' in model and 'displaycolor="#1428DCFF"' in model


def test_face_colours_become_one_material_each_in_gltf(tmp_path: Path) -> None:
    path = export_mesh(
        _sphere("face"), tmp_path / "m.glb", material=PbrMaterial(metallic=0.2, roughness=0.7)
    )
    data = path.read_bytes()
    (n,) = struct.unpack("<I", data[12:16])
    doc = json.loads(data[20 : 20 + n])
    mats = doc["materials"]
    assert len(mats) == 2 == len(doc["meshes"][0]["primitives"])
    assert {m["pbrMetallicRoughness"]["metallicFactor"] for m in mats} == {0.2}
    assert {m["pbrMetallicRoughness"]["roughnessFactor"] for m in mats} == {0.7}
    red = next(m for m in mats if m["name"].endswith("c81e14"))["pbrMetallicRoughness"][
        "baseColorFactor"
    ]
    assert red[0] == pytest.approx((200 / 255 / 1.055 + 0.055 / 1.055) ** 2.4, abs=1e-4)  # linear
    back = load_mesh(path)
    assert len(np.unique(back.tm.visual.face_colors[:, :3], axis=0)) == 2


def test_ply_face_colours_split_exactly(tmp_path: Path) -> None:
    mesh = _sphere("face")
    back = trimesh.load(export_mesh(mesh, tmp_path / "m.ply", units="m"), process=False)
    per_face = back.visual.vertex_colors[back.faces][:, :, :3]
    assert (per_face == per_face[:, :1]).all()  # each face's three vertices agree
    np.testing.assert_array_equal(per_face[:, 0], mesh.tm.visual.face_colors[:, :3])


def test_material_in_obj_usd_and_3mf(tmp_path: Path) -> None:
    mat = PbrMaterial(
        name="steel", base_color=parse_rgb("#336699"), metallic=1.0, roughness=0.25, opacity=0.5
    )
    export_mesh(_sphere(None), tmp_path / "m.obj", material=mat)
    mtl = (tmp_path / "m.mtl").read_text()
    assert (
        "newmtl steel" in mtl and "Pm 1.000000" in mtl and "Pr 0.250000" in mtl and "d 0.500000" in mtl
    )
    assert "Kd 0.200000 0.400000 0.600000" in mtl
    from pxr import Usd, UsdShade

    stage = Usd.Stage.Open(str(export_mesh(_sphere(None), tmp_path / "m.usda", material=mat)))
    shader = UsdShade.Shader(stage.GetPrimAtPath("/Root/Materials/Material/PreviewSurface"))
    assert shader.GetInput("metallic").Get() == 1.0 and shader.GetInput("opacity").Get() == 0.5
    with zipfile.ZipFile(export_mesh(_sphere(None), tmp_path / "m.3mf", material=mat)) as z:
        assert 'displaycolor="#33669980"' in z.read("3D/3dmodel.model").decode()


def test_usdz_package_layout_for_ar_quick_look(tmp_path: Path) -> None:
    path = export_mesh(_sphere(), tmp_path / "m.usdz", units="cm")
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    assert infos[0].filename.endswith(".usdc") and len(infos) == 1
    assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
    raw = path.read_bytes()
    name_len, extra_len = struct.unpack("<HH", raw[26:30])
    assert (30 + name_len + extra_len) % 64 == 0  # data 64-byte aligned
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(str(path))
    assert UsdGeom.GetStageMetersPerUnit(stage) == 0.01 and UsdGeom.GetStageUpAxis(stage) == "Y"
    assert stage.GetDefaultPrim().GetPath() == "/Root"


def test_stl_is_binary_millimetres_z_up(tmp_path: Path) -> None:
    mesh = _sphere(None)
    data = export_mesh(mesh, tmp_path / "m.stl").read_bytes()
    (n,) = struct.unpack("<I", data[80:84])
    assert n == len(mesh.faces) and len(data) == 84 + 50 * n
    raw = trimesh.load(tmp_path / "m.stl")
    np.testing.assert_allclose(raw.bounds, mesh.bounds * 1000.0, atol=1e-3)


def test_obj_is_y_up(tmp_path: Path) -> None:
    mesh = _sphere(None)
    raw = trimesh.load(export_mesh(mesh, tmp_path / "m.obj", units="m"), process=False, force="mesh")
    np.testing.assert_allclose(raw.bounds[:, 1], mesh.bounds[:, 2], atol=1e-6)  # z became y


def test_textured_mesh_keeps_texture_in_glb_and_obj(tmp_path: Path, shared_data: Path) -> None:
    duck = load_mesh(shared_data / "meshes" / "Duck.glb")
    back = load_mesh(export_mesh(duck, tmp_path / "duck.glb"))
    assert back.tm.visual.kind == "texture" and back.tm.visual.material.baseColorTexture is not None
    export_mesh(duck, tmp_path / "duck.obj")
    assert (tmp_path / "duck_texture.png").exists() and "map_Kd duck_texture.png" in (
        tmp_path / "duck.mtl"
    ).read_text()
    usdz = export_mesh(duck, tmp_path / "duck.usdz")
    with zipfile.ZipFile(usdz) as z:
        assert z.namelist() == ["duck.usdc", "duck_texture.png"]
    usd = load_mesh(usdz)  # our reader samples the UsdUVTexture per face
    assert usd.tm.visual.kind == "face" and len(np.unique(usd.tm.visual.face_colors, axis=0)) > 20
    ply = load_mesh(export_mesh(duck, tmp_path / "duck.ply"))
    assert ply.tm.visual.kind == "vertex"  # texture sampled to vertex colours


def test_brick_model_in_lego_colours(tmp_path: Path) -> None:
    from voxforge.bricks.colors.palette import load_colors
    from voxforge.bricks.export import export_brick_model

    red = np.rint(np.array(load_colors()[4].srgb) * 255)
    back = load_mesh(export_brick_model(bricks(), tmp_path / "lego.glb"))
    colours = np.unique(back.tm.visual.face_colors[:, :3], axis=0)
    assert len(colours) == 4 and (np.abs(colours - red).sum(axis=1) <= 1).any()
    usdz = export_brick_model(bricks(), tmp_path / "lego.usdz")
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(str(usdz))
    subsets = UsdGeom.Subset.GetAllGeomSubsets(UsdGeom.Mesh(stage.GetPrimAtPath("/Root/Mesh")))
    assert len(subsets) == 4
    np.testing.assert_allclose(load_mesh(usdz).extent, back.extent, atol=1e-6)


@pytest.mark.parametrize(
    ("tm", "error", "text"),
    [
        (
            trimesh.Trimesh(vertices=np.zeros((3, 3)), faces=np.zeros((0, 3), int)),
            GeometryError,
            "no faces",
        ),
        (
            trimesh.Trimesh(
                vertices=[[0, 0, 0], [1, 0, np.nan], [0, 1, 0]], faces=[[0, 1, 2]], process=False
            ),
            GeometryError,
            "NaN",
        ),
    ],
)
def test_bad_meshes_refused_nothing_written(tmp_path: Path, tm, error, text) -> None:
    with pytest.raises(error, match=text):
        export_mesh(Mesh(tm), tmp_path / "bad.glb")
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_and_units(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot export meshes as suffix '\.xyz'"):
        export_mesh(_sphere(), tmp_path / "m.xyz")
    with pytest.raises(ConfigError, match="units"):
        export_mesh(_sphere(), tmp_path / "m.stl", units="parsec")
    assert export_mesh(_sphere(), tmp_path / "m", format="glb").name == "m.glb"
    assert list(tmp_path.iterdir()) == [tmp_path / "m.glb"]


def test_writer_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import voxforge.io.mesh_export as mx

    def boom(*a, **k):
        raise GeometryError("boom")

    monkeypatch.setattr(mx, "_fmt_rows", boom)
    (tmp_path / "m.obj").write_text("old")
    with pytest.raises(GeometryError):
        export_mesh(_sphere(), tmp_path / "m.obj")
    assert (
        sorted(p.name for p in tmp_path.iterdir()) == ["m.obj"]
        and (tmp_path / "m.obj").read_text() == "old"
    )


def test_fbx_without_tools_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import voxforge.io.mesh_export as mx

    monkeypatch.setattr(mx.shutil, "which", lambda name: None)
    with pytest.raises(UnsupportedInputError, match="FBX export needs blender or assimp installed"):
        export_mesh(_sphere(), tmp_path / "m.fbx")
    assert list(tmp_path.iterdir()) == []


def test_formats_table_and_colour_parsing() -> None:
    names = [f["name"] for f in export_formats()]
    assert names == ["obj", "stl", "ply", "glb", "gltf", "3mf", "usd", "usda", "usdz", "fbx", "off"]
    assert parse_rgb("#ff0000") == (1.0, 0.0, 0.0) and parse_rgb("0,0,255") == (0.0, 0.0, 1.0)
    with pytest.raises(ConfigError):
        parse_rgb("red")


def test_cli_mesh_export(tmp_path: Path) -> None:
    from voxforge.cli import app

    src = tmp_path / "in.ply"
    export_mesh(_sphere(), src, units="m")
    runner = CliRunner()
    res = runner.invoke(
        app, ["mesh", "export", str(src), "-o", str(tmp_path / "out.usdz"), "--units", "cm"]
    )
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and (tmp_path / "out.usdz").exists()
    res = runner.invoke(
        app, ["mesh", "export", str(src), "-o", str(tmp_path / "out.glb"), "--color", "#00ff00"]
    )
    assert res.exit_code == 0, res.output
    back = load_mesh(tmp_path / "out.glb")
    assert (
        back.tm.visual.kind is None or np.unique(back.tm.visual.face_colors[:, :3], axis=0).shape[0] == 1
    )
    res = runner.invoke(app, ["mesh", "export", str(src), "-o", str(tmp_path / "out.dwg")])
    assert res.exit_code == 5 and "cannot export" in res.output
    help_text = runner.invoke(app, ["mesh", "export", "--help"]).output
    assert "usdz" in help_text and "fbx" in help_text


def test_material_names_are_escaped(tmp_path: Path) -> None:
    import xml.dom.minidom

    mat = PbrMaterial(name='red "<glossy> & smooth"')
    with zipfile.ZipFile(export_mesh(_sphere(None), tmp_path / "m.3mf", material=mat)) as z:
        xml.dom.minidom.parseString(z.read("3D/3dmodel.model"))  # well-formed
    export_mesh(_sphere(None), tmp_path / "m.obj", material=mat)
    assert "newmtl red___glossy____smooth_" in (tmp_path / "m.mtl").read_text()


@pytest.mark.parametrize("ext", ["obj", "ply", "off", "stl"])
def test_small_parts_read_back_at_their_size(tmp_path, ext):
    # numbers under 10 would be guessed as metres; the units tag the writer puts in the header
    # says millimetres (a 4 x 6 x 2 mm part must not come back 4 x 6 x 2 m)
    part = trimesh.creation.box((0.004, 0.006, 0.002))
    back = load_mesh(export_mesh(Mesh(part), tmp_path / f"part.{ext}", units="mm"))
    assert np.allclose(np.sort(back.extent), [0.002, 0.004, 0.006], atol=1e-6)
    big = load_mesh(export_mesh(Mesh(part), tmp_path / f"inches.{ext}", units="in"))
    assert np.allclose(np.sort(big.extent), [0.002, 0.004, 0.006], atol=1e-6)


def test_declared_unit_reads_comments_only():
    from voxforge.io._base import declared_unit

    assert declared_unit(b"# voxforge\n# units: cm\nv 0 0 0\n") == "cm"
    assert declared_unit(b"ply\nformat ascii 1.0\ncomment units=millimeters\n") == "mm"
    assert declared_unit(b"solid part units: in", stl=True) == "in"
    assert declared_unit(b"v 0 0 0 units: cm\n") is None  # geometry lines are never read
    assert declared_unit(b"# units: furlongs\n") is None
    assert declared_unit(b"x" * 80 + b"units: cm", stl=True) is None  # past the STL header
