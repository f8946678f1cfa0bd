"""LOD chains: face counts follow the targets and the measured error grows as faces go."""

from __future__ import annotations

import pytest
import trimesh

from voxforge.core.errors import ConfigError
from voxforge.core.mesh import Mesh
from voxforge.mesh.lod import build_lod, level_targets


def test_level_targets() -> None:
    assert level_targets(10_000, levels=3) == [2500, 625]
    assert level_targets(10_000, faces=[500, 20_000, 2000]) == [2000, 500]
    with pytest.raises(ConfigError):
        level_targets(100, levels=0)
    with pytest.raises(ConfigError):
        level_targets(100, faces=[2])


def test_chain_on_a_sphere() -> None:
    sphere = Mesh(trimesh.creation.icosphere(subdivisions=4))  # 5120 faces
    chain = build_lod(sphere, faces=[1000, 200], samples=20_000)  # sparser samples: noise
    levels = [lv for _, lv in chain]
    assert [lv.level for lv in levels] == [0, 1, 2]
    assert levels[0].faces == 5120 and levels[0].hausdorff == 0.0
    assert abs(levels[1].faces - 1000) <= 10 and abs(levels[2].faces - 200) <= 10
    assert 0 < levels[1].chamfer < levels[2].chamfer < 0.02
    assert levels[1].hausdorff < levels[2].hausdorff < 0.05
    assert all(len(m.faces) == lv.faces for m, lv in chain)
    assert levels[0].silhouette_iou == 1.0
    assert 0.9 < levels[2].silhouette_iou <= levels[2].silhouette_iou_mean < 1.0
    assert levels[0].ssim == 1.0 and 0.8 < levels[2].ssim <= levels[2].ssim_mean < 1.0


def test_silhouette_sees_a_coarse_level() -> None:
    sphere = Mesh(trimesh.creation.icosphere(subdivisions=4))
    chain = build_lod(sphere, faces=[8], samples=2000, views=4)
    assert chain[1][1].silhouette_iou < 0.9
    assert chain[1][1].ssim < 0.9


def test_error_sees_a_missing_part() -> None:
    """A level that lost a whole component must show it in the Hausdorff error."""
    a = trimesh.creation.icosphere(subdivisions=3)
    b = trimesh.creation.icosphere(subdivisions=0).apply_scale(0.05).apply_translation([3, 0, 0])
    chain = build_lod(Mesh(trimesh.util.concatenate([a, b])), faces=[40], samples=4000)
    assert chain[1][1].hausdorff > 0.0
