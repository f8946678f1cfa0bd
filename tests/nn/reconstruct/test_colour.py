"""Photo colours onto the reconstructed grid: visible side from a render, mirrored back side."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core.errors import GeometryError, InputFormatError
from voxforge.nn.reconstruct.colour import mirror_cells, project_colours, view_camera, visible_cells

N = 32
RED, BLUE, YELLOW = (0.85, 0.1, 0.1), (0.1, 0.2, 0.85), (0.9, 0.85, 0.1)


def _box() -> np.ndarray:
    occ = np.zeros((N, N, N), bool)
    occ[8:24, 6:26, 4:20] = True
    return occ


def _render(
    occ: np.ndarray, azimuth: float = 0.0, elevation: float = 20.0
) -> tuple[np.ndarray, np.ndarray]:
    """The box rendered like a photo of it: left half (y < 0) red, right half blue, top yellow."""
    from voxforge.mesh.occupancy import occupancy_surface
    from voxforge.render.camera import framing_camera
    from voxforge.render.raster import RenderOptions, render_mesh

    v, f = occupancy_surface(occ.astype(np.float32), 0.5)
    v, f = np.asarray(v, np.float64), np.asarray(f, np.int64)
    c = v[f].mean(axis=1)
    rgb = np.where((c[:, 1] < 0)[:, None], RED, BLUE).astype(np.float32)
    rgb[c[:, 2] > c[:, 2].max() - 0.01] = YELLOW
    cam = framing_camera(v, 128, azimuth, elevation, 0.08, perspective=True, fov_deg=30.0)
    img = render_mesh(v, f, rgb, cam, options=RenderOptions(background=(1.0, 1.0, 1.0), edges=False))
    mask = np.abs(img.astype(int) - 255).sum(axis=2) > 30
    return img, mask


def _is(col: np.ndarray, ref: tuple[float, float, float]) -> np.ndarray:
    return np.linalg.norm(col - np.asarray(ref), axis=-1) < 0.35


def test_visible_cells_face_the_camera() -> None:
    occ = _box()
    cells = visible_cells(occ, view_camera(occ, 0.0, 0.0))
    assert cells[:, 0].min() == 23  # only the +x face, seen from +x
    cells = visible_cells(occ, view_camera(occ, 90.0, 0.0))
    assert cells[:, 1].min() == 25  # the +y face, seen from +y
    top = visible_cells(occ, view_camera(occ, 0.0, 30.0))
    assert (top[:, 2] == 19).sum() == 16 * 20  # the whole top face from above


def test_render_colours_land_on_the_right_side_and_mirror_to_the_back() -> None:
    occ = _box()
    img, mask = _render(occ)
    sc = project_colours(occ, [img], [mask], [0.0])
    col = sc.colors
    front = occ.copy()
    front[:23] = False
    front[:, :, 18:] = False  # the +x face below the top rim
    left, right = front.copy(), front.copy()
    left[:, 15:] = False
    right[:, :17] = False
    assert sc.seen[front].all()
    assert _is(col[left], RED).mean() > 0.9 and _is(col[right], BLUE).mean() > 0.9
    top = np.zeros_like(occ)
    top[9:23, 8:24, 19] = True
    assert _is(col[top], YELLOW).mean() > 0.8
    # the back face (x = 8) was not seen; the box is front/back symmetric: mirrored, left still red
    back_left = np.zeros_like(occ)
    back_left[8, 7:14, 5:17] = True
    assert not sc.seen[back_left].any() and sc.mirrored[back_left].all()
    assert "x" in sc.planes and _is(col[back_left], RED).mean() > 0.9
    assert (col[~occ] == 0).all()


def test_asymmetric_shape_is_not_mirrored() -> None:
    occ = np.zeros((N, N, N), bool)
    occ[8:24, 6:26, 4:8] = True  # a slab
    occ[8:11, 6:26, 8:28] = True  # a back rest at the back only: not front/back symmetric
    img, mask = _render(occ)
    sc = project_colours(occ, [img], [mask])
    assert "x" not in sc.planes
    assert sc.colors[occ].min() >= 0 and (sc.colors[occ].sum(axis=1) > 0).all()


def test_mirror_cells_about_the_occupied_box() -> None:
    g = np.zeros((N, N, N), bool)
    g[10, 5, 5] = g[20, 5, 5] = g[12, 6, 6] = True
    m = mirror_cells(g, 0)
    assert m[20, 5, 5] and m[10, 5, 5] and m[18, 6, 6] and m.sum() == 3


def test_bad_inputs_are_named() -> None:
    with pytest.raises(GeometryError):
        project_colours(
            np.zeros((N, N, N), bool), [np.zeros((4, 4, 3), np.uint8)], [np.ones((4, 4), bool)]
        )
    with pytest.raises(InputFormatError, match="one mask per image"):
        project_colours(_box(), [np.zeros((4, 4, 3), np.uint8)], [])
    with pytest.raises(InputFormatError, match="no object pixels"):
        project_colours(_box(), [np.zeros((4, 4, 3), np.uint8)], [np.zeros((4, 4), bool)])
