"""The simulated phone LiDAR: geometry, sensor artefacts, confidence and colour rendering."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import trimesh
from PIL import Image

from voxforge.core.errors import GeometryError
from voxforge.core.mesh import Mesh
from voxforge.scan.fuse import linear_to_srgb, srgb_to_linear
from voxforge.scan.sim import SimConfig, look_at, orbit_poses, simulate_capture

IDENTITY = np.eye(4)
"""ARKit camera at the origin looking down ARKit -z, which is z-up +y."""


def _wall(distance: float, half: float = 50.0, color=(200, 120, 40, 255)) -> Mesh:
    """A square wall on the z-up plane y = distance, facing the origin."""
    v = np.array([[-half, distance, -half], [half, distance, -half], [half, distance, half],
                  [-half, distance, half]])  # fmt: skip
    tm = trimesh.Trimesh(v, [[0, 2, 1], [0, 3, 2]], process=False)
    tm.visual.face_colors = np.tile(np.array(color, np.uint8), (2, 1))
    return Mesh(tm=tm)


def _one(mesh: Mesh, config: SimConfig, pose=IDENTITY, seed: int = 0):
    return simulate_capture(mesh, poses=[pose], config=config, seed=seed)[0]


def test_look_at_builds_the_arkit_camera_frame():
    pose = look_at((0.0, 0.0, 1.0), (0.0, 0.0, 0.0))
    np.testing.assert_allclose(
        pose, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 1]], atol=1e-15
    )
    pose = look_at((1.0, 2.0, 3.0), (-1.0, 0.5, 0.0))
    r = pose[:3, :3]
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    forward = np.array([-2.0, -1.5, -3.0]) / np.linalg.norm([-2.0, -1.5, -3.0])
    np.testing.assert_allclose(-r[:, 2], forward, atol=1e-12)
    assert r[1, 1] > 0  # camera +y leans up
    with pytest.raises(GeometryError, match="parallel"):
        look_at((0.0, 1.0, 0.0), (0.0, 0.0, 0.0))


def test_orbit_poses_look_at_the_target():
    target = np.array([0.1, -0.2, 0.3])  # z-up
    poses = orbit_poses(target, 0.5, 45.0, 6)
    target_arkit = np.array([0.1, 0.3, 0.2])  # (x, z, -y)
    for pose in poses:
        to_target = target_arkit - pose[:3, 3]
        assert np.linalg.norm(to_target) == pytest.approx(0.5)
        np.testing.assert_allclose(-pose[:3, 2], to_target / 0.5, atol=1e-12)
        assert pose[1, 3] - target_arkit[1] == pytest.approx(0.5 * np.sin(np.radians(45)))


def test_frontal_wall_gives_its_exact_z_depth_everywhere():
    frame = _one(_wall(1.0), SimConfig.ideal())
    assert frame.depth_mm.shape == (192, 256) and frame.depth_mm.dtype == np.uint16
    assert frame.depth_mm[96, 128] == 1000
    assert (frame.depth_mm == 1000).all()  # z-depth, not range along the ray
    assert (frame.confidence == 2).all()
    np.testing.assert_allclose(frame.intrinsics, [[386, 0, 256], [0, 386, 192], [0, 0, 1]])
    assert frame.rgb.shape == (384, 512, 3)


def test_colour_image_is_lambert_shaded_face_colour():
    cfg = SimConfig.ideal()
    frame = _one(_wall(1.0, color=(200, 120, 40, 255)), cfg)
    albedo = srgb_to_linear(np.array([200, 120, 40]) / 255)
    for row, col in ((192, 256), (0, 0), (383, 100)):
        # headlight term: cosine between the pixel's ray and the wall normal; sky term 0 (vertical)
        ray = np.array([(col + 0.5 - 256) / 386, (row + 0.5 - 192) / 386, 1.0])
        shade = cfg.ambient + (1 - cfg.ambient) * 0.75 / np.linalg.norm(ray)
        expected = np.rint(linear_to_srgb(albedo * shade) * 255)
        np.testing.assert_array_equal(frame.rgb[row, col], expected)


def test_texture_and_vertex_colours_are_sampled():
    v = np.array([[-1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]])
    tex = np.zeros((2, 2, 3), np.uint8)
    tex[:, 0] = (255, 0, 0)  # left half of the texture red, right half blue
    tex[:, 1] = (0, 0, 255)
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    tm = trimesh.Trimesh(v, [[0, 2, 1], [0, 3, 2]], process=False)
    tm.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(tex))
    rgb = _one(Mesh(tm=tm), SimConfig.ideal()).rgb
    assert rgb[192, 100, 0] > 150 and rgb[192, 100, 2] == 0  # x < 0: red
    assert rgb[192, 400, 2] > 150 and rgb[192, 400, 0] == 0  # x > 0: blue
    tm2 = trimesh.Trimesh(v, [[0, 2, 1], [0, 3, 2]], process=False)
    tm2.visual.vertex_colors = np.array([[0, 255, 0, 255]] * 4, np.uint8)
    rgb2 = _one(Mesh(tm=tm2), SimConfig.ideal()).rgb
    assert rgb2[192, 256, 1] > 150 and rgb2[192, 256, 0] == 0 and rgb2[192, 256, 2] == 0


def test_background_where_nothing_is_hit():
    cfg = SimConfig.ideal()
    frame = _one(_wall(1.0, half=0.05), cfg)
    assert frame.depth_mm[0, 0] == 0 and frame.confidence[0, 0] == 0
    np.testing.assert_array_equal(frame.rgb[0, 0], np.rint(np.array(cfg.background_rgb) * 255))


def test_depth_noise_grows_with_the_square_of_distance():
    cfg = SimConfig(dropouts=False, flying_pixels=False)
    std = {}
    for d in (0.5, 2.0):
        depth = _one(_wall(d), cfg, seed=1).depth_mm.astype(np.float64) / 1000.0
        std[d] = float((depth - d).std())
        assert abs(float((depth - d).mean())) < 0.1 * std[d]  # unbiased
    # sigma = 1 cm * d^2: 2.5 mm at 0.5 m (+ mm rounding), 40 mm at 2 m; 49k samples each
    assert std[0.5] == pytest.approx(np.hypot(0.0025, 0.001 / np.sqrt(12)), rel=0.03)
    assert std[2.0] == pytest.approx(0.04, rel=0.03)


def _floor_incidence(pose: np.ndarray, focal: float = 193.0) -> np.ndarray:
    """(192, 256) incidence angle (degrees) of each depth pixel's ray on the ARKit floor y = 0."""
    cols, rows = np.meshgrid(np.arange(256) + 0.5, np.arange(192) + 0.5)
    dirs = np.stack([(cols - 128) / focal, -(rows - 96) / focal, -np.ones_like(cols)], axis=-1)
    dirs = dirs @ pose[:3, :3].T
    cos = np.abs(dirs[..., 1]) / np.linalg.norm(dirs, axis=-1)
    return np.degrees(np.arccos(cos))


def test_grazing_returns_drop_out_and_lose_confidence():
    floor = trimesh.Trimesh(
        [[-50.0, -50.0, 0.0], [50.0, -50.0, 0.0], [50.0, 50.0, 0.0], [-50.0, 50.0, 0.0]],
        [[0, 1, 2], [0, 2, 3]],
        process=False,
    )
    pose = look_at((0.0, 0.4, 0.0), (0.0, 0.0, -1.2))  # ARKit: 40 cm above the floor, looking ahead
    incidence = _floor_incidence(pose)
    ideal = _one(Mesh(tm=floor), SimConfig.ideal(max_range=50.0), pose=pose)
    seen = ideal.depth_mm > 0
    real = _one(Mesh(tm=floor), SimConfig(noise=False, flying_pixels=False, max_range=50.0), pose=pose)
    dropped = seen & (real.depth_mm == 0)
    assert not dropped[seen & (incidence < 65.0)].any()
    steep = seen & (incidence > 80.0)
    assert steep.sum() > 500 and dropped[steep].mean() > 0.4
    kept_grazing = seen & ~dropped & (incidence > 61.0)
    assert kept_grazing.any() and (real.confidence[kept_grazing] <= 1).all()


def test_flying_pixels_appear_only_at_depth_edges_between_the_two_depths():
    box = trimesh.creation.box(extents=(0.2, 0.2, 0.2))
    box.apply_translation((0.0, 0.8, 0.0))
    scene = Mesh(tm=trimesh.util.concatenate([box, _wall(1.5).tm]))
    ideal = _one(scene, SimConfig.ideal()).depth_mm.astype(np.int64)
    flying = _one(scene, SimConfig(noise=False, dropouts=False), seed=5)
    changed = np.argwhere(flying.depth_mm.astype(np.int64) != ideal)
    assert len(changed) > 20
    padded = np.pad(ideal, 1, mode="edge")
    for r, c in changed:
        window = padded[r : r + 3, c : c + 3]
        lo, hi = window.min(), window.max()
        assert hi - lo > 0.05 * ideal[r, c]  # a depth edge in the 3x3 neighbourhood
        assert lo < flying.depth_mm[r, c] < hi  # a blend of the two surfaces
        assert flying.confidence[r, c] == 0


def test_simulation_is_deterministic_per_seed():
    mesh = Mesh(tm=trimesh.creation.icosphere(subdivisions=2, radius=0.1))
    a = simulate_capture(mesh, n_views=2, seed=7)
    b = simulate_capture(mesh, n_views=2, seed=7)
    c = simulate_capture(mesh, n_views=2, seed=8)
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa.depth_mm, fb.depth_mm)
        np.testing.assert_array_equal(fa.confidence, fb.confidence)
        np.testing.assert_array_equal(fa.rgb, fb.rgb)
        np.testing.assert_array_equal(fa.pose, fb.pose)
    assert not np.array_equal(a[0].depth_mm, c[0].depth_mm)
    assert len(a) == 2 and not np.allclose(a[0].pose, a[1].pose)


def test_far_returns_are_poor_and_out_of_range_is_missing():
    cfg = SimConfig(noise=False, dropouts=False, flying_pixels=False)
    assert (_one(_wall(2.0), cfg).confidence == 1).all()  # beyond medium_range 1.5 m
    assert (_one(_wall(3.0), cfg).confidence == 0).all()  # beyond poor_range 2.5 m
    far = _one(_wall(6.0), cfg)
    assert (far.depth_mm == 0).all() and (far.confidence == 0).all()


def test_numpy_fallback_without_embree_gives_the_same_frame(monkeypatch):
    box = trimesh.creation.box(extents=(0.2, 0.2, 0.2))
    box.apply_translation((0.0, 0.8, 0.0))
    scene = Mesh(tm=trimesh.util.concatenate([box, _wall(1.5).tm]))
    cfg = SimConfig(rgb_width=128, rgb_height=96)  # the numpy intersector is slow
    with_embree = _one(scene, cfg, seed=2)
    monkeypatch.setitem(sys.modules, "embreex", None)  # makes `import embreex` fail
    without = _one(scene, cfg, seed=2)
    # float32 (embree) and float64 (numpy) may disagree on a ray grazing a triangle edge
    assert (with_embree.depth_mm != without.depth_mm).sum() <= 5
    assert (with_embree.rgb != without.rgb).any(axis=2).sum() <= 20


@pytest.mark.slow
def test_committed_examples_are_reproducible(tmp_path):
    """`python -m voxforge.scan.examples` regenerates the committed sample files exactly."""
    from voxforge.scan.examples import write_examples

    repo_examples = Path(__file__).resolve().parents[2] / "examples"
    write_examples(tmp_path)
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert len(fresh) == 14 * 4 + 2
    for rel in fresh:
        if rel.suffix == ".jpg":  # JPEG encoders may differ by a unit between libjpeg builds
            a = cv2.imread(str(tmp_path / rel)).astype(int)
            b = cv2.imread(str(repo_examples / rel)).astype(int)
            assert np.abs(a - b).max() <= 2, rel
        else:
            assert (tmp_path / rel).read_bytes() == (repo_examples / rel).read_bytes(), rel


def test_real_textured_model_is_rendered_from_its_texture(shared_data):
    """The Khronos duck (glTF, PBR base-colour texture, 1.6 m across): yellow body, fused
    cloud as large as the model; the default orbit stays within the sensor's good range."""
    from voxforge.io import load_mesh
    from voxforge.scan.fuse import fuse_frames

    duck = load_mesh(shared_data / "meshes" / "Duck.glb")
    frames = simulate_capture(duck, n_views=3, seed=0)
    cloud = fuse_frames(frames, voxel_size=0.01)
    r, g, b = np.median(cloud.rgb, axis=0)
    assert r > 0.8 and 0.6 < g < 0.9 and b < 0.1
    # no stray points: within the model's box plus depth noise (2 cm sigma at 1.5 m)
    np.testing.assert_array_less(np.ptp(cloud.xyz, axis=0), duck.extent + 0.06)
    assert np.ptp(cloud.xyz[:, 0]) > 0.9 * duck.extent[0]
