"""Sketches: silhouette and crease strokes, stroke randomness, paper and ink."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core.errors import ConfigError, GeometryError
from voxforge.nn.reconstruct.sketch import SketchConfig, draw_sketch, edge_map


def square_view(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A grey square object on white with a brighter left half (one crease down the middle)."""
    mask = np.zeros((size, size), bool)
    mask[16:48, 16:48] = True
    shading = np.full((size, size), 255, np.uint8)
    shading[16:48, 16:32] = 200
    shading[16:48, 32:48] = 90
    return shading, mask


def test_edge_map_draws_the_silhouette_and_the_crease_only() -> None:
    shading, mask = square_view()
    edges = edge_map(shading, mask, 30, 80) > 0
    assert edges[16:48, 15:17].any(axis=1).all()  # left side of the outline, every row
    assert edges[16:48, 46:49].any(axis=1).all()  # right side
    assert edges[20:44, 30:34].any(axis=1).all()  # the crease between the two halves
    assert not edges[:12].any() and not edges[:, :12].any()  # nothing far outside the object
    assert not edges[20:44, 20:28].any()  # nothing inside a flat face


def test_draw_sketch_is_dark_lines_on_white_paper_and_deterministic() -> None:
    shading, mask = square_view()
    cfg = SketchConfig(wobble=(0.0, 0.0), gap_share=0.0, ink=(1.0, 1.0), line_width=(1.5, 1.5))
    a = draw_sketch(shading, mask, np.random.default_rng(0), cfg)
    b = draw_sketch(shading, mask, np.random.default_rng(0), cfg)
    assert a.dtype == np.uint8 and a.shape == (64, 64)
    assert a.tobytes() == b.tobytes()
    assert (a[:8] == 255).all() and (a[24:40, 20:27] == 255).all()  # paper outside and inside faces
    assert a[16:48, 14:19].min(axis=1).max() < 80  # the left outline is dark in every row


def test_wobble_and_width_vary_between_draws() -> None:
    shading, mask = square_view()
    a = draw_sketch(shading, mask, np.random.default_rng(1))
    b = draw_sketch(shading, mask, np.random.default_rng(2))
    assert a.tobytes() != b.tobytes()
    # both still draw an outline around the square
    for s in (a, b):
        assert (s[8:56, 8:24] < 128).any() and (s[8:56, 40:56] < 128).any()


def test_bad_inputs_and_configs() -> None:
    with pytest.raises(GeometryError, match="square"):
        draw_sketch(np.zeros((4, 5), np.uint8), np.zeros((4, 5), bool), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="canny_low"):
        SketchConfig(canny_low=90, canny_high=80)
    with pytest.raises(ConfigError, match="line_width"):
        SketchConfig(line_width=(3.0, 1.0))
