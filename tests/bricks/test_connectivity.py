import numpy as np

from voxforge.bricks.connectivity import (
    connection_graph,
    connectivity_report,
    floating_parts,
    stud_contacts,
    stud_mask,
)
from voxforge.core.brickmodel import BrickModel, Placement


def brick(x, y, z, sx=4, sy=2, part="3001", color=4, rotation=0):
    return Placement(part, x, y, z, sx, sy, 3, color, rotation)


def test_two_stacked_2x4_bricks_share_eight_studs():
    m = BrickModel([brick(0, 0, 0), brick(0, 0, 3)], shape=(4, 2, 6))
    c = stud_contacts(m)
    assert len(c) == 8
    assert set(c.lower) == {0} and set(c.upper) == {1}
    assert set(c.z) == {3}
    assert connection_graph(m)[0, 1] == 8


def test_offset_brick_shares_overlap_only():
    m = BrickModel([brick(0, 0, 0), brick(2, 0, 3)], shape=(6, 2, 6))
    assert len(stud_contacts(m)) == 4
    rep = connectivity_report(m)
    assert rep.connected and rep.grounded and rep.n_components == 1


def test_tile_has_no_studs_so_part_on_it_floats():
    m = BrickModel(
        [Placement("3068b", 0, 0, 0, 2, 2, 1, 15), Placement("3022", 0, 0, 1, 2, 2, 1, 4)],
        shape=(2, 2, 2),
    )
    assert len(stud_contacts(m)) == 0
    np.testing.assert_array_equal(floating_parts(m), [False, True])
    rep = connectivity_report(m)
    assert not rep.connected and not rep.grounded and rep.n_floating == 1


def test_slope_studs_follow_rotation():
    def mask(rot):
        return stud_mask(Placement("3039", 0, 0, 0, 2, 2, 3, 4, rot)).tolist()

    assert mask(0) == [[True, True], [False, False]]
    assert mask(1) == [[True, False], [True, False]]
    assert mask(2) == [[False, False], [True, True]]
    assert mask(3) == [[False, True], [False, True]]
    assert stud_mask(Placement("4286", 0, 0, 0, 3, 1, 3, 4, 0)).ravel().tolist() == [True, False, False]


def test_part_beside_without_overlap_is_separate_component():
    m = BrickModel([brick(0, 0, 0), brick(4, 0, 3)], shape=(8, 2, 6))
    rep = connectivity_report(m)
    assert rep.n_components == 2 and rep.n_floating == 1
