"""3MF colours: base materials and colour groups read onto the faces trimesh loads."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import trimesh

from voxforge.core.mesh import Mesh
from voxforge.io import load_mesh
from voxforge.io.mesh_export import export_mesh
from voxforge.io.threemf_colors import NO_COLOUR, face_colors, parse_color

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="model" ContentType="application/'
    'vnd.ms-package.3dmanufacturing-3dmodel+xml"/></Types>'
)


def _package(path: Path, model: str) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("3D/3dmodel.model", model)
    return path


TETRA = (
    "<vertices>"
    '<vertex x="0" y="0" z="0"/><vertex x="10" y="0" z="0"/>'
    '<vertex x="0" y="10" z="0"/><vertex x="0" y="0" z="10"/>'
    "</vertices>"
)


def _colorgroup_model() -> str:
    """A tetrahedron on a colour group: one face by the object's default, one by its own
    index, one per vertex (red, red, blue), one on a texture group (no colour of its own)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<model unit="millimeter" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02"'
        ' xmlns:m="http://schemas.microsoft.com/3dmanufacturing/material/2015/02"><resources>'
        '<m:colorgroup id="5"><m:color color="#FF0000"/><m:color color="#0000FFFF"/>'
        '<m:color color="#00FF0080"/></m:colorgroup>'
        '<m:texture2dgroup id="6" texid="9"><m:tex2coord u="0" v="0"/></m:texture2dgroup>'
        f'<object id="1" type="model" pid="5" pindex="2"><mesh>{TETRA}<triangles>'
        '<triangle v1="0" v2="2" v3="1"/>'
        '<triangle v1="0" v2="1" v3="3" p1="1"/>'
        '<triangle v1="0" v2="3" v3="2" pid="5" p1="0" p2="0" p3="1"/>'
        '<triangle v1="1" v2="2" v3="3" pid="6" p1="0"/>'
        "</triangles></mesh></object></resources>"
        '<build><item objectid="1"/></build></model>'
    )


def test_parse_color_forms():
    assert parse_color("#FF8000").tolist() == [255, 128, 0, 255]
    assert parse_color("#00000080").tolist() == [0, 0, 0, 128]
    assert parse_color("#F80") is None and parse_color("#GG0000") is None


def test_colour_group_rules(tmp_path):
    data = _package(tmp_path / "t.3mf", _colorgroup_model()).read_bytes()
    [(faces, rgba)] = face_colors(data)
    assert faces.tolist()[1] == [0, 1, 3]
    assert rgba.tolist() == [
        [0, 255, 0, 128],  # the object's pid/pindex
        [0, 0, 255, 255],  # its own p1
        [170, 0, 85, 255],  # the mean of red, red, blue
        NO_COLOUR.tolist(),  # a texture group: no colour here
    ]


def test_load_mesh_keeps_colour_group_colours(tmp_path):
    mesh = load_mesh(_package(tmp_path / "t.3mf", _colorgroup_model()))
    assert mesh.has_colors
    got = {tuple(c) for c in np.asarray(mesh.tm.visual.face_colors)[:, :3].tolist()}
    assert {(0, 255, 0), (0, 0, 255), (170, 0, 85)} <= got


def test_base_materials_round_trip_through_our_writer(tmp_path):
    box = trimesh.creation.box((0.1, 0.1, 0.1))
    colours = np.tile([255, 0, 0, 255], (len(box.faces), 1))
    colours[6:] = [0, 0, 255, 255]
    box.visual.face_colors = colours
    path = export_mesh(Mesh(box), tmp_path / "box.3mf")
    back = load_mesh(path)
    rgba = np.asarray(back.tm.visual.face_colors)
    kinds, counts = np.unique(rgba[:, :3], axis=0, return_counts=True)
    assert kinds.tolist() == [[0, 0, 255], [255, 0, 0]] and counts.tolist() == [6, 6]


def test_3mf_without_materials_stays_uncoloured(tmp_path):
    model = _colorgroup_model()
    start, end = model.index("<m:colorgroup"), model.index("</m:texture2dgroup>")
    plain = model[:start] + model[end + len("</m:texture2dgroup>") :]
    plain = plain.replace(' pid="5" pindex="2"', "")
    path = _package(tmp_path / "plain.3mf", plain)
    assert face_colors(path.read_bytes()) == []
    assert not load_mesh(path).has_colors
