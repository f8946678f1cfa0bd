"""Face colours of a 3MF package: the core spec's base materials and the materials extension's
colour groups.

trimesh reads a 3MF's geometry and build but not its colours. A triangle's colour comes from
its property group and index (``pid`` and ``p1``, or the object's ``pid`` and ``pindex`` when the
triangle has none): a ``<basematerials>`` group gives each ``<base>`` a ``displaycolor``, a
``<m:colorgroup>`` each ``<m:color>`` a ``color``, both ``#RRGGBB`` or ``#RRGGBBAA`` in sRGB.
Triangles with per-vertex colours (``p2``, ``p3`` differing) take the mean of their three;
those on other property groups (textures, composites) or none get no colour of their own.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import numpy as np

NO_COLOUR = np.array([178, 178, 178, 255], dtype=np.uint8)
"""Faces a coloured object leaves uncoloured: light grey, as slicers show them."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_color(text: str) -> np.ndarray | None:
    """(4,) uint8 RGBA of ``#RRGGBB`` or ``#RRGGBBAA``; None when malformed."""
    s = text.strip().lstrip("#")
    if len(s) not in (6, 8):
        return None
    try:
        rgba = [int(s[i : i + 2], 16) for i in range(0, len(s), 2)]
    except ValueError:
        return None
    return np.array(rgba + [255] * (4 - len(rgba)), dtype=np.uint8)


def _groups(root: ET.Element) -> dict[str, np.ndarray]:
    """Property group id to its (k, 4) uint8 colours (a malformed colour reads grey)."""
    groups: dict[str, np.ndarray] = {}
    for el in root.iter():
        kind = _local(el.tag)
        if kind not in ("basematerials", "colorgroup") or "id" not in el.attrib:
            continue
        child, attr = ("base", "displaycolor") if kind == "basematerials" else ("color", "color")
        rows = [parse_color(c.attrib.get(attr, "")) for c in el if _local(c.tag) == child]
        groups[el.attrib["id"]] = np.array(
            [NO_COLOUR if r is None else r for r in rows], dtype=np.uint8
        ).reshape(-1, 4)
    return groups


def _index(attrib: dict[str, str], key: str) -> int | None:
    try:
        return int(attrib[key])
    except (KeyError, ValueError):
        return None


def _object_colors(
    obj: ET.Element, groups: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(faces (m, 3) int64, colours (m, 4) uint8 or None) of an object with a mesh."""
    mesh = next((c for c in obj if _local(c.tag) == "mesh"), None)
    if mesh is None:
        return None
    tris = [t for c in mesh if _local(c.tag) == "triangles" for t in c if _local(t.tag) == "triangle"]
    faces = np.array(
        [[_index(t.attrib, k) or 0 for k in ("v1", "v2", "v3")] for t in tris], dtype=np.int64
    ).reshape(-1, 3)
    default_pid, default_p = obj.attrib.get("pid"), _index(obj.attrib, "pindex") or 0
    colors = np.tile(NO_COLOUR, (len(tris), 1))
    any_colour = False
    for k, t in enumerate(tris):
        pid = t.attrib.get("pid", default_pid)
        table = groups.get(pid) if pid is not None else None
        if table is None or not len(table):
            continue
        p1 = _index(t.attrib, "p1")
        p1 = default_p if p1 is None else p1
        idx = [p1, _index(t.attrib, "p2"), _index(t.attrib, "p3")]
        idx = [p1 if i is None else i for i in idx]
        if not all(0 <= i < len(table) for i in idx):
            continue
        colors[k] = np.rint(table[idx].astype(np.float64).mean(axis=0)).astype(np.uint8)
        any_colour = True
    return faces, colors if any_colour else None


def face_colors(data: bytes) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(faces (m, 3) int64, colours (m, 4) uint8)] for every coloured mesh object of the 3MF
    package ``data``, in file order. Objects in other model parts of the package are read too."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if not name.lower().endswith(".model"):
                continue
            with z.open(name) as f:
                root = ET.parse(f).getroot()
            groups = _groups(root)
            if not groups:
                continue
            for obj in root.iter():
                if _local(obj.tag) != "object":
                    continue
                found = _object_colors(obj, groups)
                if found is not None and found[1] is not None:
                    out.append((found[0], found[1]))
    return out


def apply_face_colors(geometries: list, data: bytes) -> int:
    """Give each trimesh geometry (loaded with ``process=False``) the face colours of the 3MF
    object whose triangles it holds; returns how many got colours. Geometries are matched to
    objects by their face arrays, so the match does not depend on how trimesh names them."""
    import trimesh

    try:
        coloured = face_colors(data)
    except (zipfile.BadZipFile, ET.ParseError, OSError):
        return 0  # the geometry reader reports a broken package in its own words
    done = 0
    for g in geometries:
        faces = np.asarray(g.faces, dtype=np.int64)
        for obj_faces, rgba in coloured:
            if obj_faces.shape == faces.shape and np.array_equal(obj_faces, faces):
                g.visual = trimesh.visual.ColorVisuals(g, face_colors=rgba)
                done += 1
                break
    return done
