"""Every one of the 80 broken Thingi10K meshes either voxelizes or is refused with one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_paths import SHARED_DATA
from voxforge.core.errors import VoxforgeError
from voxforge.pipelines.voxelize import VoxelizeJobConfig, run_voxelize

ROBUSTNESS = SHARED_DATA / "meshes" / "robustness"
MESHES = sorted(ROBUSTNESS.glob("*/*.stl")) if ROBUSTNESS.is_dir() else []
# Without the shared data one placeholder case stands for the meshes: it skips through the fixture.
CASES = [pytest.param(p, id=f"{p.parent.name}/{p.stem}") for p in MESHES] or [
    pytest.param(None, id="no-meshes")
]


def test_there_are_eighty(shared_data):
    assert len(MESHES) == 80


@pytest.mark.parametrize("path", CASES)
def test_robustness_mesh_voxelizes_or_is_refused(path, tmp_path, shared_data):
    assert path is not None, f"no meshes under {ROBUSTNESS}"
    cfg = VoxelizeJobConfig.model_validate({"voxel": {"width_studs": 12}, "preview_size": 96})
    out = tmp_path / "out"
    try:
        result = run_voxelize(path, out, cfg)
    except VoxforgeError as err:
        message = str(err)
        assert message and "\n" not in message
        assert not out.exists()
        return
    assert result.grid.count > 0
    assert max(result.summary["grid"]["studs"]) == 12
    assert (out / "manifest.json").is_file()


def _cropped_modelnet(shared_data: Path, count: int) -> list[tuple[str, np.ndarray]]:
    """``count`` ModelNet10 grids (even over the classes, fixed seed), cut to their filled box."""
    data = np.load(shared_data / "modelnet10_vox30_train.npz")
    voxels, labels, classes = data["voxels"], data["labels"], data["classes"]
    rng = np.random.default_rng(18)
    picks = [
        int(i)
        for k in range(len(classes))
        for i in rng.choice(np.flatnonzero(labels == k), count // len(classes), replace=False)
    ]
    out = []
    for i in picks:
        idx = np.argwhere(voxels[i])
        lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
        out.append((f"{classes[labels[i]]}_{i}", voxels[i][lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]))
    return out


def test_cropped_modelnet_grids_all_brickify(shared_data, tmp_path):
    """Voxel files cut to their contents (any shape) brickify, as ``--instructions none`` runs it."""
    from voxforge.core.config import build_config
    from voxforge.pipelines.brickify import BrickifyConfig, run_brickify

    cfg = build_config(
        BrickifyConfig,
        {
            "voxel": {"width_studs": 10},
            "instructions": {"formats": "none"},
            "classify": False,
            "preview_size": 64,
        },
    )
    shapes = _cropped_modelnet(shared_data, 20)
    assert len(shapes) == 20
    for name, occ in shapes:
        path = tmp_path / f"{name}.npy"
        np.save(path, occ)
        result = run_brickify(path, tmp_path / name, cfg)
        assert max(result.summary["size"]["studs"]) == 10, name
