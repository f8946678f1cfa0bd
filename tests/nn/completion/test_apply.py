"""Completing real scans: views from normals, carved known-empty space, the grid hook."""

from __future__ import annotations

import numpy as np

from voxforge.core.voxelgrid import VoxelGrid
from voxforge.nn.completion.apply import (
    Completion,
    add_to_grid,
    complete_scan,
    estimate_normals,
    scan_to_partial,
)
from voxforge.nn.completion.infer import load_completer

from .conftest import box_cloud


def test_a_front_and_top_scan_is_one_sided_and_carved_in_front() -> None:
    scan = scan_to_partial(box_cloud("front_top"))
    assert scan.views.one_sided and scan.views.coverage_deg < 180
    assert scan.partial.sum() > 300
    assert not (scan.partial & scan.known_empty).any()
    # the front face looks at +x: the cells just in front of it are known empty, behind it not
    xs = np.argwhere(scan.partial.any(axis=(1, 2)))[:, 0]
    front = xs.max()
    assert scan.known_empty[front + 2 :, 12:20, 8:20].all()
    assert not scan.known_empty[front - 4, 12:20, 8:20].any()
    # the depth nobody saw is assumed to be at least the width: the grid has room behind the front
    assert front - xs.min() >= 8


def test_a_scan_all_round_is_not_one_sided() -> None:
    scan = scan_to_partial(box_cloud("all"))
    assert not scan.views.one_sided and scan.views.coverage_deg >= 270  # four faces, 90° apart


def test_normals_are_estimated_when_missing() -> None:
    cloud = box_cloud("front_top")
    n = estimate_normals(cloud.xyz)
    front = cloud.xyz[:, 0] > 0.149
    assert np.mean(n[front, 0] > 0.9) > 0.9  # facing out of the box, towards the camera
    cloud.normals = None
    assert scan_to_partial(cloud).views.one_sided


def test_symmetry_completion_fills_the_back(random_weights) -> None:
    result = complete_scan(box_cloud("front_top"), method="symmetry")
    assert result.added.sum() > result.scan.partial.sum()
    net = complete_scan(box_cloud("front_top"), weights=str(random_weights))
    assert (net.completed >= net.scan.partial).all()  # observed cells always stay
    assert load_completer(random_weights).threshold == 0.5


def test_added_cells_land_on_the_brick_grid_with_colours() -> None:
    result = complete_scan(box_cloud("front_top"), method="symmetry")
    scan = result.scan
    pitch = scan.pitch * 2
    shape = (16, 16, 16)
    occ = np.zeros(shape, bool)
    occ[12, 4:12, 2:14] = True
    colors = np.zeros((*shape, 3), np.float32)
    colors[occ] = (1.0, 0.0, 0.0)
    grid = VoxelGrid(occ, pitch=pitch, origin=scan.origin, colors=colors)
    out, added = add_to_grid(grid, Completion(scan, result.completed, "symmetry"))
    assert added.sum() > 0 and not (added & occ).any()
    assert (out.occupancy == (occ | added)).all()
    assert np.allclose(out.colors[added], (1.0, 0.0, 0.0))


def test_the_pipeline_hook_completes_one_sided_scans_only(monkeypatch, random_weights) -> None:
    import shutil

    from voxforge.nn.completion.apply import complete_grid
    from voxforge.pipelines.common import to_grid
    from voxforge.voxel import VoxelizeConfig

    models = random_weights.parent
    for suffix in (".json", ".safetensors"):
        shutil.copy(random_weights.with_suffix(suffix), models / f"completion-unet{suffix}")
    monkeypatch.setenv("VOXFORGE_MODELS", str(models))
    cfg = VoxelizeConfig(width_studs=12)
    one_sided, all_round = box_cloud("front_top"), box_cloud("all")
    grid = complete_grid(one_sided, to_grid(one_sided, cfg), "auto")
    c = grid.meta["completion"]
    assert c["applied"] and "one-sided" in c["reason"] and c["added_cells"] > 0
    assert len(grid.meta["completed_cells"]) == c["added_cells"]
    plain = to_grid(all_round, cfg)
    kept = complete_grid(all_round, plain, "auto")
    assert not kept.meta["completion"]["applied"] and kept.count == plain.count
    forced = complete_grid(all_round, to_grid(all_round, cfg), "on")
    assert forced.meta["completion"]["applied"]
