"""Fusion of ARKit frames: back-projection convention, colour lookup, voxel merging, filtering."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from voxforge.core.errors import ConfigError, GeometryError, SizeLimitError
from voxforge.core.mesh import Mesh
from voxforge.io.arkit import DEPTH_SHAPE, CaptureFrame
from voxforge.scan.fuse import ARKIT_TO_ZUP, fuse_frames, fuse_tsdf, linear_to_srgb, rotate
from voxforge.scan.sim import SimConfig, simulate_capture

# Intrinsics for a 512 x 384 colour image: f = 200 px and principal point (128, 96) at depth size.
K_RGB = np.array([[400.0, 0.0, 256.0], [0.0, 400.0, 192.0], [0.0, 0.0, 1.0]])


def _frame(depth_mm, conf=None, rgb=None, pose=None) -> CaptureFrame:
    return CaptureFrame(
        depth_mm=np.asarray(depth_mm, dtype=np.uint16),
        confidence=np.full(DEPTH_SHAPE, 2, np.uint8) if conf is None else conf,
        rgb=np.zeros((384, 512, 3), np.uint8) if rgb is None else rgb,
        pose=np.eye(4) if pose is None else pose,
        intrinsics=K_RGB,
    )


def _yaw90_pose() -> np.ndarray:
    """Camera at ARKit (1, 2, 3), turned +90° about +y, so it looks along ARKit -x."""
    pose = np.eye(4)
    pose[:3, :3] = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]
    pose[:3, 3] = (1.0, 2.0, 3.0)
    return pose


def test_single_pixel_backprojection_and_colour_have_known_answer():
    depth = np.zeros(DEPTH_SHAPE, np.uint16)
    depth[95, 128] = 2000  # pixel centre (128.5, 95.5): half a pixel right of and above the axis
    rgb = np.zeros((384, 512, 3), np.uint8)
    # the depth pixel's centre is the corner shared by these four colour pixels (x2 scale)
    rgb[190:192, 256:258] = (255, 128, 0)
    cloud = fuse_frames([_frame(depth, rgb=rgb, pose=_yaw90_pose())])
    # camera point (0.005, 0.005, -2) -> ARKit world (-1, 2.005, 2.995) -> z-up (-1, -2.995, 2.005)
    assert len(cloud) == 1
    np.testing.assert_allclose(cloud.xyz[0], (-1.0, -2.995, 2.005), atol=1e-12)
    np.testing.assert_allclose(cloud.rgb[0], (1.0, 128 / 255, 0.0), atol=1e-6)
    assert cloud.meta["frames"] == 1 and cloud.meta["depth_samples"] == 1


def test_fused_cloud_carries_the_cameras_z_up_poses_for_the_object_picker():
    depth = np.zeros(DEPTH_SHAPE, np.uint16)
    depth[95, 128] = 2000
    cloud = fuse_frames([_frame(depth, pose=_yaw90_pose()), _frame(depth)])
    poses = np.asarray(cloud.meta["camera_poses"])
    assert poses.shape == (2, 4, 4)
    # the camera centre turns z-up like the points: ARKit (1, 2, 3) -> z-up (1, -3, 2)
    np.testing.assert_allclose(poses[0, :3, 3], (1.0, -3.0, 2.0))
    # its view axis (ARKit camera -z) turns with it: ARKit world -x -> z-up -x
    np.testing.assert_allclose(poses[0, :3, :3] @ [0.0, 0.0, -1.0], (-1.0, 0.0, 0.0), atol=1e-12)


def test_z_up_conversion_puts_camera_up_on_plus_z_and_forward_on_plus_y():
    depth = np.zeros(DEPTH_SHAPE, np.uint16)
    depth[0, 128] = 1000  # top row: above the optical axis
    cloud = fuse_frames([_frame(depth)])
    x, y, z = cloud.xyz[0]
    assert y == pytest.approx(1.0) and z == pytest.approx((96 - 0.5) / 200.0)
    assert x == pytest.approx(0.5 / 200.0)
    np.testing.assert_array_equal(ARKIT_TO_ZUP @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(ARKIT_TO_ZUP @ [0.0, 0.0, -1.0], [0.0, 1.0, 0.0])


def test_voxel_merge_averages_positions_and_linear_colours():
    depth_a = np.zeros(DEPTH_SHAPE, np.uint16)
    depth_b = np.zeros(DEPTH_SHAPE, np.uint16)
    depth_a[95, 128], depth_b[95, 128] = 1000, 1002  # same 5 mm cell (y = 1.000 and 1.002)
    red = np.zeros((384, 512, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((384, 512, 3), np.uint8)
    blue[..., 2] = 255
    cloud = fuse_frames([_frame(depth_a, rgb=red), _frame(depth_b, rgb=blue)])
    assert len(cloud) == 1
    np.testing.assert_allclose(cloud.xyz[0, 1], 1.001, atol=1e-12)
    half = float(linear_to_srgb(np.float32(0.5)))
    np.testing.assert_allclose(cloud.rgb[0], (half, 0.0, half), atol=1e-6)
    assert cloud.meta["max_samples_per_point"] == 2


@pytest.mark.parametrize(("min_conf", "expected"), [(0, 256 * 192), (1, 256 * 128), (2, 256 * 64)])
def test_confidence_filter_keeps_exactly_the_confident_pixels(min_conf, expected):
    conf = np.zeros(DEPTH_SHAPE, np.uint8)
    conf[64:128] = 1
    conf[128:] = 2
    depth = np.full(DEPTH_SHAPE, 1000, np.uint16)
    # voxels much smaller than the 5 mm pixel footprint at 1 m: no two pixels merge
    cloud = fuse_frames([_frame(depth, conf=conf)], min_confidence=min_conf, voxel_size=0.001)
    assert len(cloud) == expected
    if min_conf == 2:  # only the lower rows survive: all below the optical axis
        assert (cloud.xyz[:, 2] < 0).all()


def test_max_depth_and_zero_depth_are_dropped():
    depth = np.zeros(DEPTH_SHAPE, np.uint16)
    depth[10, 10], depth[20, 20], depth[30, 30] = 1000, 4000, 6000
    assert len(fuse_frames([_frame(depth)])) == 2
    assert len(fuse_frames([_frame(depth)], max_depth=3.0)) == 1


def test_frames_without_images_give_an_uncoloured_cloud():
    depth = np.zeros(DEPTH_SHAPE, np.uint16)
    depth[95, 128] = 1000
    frame = CaptureFrame(
        depth_mm=depth,
        confidence=np.full(DEPTH_SHAPE, 2, np.uint8),
        rgb=None,
        pose=np.eye(4),
        intrinsics=K_RGB,
    )
    assert frame.rgb_size == (512, 384)  # from the principal point
    cloud = fuse_frames([frame])
    assert cloud.rgb is None and len(cloud) == 1


def test_a_frame_without_an_image_is_coloured_from_a_neighbours_view():
    from voxforge.io.arkit import ColorView

    # Frame 0 has a red image; frame 1 (same pose, no image of its own) borrows it and sees a
    # second pixel that only it measured; frame 2 borrows a view that sits behind its point.
    red = np.zeros((384, 512, 3), np.uint8)
    red[..., 0] = 255
    d0 = np.zeros(DEPTH_SHAPE, np.uint16)
    d0[95, 128] = 1000
    d1 = np.zeros(DEPTH_SHAPE, np.uint16)
    d1[10, 10] = 1000
    view = ColorView(rgb=red, pose=np.eye(4), intrinsics=K_RGB)
    borrowed = CaptureFrame(
        depth_mm=d1, confidence=np.full(DEPTH_SHAPE, 2, np.uint8), rgb=None,
        pose=np.eye(4), intrinsics=K_RGB, color_view=view,
    )  # fmt: skip
    assert borrowed.has_color and borrowed.rgb_size == (512, 384)
    cloud = fuse_frames([_frame(d0, rgb=red), borrowed])
    assert len(cloud) == 2 and cloud.meta["color_frames"] == 2
    np.testing.assert_allclose(cloud.rgb, [[1.0, 0.0, 0.0]] * 2, atol=1e-6)
    # a point outside the borrowed image takes the nearest coloured point's colour
    behind = np.eye(4)
    behind[:3, :3] = [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]]  # looks along +z
    blue = np.zeros((384, 512, 3), np.uint8)
    blue[..., 2] = 255
    away = CaptureFrame(
        depth_mm=d1, confidence=np.full(DEPTH_SHAPE, 2, np.uint8), rgb=None, pose=np.eye(4),
        intrinsics=K_RGB, color_view=ColorView(rgb=blue, pose=behind, intrinsics=K_RGB),
    )  # fmt: skip
    cloud = fuse_frames([_frame(d0, rgb=red), away])
    np.testing.assert_allclose(cloud.rgb, [[1.0, 0.0, 0.0]] * 2, atol=1e-6)


def test_bad_parameters_and_empty_input_raise():
    depth = np.full(DEPTH_SHAPE, 1000, np.uint16)
    with pytest.raises(ConfigError, match="voxel_size"):
        fuse_frames([_frame(depth)], voxel_size=0)
    with pytest.raises(ConfigError, match="min_confidence"):
        fuse_frames([_frame(depth)], min_confidence=3)
    with pytest.raises(GeometryError, match="no frames"):
        fuse_frames([])
    with pytest.raises(GeometryError, match="no depth pixel in 1 frames"):
        fuse_frames([_frame(np.zeros(DEPTH_SHAPE, np.uint16))])


def test_progress_reaches_one_for_a_generator_with_total():
    depth = np.full(DEPTH_SHAPE, 1000, np.uint16)
    seen = []
    fuse_frames((_frame(depth) for _ in range(3)), progress=lambda s, f: seen.append((s, f)), total=3)
    assert seen == [("fuse", 1 / 3), ("fuse", 2 / 3), ("fuse", 1.0)]


def _sphere() -> Mesh:
    tm = trimesh.creation.icosphere(subdivisions=5, radius=0.1)
    tm.visual.face_colors = (30, 160, 60, 255)
    return Mesh(tm=tm)


def test_fused_sphere_lies_on_its_surface_without_noise():
    frames = simulate_capture(_sphere(), n_views=8, radius=0.5, config=SimConfig.ideal())
    cloud = fuse_frames(frames)
    r = np.linalg.norm(cloud.xyz, axis=1)
    err = np.abs(r - 0.1)
    # mm depth quantisation and averaging across a curved 5 mm cell: sub-millimetre
    assert err.max() < 1.5e-3 and np.median(err) < 4e-4
    # the upper 3/4 of the sphere is covered: each vertex there has a fused point within 6 mm
    verts = _sphere().vertices
    upper = verts[verts[:, 2] > -0.05]
    d, _ = cKDTree(cloud.xyz).query(upper)
    assert (d < 0.006).mean() > 0.97
    # green, as painted (shading only darkens); silhouette pixels blend with the grey background
    assert (cloud.rgb[:, 1] > cloud.rgb[:, 0] + 0.2).mean() > 0.97


def test_fused_sphere_with_noise_stays_within_noise_bounds():
    cfg = SimConfig(noise=True, dropouts=False, flying_pixels=False)
    frames = simulate_capture(_sphere(), n_views=8, radius=1.0, config=cfg, seed=3)
    err = np.abs(np.linalg.norm(fuse_frames(frames).xyz, axis=1) - 0.1)
    sigma = cfg.noise_at_1m * 1.0**2  # depth noise at the sphere's distance (0.9-1.0 m)
    assert np.percentile(err, 99) < 3 * sigma
    assert np.median(err) > 5e-4  # the noise is really there


def test_rotate_equals_matrix_product():
    rng = np.random.default_rng(0)
    p, r = rng.normal(size=(50, 3)), rng.normal(size=(3, 3))
    np.testing.assert_allclose(rotate(p, r), p @ r.T, rtol=1e-12, atol=1e-14)


@pytest.fixture(scope="module")
def sphere_frames():
    return simulate_capture(_sphere(), n_views=8, radius=0.5, config=SimConfig.ideal())


def test_tsdf_mesh_of_a_sphere_is_on_the_surface_outward_and_coloured(sphere_frames):
    seen = []
    mesh = fuse_tsdf(sphere_frames, progress=lambda s, f: seen.append(f))
    err = np.abs(np.linalg.norm(mesh.vertices, axis=1) - 0.1)
    assert err.max() < 2.5e-3 and np.median(err) < 5e-4
    outward = np.einsum("ij,ij->i", mesh.tm.face_normals, mesh.tm.triangles_center) > 0
    assert outward.mean() > 0.999  # (two slivers at the open lower rim of the seen part)
    # the visible upper part is there: the top pole and the equator all round
    assert mesh.vertices[:, 2].max() == pytest.approx(0.1, abs=0.002)
    assert np.ptp(mesh.vertices[:, 0]) == pytest.approx(0.2, abs=0.004)
    rgb = mesh.tm.visual.vertex_colors[:, :3].astype(int)
    assert ((rgb[:, 1] - rgb[:, 0]) > 50).mean() > 0.97  # green
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert mesh.meta["truncation"] == pytest.approx(0.016) and mesh.meta["frames"] == 8


def test_tsdf_averages_noise(sphere_frames):
    noisy = simulate_capture(
        _sphere(), n_views=8, radius=1.0, config=SimConfig(dropouts=False, flying_pixels=False)
    )
    err = np.abs(np.linalg.norm(fuse_tsdf(noisy, voxel_size=0.005).vertices, axis=1) - 0.1)
    # single-frame depth sigma is about 8 mm at 0.9 m; eight views and the band average it down
    assert np.median(err) < 3e-3


def test_tsdf_limits_and_parameters(sphere_frames):
    with pytest.raises(SizeLimitError, match="use voxel_size >= "):
        fuse_tsdf(sphere_frames, voxel_size=0.001, max_voxels=100_000)
    with pytest.raises(ConfigError, match="truncation"):
        fuse_tsdf(sphere_frames, truncation=-1.0)
    with pytest.raises(GeometryError, match="no frames"):
        fuse_tsdf([])
    # explicit bounds around the top cap only
    cap = fuse_tsdf(sphere_frames, bounds=np.array([[-0.05, -0.05, 0.06], [0.05, 0.05, 0.11]]))
    assert cap.vertices[:, 2].min() >= 0.06 - 1e-9


def test_normals_of_a_frontal_wall_are_exact_and_face_the_camera():
    depth = np.full(DEPTH_SHAPE, 1000, np.uint16)
    cloud = fuse_frames([_frame(depth)], voxel_size=0.001)  # one pixel per point
    assert len(cloud) == 256 * 192
    # everywhere, borders included (one-sided tangents there)
    np.testing.assert_allclose(
        cloud.normals, np.broadcast_to([0.0, -1.0, 0.0], (len(cloud), 3)), atol=1e-9
    )
    assert fuse_frames([_frame(depth)], normals=False).normals is None


def test_isolated_pixel_normal_falls_back_to_the_view_direction():
    depth = np.zeros(DEPTH_SHAPE, np.uint16)
    depth[95, 128] = 2000
    cloud = fuse_frames([_frame(depth, pose=_yaw90_pose())])
    # camera at z-up (1, -3, 2); the point at (-1, -2.995, 2.005)
    to_cam = np.array([2.0, -0.005, -0.005]) / np.linalg.norm([2.0, -0.005, -0.005])
    np.testing.assert_allclose(cloud.normals[0], to_cam, atol=1e-12)


def test_sphere_normals_point_outwards(sphere_frames):
    cloud = fuse_frames(sphere_frames)
    radial = cloud.xyz / np.linalg.norm(cloud.xyz, axis=1, keepdims=True)
    angle = np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", radial, cloud.normals), -1, 1)))
    assert np.median(angle) < 2.0 and np.percentile(angle, 95) < 10.0
    assert (angle < 90.0).all()  # orientation from the cameras is never flipped


def test_pixel_normals_equal_the_full_image_normals():
    """The numba per-pixel normals match depth_normals on a noisy simulated frame (edges, holes)."""
    from voxforge.scan.fuse import depth_normals, pixel_normals

    tm = trimesh.creation.box(extents=(0.2, 0.15, 0.1))
    frame = simulate_capture(Mesh(tm=tm), n_views=1, radius=0.5, seed=3)[0]
    depth = frame.depth_mm.astype(np.float32) * np.float32(0.001)
    valid = frame.depth_mm > 0
    rows, cols = np.nonzero(valid)
    k = frame.depth_intrinsics()
    assert len(rows) > 3000
    np.testing.assert_allclose(
        pixel_normals(depth, valid, k, rows, cols), depth_normals(depth, valid, k)[rows, cols],
        atol=1e-9,
    )  # fmt: skip


def test_bilinear_gather_matches_opencv_remap():
    """Few samples on a large image take the gather path; it matches OpenCV's remap (the path
    for many samples) to OpenCV's fixed-point weights."""
    from voxforge.scan.fuse import _gather_bilinear, sample_bilinear

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    u, v = rng.uniform(-2, 62, 400), rng.uniform(-2, 42, 400)  # 2400 pixels <= 8 x 400: remap
    np.testing.assert_allclose(_gather_bilinear(img, u, v), sample_bilinear(img, u, v), atol=3e-3)
    np.testing.assert_array_equal(
        sample_bilinear(img, u[:10], v[:10]), _gather_bilinear(img, u[:10], v[:10])
    )
