"""Joining the pieces of a predicted occupancy along its most probable cells."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from voxforge.voxel.connect import CORE, RAISE, join_pieces


def _two_blocks(gap_prob: float) -> np.ndarray:
    """A 32^3 field: a seat block over a leg block, a 3-cell gap between them at ``gap_prob``."""
    p = np.full((32, 32, 32), 0.01, np.float32)
    p[8:24, 8:24, 18:22] = 0.9  # seat
    p[14:18, 14:18, 2:15] = 0.9  # stem, its top 3 cells under the seat
    p[14:18, 14:18, 15:18] = gap_prob
    return p


def _pieces(p: np.ndarray, t: float = 0.4) -> int:
    return ndimage.label(p >= t)[1]


def test_a_floating_seat_is_joined_to_its_stem_through_the_gap() -> None:
    p = _two_blocks(0.25)
    assert _pieces(p) == 2
    out, rep = join_pieces(p, 0.4)
    assert _pieces(out) == 1
    assert rep.pieces == 2 and rep.joined == 1 and rep.lowest == 0.25
    raised = out != p
    assert rep.cells == raised.sum() and 3 < raised.sum() <= 3 * 16
    assert not raised[:, :, :15].any() and not raised[:, :, 18:].any()  # only in the gap
    core = out == CORE
    assert core[14:18, 14:18, 15:18].all(axis=2).sum() == 1  # one column of the gap: the path
    assert np.allclose(out[raised & ~core], 0.4 + RAISE)
    assert ((out >= 0.4) | ~(p >= 0.4)).all()  # nothing that was occupied is lost


def test_pieces_with_nothing_probable_between_stay_apart_without_bridge() -> None:
    p = _two_blocks(0.05)
    out, rep = join_pieces(p, 0.4, floor=0.1, bridge=False)
    assert rep.joined == 0 and rep.bridged == 0 and rep.cells == 0 and _pieces(out) == 2
    assert np.array_equal(out, p)


def test_a_leg_with_nothing_probable_above_it_gets_a_straight_strut() -> None:
    p = _two_blocks(0.05)
    out, rep = join_pieces(p, 0.4, floor=0.1)
    assert rep.joined == 0 and rep.bridged == 1 and rep.lowest is None and _pieces(out) == 1
    raised = out != p
    assert rep.cells == raised.sum() == 3  # the 3-cell gap, one cell thick
    cells = np.argwhere(raised)
    assert len(np.unique(cells[:, :2], axis=0)) == 1 and set(cells[:, 2]) == {15, 16, 17}
    assert np.allclose(out[raised], CORE)


def test_specks_no_probable_path_reaches_are_dropped_not_bridged() -> None:
    p = _two_blocks(0.9)
    p[28, 2, 2] = 0.8  # a stray cell in a corner
    p[2, 28, 28:30] = 0.7  # and a stray pair
    out, rep = join_pieces(p, 0.4)
    assert rep.pieces == 3 and rep.dropped == 2 and rep.bridged == 0 and _pieces(out) == 1
    assert out[28, 2, 2] < 0.4 and (out[2, 28, 28:30] < 0.4).all()
    kept = np.ones(p.shape, bool)
    kept[28, 2, 2] = kept[2, 28, 28:30] = False
    assert np.array_equal(out[kept], p[kept])


def test_the_path_runs_through_the_more_probable_corridor() -> None:
    p = np.full((32, 32, 32), 0.01, np.float32)
    p[2:10, 2:30, 2:10] = 0.9
    p[22:30, 2:30, 2:10] = 0.9
    p[10:22, 5, 5] = 0.15  # short corridor, barely probable
    p[10:22, 25, 5] = 0.3  # as short, more probable
    out, rep = join_pieces(p, 0.4)
    assert rep.joined == 1 and _pieces(out) == 1
    assert (out[10:22, 25, 5] >= 0.4).all() and (out[10:22, 5, 5] < 0.4).all()


def test_one_piece_is_returned_unchanged() -> None:
    p = _two_blocks(0.9)
    out, rep = join_pieces(p, 0.4)
    assert rep.pieces == 1 and rep.joined == 0 and np.array_equal(out, p)
