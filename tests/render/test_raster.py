"""The rasterizer, cameras and shading."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import trimesh
from PIL import Image

from voxforge.core.errors import ConfigError, GeometryError, InputFormatError
from voxforge.render.camera import Camera, isometric_camera, look_at, orthographic
from voxforge.render.raster import (
    Lighting,
    RenderOptions,
    face_normals,
    rasterize,
    render_mesh,
    save_png,
    shade_faces,
)

W, H = 120, 80


def pixel_camera(width: int = W, height: int = H) -> Camera:
    """World (x, y) == pixel (column, height - row); looking down -z from z = 10."""
    view = look_at(np.array([0.0, 0.0, 10.0]), np.zeros(3), up=np.array([0.0, 1.0, 0.0]))
    return Camera(view, orthographic(0, width, 0, height, 1.0, 20.0), width, height, near=1.0, far=20.0)


def tri_at(points_px: list[tuple[float, float]], z: float = 0.0) -> np.ndarray:
    """World vertices whose pixel positions are ``points_px`` (column, row) in pixel_camera."""
    return np.array([[x, H - y, z] for x, y in points_px], dtype=np.float64)


def unit_cube() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(1.0, 1.0, 1.0))


def cube_groups(mesh: trimesh.Trimesh) -> np.ndarray:
    """One outline group per cube side (by normal direction)."""
    n = np.rint(mesh.face_normals).astype(int)
    return (np.abs(n) @ np.array([0, 2, 4]) + (n.sum(axis=1) > 0)).astype(np.int32)


def test_pixel_camera_maps_world_to_pixels():
    p = pixel_camera().project(np.array([[10.0, 70.0, 0.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(p[:, :2], [[10.0, 10.0], [0.0, 80.0]], atol=1e-9)


def test_triangle_pixel_count_matches_area():
    pts = [(10.3, 7.1), (103.7, 20.4), (31.2, 74.9)]
    v = tri_at(pts)
    (x0, y0), (x1, y1), (x2, y2) = pts
    area = abs((x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)) / 2
    r = rasterize(v, np.array([[0, 1, 2]]), pixel_camera(), cull_backfaces=False)
    count = int((r.triangle == 0).sum())
    perimeter = sum(np.hypot(*np.subtract(pts[i], pts[(i + 1) % 3])) for i in range(3))
    assert abs(count - area) < 0.5 * perimeter  # boundary pixels only
    assert abs(count - area) / area < 0.01


def test_shared_edge_pixels_drawn_once():
    # a 40 x 20 pixel rectangle split on its diagonal: pixel centres on the shared edge go to
    # exactly one triangle (top-left rule), so the two counts add up to the rectangle
    v = tri_at([(10, 10), (50, 10), (50, 30), (10, 30)])
    faces = np.array([[0, 2, 1], [0, 3, 2]])
    cam = pixel_camera()
    a = rasterize(v, faces[:1], cam, cull_backfaces=False).triangle >= 0
    b = rasterize(v, faces[1:], cam, cull_backfaces=False).triangle >= 0
    assert a.sum() + b.sum() == 800
    assert not (a & b).any()
    both = rasterize(v, faces, cam, cull_backfaces=False).triangle
    assert (both >= 0).sum() == 800
    assert set(np.unique(both)) == {-1, 0, 1}


def test_backface_culling_drops_clockwise_triangles():
    front = tri_at([(10, 10), (10, 60), (90, 10)])  # counter-clockwise seen from +z
    cam = pixel_camera()
    assert (rasterize(front, np.array([[0, 1, 2]]), cam).triangle == 0).sum() > 1000
    assert (rasterize(front, np.array([[0, 2, 1]]), cam).triangle >= 0).sum() == 0


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_zbuffer_near_hides_far_in_any_order(order):
    near = tri_at([(10, 10), (10, 70), (100, 40)], z=1.0)
    far = tri_at([(5, 5), (5, 75), (110, 40)], z=-1.0)
    v = np.concatenate([near, far])
    tris = [np.array([0, 1, 2]), np.array([3, 4, 5])]
    faces = np.stack([tris[i] for i in order])
    r = rasterize(v, faces, pixel_camera(), cull_backfaces=False)
    near_index = order.index(0)
    assert r.triangle[40, 50] == near_index
    assert r.triangle[40, 7] == 1 - near_index  # only the far one reaches here
    # the near triangle is fully visible
    alone = rasterize(near, np.array([[0, 1, 2]]), pixel_camera(), cull_backfaces=False)
    assert ((r.triangle == near_index) == (alone.triangle == 0)).all()


def test_depth_is_interpolated_across_a_tilted_triangle():
    # world plane z = (x - 10) / 20 over the triangle; check the depth at two pixel centres
    v = np.array([[10.0, 10.0, 0.0], [110.0, 10.0, 5.0], [10.0, 70.0, 0.0]])
    cam = pixel_camera()
    r = rasterize(v, np.array([[0, 1, 2]]), cam, cull_backfaces=False)
    for row, col in [(60, 40), (65, 90)]:
        x, y = col + 0.5, H - row - 0.5
        expected = cam.project(np.array([[x, y, (x - 10.0) / 20.0]]))[0, 2]
        assert r.triangle[row, col] == 0
        assert abs(float(r.depth[row, col]) - expected) < 1e-6
    assert r.depth[65, 90] < r.depth[60, 40]  # higher z is nearer the camera


def test_iso_camera_frames_unit_cube_to_the_margins():
    cube = unit_cube()
    size, margin = 200, 0.05
    cam = isometric_camera(cube.bounds, size, margin=margin)
    r = rasterize(cube.vertices, cube.faces, cam)
    rows, cols = np.nonzero(r.triangle >= 0)
    lo, hi = size * margin, size * (1 - margin)
    # the cube's iso silhouette is taller than wide: rows touch the margins, columns are centred
    assert rows.min() in (int(lo), int(lo) + 1) and rows.max() in (int(hi) - 1, int(hi))
    assert abs((cols.min() + cols.max() + 1) / 2 - size / 2) <= 1.0
    assert cols.min() > lo


def test_perspective_camera_frames_cube_inside_image():
    cube = unit_cube()
    cam = isometric_camera(cube.bounds, 160, perspective=True, fov_deg=40)
    p = cam.project(cube.vertices)
    assert (p[:, :2] >= 160 * 0.04 - 1e-6).all() and (p[:, :2] <= 160 * 0.96 + 1e-6).all()
    assert np.isclose(p[:, 1].min(), 160 * 0.04) or np.isclose(p[:, 0].min(), 160 * 0.04)
    r = rasterize(cube.vertices, cube.faces, cam)
    assert len(np.unique(r.triangle[r.triangle >= 0])) == 6  # 3 sides x 2 triangles


def test_camera_rejects_bad_values():
    with pytest.raises(ConfigError, match="margin"):
        isometric_camera(np.array([[0, 0, 0], [1, 1, 1.0]]), 100, margin=0.6)
    with pytest.raises(GeometryError, match="bounds"):
        isometric_camera(np.array([[0, 0, 0], [np.nan, 1, 1.0]]), 100)
    with pytest.raises(ConfigError, match="image size"):
        isometric_camera(np.array([[0, 0, 0], [1, 1, 1.0]]), 0)


def test_face_toward_light_is_brighter():
    cam = isometric_camera(np.array([[0, 0, 0], [1, 1, 1.0]]), 64)
    lighting = Lighting()
    key = np.asarray(lighting.key_direction) / np.linalg.norm(lighting.key_direction)
    toward = cam.rotation.T @ key
    normals = np.array([toward, -toward], dtype=np.float32)
    rgb = np.full((2, 3), 0.6, dtype=np.float32)
    lit = shade_faces(normals, rgb, cam, lighting)
    assert (lit[0] > lit[1] + 0.2).all()


def test_cube_render_top_brightest_and_sides_differ():
    cube = unit_cube()
    cam = isometric_camera(cube.bounds, 200)
    rgb = np.full((len(cube.faces), 3), 0.7, dtype=np.float32)
    img = render_mesh(cube.vertices, cube.faces, rgb, cam, face_group=cube_groups(cube))
    r = rasterize(cube.vertices, cube.faces, cam)
    normal_at = np.rint(face_normals(cube.vertices, cube.faces)).astype(int)
    level = {}
    for axis in range(3):
        tris = np.flatnonzero(normal_at[:, axis] == 1)
        mask = np.isin(r.triangle, tris)
        level[axis] = float(np.median(img[mask].mean(axis=1)))
    assert level[2] > level[0] > level[1]  # top, then +x (key light side), then +y


def test_outlines_at_silhouette_and_between_faces():
    cube = unit_cube()
    cam = isometric_camera(cube.bounds, 200)
    rgb = np.full((len(cube.faces), 3), 0.9, dtype=np.float32)
    opt = RenderOptions(ssaa=1)
    plain = render_mesh(cube.vertices, cube.faces, rgb, cam, options=RenderOptions(ssaa=1, edges=False))
    lined = render_mesh(cube.vertices, cube.faces, rgb, cam, face_group=cube_groups(cube), options=opt)
    r = rasterize(cube.vertices, cube.faces, cam)
    inside = r.triangle >= 0
    # silhouette: covered pixels with an empty 4-neighbour are dark with outlines, light without
    pad = np.pad(inside, 1)
    border = inside & ~(pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:])
    assert lined[border].max() < 80
    assert plain[border].min() > 150
    # the vertical edge between the two side faces, straight below the top corner, is dark
    assert lined[150, 99:101].min() < 80
    assert plain[150, 99:101].min() > 100
    # face interiors keep their shaded colour
    assert (lined[inside & ~border] > 100).mean() > 0.9


def test_transparent_background_gives_rgba():
    cube = unit_cube()
    cam = isometric_camera(cube.bounds, 100)
    rgb = np.full((len(cube.faces), 3), 0.5, dtype=np.float32)
    img = render_mesh(cube.vertices, cube.faces, rgb, cam, options=RenderOptions(background=None))
    assert img.shape == (100, 100, 4) and img.dtype == np.uint8
    assert img[0, 0, 3] == 0 and img[50, 50, 3] == 255
    partial = img[..., 3][(img[..., 3] > 0) & (img[..., 3] < 255)]
    assert len(partial) > 0  # anti-aliased silhouette


def test_result_does_not_depend_on_thread_count(rng):
    v = rng.uniform(0, 1, size=(300, 3))
    faces = rng.integers(0, 300, size=(200, 3))
    rgb = rng.uniform(0, 1, size=(200, 3)).astype(np.float32)
    cam = isometric_camera(np.array([[0, 0, 0], [1, 1, 1.0]]), 97)
    opt = RenderOptions(cull_backfaces=False)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = render_mesh(v, faces, rgb, cam, face_group=np.arange(200), options=opt)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = render_mesh(v, faces, rgb, cam, face_group=np.arange(200), options=opt)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)


def test_bad_mesh_inputs_raise_geometry_errors():
    cam = isometric_camera(np.array([[0, 0, 0], [1, 1, 1.0]]), 32)
    v = np.zeros((3, 3))
    with pytest.raises(GeometryError, match=r"face indices must be in \[0, 3\)"):
        rasterize(v, np.array([[0, 1, 3]]), cam)
    with pytest.raises(GeometryError, match="NaN"):
        rasterize(np.full((3, 3), np.nan), np.array([[0, 1, 2]]), cam)
    with pytest.raises(GeometryError, match=r"face_rgb must be \(1, 3\)"):
        render_mesh(v, np.array([[0, 1, 2]]), np.zeros((2, 3)), cam)
    with pytest.raises(ConfigError, match="ssaa"):
        RenderOptions(ssaa=9)


def test_empty_mesh_renders_background():
    cam = isometric_camera(np.array([[0, 0, 0], [1, 1, 1.0]]), 16)
    img = render_mesh(np.zeros((0, 3)), np.zeros((0, 3), int), np.zeros((0, 3)), cam)
    assert (img == 255).all()


def test_save_png_round_trip(tmp_path):
    cube = unit_cube()
    cam = isometric_camera(cube.bounds, 64)
    rgb = np.tile(np.array([[0.8, 0.2, 0.1]], np.float32), (len(cube.faces), 1))
    for background in [(1.0, 1.0, 1.0), None]:
        img = render_mesh(
            cube.vertices, cube.faces, rgb, cam, options=RenderOptions(background=background)
        )
        path = save_png(img, tmp_path / "cube.png")
        assert np.array_equal(np.asarray(Image.open(path)), img)
    with pytest.raises(InputFormatError, match=r"bad\.png"):
        save_png(np.zeros((4, 4), np.float32), tmp_path / "bad.png")
