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
