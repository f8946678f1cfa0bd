import numpy as np
import pytest
import trimesh

from voxforge.core import GeometryError, Mesh, PointCloud, VoxelGrid
from voxforge.core.brickmodel import BrickModel, Placement


def test_pointcloud_validation_and_transform():
    pc = PointCloud(np.array([[0, 0, 0], [1, 2, 3]]), rgb=np.ones((2, 3)))
    np.testing.assert_allclose(pc.extent, [1, 2, 3])
    m = np.eye(4)
    m[:3, 3] = [1, 0, 0]
    np.testing.assert_allclose(pc.transformed(m).xyz[1], [2, 2, 3])
    with pytest.raises(GeometryError, match="2 points but 1 colours"):
        PointCloud(np.zeros((2, 3)), rgb=np.zeros((1, 3)))
    with pytest.raises(GeometryError, match="1 of 2 points with NaN"):
        PointCloud(np.array([[0, 0, 0], [np.nan, 0, 0]])).validate()
    with pytest.raises(GeometryError, match="no points"):
        PointCloud(np.zeros((0, 3))).validate()


def test_mesh_validate():
    Mesh(trimesh.creation.box()).validate()
    with pytest.raises(GeometryError, match="no faces"):
        Mesh(trimesh.Trimesh(vertices=np.zeros((3, 3)), faces=np.zeros((0, 3), int))).validate()


def test_voxelgrid_size_report_and_crop():
    occ = np.zeros((10, 10, 10), bool)
    occ[2:6, 3:5, 0:3] = True
    g = VoxelGrid(occ, origin=[1.0, 0.0, 0.0])
    rep = g.size_report()
    assert rep["studs"] == [4, 2] and rep["plates"] == 3 and rep["filled"] == 24
    assert rep["size_cm"] == [3.2, 1.6, 0.96]
    c = g.cropped()
    assert c.shape == (4, 2, 3)
    np.testing.assert_allclose(c.origin, [1.0 + 2 * 0.008, 3 * 0.008, 0.0])
    np.testing.assert_allclose(c.centers([[0, 0, 0]])[0], g.centers([[2, 3, 0]])[0])
    with pytest.raises(GeometryError):
        VoxelGrid(np.zeros((3, 3, 3), bool), colors=np.zeros((3, 3, 2, 3)))


def test_brickmodel_label_grid():
    m = BrickModel(
        [Placement("3001", 0, 0, 0, 4, 2, 3, 4), Placement("3024", 1, 1, 3, 1, 1, 1, 1)], (4, 2, 4)
    )
    labels = m.label_grid()
    assert (labels == 0).sum() == 24 and (labels == 1).sum() == 1
    assert labels[1, 1, 3] == 1 and labels[0, 0, 3] == -1
    assert m.arrays()["sx"].tolist() == [4, 1]
