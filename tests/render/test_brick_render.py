"""Brick model images: studs visible, real colours, dim/highlight styles, fixed cameras."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.bricks.geometry import DEFAULT_COLORS, brick_model_geometry
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.errors import ConfigError, GeometryError
from voxforge.render.bricks import (
    auto_stud_segments,
    brick_camera,
    part_mask,
    render_bricks,
)
from voxforge.render.raster import Lighting, RenderOptions, rasterize, save_png

FLAT = RenderOptions(lighting=Lighting(key=0.0, fill=0.0, ambient=1.0), ssaa=1)


def small_model() -> BrickModel:
    return BrickModel(
        [
            Placement("3001", 0, 0, 0, 4, 2, 3, 4),  # red 2x4
            Placement("3003", 0, 2, 0, 2, 2, 3, 1),  # blue 2x2
            Placement("3039", 2, 2, 0, 2, 2, 3, 14, rotation=0),  # yellow slope
            Placement("3020", 0, 0, 3, 4, 2, 1, 15),  # white plate on the red brick
        ],
        (6, 6, 6),
    )


def colour_pixels(img: np.ndarray, code: int) -> int:
    rgb = np.rint(np.asarray(DEFAULT_COLORS[code]) * 255).astype(np.uint8)
    return int((img == rgb).all(axis=2).sum())


def test_all_eight_studs_of_a_2x4_are_visible():
    model = BrickModel([Placement("3001", 0, 0, 0, 4, 2, 3, 4)], (4, 2, 3))
    g = brick_model_geometry(model, stud_segments=12)
    r = rasterize(g.vertices, g.faces, brick_camera(model, 300))
    seen = np.unique(g.face_group[r.triangle[r.triangle >= 0]])
    # 3 body faces (top, +x, +y) + 8 stud tops + 8 stud sides
    assert len(seen) == 3 + 16


def test_parts_show_their_real_colours():
    img = render_bricks(small_model(), size=200, options=FLAT)
    assert img.shape == (200, 200, 3)
    for code in (1, 14, 15, 4):  # the red brick shows its +x / +y sides under the white plate
        assert colour_pixels(img, code) > 50, code


def test_highlight_ring_and_dimmed_parts():
    model = small_model()
    cam = brick_camera(model, 200)
    plain = render_bricks(model, camera=cam, options=FLAT)
    step = render_bricks(model, camera=cam, highlight={3}, dim=[0, 1, 2], options=FLAT)
    ring = np.rint(np.asarray(FLAT.highlight_rgb) * 255).astype(np.uint8)
    assert (step == ring).all(axis=2).sum() > 100
    assert (plain == ring).all(axis=2).sum() == 0
    # dimmed parts lose their colour; the highlighted white plate keeps it
    assert colour_pixels(step, 1) == 0 and colour_pixels(plain, 1) > 50
    assert colour_pixels(step, 15) > 0.8 * colour_pixels(plain, 15)
    mask = np.array([False, False, False, True])
    assert np.array_equal(
        render_bricks(model, camera=cam, highlight=mask, dim=~mask, options=FLAT), step
    )


def test_transparent_background_and_fixed_camera_sizes():
    model = small_model()
    img = render_bricks(model, size=(160, 100), background=None)
    assert img.shape == (100, 160, 4)
    assert img[0, 0, 3] == 0 and img[50, 80, 3] == 255
    # a camera for the whole model keeps a sub-model in place (step images line up)
    cam = brick_camera(model, 120)
    part = BrickModel(model.placements[:1], model.shape)
    a = render_bricks(part, camera=cam, options=FLAT)
    b = render_bricks(model, camera=cam, options=FLAT)
    assert a.shape == b.shape == (120, 120, 3)
    red_a = (a == np.rint(np.asarray(DEFAULT_COLORS[4]) * 255).astype(np.uint8)).all(axis=2)
    red_b = (b == np.rint(np.asarray(DEFAULT_COLORS[4]) * 255).astype(np.uint8)).all(axis=2)
    assert (red_b & ~red_a).sum() == 0  # the brick does not move between the two images


def test_auto_stud_segments_grow_with_image_size():
    model = small_model()
    small = auto_stud_segments(brick_camera(model, 32), model)
    large = auto_stud_segments(brick_camera(model, 2048), model)
    assert small == 6 and large == 16


def test_part_mask_and_errors():
    assert part_mask({0, 2}, 4).tolist() == [True, False, True, False]
    assert part_mask(None, 2).tolist() == [False, False]
    with pytest.raises(ConfigError, match="highlight holds placement index 7"):
        render_bricks(small_model(), size=32, highlight={7})
    with pytest.raises(ConfigError, match="dim mask must have 4 entries"):
        render_bricks(small_model(), size=32, dim=np.ones(3, bool))
    with pytest.raises(GeometryError, match="no placements"):
        render_bricks(BrickModel([], (1, 1, 1)))


def test_preview_png(tmp_path):
    path = save_png(render_bricks(small_model(), size=128), tmp_path / "bricks.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
