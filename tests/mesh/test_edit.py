"""mesh edit: sizes, rotations, mirroring, palettes and PBR material values."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import trimesh

from voxforge.core.errors import ConfigError
from voxforge.core.mesh import Mesh
from voxforge.io.meshes import export_mesh
from voxforge.mesh.check import check_mesh
from voxforge.mesh.edit import EditConfig, Material, edit_mesh, glb_with_material, parse_length


def box() -> Mesh:
    tm = trimesh.creation.box(extents=(0.1, 0.05, 0.02))
    colours = np.where(tm.vertices[:, :1] > 0, [[250, 10, 10, 255]], [[20, 20, 20, 255]])
    tm.visual = trimesh.visual.ColorVisuals(tm, vertex_colors=colours.astype(np.uint8))
    return Mesh(tm)


def test_parse_length() -> None:
    assert parse_length("120mm") == pytest.approx(0.12)
    assert parse_length("12 cm") == pytest.approx(0.12)
    for bad in ("12", "12 furlongs", "-3mm", "0mm"):
        with pytest.raises(ConfigError):
            parse_length(bad)


def test_size_rotate_center() -> None:
    out, changes = edit_mesh(box(), EditConfig(size="50mm", rotate=["z90"], center=True))
    ext = np.ptp(out.vertices, axis=0)
    assert np.allclose(ext, [0.025, 0.05, 0.01], atol=1e-9)
    lo, hi = out.bounds
    assert np.allclose((lo[:2] + hi[:2]) / 2, 0, atol=1e-12) and lo[2] == pytest.approx(0)
    assert len(changes) == 3


def test_mirror_stays_outward() -> None:
    out, _ = edit_mesh(box(), EditConfig(mirror="x", scale=2.0))
    report = check_mesh(out)
    assert report.outward and report.volume == pytest.approx(8 * 0.1 * 0.05 * 0.02)
    assert (out.tm.visual.vertex_colors[out.vertices[:, 0] < 0, 0] == 250).all()


def test_palette_recolour_and_seeded_variations() -> None:
    pal = ["#ffffff", "#000000"]
    a, _ = edit_mesh(box(), EditConfig(palette=pal))
    colours = a.tm.visual.vertex_colors[:, :3]
    dark = a.vertices[:, 0] < 0  # the dark half takes the dark palette colour
    assert (colours[dark] == 0).all() and (colours[~dark] == 255).all()
    variants = {
        tuple(edit_mesh(box(), EditConfig(palette=pal, seed=s))[0].tm.visual.vertex_colors[0, :3])
        for s in range(6)
    }
    assert len(variants) == 2  # seeds swap the assignment


def test_material_goes_into_the_glb() -> None:
    data = glb_with_material(export_mesh(box().tm, "glb"), Material((1.0, 0.0, 0.0), 0.7, 0.3, 0.5))
    n = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20 : 20 + n])
    assert struct.unpack_from("<I", data, 8)[0] == len(data)
    pbr = doc["materials"][0]["pbrMetallicRoughness"]
    assert pbr["baseColorFactor"] == [1.0, 0.0, 0.0, 0.5] and pbr["metallicFactor"] == 0.7
    assert doc["materials"][0]["alphaMode"] == "BLEND"
    assert all(p["material"] == 0 for m in doc["meshes"] for p in m["primitives"])
    back = trimesh.load(trimesh.util.wrap_as_stream(data), file_type="glb", force="mesh")
    assert len(back.faces) == 12
