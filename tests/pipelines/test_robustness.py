"""Every one of the 80 broken Thingi10K meshes either voxelizes or is refused with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxforge.core.errors import VoxforgeError
from voxforge.pipelines.voxelize import VoxelizeJobConfig, run_voxelize

ROBUSTNESS = Path(__file__).resolve().parents[3] / "shared" / "data" / "meshes" / "robustness"
MESHES = sorted(ROBUSTNESS.glob("*/*.stl")) if ROBUSTNESS.is_dir() else []


@pytest.mark.skipif(not MESHES, reason="shared robustness meshes not found")
def test_there_are_eighty():
    assert len(MESHES) == 80


@pytest.mark.parametrize("path", MESHES, ids=[f"{p.parent.name}/{p.stem}" for p in MESHES])
def test_robustness_mesh_voxelizes_or_is_refused(path, tmp_path):
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
