"""brickify --complete: the parts standing on completed cells are marked and reported."""

from __future__ import annotations

import numpy as np

from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.pipelines.brickify import BrickifyConfig, completed_parts, completion_summary


def test_parts_on_completed_cells_are_marked() -> None:
    grid = VoxelGrid(np.ones((4, 2, 3), bool))
    model = BrickModel(
        [Placement("3001", 0, 0, 0, 2, 2, 3, 1), Placement("3001", 2, 0, 0, 2, 2, 3, 1)], (4, 2, 3)
    )
    assert completed_parts(model, grid) is None
    grid.meta["completion"] = {"applied": True, "reason": "test", "added_cells": 11}
    cells = np.zeros((4, 2, 3), bool)
    cells[2:] = True
    grid.meta["completed_cells"] = np.argwhere(cells)
    assert completed_parts(model, grid).tolist() == [False, True]
    s = completion_summary(grid, model)
    assert s["completed_parts"] == [1] and len(s["added_cell_indices"]) == 12


def test_complete_defaults_off_and_takes_three_modes() -> None:
    assert BrickifyConfig().complete == "off"
    assert BrickifyConfig(complete="auto").complete == "auto"
