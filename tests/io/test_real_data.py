"""Every real file in ../shared/data loads with the expected counts, bounds, colours and frames."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core import GeometryError, InputFormatError, Mesh, PointCloud, VoxforgeError
from voxforge.io import load_any, load_mesh, load_points, load_voxel_dataset, sniff


def test_milk_color_pcd(shared_data):
    cloud = load_points(shared_data / "scans" / "milk_color.pcd")
    assert len(cloud) == 13_704
    np.testing.assert_allclose(cloud.extent, [0.1539, 0.2521, 0.1770], atol=5e-4)  # ~15 x 25 x 18 cm
    assert cloud.rgb is not None and cloud.rgb.dtype == np.float32
    assert len(np.unique(cloud.rgb, axis=0)) > 100
    assert cloud.meta["encoding"] == "binary_compressed"
    assert cloud.meta["format"] == "pcd" and cloud.meta["units"] == "m"
    assert cloud.meta["source"].endswith("milk_color.pcd")


def test_pcd_scene_drops_missing_measurements(shared_data):
    cloud = load_points(shared_data / "scans" / "milk_cartoon_all_small_clorox.pcd")
    assert len(cloud) == 241_407
    assert cloud.meta["organized"] is True
    assert cloud.meta["width"] * cloud.meta["height"] == 307_200
    assert cloud.meta["dropped_nonfinite"] == 307_200 - 241_407
    assert np.isfinite(cloud.xyz).all()


def test_las_and_laz_hold_identical_points(shared_data):
    las = load_points(shared_data / "scans" / "simple.las")
    laz = load_points(shared_data / "scans" / "simple.laz")
    assert len(las) == len(laz) == 1065
    np.testing.assert_array_equal(las.xyz, laz.xyz)
    np.testing.assert_array_equal(las.rgb, laz.rgb)
    assert las.meta["format"] == "las" and laz.meta["format"] == "laz"
    assert las.meta["rgb_bits"] == 8
    np.testing.assert_allclose(las.bounds[0], [635619.85, 848899.70, 406.59])
    np.testing.assert_allclose(las.bounds[1], [638982.55, 853535.43, 586.38])


def test_las14_mislabelled_geographic_is_read_as_metres(shared_data):
    # The header says geographic, but y runs to 100 (no latitude does): projecting "degrees"
    # would make a cloud thousands of kilometres wide, so the values are kept as metres.
    cloud = load_points(shared_data / "scans" / "simple1_4.las")
    assert len(cloud) == 22_600
    assert cloud.meta["las_version"] == "1.4"
    assert cloud.meta["rgb_bits"] == 16  # 16-bit colour detected by max > 255
    assert "crs_warning" in cloud.meta and cloud.meta["units"] == "m"
    np.testing.assert_allclose(cloud.bounds, [[1.0, 1.0, 44.0], [226.0, 100.0, 254.0]])
    assert float(cloud.rgb.max()) == pytest.approx(65024 / 65535)


def test_cloudcompare_xyz(shared_data):
    path = shared_data / "scans" / "points_cloudcompare.xyz"
    assert sniff(path) == "xyz"
    cloud = load_points(path)
    assert len(cloud) == 101
    assert cloud.meta["columns"] == 7
    np.testing.assert_allclose(cloud.xyz[0], [665187.522077, 5648349.895035, 241.767693])
    np.testing.assert_allclose(cloud.rgb[0], np.array([117, 73, 49]) / 255.0, rtol=1e-6)


def test_teapot_obj_is_rotated_to_z_up(shared_data):
    mesh = load_mesh(shared_data / "meshes" / "teapot.obj")
    assert len(mesh.faces) == 6320
    assert mesh.meta["up"] == "y" and mesh.meta["units"] == "m" and mesh.meta["units_guessed"]
    np.testing.assert_allclose(mesh.bounds, [[-3.0, -2.0, 0.0], [3.434, 2.0, 3.15]], atol=1e-9)
    assert not mesh.is_watertight


def test_spot_obj(shared_data):
    mesh = load_mesh(shared_data / "meshes" / "spot.obj")
    assert len(mesh.faces) == 5856
    assert mesh.tm.visual.kind == "texture"


def test_fuze_texture_gives_varied_colours(shared_data):
    mesh = load_mesh(shared_data / "meshes" / "fuze.obj")
    assert len(mesh.faces) == 1000
    visual = mesh.tm.visual
    assert visual.kind == "texture" and visual.uv.shape == (len(mesh.vertices), 2)
    assert visual.material.image.size == (1024, 1024)
    colors = visual.to_color().vertex_colors[:, :3]
    assert len(np.unique(colors, axis=0)) > 100  # sampled through the UVs, not one flat colour
    assert mesh.has_colors


def test_duck_glb_scene_flattened_with_texture(shared_data):
    mesh = load_mesh(shared_data / "meshes" / "Duck.glb")
    assert len(mesh.faces) == 4212
    assert mesh.meta["format"] == "glb" and mesh.meta["units"] == "m"
    assert mesh.meta["units_guessed"] is False
    assert mesh.tm.visual.kind == "texture"
    assert len(np.unique(mesh.tm.visual.to_color().vertex_colors, axis=0)) > 10
    # the duck stands on its feet after the Y-up -> z-up turn: tallest along z
    np.testing.assert_allclose(mesh.extent, [1.6548, 1.1525, 1.5404], atol=1e-3)


def test_featuretype_stl_in_millimetres(shared_data):
    path = shared_data / "meshes" / "featuretype.STL"
    assert sniff(path) == "stl"
    mesh = load_mesh(path)
    assert len(mesh.faces) == 3476
    assert mesh.meta["units"] == "mm" and mesh.meta["up"] == "z"
    np.testing.assert_allclose(mesh.extent, [0.005, 0.0025, 0.001375], atol=1e-9)
    forced = load_mesh(path, units="m")
    np.testing.assert_allclose(forced.extent, [5.0, 2.5, 1.375], atol=1e-9)


def test_load_any_dispatches_by_content(shared_data):
    assert isinstance(load_any(shared_data / "scans" / "milk_color.pcd"), PointCloud)
    assert isinstance(load_any(shared_data / "meshes" / "teapot.obj"), Mesh)


def test_robustness_meshes_load_or_are_refused(shared_data):
    paths = sorted((shared_data / "meshes" / "robustness").glob("*/*.stl"))
    assert len(paths) == 80
    loaded = 0
    for p in paths:
        try:
            mesh = load_mesh(p)
        except VoxforgeError as e:
            assert str(p) in str(e)
            continue
        assert len(mesh.faces) > 0 and np.isfinite(mesh.vertices).all()
        loaded += 1
    assert loaded == 80


def test_shared_folder_is_not_a_file(shared_data):
    with pytest.raises(InputFormatError, match="is a directory"):
        load_mesh(shared_data / "meshes")


def test_modelnet_dataset(shared_data):
    ds = load_voxel_dataset(shared_data / "modelnet10_vox30_train.npz")
    assert ds.voxels.shape == (3991, 30, 30, 30)
    assert ds.labels.shape == (3991,)
    assert ds.classes[:3] == ["bathtub", "bed", "chair"]
    assert int((ds.labels == ds.classes.index("chair")).sum()) == 889
    with pytest.raises(VoxforgeError, match="load_voxel_dataset"):
        load_any(shared_data / "modelnet10_vox30_train.npz")


def test_empty_cloud_is_geometry_error(tmp_path):
    p = tmp_path / "empty.ply"
    p.write_bytes(
        b"ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\n"
        b"property float y\nproperty float z\nend_header\n"
    )
    with pytest.raises(GeometryError, match=r"empty\.ply"):
        load_points(p)
