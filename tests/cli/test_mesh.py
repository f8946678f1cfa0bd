"""``voxforge mesh check`` and ``voxforge mesh lod`` on small generated meshes, and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from typer.testing import CliRunner

from voxforge.cli.mesh import mesh_app

runner = CliRunner()


def write_obj(path: Path, tm: trimesh.Trimesh) -> Path:
    lines = [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in np.asarray(tm.vertices)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(tm.faces)]
    path.write_text("\n".join(lines) + "\n")
    return path


def holed_cube() -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    return trimesh.Trimesh(box.vertices, box.faces[1:], process=False)


def test_check_json(tmp_path: Path) -> None:
    src = write_obj(tmp_path / "holed.obj", holed_cube())
    res = runner.invoke(mesh_app, ["check", str(src), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)["report"]
    assert report["watertight"] is False and report["boundary_edges"] == 3
    assert report["faces"] == 11 and len(report["holes"]) == 1


def test_check_fix_writes_a_watertight_mesh(tmp_path: Path) -> None:
    src = write_obj(tmp_path / "holed.obj", holed_cube())
    out = tmp_path / "fixed"
    res = runner.invoke(mesh_app, ["check", str(src), "--fix", "-o", str(out), "--format", "ply"])
    assert res.exit_code == 0, res.output
    assert "verdict: ok" in res.output
    assert {p.name for p in out.iterdir()} == {"mesh.ply", "report.json", "manifest.json"}
    fixed = trimesh.load(out / "mesh.ply", process=False)
    assert fixed.is_watertight and len(fixed.faces) == 12
    report = json.loads((out / "report.json").read_text())
    assert report["repair"]["after"]["ok"] is True and report["repair"]["changes"]


def test_fix_needs_an_output(tmp_path: Path) -> None:
    src = write_obj(tmp_path / "holed.obj", holed_cube())
    res = runner.invoke(mesh_app, ["check", str(src), "--fix"])
    assert res.exit_code == 5 and "-o" in res.output


def test_lod(tmp_path: Path) -> None:
    src = write_obj(tmp_path / "sphere.obj", trimesh.creation.icosphere(subdivisions=3))
    out = tmp_path / "lod"
    res = runner.invoke(mesh_app, ["lod", str(src), "-o", str(out), "--faces", "600,100"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "lod.json").read_text())
    assert [lv["level"] for lv in report["levels"]] == [0, 1, 2]
    assert report["levels"][0]["faces"] == 1280
    for lv in report["levels"]:
        glb = trimesh.load(out / f"lod{lv['level']}.glb", force="mesh")
        assert len(glb.faces) == lv["faces"]
        assert 0.0 < lv["ssim"] <= lv["ssim_mean"] <= 1.0
    data = (out / "lod_chain.glb").read_bytes()
    doc = json.loads(data[20 : 20 + int.from_bytes(data[12:16], "little")])
    root = doc["nodes"][doc["scenes"][0]["nodes"][0]]
    assert "MSFT_lod" in doc["extensionsUsed"] and len(root["extensions"]["MSFT_lod"]["ids"]) == 2
    scene = trimesh.load(out / "lod_chain.glb")
    assert sorted(len(g.faces) for g in scene.geometry.values()) == sorted(
        lv["faces"] for lv in report["levels"]
    )
    assert [lv["normal_map_px"] for lv in report["levels"]] == [0, 256, 128]
    assert all("normalTexture" in m for m in doc["materials"][1:])


def test_lod_normal_maps_off_and_max_error(tmp_path: Path) -> None:
    src = write_obj(tmp_path / "sphere.obj", trimesh.creation.icosphere(subdivisions=3))
    out = tmp_path / "lod"
    args = ["lod", str(src), "-o", str(out), "--faces", "8", "--normal-maps", "0", "--max-error", "0.1"]
    res = runner.invoke(mesh_app, args)
    assert res.exit_code == 0, res.output
    assert "lod1: 8 faces" in res.output and "above --max-error 0.1" in res.output
    assert "1 of 2 levels above --max-error 0.1" in res.output
    report = json.loads((out / "lod.json").read_text())
    assert report["levels"][1]["normal_map_px"] == 0


@pytest.mark.parametrize(
    ("name", "text", "code", "needle"),
    [
        ("nan.obj", "v 0 0 0\nv nan 1 0\nv 1 1 0\nf 1 2 3\n", 3, "NaN"),
        ("nofaces.obj", "v 0 0 0\nv 1 0 0\nv 1 1 0\n", None, "nofaces.obj"),
        ("huge.obj", "v 0 0 0\nv 1e12 0 0\nv 0 1e12 0\nf 1 2 3\n", 3, "absurd"),
        ("garbage.stl", "this is not a mesh at all\n" * 3, None, "garbage.stl"),
    ],
)
def test_bad_input_one_line_and_no_output(
    tmp_path: Path, name: str, text: str, code: int | None, needle: str
) -> None:
    src = tmp_path / name
    src.write_text(text)
    out = tmp_path / "out"
    for args in (["check", str(src), "--fix", "-o", str(out)], ["lod", str(src), "-o", str(out)]):
        res = runner.invoke(mesh_app, args)
        assert res.exit_code in ((2, 3) if code is None else (code,)), res.output
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("voxforge: error:") and needle in lines[0]
        assert not out.exists()
        assert not list(tmp_path.glob(".out.tmp-*"))


def write_ply_cloud(path: Path, n: int = 4000) -> Path:
    rng = np.random.default_rng(1)
    d = rng.normal(size=(n, 3))
    xyz = d / np.linalg.norm(d, axis=1, keepdims=True) * 0.04
    lines = [
        "ply",
        "format ascii 1.0",
        f"element vertex {n}",
        "property float x",
        "property float y",
        "property float z",
        "end_header",
    ]
    lines += [f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in xyz]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_make_from_a_cloud(tmp_path: Path) -> None:
    src = write_ply_cloud(tmp_path / "cloud.ply")
    out = tmp_path / "made"
    res = runner.invoke(
        mesh_app, ["make", str(src), "-o", str(out), "--resolution", "32", "--format", "glb,stl"]
    )
    assert res.exit_code == 0, res.output
    assert "verdict: ok" in res.output
    assert {"mesh.glb", "mesh.stl", "preview.png", "report.json"} <= {p.name for p in out.iterdir()}
    stl = trimesh.load(out / "mesh.stl")
    assert stl.is_watertight and stl.volume > 0
    assert json.loads((out / "report.json").read_text())["report"]["watertight"] is True


def test_edit_and_print_check(tmp_path: Path) -> None:
    src = write_obj(tmp_path / "box.obj", trimesh.creation.box(extents=(0.1, 0.1, 0.1)))
    out = tmp_path / "edited"
    res = runner.invoke(
        mesh_app, ["edit", str(src), "-o", str(out), "--size", "30mm", "--rotate", "x30", "--center"]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(mesh_app, ["check", str(out / "mesh.glb"), "--print", "--json", "--strict"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)["print"]
    assert report["printable"] and report["verdict"] == "printable with supports"
    side_mm = 30.0 / (np.cos(np.pi / 6) + np.sin(np.pi / 6))  # the rotated diagonal spans 30 mm
    assert report["volume_cm3"] == pytest.approx((side_mm / 10) ** 3, rel=1e-3)
    assert max(report["size_mm"]) == pytest.approx(30.0)


def test_strict_fails_on_defects_and_bad_options(tmp_path: Path) -> None:
    src = write_obj(tmp_path / "holed.obj", holed_cube())
    res = runner.invoke(mesh_app, ["check", str(src), "--strict"])
    assert res.exit_code == 1
    assert runner.invoke(mesh_app, ["check", str(src)]).exit_code == 0
    res = runner.invoke(mesh_app, ["edit", str(src), "-o", str(tmp_path / "e"), "--size", "3 parsecs"])
    assert res.exit_code == 5 and not (tmp_path / "e").exists()
