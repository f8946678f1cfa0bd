"""Triangle geometry of placed parts: real dimensions, studs, rotation, culling, GLB export."""

from __future__ import annotations

import io

import numpy as np
import pytest
import trimesh

from voxforge.bricks.geometry import (
    DEFAULT_COLORS,
    INSET_M,
    SLOPE_LIP_M,
    STUD_HEIGHT_M,
    brick_model_geometry,
    brick_model_mesh,
    brick_model_trimesh,
)
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.errors import ConfigError, GeometryError, UnsupportedInputError

MM = 0.001
BRICK_H = 9.6 * MM


def model_of(*placements: Placement, shape=(12, 12, 12), **kw) -> BrickModel:
    return BrickModel(list(placements), shape, **kw)


def extent(v: np.ndarray) -> np.ndarray:
    return v.max(axis=0) - v.min(axis=0)


def stud_tops(g) -> int:
    """Studs seen as flat tops above the body: triangles entirely above the part top."""
    top = g.vertices[g.faces][:, :, 2].min(axis=1) > g.vertices[:, 2].max() - 1e-6
    return len(np.unique(g.face_group[top]))


def test_2x4_brick_bounds_and_studs():
    g = brick_model_geometry(model_of(Placement("3001", 0, 0, 0, 4, 2, 3, 4)), stud_segments=12)
    np.testing.assert_allclose(g.vertices.min(axis=0), [INSET_M, INSET_M, 0.0], atol=1e-7)
    np.testing.assert_allclose(
        extent(g.vertices),
        [32 * MM - 2 * INSET_M, 16 * MM - 2 * INSET_M, BRICK_H + STUD_HEIGHT_M],
        atol=1e-7,
    )
    assert stud_tops(g) == 8
    assert len(g.faces) == 12 + 8 * (2 * 12 + 10)  # body + studs (sides + top fan)
    assert (g.face_rgb == np.asarray(DEFAULT_COLORS[4], np.float32)).all()
    # stud centres sit on the 8 mm grid, diameter 4.8 mm
    top = g.vertices[np.isclose(g.vertices[:, 2], BRICK_H + STUD_HEIGHT_M)]
    assert len(top) == 8 * 12
    centres = np.sort(
        np.unique(np.round(top[:, :2].reshape(8, 12, 2).mean(axis=1) / MM, 3), axis=0), axis=0
    )
    assert set(centres[:, 0].tolist()) == {4.0, 12.0, 20.0, 28.0}
    assert set(centres[:, 1].tolist()) == {4.0, 12.0}
    np.testing.assert_allclose(extent(top[:12]), [4.8 * MM, 4.8 * MM, 0], atol=1e-6)


def test_rotated_2x4_swaps_extents_and_uses_origin_and_pitch():
    a = brick_model_geometry(model_of(Placement("3001", 0, 0, 0, 4, 2, 3, 4)))
    b = brick_model_geometry(
        model_of(Placement("3001", 1, 2, 3, 2, 4, 3, 4, rotation=1), origin=np.array([1.0, 0, 0]))
    )
    np.testing.assert_allclose(extent(b.vertices), extent(a.vertices)[[1, 0, 2]], atol=1e-7)
    np.testing.assert_allclose(
        b.vertices.min(axis=0), [1.0 + 8 * MM + INSET_M, 16 * MM + INSET_M, 3 * 3.2 * MM], atol=1e-6
    )


def test_mesh_tuple_dtypes_and_shapes():
    v, f, rgb, part = brick_model_mesh(model_of(Placement("3003", 0, 0, 0, 2, 2, 3, 1)))
    assert v.dtype == np.float32 and v.shape[1] == 3
    assert f.dtype == np.int32 and f.shape[1] == 3 and f.max() < len(v)
    assert rgb.dtype == np.float32 and rgb.shape == (len(f), 3)
    assert part.dtype == np.int32 and (part == 0).all()


def test_tile_has_no_studs_and_plate_has_them():
    tile = brick_model_geometry(model_of(Placement("3068b", 0, 0, 0, 2, 2, 1, 15)))
    assert len(tile.faces) == 12
    np.testing.assert_allclose(tile.vertices[:, 2].max(), 3.2 * MM, atol=1e-7)
    plate = brick_model_geometry(model_of(Placement("3022", 0, 0, 0, 2, 2, 1, 15)))
    np.testing.assert_allclose(plate.vertices[:, 2].max(), 3.2 * MM + STUD_HEIGHT_M, atol=1e-7)
    assert stud_tops(plate) == 4
    bare = brick_model_geometry(model_of(Placement("3022", 0, 0, 0, 2, 2, 1, 15)), studs=False)
    assert len(bare.faces) == 12


def test_single_box_is_a_closed_outward_solid():
    g = brick_model_geometry(model_of(Placement("3001", 0, 0, 0, 4, 2, 3, 4)), studs=False)
    tm = trimesh.Trimesh(g.vertices.astype(float), g.faces, process=False)
    assert tm.is_watertight
    assert tm.volume == pytest.approx(
        (32 * MM - 2 * INSET_M) * (16 * MM - 2 * INSET_M) * BRICK_H, rel=1e-5
    )


@pytest.mark.parametrize(
    ("rotation", "sx", "sy", "fall", "stud_xy"),
    [
        (0, 2, 1, (1, 0), (4, 4)),
        (1, 1, 2, (0, 1), (4, 4)),
        (2, 2, 1, (-1, 0), (12, 4)),
        (3, 1, 2, (0, -1), (4, 12)),
    ],
)
def test_slope_bounds_facing_and_studs_follow_rotation(rotation, sx, sy, fall, stud_xy):
    g = brick_model_geometry(model_of(Placement("3040b", 0, 0, 0, sx, sy, 3, 14, rotation=rotation)))
    np.testing.assert_allclose(
        extent(g.vertices),
        [sx * 8 * MM - 2 * INSET_M, sy * 8 * MM - 2 * INSET_M, BRICK_H + STUD_HEIGHT_M],
        atol=1e-7,
    )
    n = np.cross(
        g.vertices[g.faces[:, 1]] - g.vertices[g.faces[:, 0]],
        g.vertices[g.faces[:, 2]] - g.vertices[g.faces[:, 0]],
    )
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    sloped = n[(np.abs(n[:, 2]) > 0.1) & (np.abs(n[:, 2]) < 0.9)]
    assert len(sloped) == 2  # the two triangles of the 45 degree face
    run, drop = 8 * MM - INSET_M, BRICK_H - SLOPE_LIP_M  # the face spans the front stud, less inset
    expected = np.array([fall[0] * drop, fall[1] * drop, run]) / np.hypot(run, drop)
    np.testing.assert_allclose(sloped, [expected, expected], atol=1e-5)
    top = g.vertices[np.isclose(g.vertices[:, 2], BRICK_H + STUD_HEIGHT_M)]
    np.testing.assert_allclose(top[:, :2].mean(axis=0) / MM, stud_xy, atol=1e-4)
    assert stud_tops(g) == 1


def test_slope_solid_volume_matches_the_ldraw_profile():
    g = brick_model_geometry(model_of(Placement("4286", 0, 0, 0, 3, 1, 3, 0)), studs=False)
    tm = trimesh.Trimesh(g.vertices.astype(float), g.faces, process=False)
    assert tm.is_watertight and tm.volume > 0
    length, width = 24 * MM - 2 * INSET_M, 8 * MM - 2 * INSET_M
    # profile: rectangle under the flat back row, then a trapezoid from full height to the lip
    back = (8 * MM - INSET_M) * BRICK_H
    run = 24 * MM - INSET_M - 8 * MM
    area = back + run * (BRICK_H + SLOPE_LIP_M) / 2
    assert tm.volume == pytest.approx(area * width, rel=1e-5)
    assert length == pytest.approx(extent(g.vertices)[0], abs=1e-7)


def test_face_part_maps_triangles_to_their_placements():
    placements = [
        Placement("3001", 0, 0, 0, 4, 2, 3, 4),
        Placement("3039", 6, 0, 0, 2, 2, 3, 1, rotation=2),
        Placement("3024", 0, 5, 0, 1, 1, 1, 14),
        Placement("3001", 0, 8, 0, 2, 4, 3, 2, rotation=1),
    ]
    model = model_of(*placements)
    g = brick_model_geometry(model)
    assert sorted(np.unique(g.face_part).tolist()) == [0, 1, 2, 3]
    for i, p in enumerate(placements):
        tri = g.vertices[g.faces[g.face_part == i]].reshape(-1, 3)
        lo = np.array([p.x * 8, p.y * 8, p.z * 3.2]) * MM
        hi = np.array([(p.x + p.sx) * 8, (p.y + p.sy) * 8, (p.z + p.h) * 3.2]) * MM
        hi[2] += STUD_HEIGHT_M
        np.testing.assert_allclose(tri.min(axis=0), lo + np.array([INSET_M, INSET_M, 0]), atol=1e-6)
        np.testing.assert_allclose(tri.max(axis=0), hi - np.array([INSET_M, INSET_M, 0]), atol=1e-6)
        assert (g.face_rgb[g.face_part == i] == np.asarray(DEFAULT_COLORS[p.color], np.float32)).all()
    # outline groups never span two parts
    pairs = np.unique(np.stack([g.face_group, g.face_part], axis=1), axis=0)
    assert len(pairs) == len(np.unique(g.face_group))


def test_cull_hidden_drops_covered_studs_and_faces():
    lower = Placement("3001", 0, 0, 0, 4, 2, 3, 4)
    upper = Placement("3001", 0, 0, 3, 4, 2, 3, 1)
    side = Placement("3001", 4, 0, 0, 4, 2, 3, 2)
    full = brick_model_geometry(model_of(lower, upper, side), stud_segments=8, cull_hidden=False)
    culled = brick_model_geometry(model_of(lower, upper, side), stud_segments=8)
    stud = 2 * 8 + 6
    assert len(full.faces) == 3 * (12 + 8 * stud)
    # hidden: lower's 8 studs, lower top / upper bottom, lower +x side / side -x side
    assert len(culled.faces) == len(full.faces) - 8 * stud - 4 * 2
    assert stud_tops(culled) == 8  # only the upper brick's studs are above everything
    assert len(culled.vertices) < len(full.vertices)  # unused stud vertices dropped
    assert culled.faces.max() < len(culled.vertices)


def test_colours_from_callable_and_errors():
    model = model_of(Placement("3003", 0, 0, 0, 2, 2, 3, 999))
    g = brick_model_geometry(model, lambda code: (0.25, 0.5, code / 1000))
    np.testing.assert_allclose(g.face_rgb[0], [0.25, 0.5, 0.999], atol=1e-6)
    with pytest.raises(ConfigError, match="no colour for LDraw colour code 999"):
        brick_model_geometry(model)
    with pytest.raises(ConfigError, match="code 999 must be 3 sRGB floats"):
        brick_model_geometry(model, {999: (1.0, 0.0)})
    with pytest.raises(UnsupportedInputError, match="'9999' is not in the parts catalogue"):
        brick_model_geometry(model_of(Placement("9999", 0, 0, 0, 1, 1, 1, 4)))
    with pytest.raises(GeometryError, match=r"placement 0 \(3001 .* does not match"):
        brick_model_geometry(model_of(Placement("3001", 0, 0, 0, 4, 2, 1, 4)))
    with pytest.raises(GeometryError, match="rotation 1"):
        brick_model_geometry(model_of(Placement("3040b", 0, 0, 0, 2, 1, 3, 4, rotation=1)))
    with pytest.raises(GeometryError, match="no placements"):
        brick_model_geometry(model_of())
    with pytest.raises(ConfigError, match="stud_segments"):
        brick_model_geometry(model_of(Placement("3003", 0, 0, 0, 2, 2, 3, 4)), stud_segments=2)


def test_glb_export_round_trip():
    model = model_of(
        Placement("3001", 0, 0, 0, 4, 2, 3, 4),
        Placement("3039", 0, 0, 3, 2, 2, 3, 1, rotation=0),
        Placement("3068b", 4, 0, 0, 2, 2, 1, 15),
    )
    tm = brick_model_trimesh(model)
    data = tm.export(file_type="glb")
    back = trimesh.load(io.BytesIO(data), file_type="glb", force="mesh", process=False)
    assert len(back.faces) == len(tm.faces)
    np.testing.assert_allclose(back.bounds, tm.bounds, atol=1e-6)
    colours = {tuple(c) for c in np.asarray(back.visual.vertex_colors)[:, :3].tolist()}
    red = tuple(round(c * 255) for c in DEFAULT_COLORS[4])
    assert red in colours


@pytest.mark.parametrize(("rotation", "face_kept"), [(3, True), (1, False)])
def test_face_behind_a_slope_is_kept_only_where_the_slope_is_open(rotation, face_kept):
    # a 2x2 brick with a 2x2 slope against its +y side: the slope's back row (studs) is a full
    # wall, its front row is open above the slope
    model = model_of(
        Placement("3003", 0, 0, 0, 2, 2, 3, 4),
        Placement("3039", 0, 2, 0, 2, 2, 3, 14, rotation=rotation),
    )
    g = brick_model_geometry(model)
    v = g.vertices[g.faces[g.face_part == 0]]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    plus_y = (n[:, 1] > 0) & np.isclose(n[:, 0], 0) & np.isclose(n[:, 2], 0)
    assert plus_y.sum() == (2 if face_kept else 0)
