"""USD / USDZ meshes: units and up axis from the stage metadata, colours, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core.errors import GeometryError, InputFormatError
from voxforge.io import load_any, load_mesh, sniff

pxr = pytest.importorskip("pxr")


def make_stage(path, *, mpu: float | None, up: str | None, quads: bool = True):
    """A 20 x 10 x 30 (file units) box in the file's up axis, red by displayColor, moved by an
    Xform by +5 along the file's x."""
    from pxr import Gf, Sdf, Usd, UsdGeom, Vt

    stage = Usd.Stage.CreateNew(str(path))
    if mpu is not None:
        UsdGeom.SetStageMetersPerUnit(stage, mpu)
    if up is not None:
        UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y if up == "y" else UsdGeom.Tokens.z)
    xf = UsdGeom.Xform.Define(stage, "/root")
    xf.AddTranslateOp().Set(Gf.Vec3d(5, 0, 0))
    mesh = UsdGeom.Mesh.Define(stage, "/root/box")
    # extents along (x, height, depth) in the file's frame: height on the up axis
    ex, height, depth = 20.0, 30.0, 10.0
    size = (ex, height, depth) if up in (None, "y") else (ex, depth, height)
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
    corners = (corners - 0.5) * size
    quads_idx = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    mesh.CreatePointsAttr(Vt.Vec3fArray([Gf.Vec3f(*map(float, c)) for c in corners]))
    if quads:
        mesh.CreateFaceVertexCountsAttr([4] * 6)
        mesh.CreateFaceVertexIndicesAttr([i for q in quads_idx for i in q])
    else:
        mesh.CreateFaceVertexCountsAttr([3, 3])
        mesh.CreateFaceVertexIndicesAttr([0, 1, 3, 9, 9, 9])
    pv = UsdGeom.PrimvarsAPI(mesh.GetPrim()).CreatePrimvar(
        "displayColor", Sdf.ValueTypeNames.Color3fArray, UsdGeom.Tokens.constant
    )
    pv.Set(Vt.Vec3fArray([Gf.Vec3f(1.0, 0.0, 0.0)]))
    stage.GetRootLayer().Save()
    return path


@pytest.mark.parametrize(
    ("mpu", "up", "scale", "guessed"),
    [(0.01, "y", 0.01, False), (1.0, "z", 1.0, False), (None, None, 0.01, True)],
)
def test_usda_units_and_up_axis_come_from_the_stage(tmp_path, mpu, up, scale, guessed):
    path = make_stage(tmp_path / "box.usda", mpu=mpu, up=up)
    assert sniff(path) == "usd"
    mesh = load_mesh(path)
    np.testing.assert_allclose(mesh.extent, np.array([20.0, 10.0, 30.0]) * scale, rtol=1e-6)
    np.testing.assert_allclose(mesh.bounds.mean(axis=0), [5.0 * scale, 0, 0], atol=1e-9)
    assert mesh.meta["units_guessed"] is guessed and mesh.meta["format"] == "usd"
    assert mesh.is_watertight and len(mesh.faces) == 12
    rgb = mesh.tm.visual.face_colors[:, :3]
    assert (rgb == (255, 0, 0)).all()


def test_usdz_package_and_crate_file(tmp_path):
    from pxr import Usd, UsdUtils

    src = make_stage(tmp_path / "box.usda", mpu=1.0, up="y")
    crate = tmp_path / "box.usdc"
    Usd.Stage.Open(str(src)).Export(str(crate))
    usdz = tmp_path / "scan.usdz"
    assert UsdUtils.CreateNewUsdzPackage(str(crate), str(usdz))
    for path in (crate, usdz):
        assert sniff(path) == "usd"
        mesh = load_any(path)
        np.testing.assert_allclose(mesh.extent, [20.0, 10.0, 30.0], rtol=1e-6)
    # bytes with a name work too, and a units override wins
    mesh = load_mesh(usdz.read_bytes(), filename="scan.usdz", units="mm")
    np.testing.assert_allclose(mesh.extent, [0.02, 0.01, 0.03], rtol=1e-6)


def test_bad_usd_files_name_the_file(tmp_path):
    bad = make_stage(tmp_path / "bad.usda", mpu=1.0, up="z", quads=False)
    with pytest.raises(GeometryError, match=r"bad\.usda.*outside the 8 points"):
        load_mesh(bad)
    text = tmp_path / "junk.usda"
    text.write_text("#usda 1.0\n(\n  metersPerUnit = \n def Mesh {")
    with pytest.raises(InputFormatError, match=r"junk\.usda"):
        load_mesh(text)


def test_textured_usdz_gives_face_colours_from_the_texture(tmp_path):
    """Two quads mapped onto the red (left) and green (right) halves of a packaged texture."""
    import cv2
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt

    img = np.zeros((64, 64, 3), np.uint8)
    img[:, :32] = (0, 0, 255)  # BGR red
    img[:, 32:] = (0, 255, 0)  # green
    cv2.imwrite(str(tmp_path / "tex.png"), img)
    stage = Usd.Stage.CreateNew(str(tmp_path / "quad.usda"))
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    mesh = UsdGeom.Mesh.Define(stage, "/quad")
    pts = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (2, 0, 0), (2, 1, 0)]
    mesh.CreatePointsAttr(Vt.Vec3fArray([Gf.Vec3f(*p) for p in pts]))
    mesh.CreateFaceVertexCountsAttr([4, 4])
    mesh.CreateFaceVertexIndicesAttr([0, 1, 2, 3, 1, 4, 5, 2])
    st = UsdGeom.PrimvarsAPI(mesh.GetPrim()).CreatePrimvar(
        "st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.faceVarying
    )
    uv = [(0.05, 0.1), (0.45, 0.1), (0.45, 0.9), (0.05, 0.9)]
    uv += [(0.55, 0.1), (0.95, 0.1), (0.95, 0.9), (0.55, 0.9)]
    st.Set(Vt.Vec2fArray([Gf.Vec2f(*t) for t in uv]))
    mat = UsdShade.Material.Define(stage, "/mat")
    pbr = UsdShade.Shader.Define(stage, "/mat/pbr")
    pbr.CreateIdAttr("UsdPreviewSurface")
    tex = UsdShade.Shader.Define(stage, "/mat/tex")
    tex.CreateIdAttr("UsdUVTexture")
    tex.CreateInput("file", Sdf.ValueTypeNames.Asset).Set("tex.png")
    reader = UsdShade.Shader.Define(stage, "/mat/st")
    reader.CreateIdAttr("UsdPrimvarReader_float2")
    reader.CreateInput("varname", Sdf.ValueTypeNames.Token).Set("st")
    tex.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(reader.ConnectableAPI(), "result")
    tex.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
    diffuse = pbr.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f)
    diffuse.ConnectToSource(tex.ConnectableAPI(), "rgb")
    mat.CreateSurfaceOutput().ConnectToSource(pbr.ConnectableAPI(), "surface")
    UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim()).Bind(mat)
    stage.GetRootLayer().Save()
    usdz = tmp_path / "quad.usdz"
    assert UsdUtils.CreateNewUsdzPackage(str(tmp_path / "quad.usda"), str(usdz))
    for loaded in (load_mesh(usdz), load_mesh(tmp_path / "quad.usda")):
        rgb = loaded.tm.visual.face_colors[:, :3].astype(int)
        centre_x = loaded.tm.triangles_center[:, 0]
        assert (rgb[centre_x < 1] == (255, 0, 0)).all()
        assert (rgb[centre_x > 1] == (0, 255, 0)).all()
