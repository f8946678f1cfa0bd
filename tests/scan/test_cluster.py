"""Euclidean clustering and choosing the object cluster."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from voxforge.core import GeometryError, PointCloud
from voxforge.scan.cluster import (
    choose_cluster,
    cluster_centroids,
    euclidean_clusters,
    isolate_object,
    summarise_clusters,
)


def reference_components(xyz: np.ndarray, radius: float) -> np.ndarray:
    """Single-linkage components the slow, obviously right way."""
    pairs = cKDTree(xyz).query_pairs(radius, output_type="ndarray")
    n = len(xyz)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        len(set(zip(a.tolist(), b.tolist(), strict=True)))
        == len(set(a.tolist()))
        == len(set(b.tolist()))
    )


def line(start, n: int, step: float, axis: int = 0) -> np.ndarray:
    p = np.tile(np.asarray(start, float), (n, 1))
    p[:, axis] += np.arange(n) * step
    return p


def test_gap_just_under_the_radius_links_and_just_over_splits():
    a = line((0, 0, 0), 60, 0.005)  # 0 .. 0.295
    b = line((0.295 + 0.0099, 0, 0), 60, 0.005)
    c = line((0.295 + 0.0099 + 0.295 + 0.0101, 0, 0), 70, 0.005)
    labels = euclidean_clusters(np.concatenate([a, b, c]), radius=0.01, min_points=1)
    # a and b (gap 9.9 mm) form one cluster of 120, c (gap 10.1 mm) its own of 70.
    assert labels.tolist() == [0] * 120 + [1] * 70


def test_small_clusters_are_dropped_and_labels_ranked_by_size():
    big = line((0, 0, 0), 80, 0.005)
    small = line((1, 0, 0), 10, 0.005)
    mid = line((2, 0, 0), 50, 0.005)
    labels = euclidean_clusters(np.concatenate([small, big, mid]), radius=0.01, min_points=20)
    assert labels.tolist() == [-1] * 10 + [0] * 80 + [1] * 50


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 400),
    radius=st.floats(0.01, 0.2),
)
def test_matches_the_kdtree_graph_reference(seed, n, radius):
    xyz = np.random.default_rng(seed).uniform(0, 1, size=(n, 3))
    labels = euclidean_clusters(xyz, radius=radius, min_points=1)
    assert (labels >= 0).all()
    assert same_partition(labels, reference_components(xyz, radius))


def test_dense_random_cloud_matches_the_reference():
    xyz = np.random.default_rng(5).uniform(0, 0.3, size=(3000, 3))
    labels = euclidean_clusters(xyz, radius=0.012, min_points=1)
    ref = reference_components(xyz, 0.012)
    assert labels.max() + 1 == ref.max() + 1 == 1995
    assert same_partition(labels, ref)


def test_empty_and_bad_input():
    assert euclidean_clusters(np.zeros((0, 3)), 0.01, 1).shape == (0,)
    with pytest.raises(GeometryError, match="NaN"):
        euclidean_clusters(np.array([[0.0, 0.0, np.nan]]), 0.01, 1)
    with pytest.raises(GeometryError, match="positive"):
        euclidean_clusters(np.zeros((3, 3)), 0.0, 1)
    with pytest.raises(GeometryError, match="too small"):
        euclidean_clusters(np.array([[0.0, 0, 0], [1e6, 1e6, 1e6]]), 1e-9, 1)


@pytest.fixture
def three_objects():
    """Three separated clusters: 100 points at x=0, 60 at x=1, 80 at x=2 (5 mm steps along y)."""
    xyz = np.concatenate(
        [line((0, 0, 0), 100, 0.005, 1), line((1, 0, 0), 60, 0.005, 1), line((2, 0, 0), 80, 0.005, 1)]
    )
    return xyz, euclidean_clusters(xyz, 0.01, 1)


def test_summaries_and_centroids(three_objects):
    xyz, labels = three_objects
    assert np.bincount(labels).tolist() == [100, 80, 60]
    summary = summarise_clusters(xyz, labels)
    assert [s.count for s in summary] == [100, 80, 60]
    assert summary[1].lo == (2.0, 0.0, 0.0) and summary[1].hi == pytest.approx((2.0, 0.395, 0.0))
    assert cluster_centroids(xyz, labels)[:, 0].tolist() == [0.0, 2.0, 1.0]


def test_choose_cluster_by_centre_point_and_box(three_objects):
    xyz, labels = three_objects
    # Bounding-box centre is x = 1: the 60-point cluster.
    assert choose_cluster(xyz, labels) == 2
    assert choose_cluster(xyz, labels, centre=np.array([1.8, 0, 0])) == 1
    assert choose_cluster(xyz, labels, pick_point=(0.1, 0.2, 0.0)) == 0
    box = (0.9, -1, -1, 2.1, 0.05, 1)  # holds 11 points of x=1 and 11 of x=2: tie -> lower label
    assert choose_cluster(xyz, labels, pick_box=box) == 1
    box = (0.9, -1, -1, 2.1, 0.5, 1)  # all of x=1 (60) and x=2 (80)
    assert choose_cluster(xyz, labels, pick_box=box) == 1
    with pytest.raises(GeometryError, match="pick box"):
        choose_cluster(xyz, labels, pick_box=(5, 5, 5, 6, 6, 6))


def test_choose_cluster_plan_only_ignores_height():
    low = line((0.3, 0, 0), 20, 0.005, 2)
    tall = line((0.0, 0, 0), 200, 0.005, 2)  # 1 m tall at x = 0
    far = line((1.0, 0, 0), 20, 0.005, 2)
    xyz = np.concatenate([low, tall, far])
    labels = euclidean_clusters(xyz, 0.01, 1)
    centre = np.array([0.0, 0.0, 0.0])
    assert choose_cluster(xyz, labels, centre=centre) == 1  # centroids: tall at z=0.5, low at 0.3 away
    assert choose_cluster(xyz, labels, centre=centre, plan_only=True) == 0


def test_isolate_object(three_objects):
    xyz, _ = three_objects
    cloud = PointCloud(xyz=xyz, rgb=np.tile([0.2, 0.4, 0.6], (len(xyz), 1)))
    obj = isolate_object(cloud, radius=0.01, pick_point=(2.0, 0.0, 0.0), min_points=10)
    assert len(obj) == 80 and np.all(obj.xyz[:, 0] == 2.0)
    assert obj.rgb.shape == (80, 3)
    with pytest.raises(GeometryError, match="no cluster of at least 500 points"):
        isolate_object(cloud, radius=0.01, min_points=500)
