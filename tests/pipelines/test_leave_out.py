"""Leaving out the parts only a hand could hold, on ModelNet shapes whose build order has some."""

from __future__ import annotations

import json

import numpy as np

from voxforge.pipelines.brickify import BrickifyConfig, run_brickify


def _brickify(shared_data, tmp_path, index: int, leave_out: bool) -> dict:
    voxels = np.load(shared_data / "modelnet10_vox30_train.npz")["voxels"][index]
    src = tmp_path / f"shape{index}.npy"
    np.save(src, voxels.astype(np.uint8))
    cfg = BrickifyConfig.model_validate(
        {
            "voxel": {"width_studs": 16},
            "instructions": {"formats": []},
            "build_order": True,
            "leave_out_held": leave_out,
        }
    )
    out = tmp_path / f"out{index}{leave_out}"
    run_brickify(src, out, cfg)
    return json.loads((out / "summary.json").read_text())


def test_held_parts_are_left_out_when_the_rest_stands(shared_data, tmp_path):
    # ModelNet #3530 at 16 studs: three small parts hang inside a sub-assembly either way up
    kept = _brickify(shared_data, tmp_path, 3530, leave_out=False)
    assert not kept["verdict"]["buildable"] and kept["verdict"]["held_parts"] > 0
    assert "left_out" not in kept
    s = _brickify(shared_data, tmp_path, 3530, leave_out=True)
    lo = s["left_out"]
    assert 0 < lo["parts"] == len(lo["at"]) == sum(lo["by_part"].values())
    assert 0 < lo["cells"] <= 0.02 * kept["layout"]["cells"]
    assert s["parts"]["total"] == kept["parts"]["total"] - lo["parts"]
    v = s["verdict"]
    assert v["buildable"] and v["held_parts"] == 0 and v["pieces"] == 1


def test_nothing_is_left_out_when_the_model_would_fall_apart(shared_data, tmp_path):
    # table #3390 at 16 studs: its held plates join the trestle feet to the top
    s = _brickify(shared_data, tmp_path, 3390, leave_out=True)
    assert "left_out" not in s and s["verdict"]["held_parts"] > 0
