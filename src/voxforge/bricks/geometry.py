"""Triangle geometry of placed catalogue parts, for previews, instruction images and GLB export.

Why templates: a model has thousands of parts but only a handful of distinct shapes. Each shape
(kind, footprint, height, slope facing, stud detail) is meshed once, in metres relative to the
part's min corner, and instanced for every placement of that shape with numpy (a translation per
instance), so no Python code runs per triangle and the Python loop runs per *shape*, not per part.

Real part dimensions (``../shared/LEGO_FACTS.md``): stud pitch 8 mm, plate 3.2 mm, parts 0.1 mm
smaller per side in plan (so neighbouring parts show a seam), studs are cylinders 4.8 mm across and
1.7 mm tall. Slopes follow the LDraw parts (3039, 3040b, 4286): a flat back row one stud deep
carrying the studs, then a slope falling to a 1.6 mm (4 LDU) vertical lip at the low end.
Orientation follows :class:`~voxforge.core.brickmodel.Placement`: rotation 0 has the stud row at
the x-min end and falls toward +x; each quarter turn is counter-clockwise seen from above.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from voxforge.bricks.catalogue import Part, catalogue
from voxforge.core.brickmodel import BrickModel
from voxforge.core.errors import ConfigError, GeometryError, UnsupportedInputError
from voxforge.core.voxelgrid import LEGO_PITCH, PLATE_HEIGHT_M, STUD_PITCH_M

INSET_M = 0.0001
"""Plan inset of every part side (metres): real parts are 0.1 mm smaller per side."""
STUD_DIAMETER_M = 0.0048
STUD_HEIGHT_M = 0.0017
SLOPE_LIP_M = 0.0016
"""Height of the vertical face at a slope's low end (4 LDU in the LDraw parts)."""

ColorSource = Mapping[int, tuple[float, float, float]] | Callable[[int], tuple[float, float, float]]
"""LDraw colour code -> sRGB floats in [0, 1], as a mapping or a function."""

DEFAULT_COLORS: dict[int, tuple[float, float, float]] = {
    code: tuple(int(hexv[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[misc]
    for code, hexv in {
        0: "1B2A34",  # Black
        1: "1E5AA8",  # Blue
        2: "00852B",  # Green
        4: "B40000",  # Red
        14: "FAC80A",  # Yellow
        15: "F4F4F4",  # White
        19: "D7BA8C",  # Tan
        25: "D67923",  # Orange
        70: "5F3109",  # Reddish Brown
        71: "969696",  # Light Bluish Grey
        72: "646464",  # Dark Bluish Grey
    }.items()
}
"""A few common colours (values from the official LDConfig.ldr) for tests and defaults; the full
table is :mod:`voxforge.bricks.colors.palette`."""


@dataclass
class BrickGeometry:
    """Triangles of a brick model.

    Attributes:
        vertices: (n, 3) float32 world positions, metres.
        faces: (m, 3) int32 vertex indices, counter-clockwise seen from outside.
        face_rgb: (m, 3) float32 sRGB colour of each triangle's part.
        face_part: (m,) int32 index into ``model.placements`` of each triangle's part.
        face_group: (m,) int32 feature-face id (one per flat face of a body, one per stud side and
            top), unique across the model; the renderer outlines where it changes.
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_rgb: np.ndarray
    face_part: np.ndarray
    face_group: np.ndarray


@dataclass(frozen=True)
class _Template:
    """One part shape, metres relative to its lattice box min corner (read-only arrays)."""

    vertices: np.ndarray  # (v, 3) float64
    faces: np.ndarray  # (t, 3) int64
    group: np.ndarray  # (t,) int64 local feature-face id
    stud: np.ndarray  # (t,) int64 stud index of the triangle, -1 for the body
    stud_cells: np.ndarray  # (s, 2) int64 footprint cell (i, j) under each stud
    n_groups: int
    # per body group: (c, 3) int64 lattice cells (relative to the min corner) that hide the face
    # when all are filled; empty for faces nothing can cover (a slope's sloped face)
    cover: tuple[np.ndarray, ...] = ()


def _oriented(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Faces of a convex piece wound counter-clockwise seen from outside (normal away from the
    piece's centroid), whatever order they were listed in."""
    v = vertices
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    normal = np.cross(b - a, c - a)
    outward = ((a + b + c) / 3.0) - v.mean(axis=0)
    flip = np.einsum("ij,ij->i", normal, outward) < 0
    out = faces.copy()
    out[flip, 1], out[flip, 2] = faces[flip, 2], faces[flip, 1]
    return out


def _quads(quads: list[tuple[int, int, int, int]]) -> np.ndarray:
    """(2q, 3) triangles of quads (a, b, c, d)."""
    q = np.asarray(quads, dtype=np.int64)
    return np.stack([q[:, [0, 1, 2]], q[:, [0, 2, 3]]], axis=1).reshape(-1, 3)


def _box_piece(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A box: 8 vertices, 12 triangles, one group per side (0..5)."""
    ix = np.array([[i & 1, i >> 1 & 1, i >> 2 & 1] for i in range(8)])
    v = np.where(ix == 1, hi, lo).astype(np.float64)
    quads = [(0, 2, 6, 4), (1, 5, 7, 3), (0, 4, 5, 1), (2, 3, 7, 6), (0, 1, 3, 2), (4, 6, 7, 5)]
    faces = _oriented(v, _quads(quads))
    return v, faces, np.repeat(np.arange(6), 2)


def _slope_piece(
    length_m: float, width_m: float, height_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A slope body in local (u, v, z): stud row at u = 0, falling toward +u; groups 0..6."""
    i = INSET_M
    prof = np.array(
        [
            [i, 0.0],
            [length_m - i, 0.0],
            [length_m - i, SLOPE_LIP_M],
            [STUD_PITCH_M, height_m],
            [i, height_m],
        ]
    )
    v = np.concatenate(
        [
            np.column_stack([prof[:, 0], np.full(5, i), prof[:, 1]]),
            np.column_stack([prof[:, 0], np.full(5, width_m - i), prof[:, 1]]),
        ]
    )
    sides = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4], [5, 6, 7], [5, 7, 8], [5, 8, 9]])
    rims = _quads([(k, (k + 1) % 5, (k + 1) % 5 + 5, k + 5) for k in range(5)])
    faces = _oriented(v, np.concatenate([sides, rims]))
    group = np.concatenate([[0, 0, 0, 1, 1, 1], np.repeat(np.arange(2, 7), 2)])
    return v, faces, group


def _stud_piece(segments: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A stud cylinder centred at the origin standing on z = 0 (no bottom): groups 0 side, 1 top."""
    ang = np.arange(segments) * (2.0 * np.pi / segments)
    ring = np.column_stack([np.cos(ang), np.sin(ang)]) * (STUD_DIAMETER_M * 0.5)
    v = np.concatenate(
        [
            np.column_stack([ring, np.zeros(segments)]),
            np.column_stack([ring, np.full(segments, STUD_HEIGHT_M)]),
        ]
    )
    k = np.arange(segments)
    side = _quads(
        [
            (int(a), int(b), int(b) + segments, int(a) + segments)
            for a, b in zip(k, (k + 1) % segments, strict=True)
        ]
    )
    top = np.column_stack([np.full(segments - 2, segments), k[1:-1] + segments, k[2:] + segments])
    faces = _oriented(v, np.concatenate([side, top]))
    group = np.concatenate([np.zeros(len(side), np.int64), np.ones(len(top), np.int64)])
    return v, faces, group


def _rotate_footprint(points: np.ndarray, rotation: int, fx: float, fy: float) -> np.ndarray:
    """Turn local points of a footprint ``fx x fy`` (metres) ``rotation`` quarter turns
    counter-clockwise about z, keeping the footprint's min corner at the origin."""
    r = rotation % 4
    c, s = [(1, 0), (0, 1), (-1, 0), (0, -1)][r]
    out = points.copy()
    x, y = points[:, 0] - fx / 2, points[:, 1] - fy / 2
    nx, ny = (fy, fx) if r % 2 else (fx, fy)
    out[:, 0] = c * x - s * y + nx / 2
    out[:, 1] = s * x + c * y + ny / 2
    return out


def _cells(u: range | list[int], v: range | list[int], w: range | list[int]) -> np.ndarray:
    """(c, 3) int64 lattice cells of a product of index ranges."""
    return np.stack(np.meshgrid(u, v, w, indexing="ij"), axis=-1).reshape(-1, 3).astype(np.int64)


def _box_cover(sx: int, sy: int, h: int) -> list[np.ndarray]:
    """Cells covering each box side, in :func:`_box_piece` group order (x-, x+, y-, y+, z-, z+)."""
    x, y, z = range(sx), range(sy), range(h)
    return [
        _cells([-1], y, z),
        _cells([sx], y, z),
        _cells(x, [-1], z),
        _cells(x, [sy], z),
        _cells(x, y, [-1]),
        _cells(x, y, [h]),
    ]


def _slope_cover(length: int, width: int, h: int, rotation: int) -> list[np.ndarray]:
    """Cells covering each slope face (:func:`_slope_piece` group order), turned like the part.
    The lip is only 1.6 mm high, so the bottom plate's cells beyond it cover it."""
    u, v, z = range(length), range(width), range(h)
    local = [
        _cells(u, [-1], z),
        _cells(u, [width], z),
        _cells(u, v, [-1]),
        _cells([length], v, [0]),
        np.zeros((0, 3), np.int64),
        _cells([0], v, [h]),
        _cells([-1], v, z),
    ]
    out = []
    for c in local:
        centre = c.astype(np.float64) + 0.5
        turned = _rotate_footprint(centre, rotation, float(length), float(width))
        out.append(np.floor(turned).astype(np.int64))
    return out


@lru_cache(maxsize=256)
def _template(
    kind: str, sx: int, sy: int, h: int, rotation: int, studs: bool, segments: int
) -> _Template:
    """Mesh one part shape (cached: a handful of shapes serve a whole model)."""
    height = h * PLATE_HEIGHT_M
    if kind == "slope":
        length, width = (sx, sy) if rotation % 2 == 0 else (sy, sx)
        v, f, g = _slope_piece(length * STUD_PITCH_M, width * STUD_PITCH_M, height)
        v = _rotate_footprint(v, rotation, length * STUD_PITCH_M, width * STUD_PITCH_M)
        cover = _slope_cover(length, width, h, rotation)
        local = np.column_stack([np.full(width, 0.5), np.arange(width) + 0.5]) * STUD_PITCH_M
        centres = _rotate_footprint(
            np.column_stack([local, np.zeros(width)]),
            rotation,
            length * STUD_PITCH_M,
            width * STUD_PITCH_M,
        )[:, :2]
    else:
        lo = np.array([INSET_M, INSET_M, 0.0])
        hi = np.array([sx * STUD_PITCH_M - INSET_M, sy * STUD_PITCH_M - INSET_M, height])
        v, f, g = _box_piece(lo, hi)
        cover = _box_cover(sx, sy, h)
        gi, gj = np.meshgrid(np.arange(sx), np.arange(sy), indexing="ij")
        centres = (np.column_stack([gi.ravel(), gj.ravel()]) + 0.5) * STUD_PITCH_M
        if kind == "tile":
            centres = centres[:0]
    if not studs:
        centres = centres[:0]
    n_body_groups = int(g.max()) + 1
    verts, faces, groups, stud_of = [v], [f], [g], [np.full(len(f), -1, np.int64)]
    if len(centres):
        sv, sf, sg = _stud_piece(segments)
        n = len(centres)
        offs = np.column_stack([centres, np.full(n, height)])
        verts.append((sv[None] + offs[:, None]).reshape(-1, 3))
        faces.append((sf[None] + (len(v) + np.arange(n) * len(sv))[:, None, None]).reshape(-1, 3))
        groups.append((sg[None] + n_body_groups + 2 * np.arange(n)[:, None]).ravel())
        stud_of.append(np.repeat(np.arange(n), len(sf)))
    cells = np.floor(centres / STUD_PITCH_M).astype(np.int64)
    arrays = [np.concatenate(a) for a in (verts, faces, groups, stud_of)] + [cells]
    for a in [*arrays, *cover]:
        a.setflags(write=False)
    return _Template(*arrays, n_groups=n_body_groups + 2 * len(centres), cover=tuple(cover))


def _color_table(codes: np.ndarray, colors: ColorSource | None) -> np.ndarray:
    """(k, 3) float32 sRGB for each code in ``codes`` (the unique codes of a model)."""
    source = DEFAULT_COLORS if colors is None else colors
    out = np.empty((len(codes), 3), dtype=np.float32)
    for i, code in enumerate(codes.tolist()):
        if callable(source):
            rgb = source(code)
        elif code in source:
            rgb = source[code]
        else:
            raise ConfigError(
                f"no colour for LDraw colour code {code} (known: {sorted(source)[:12]}...)"
            )
        rgb_arr = np.asarray(rgb, dtype=np.float32).reshape(-1)
        if rgb_arr.shape != (3,) or not np.isfinite(rgb_arr).all():
            raise ConfigError(f"colour for LDraw code {code} must be 3 sRGB floats, got {rgb!r}")
        out[i] = np.clip(rgb_arr, 0.0, 1.0)
    return out


def _part_kinds(model: BrickModel) -> tuple[list[str], np.ndarray, list[Part]]:
    """Unique part keys, the key index of every placement, and the catalogue parts."""
    names = [p.part for p in model.placements]
    keys, inverse = np.unique(np.asarray(names, dtype=object), return_inverse=True)
    cat = catalogue()
    parts = []
    for key in keys.tolist():
        if key not in cat:
            raise UnsupportedInputError(f"part {key!r} is not in the parts catalogue")
        parts.append(cat[key])
    return keys.tolist(), inverse, parts


def _check_footprints(
    model: BrickModel, a: dict[str, np.ndarray], inverse: np.ndarray, parts: list[Part]
) -> None:
    """Placements must match their catalogue part: height, footprint, and slope facing."""
    w = np.array([p.width for p in parts])[inverse]
    ln = np.array([p.length for p in parts])[inverse]
    ht = np.array([p.height for p in parts])[inverse]
    slope = np.array([p.kind == "slope" for p in parts])[inverse]
    odd = a["rotation"] % 2 == 1
    box_ok = (np.minimum(a["sx"], a["sy"]) == w) & (np.maximum(a["sx"], a["sy"]) == ln)
    slope_ok = np.where(odd, (a["sx"] == w) & (a["sy"] == ln), (a["sx"] == ln) & (a["sy"] == w))
    ok = np.where(slope, slope_ok, box_ok) & (a["h"] == ht)
    ok &= (a["x"] >= 0) & (a["y"] >= 0) & (a["z"] >= 0)
    bad = np.flatnonzero(~ok)
    if len(bad):
        p = model.placements[int(bad[0])]
        raise GeometryError(
            f"placement {int(bad[0])} ({p.part} at {p.x},{p.y},{p.z}, {p.sx}x{p.sy}x{p.h}, "
            f"rotation {p.rotation}) does not match the catalogue part's size"
            + (f" ({len(bad)} such placements)" if len(bad) > 1 else "")
        )


def _occupancy(a: dict[str, np.ndarray], slope: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells filled by the placements, padded by one empty cell on every side (cell (x, y, z) is
    at index (x + 1, y + 1, z + 1)), as two (nx + 2, ny + 2, nz + 2) bool grids:

    * ``boxes``: every cell of every part's box (a stud under any part is hidden);
    * ``solid``: cells a part fills completely, so a face against them is hidden; a slope fills
      only its back (stud) row, the rest of its box is open above the slope.
    """
    shape = (
        int((a["x"] + a["sx"]).max()) + 2,
        int((a["y"] + a["sy"]).max()) + 2,
        int((a["z"] + a["h"]).max()) + 2,
    )
    boxes = np.zeros(shape, dtype=bool)
    solid = np.zeros(shape, dtype=bool)
    cols = zip(
        *(a[c].tolist() for c in ("x", "y", "z", "sx", "sy", "h", "rotation")),
        slope.tolist(),
        strict=True,
    )
    for x, y, z, sx, sy, h, rotation, is_slope in cols:
        x0, y0, x1, y1 = x + 1, y + 1, x + sx + 1, y + sy + 1
        boxes[x0:x1, y0:y1, z + 1 : z + h + 1] = True
        if is_slope:
            r = rotation % 4
            x0, x1 = (x1 - 1, x1) if r == 2 else ((x0, x0 + 1) if r == 0 else (x0, x1))
            y0, y1 = (y1 - 1, y1) if r == 3 else ((y0, y0 + 1) if r == 1 else (y0, y1))
        solid[x0:x1, y0:y1, z + 1 : z + h + 1] = True
    return boxes, solid


def _visible(
    t: _Template,
    occ: tuple[np.ndarray, np.ndarray],
    a: dict[str, np.ndarray],
    idx: np.ndarray,
) -> np.ndarray:
    """(k, t) bool: which template triangles of the placements ``idx`` can be seen, given the
    padded occupancy grids ``occ`` (see :func:`_occupancy`)."""
    boxes, solid = occ
    base = np.stack([a["x"][idx], a["y"][idx], a["z"][idx]], axis=1) + 1
    k = len(idx)
    keep = np.ones((k, len(t.faces)), dtype=bool)
    body = t.stud < 0
    hidden = np.zeros((k, len(t.cover)), dtype=bool)
    for g, cells in enumerate(t.cover):
        if len(cells):
            c = base[:, None, :] + cells[None]
            hidden[:, g] = solid[c[..., 0], c[..., 1], c[..., 2]].all(axis=1)
    keep[:, body] = ~hidden[:, t.group[body]]
    if len(t.stud_cells):
        cx = base[:, 0:1] + t.stud_cells[None, :, 0]
        cy = base[:, 1:2] + t.stud_cells[None, :, 1]
        cz = np.broadcast_to(base[:, 2:3] + a["h"][idx][:, None], cx.shape)
        covered = boxes[cx, cy, cz]  # (k, studs)
        keep[:, ~body] = ~covered[:, t.stud[~body]]
    return keep


def brick_model_geometry(
    model: BrickModel,
    colors: ColorSource | None = None,
    *,
    studs: bool = True,
    stud_segments: int = 12,
    cull_hidden: bool = True,
) -> BrickGeometry:
    """Triangles of every placed part, in world metres.

    Args:
        model: the placed parts (lattice units) and where the lattice sits in the world.
        colors: LDraw code -> sRGB floats (mapping or callable); ``None`` uses :data:`DEFAULT_COLORS`.
        studs: mesh studs (off for the fastest, coarsest previews).
        stud_segments: sides of each stud cylinder (6..64); 12 looks round at preview sizes.
        cull_hidden: leave out studs whose cell above is filled, and body faces whose cells
            across are all filled, by parts of this model: they cannot be seen, and a solid model
            then costs its surface, not its volume (for step images, pass the model built so
            far).

    Returns:
        :class:`BrickGeometry`; triangles are grouped by part shape, not in placement order.
    """
    if not 3 <= stud_segments <= 64:
        raise ConfigError(f"stud_segments must be in [3, 64], got {stud_segments}")
    n = len(model.placements)
    if n == 0:
        raise GeometryError("brick model has no placements")
    a = model.arrays()
    _, inverse, parts = _part_kinds(model)
    _check_footprints(model, a, inverse, parts)
    codes, color_index = np.unique(a["color"], return_inverse=True)
    part_rgb = _color_table(codes, colors)[color_index]
    kind = np.array([p.kind for p in parts], dtype=object)[inverse]
    occ = _occupancy(a, kind == "slope") if cull_hidden else None
    pitch = np.asarray(model.pitch, dtype=np.float64)
    scale = pitch / LEGO_PITCH  # templates are in LEGO metres; a model on another pitch scales them
    origin = np.asarray(model.origin, dtype=np.float64)

    rot = np.where(kind == "slope", a["rotation"] % 4, 0)
    shape_key = np.stack([inverse, a["sx"], a["sy"], a["h"], rot], axis=1)
    shapes, shape_of = np.unique(shape_key, axis=0, return_inverse=True)
    shape_of = shape_of.ravel()

    out_v, out_f, out_part, out_group = [], [], [], []
    n_vert = n_group = 0
    for s, (ki, sx, sy, h, r) in enumerate(shapes.tolist()):
        t = _template(parts[ki].kind, sx, sy, h, r, studs, stud_segments)
        idx = np.flatnonzero(shape_of == s)
        corner = np.stack([a["x"][idx], a["y"][idx], a["z"][idx]], axis=1) * pitch + origin
        k, nv, ng = len(idx), len(t.vertices), t.n_groups
        verts = (t.vertices * scale)[None] + corner[:, None]
        faces = t.faces[None] + (n_vert + np.arange(k) * nv)[:, None, None]
        groups = t.group[None] + (n_group + np.arange(k) * ng)[:, None]
        keep = np.ones((k, len(t.faces)), dtype=bool)
        if occ is not None:
            keep = _visible(t, occ, a, idx)
        out_v.append(verts.reshape(-1, 3))
        out_f.append(faces[keep])
        out_group.append(groups[keep])
        out_part.append(np.broadcast_to(idx[:, None], keep.shape)[keep])
        n_vert += k * nv
        n_group += k * ng

    face_part = np.concatenate(out_part).astype(np.int32)
    faces = np.concatenate(out_f)
    vertices = np.concatenate(out_v)
    # drop the vertices of hidden studs, so nothing downstream projects or exports them
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.ravel()] = True
    remap = np.cumsum(used) - 1
    return BrickGeometry(
        vertices=vertices[used].astype(np.float32),
        faces=remap[faces].astype(np.int32),
        face_rgb=part_rgb[face_part],
        face_part=face_part,
        face_group=np.concatenate(out_group).astype(np.int32),
    )


def brick_model_mesh(
    model: BrickModel,
    colors: ColorSource | None = None,
    *,
    studs: bool = True,
    stud_segments: int = 12,
    cull_hidden: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(vertices (n, 3) float32 metres, faces (m, 3) int32, face_rgb (m, 3) float32,
    face_part (m,) int32)`` of a brick model; see :func:`brick_model_geometry`."""
    g = brick_model_geometry(
        model, colors, studs=studs, stud_segments=stud_segments, cull_hidden=cull_hidden
    )
    return g.vertices, g.faces, g.face_rgb, g.face_part


def brick_model_trimesh(
    model: BrickModel,
    colors: ColorSource | None = None,
    *,
    studs: bool = True,
    stud_segments: int = 16,
    cull_hidden: bool = False,
):
    """A :class:`trimesh.Trimesh` of the model with per-face colours (RGBA uint8), for GLB export
    (``mesh.export(file_type="glb")``). Hidden studs and faces are kept by default, so every
    part in the export is whole."""
    import trimesh

    g = brick_model_geometry(
        model, colors, studs=studs, stud_segments=stud_segments, cull_hidden=cull_hidden
    )
    rgba = np.concatenate(
        [np.rint(g.face_rgb * 255.0), np.full((len(g.faces), 1), 255.0)], axis=1
    ).astype(np.uint8)
    return trimesh.Trimesh(
        vertices=g.vertices.astype(np.float64),
        faces=g.faces,
        face_colors=rgba,
        process=False,
    )
