"""Writing meshes: each format in its own conventions, read back unchanged by our readers."""

from __future__ import annotations

import io

import numpy as np
import pytest
import trimesh

from voxforge.core.errors import VoxforgeError
from voxforge.io import load_mesh
from voxforge.io.meshes import export_mesh


@pytest.fixture
def red_box() -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(0.1, 0.2, 0.3))
    box.apply_translation((0, 0, 0.15))  # z-up, standing on z = 0
    box.visual.face_colors = np.tile([200, 50, 10, 255], (len(box.faces), 1)).astype(np.uint8)
    return box


@pytest.mark.parametrize(
    ("ext", "raw_extents"),
    [
        ("glb", (0.1, 0.3, 0.2)),  # y-up
        ("obj", (0.1, 0.3, 0.2)),  # y-up
        ("stl", (100.0, 200.0, 300.0)),  # millimetres
        ("ply", (0.1, 0.2, 0.3)),
    ],
)
def test_each_format_in_its_conventions_reads_back_z_up_metres(red_box, ext, raw_extents):
    data = export_mesh(red_box, ext)
    raw = trimesh.load(io.BytesIO(data), file_type=ext, force="mesh")
    np.testing.assert_allclose(raw.extents, raw_extents, rtol=1e-6)
    back = load_mesh(data, filename=f"model.{ext}")
    np.testing.assert_allclose(back.bounds, red_box.bounds, atol=1e-6)


def test_gltf_colours_are_linear_on_disk_and_srgb_when_read(red_box):
    data = export_mesh(red_box, "glb")
    raw = trimesh.load(io.BytesIO(data), file_type="glb", force="mesh")
    np.testing.assert_array_equal(raw.visual.vertex_colors[0, :3], [147, 8, 1])  # linear light
    back = load_mesh(data, filename="model.glb")
    rgb = back.tm.visual.vertex_colors[:, :3].astype(int)
    assert np.abs(rgb - [200, 50, 10]).max() <= 6  # 8-bit linear loses a little in the darks


def test_unknown_format_is_refused(red_box):
    with pytest.raises(VoxforgeError, match="cannot write meshes as 'dwg'"):
        export_mesh(red_box, "dwg")
