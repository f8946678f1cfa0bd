"""Every export format checked by the program that reads it: the Khronos glTF validator,
usdchecker (``--arkit`` for USDZ), Blender (headless re-import) and assimp (``assimp info``).

Marked ``slow`` and ``exports`` (``make test-exports``); a client that is not installed is left
out, and a test with no client at all skips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from voxforge.bricks.export import SURFACE_FORMATS, brick_model_export_mesh, export_brick_model
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.mesh import Mesh
from voxforge.io import load_mesh
from voxforge.io._base import UNIT_SCALES
from voxforge.io.export_checks import (
    ClientReport,
    Expected,
    blender_import,
    check_usd,
    gltf_validator,
    validate_gltf,
    verify_exports,
)
from voxforge.io.mesh_export import EXPORT_FORMATS, export_mesh, fbx_tool

pytestmark = [pytest.mark.slow, pytest.mark.exports]

SHARED_MESHES = ["teapot.obj", "spot.obj", "fuze.obj", "Duck.glb", "featuretype.STL"]
ROBUST = ["clean", "holes", "non_manifold", "self_intersecting"]
FORMATS = [f.suffixes[0] for f in EXPORT_FORMATS]


def _has(tool: str) -> bool:
    import shutil

    return shutil.which(tool) is not None


def _export_all(tm: trimesh.Trimesh, folder: Path, stem: str, units: str = "mm") -> dict[str, Expected]:
    files = {}
    for suffix in FORMATS:
        if suffix == ".fbx" and fbx_tool() is None:
            continue
        path = export_mesh(Mesh(tm), folder / f"{stem}{suffix}", units=units)
        files[str(path)] = Expected.of(tm.vertices, tm.faces, UNIT_SCALES[units])
    return files


def _assert_all_pass(reports: dict[str, list[ClientReport]]) -> None:
    if not any(reports.values()):
        pytest.skip("no export client installed (gltf-validator, usd-core, blender, assimp)")
    failed = [f"{Path(f).name}: {r.summary()}" for f, rs in reports.items() for r in rs if not r.ok]
    assert not failed, "\n".join(failed)
    usd = [f for f in reports if f.endswith((".usd", ".usda", ".usdz"))]
    assert all(reports[f] for f in usd)  # usd-core is a dependency: usdchecker always runs


@pytest.mark.parametrize("name", SHARED_MESHES)
def test_shared_meshes_pass_every_client(tmp_path: Path, shared_data: Path, name: str) -> None:
    mesh = load_mesh(shared_data / "meshes" / name)
    files = _export_all(mesh.tm, tmp_path, Path(name).stem)
    _assert_all_pass(verify_exports(files))


@pytest.mark.parametrize("kind", ROBUST)
def test_robustness_meshes_pass_every_client(tmp_path: Path, shared_data: Path, kind: str) -> None:
    first = sorted((shared_data / "meshes" / "robustness" / kind).glob("*.stl"))[0]
    mesh = load_mesh(first)
    files = _export_all(mesh.tm, tmp_path, first.stem, units="cm")
    _assert_all_pass(verify_exports(files))


def test_brick_model_passes_every_client(tmp_path: Path) -> None:
    P = Placement
    model = BrickModel(
        [
            P("3001", 0, 0, 0, 4, 2, 3, 4),
            P("3001", 0, 2, 0, 4, 2, 3, 1),
            P("3039", 2, 0, 3, 2, 2, 3, 15),
        ],
        (4, 4, 6),
    )
    files = {}
    for suffix in FORMATS:
        if suffix == ".fbx" and fbx_tool() is None:
            continue
        path = export_brick_model(model, tmp_path / f"lego{suffix}")
        tm = brick_model_export_mesh(model, surface=suffix.lstrip(".") in SURFACE_FORMATS)
        files[str(path)] = Expected.of(tm.vertices, tm.faces, UNIT_SCALES["mm"])
    reports = verify_exports(files)
    _assert_all_pass(reports)
    if _has("blender"):
        glb = next(f for f in files if f.endswith(".glb"))
        assert any(r.client == "blender" for r in reports[glb])


def test_validators_catch_broken_files(tmp_path: Path) -> None:
    """The clients can fail: a glTF with a bad accessor, a USDZ with a compressed member, a truncated
    STL."""
    tm = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    glb = export_mesh(Mesh(tm), tmp_path / "box.glb")
    if gltf_validator() is not None:
        data = bytearray(glb.read_bytes())
        data[-40:] = b"\xff" * 40  # indices past the vertex count
        broken = tmp_path / "broken.glb"
        broken.write_bytes(bytes(data))
        assert not validate_gltf(broken).ok
    usdz = export_mesh(Mesh(tm), tmp_path / "box.usdz")
    import zipfile

    with zipfile.ZipFile(usdz) as z:
        member, payload = z.namelist()[0], z.read(z.namelist()[0])
    bad = tmp_path / "bad.usdz"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, payload)
    assert check_usd(usdz, arkit=True).ok
    assert not check_usd(bad, arkit=True).ok
    if _has("assimp"):
        stl = export_mesh(Mesh(tm), tmp_path / "box.stl")
        reports = verify_exports({str(stl): Expected.of(tm.vertices * 2.0, tm.faces, 0.001)})
        assert not all(r.ok for r in reports[str(stl)])  # wrong size is caught


def test_blender_sees_fbx_at_real_size(tmp_path: Path) -> None:
    if not _has("blender"):
        pytest.skip("blender not installed")
    tm = trimesh.creation.box(extents=(0.2, 0.1, 0.05))
    tm.apply_translation((0.0, 0.0, 0.025))
    fbx = export_mesh(Mesh(tm), tmp_path / "box.fbx")
    r = blender_import([fbx])[str(fbx)]
    assert r.ok and r.faces == 12
    np.testing.assert_allclose(r.bounds, tm.bounds, atol=1e-5)
