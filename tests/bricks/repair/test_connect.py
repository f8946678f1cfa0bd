"""Connecting the pieces of a layout: bridges, joining paths, supports under floating parts."""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

from voxforge.bricks.cap import no_cap
from voxforge.bricks.connectivity import components, connectivity_report
from voxforge.bricks.lay import LayoutConfig, lay_bricks
from voxforge.bricks.layout.problem import part_table
from voxforge.bricks.repair.connect import bridge_components, join_shape
from voxforge.bricks.repair.log import RepairLog
from voxforge.bricks.repair.supports import join_standing
from voxforge.core.voxelgrid import VoxelGrid

from ..fakes import layout_state

log = logging.getLogger(__name__)


def floating_cube() -> np.ndarray:
    occ = np.zeros((4, 4, 9), bool)
    occ[:, :, 0:3] = True  # a 4x4 brick course on the ground
    occ[1:3, 1:3, 6:9] = True  # a 2x2 brick floating 3 plates above it
    return occ


def test_floating_cube_gets_a_reported_support():
    occ = floating_cube()
    model, rep = lay_bricks(VoxelGrid(occ), None)
    # a 2x2 column (one 2x2 brick) from the course below up to the cube, not a 1x1
    assert rep.added_cells == 12 and rep.support_parts == 1
    assert sorted(model.meta["support_columns"]) == [
        (1, 1, 3, 6),
        (1, 2, 3, 6),
        (2, 1, 3, 6),
        (2, 2, 3, 6),
    ]
    support = [p for p in model.placements if p.z == 3]
    assert [(p.part, p.color, p.h, p.x, p.y) for p in support] == [("3003", 71, 3, 1, 1)]
    assert any("12 cells added" in n for n in rep.connectivity["notes"])
    conn = connectivity_report(model)
    assert conn.connected and conn.grounded
    np.testing.assert_array_equal(model.occupancy() & ~occ, model.occupancy() ^ occ)


def test_without_repair_the_cube_floats():
    _model, rep = lay_bricks(VoxelGrid(floating_cube()), None, LayoutConfig(repair=False))
    assert rep.added_cells == 0
    # one floating 2x2 brick: a slab one brick covers whole stays a brick
    assert rep.connectivity["n_floating"] == 1 and not rep.connectivity["grounded"]


def test_bridge_joins_two_stacked_towers_side_by_side():
    occ = np.ones((4, 2, 6), bool)
    state = layout_state(occ)
    b24 = state.table.index("3003")
    # two 2x2 towers of two bricks each: grounded but not joined
    rows = [(x, 0, z, 2, 2, 3, b24, 4) for x in (0, 2) for z in (0, 3)]
    state.add(np.array(rows, np.int64))
    assert state.connectivity().n_components == 2
    log = RepairLog()
    conn = bridge_components(state, log, seed=0, cap=no_cap())
    assert conn.n_components == 1 and conn.n_floating == 0
    assert log.bridged_layers
    assert (state.labels >= 0).sum() == occ.sum()


def test_bridge_replaces_a_brick_by_plates_where_only_a_stagger_joins():
    # bathtub #54's seam: a 2x4 brick on one tower touches, side by side, two plates on the
    # other; no plate across the seam can hold on to a brick that spans all three levels
    occ = np.zeros((8, 2, 9), bool)
    occ[0:2, :, :] = True
    occ[0:4, :, 6:9] = True
    occ[6:8, :, 0:6] = True
    occ[4:8, :, 6:8] = True
    state = layout_state(occ)
    b22, b24, p24 = (state.table.index(p) for p in ("3003", "3001", "3020"))
    rows = [(x, 0, z, 2, 2, 3, b22, 4) for x in (0, 6) for z in (0, 3)]
    rows += [(0, 0, 6, 4, 2, 3, b24, 4), (4, 0, 6, 4, 2, 1, p24, 4), (4, 0, 7, 4, 2, 1, p24, 4)]
    state.add(np.array(rows, np.int64))
    assert state.connectivity().n_components == 2
    log = RepairLog()
    conn = bridge_components(state, log, seed=0, cap=no_cap())
    assert conn.n_components == 1 and conn.n_floating == 0
    assert (state.labels >= 0).sum() == occ.sum()


def test_box_contacts_agree_with_connectivity_module():
    occ = np.ones((5, 4, 7), bool)
    occ[2, :, 3:] = False
    model, _ = lay_bricks(VoxelGrid(occ), None, LayoutConfig(repair=False, parts="mixed"))
    state = layout_state(occ)
    table = part_table()
    rows = [(p.x, p.y, p.z, p.sx, p.sy, p.h, table.index(p.part), p.color) for p in model.placements]
    state.add(np.array(rows, np.int64))
    ours = state.connectivity()
    theirs = components(model)
    # same partition (labels may be numbered differently)
    pairs = set(zip(ours.comp.tolist(), theirs.tolist(), strict=True))
    assert len(pairs) == len(set(theirs.tolist())) == ours.n_components


def test_join_shape_links_an_edge_touching_piece_with_studs():
    occ = np.zeros((6, 6, 9), bool)
    occ[0:2, 0:2, 0:6] = True  # a post on the ground
    occ[2:4, 2:4, 6:9] = True  # a block touching it only along an edge, in the air
    added = join_shape(occ)
    assert not (added & occ).any() and added.any()
    _lab, n = ndimage.label(occ | added)
    assert n == 1
    model, rep = lay_bricks(VoxelGrid(occ), None)
    assert rep.added_cells == int(added.sum())
    conn = connectivity_report(model)
    assert conn.connected and conn.grounded


def test_join_shape_leaves_one_grounded_piece_alone():
    occ = np.zeros((4, 4, 6), bool)
    occ[1:3, 1:3, :] = True
    assert not join_shape(occ).any()


def test_two_pieces_side_by_side_on_the_ground_become_one():
    occ = np.zeros((9, 2, 6), bool)
    occ[0:4, :, :] = True
    occ[5:9, :, :] = True  # a one-stud gap: only new cells can join them
    model, rep = lay_bricks(VoxelGrid(occ), None)
    conn = connectivity_report(model)
    assert conn.connected and conn.grounded and rep.added_cells > 0
    assert not (occ & ~model.occupancy()).any()


def sofa_on_runners() -> np.ndarray:
    """A body on four one-plate feet, each over a one-plate runner 7 studs long with an empty
    plate between them: the runners must be cut into two plates side by side, which hold
    nothing together, so only a column across the gap under the far foot joins the far plate."""
    occ = np.zeros((7, 4, 9), bool)
    occ[:, :, 3:] = True
    for y in (0, 3):
        occ[:, y, 0] = True
        for x in (0, 6):
            occ[x, y, 2] = True
    return occ


def test_pieces_standing_apart_are_joined_across_a_gap():
    model, _ = lay_bricks(VoxelGrid(sofa_on_runners()), None)
    conn = connectivity_report(model)
    assert conn.n_components == 1 and conn.grounded
    # the joins are new support cells in the gap under the body (which starts at plate 3)
    cols = model.meta["support_columns"]
    assert cols and all(z1 <= 3 for _, _, _, z1 in cols)


def test_gaps_longer_than_the_limit_stay_open():
    occ = np.zeros((2, 2, 12), bool)
    occ[:, :, 0:3] = True  # a 2x2 brick on the ground
    occ[:, :, 9:12] = True  # another 6 plates over it
    state = layout_state(occ)
    b22 = state.table.index("3003")
    state.add(np.array([(0, 0, 0, 2, 2, 3, b22, 4), (0, 0, 9, 2, 2, 3, b22, 4)], np.int64))
    assert join_standing(state, RepairLog(), 71, max_plates=5).n_components == 2
    conn = join_standing(state, RepairLog(), 71, max_plates=6)
    assert conn.n_components == 1
    assert (state.labels[:, :, 3:9] >= 0).all()  # the gap filled, 2x2 wide
