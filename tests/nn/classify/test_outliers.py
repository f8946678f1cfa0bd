"""The outlier-exposure "unknown shape" head and its synthetic outliers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voxforge.core.errors import ConfigError
from voxforge.nn.classify.calibration import OpenSetRule, fit_open_set
from voxforge.nn.classify.outliers import (
    DESCRIPTORS,
    OutlierHead,
    _mirror_shares,
    fit_outlier_head,
    mesh_folder_grids,
    shape_descriptors,
    synthetic_outliers,
)

REPO = Path(__file__).resolve().parents[2]


def test_synthetic_outliers_are_seeded_and_in_the_input_contract() -> None:
    a = synthetic_outliers(3, seed=4, resolution=24)
    b = synthetic_outliers(3, seed=4, resolution=24)
    assert a.shape == (3, 32, 32, 32) and a.dtype == np.uint8 and np.array_equal(a, b)
    for g in a:
        nz = np.argwhere(g)
        assert (nz.max(0) - nz.min(0) + 1).max() == 24  # longest side spans 24 cells
    assert not np.array_equal(a, synthetic_outliers(3, seed=5, resolution=24))


def test_head_separates_outliers_and_the_rule_keeps_heldout_under_two_percent() -> None:
    rng = np.random.default_rng(0)
    inl = rng.normal(0, 1, (400, 8))
    out = rng.normal(0, 1, (200, 8)) + np.array([3.0, -3.0, 0, 0, 0, 0, 0, 0])
    head = fit_outlier_head(inl, [out])
    assert head.score(out).mean() > head.score(inl).mean() + 3
    held = rng.normal(0, 1, (300, 8))
    logits = rng.normal(0, 1, (300, 4))
    labels = logits.argmax(1)
    rule = fit_open_set(logits, labels, score="outlier", head=head, features=held)
    assert rule.is_unknown(logits, held).mean() <= 0.02
    fresh = rng.normal(0, 1, (50, 8)) + np.array([3.0, -3.0, 0, 0, 0, 0, 0, 0])
    assert rule.is_unknown(np.zeros((50, 4)), fresh).mean() > 0.9
    again = OpenSetRule.from_info({"calibration": json.loads(json.dumps(rule.to_dict()))})
    assert again is not None and again.needs_features
    assert np.array_equal(again.is_unknown(logits, held), rule.is_unknown(logits, held))


def test_outlier_rule_errors_are_config_errors(tmp_path: Path) -> None:
    head = OutlierHead(np.zeros(2), np.ones(2), np.ones(2), 0.0)
    with pytest.raises(ConfigError, match="needs an outlier head"):
        OpenSetRule(1.0, "outlier", 0.0)
    with pytest.raises(ConfigError, match="only it takes one"):
        OpenSetRule(1.0, "energy", 0.0, head)
    with pytest.raises(ConfigError, match="features"):
        OpenSetRule(1.0, "outlier", 0.0, head).is_unknown(np.zeros((1, 3)))
    with pytest.raises(ConfigError, match=r"\(N, 2\)"):
        head.score(np.zeros((1, 3)))
    with pytest.raises(ConfigError, match="at least one outlier set"):
        fit_outlier_head(np.zeros((3, 2)), [])
    with pytest.raises(ConfigError, match="no mesh file"):
        mesh_folder_grids(tmp_path)
    with pytest.raises(ConfigError, match="no such folder"):
        mesh_folder_grids(tmp_path / "missing")


def test_every_synthetic_kind_is_seeded_upright_and_in_the_input_contract() -> None:
    from voxforge.nn.classify.outliers import ALL_KINDS

    for kind in ALL_KINDS:
        a = synthetic_outliers(2, seed=3, resolution=24, kinds=(kind,))
        assert a.shape == (2, 32, 32, 32) and a.dtype == np.uint8, kind
        assert np.array_equal(a, synthetic_outliers(2, seed=3, resolution=24, kinds=(kind,)))
        assert all(g.sum() > 0 for g in a)
    tall = synthetic_outliers(4, seed=0, resolution=32, kinds=("tall",))
    for g in tall:  # tall and thin: z spans the 24 cells, x and y far fewer
        nz = np.argwhere(g)
        ext = nz.max(0) - nz.min(0) + 1
        assert ext[2] == 24 and max(ext[0], ext[1]) <= 12
    mixed = synthetic_outliers(4, seed=0, resolution=24, kinds=("blobs", "machined"))
    assert np.array_equal(mixed[0], synthetic_outliers(1, seed=0, resolution=24)[0])  # dealt in turn
    with pytest.raises(ConfigError, match="unknown synthetic outlier kinds"):
        synthetic_outliers(1, kinds=("chairs",))


def test_held_out_rejections_count_only_meshes_outside_the_fit() -> None:
    from voxforge.nn.classify.outlier_study import held_out_rejections

    rng = np.random.default_rng(0)
    inl, held = rng.normal(0, 1, (300, 6)), rng.normal(0, 1, (200, 6))
    shift = np.array([4.0, 0, 0, 0, 0, 0])
    syn = rng.normal(0, 1, (100, 6)) + shift
    far = rng.normal(0, 1, (10, 6)) + shift  # like the synthetic outliers: found
    near = rng.normal(0, 1, (10, 6))  # like the inliers: missed
    total, hit = held_out_rejections(inl, held, syn, np.concatenate([far, near]), c=0.1, folds=5)
    assert total == sum(hit) and sum(hit[:10]) >= 9 and sum(hit[10:]) <= 2
    # a second form of the held shapes, drawn nearer the outliers, loosens the threshold
    shifted = rng.normal(0, 1, (200, 6)) + shift * 0.6
    looser, _ = held_out_rejections(inl, [held, shifted], syn, np.concatenate([far, near]), c=0.1)
    assert looser < total


def test_card_names_the_synthetic_kinds_of_the_outlier_head() -> None:
    from voxforge.nn.classify.export import _rule_text

    c = {"score": "outlier", "threshold": 1.5,
         "outlier_head_fitted_on": {"c": 0.1, "synthetic_blobs": 1000, "meshes": None}}  # fmt: skip
    assert "1000 synthetic rounded blobs" in _rule_text(c)
    c["outlier_head_fitted_on"]["synthetic_kinds"] = ["blobs", "tall"]
    assert "1000 synthetic shapes (blobs, tall)" in _rule_text(c)


def _table() -> np.ndarray:
    """A 24 x 16 x 14-cell table: a 2-cell top on four 2 x 2 legs, centred in 32³."""
    g = np.zeros((32, 32, 32), np.uint8)
    g[4:28, 8:24, 21:23] = 1
    for x in (4, 26):
        for y in (8, 22):
            g[x : x + 2, y : y + 2, 9:21] = 1
    return g


def _ball() -> np.ndarray:
    c = np.indices((32, 32, 32)).transpose(1, 2, 3, 0) + 0.5
    return (np.linalg.norm(c - 16.0, axis=-1) <= 12.0).astype(np.uint8)


def test_shape_descriptors_are_unchanged_by_quarter_turns_and_mirrors() -> None:
    chair = _table()
    chair[4:6, 8:24, 23:30] = 1  # a back on one side: no longer symmetric about x
    d = shape_descriptors(chair)[0]
    assert d.shape == (DESCRIPTORS,)
    for k in (1, 2, 3):
        np.testing.assert_allclose(shape_descriptors(np.rot90(chair, k, axes=(0, 1)))[0], d,
                                   atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(shape_descriptors(chair[::-1])[0], d, atol=1e-6)
    assert not np.allclose(shape_descriptors(chair[:, :, ::-1])[0], d)  # upside down differs


def test_shape_descriptors_tell_a_table_from_a_ball() -> None:
    table, ball = shape_descriptors(np.stack([_table(), _ball()]))
    assert table[23] == 4 / 8 and ball[23] == 1 / 8  # floor contacts: four legs, one patch
    assert table[24] < 0.05 < ball[24] < 0.3  # the legs' area against the footprint
    assert table[19] > 0.5 > ball[19]  # upright faces along two axes against all directions
    assert table[21] == table[22] == 1.0  # mirror symmetric both ways
    assert table[18] > 0.3 > ball[18]  # level faces (|n_z| above 0.8): the top and its underside
    assert table[3] < 0.2 < 0.5 < ball[3]  # a table fills little of its box, a ball half
    assert np.array_equal(shape_descriptors(np.zeros((1, 32, 32, 32))), np.zeros((1, DESCRIPTORS)))


def test_mirror_share_matches_a_nearest_neighbour_search() -> None:
    from scipy.spatial import cKDTree

    for seed in range(3):
        occ = np.pad(synthetic_outliers(1, seed=seed, resolution=24)[0] > 0, 6)
        centres = np.argwhere(occ) + 0.5
        axes = np.array([[np.cos(a), np.sin(a)] for a in (0.3 + seed, 1.1, 2.0 - seed)])
        xy = centres[:, :2] - centres[:, :2].mean(0)
        want = []
        for axis in axes:
            image = np.column_stack([xy - 2 * np.outer(xy @ axis, axis) + centres[:, :2].mean(0),
                                     centres[:, 2]])  # fmt: skip
            want.append(np.mean(cKDTree(centres).query(image)[0] <= 1.01))
        assert _mirror_shares(occ, centres, axes) == pytest.approx(want)


def test_outlier_head_records_that_it_reads_descriptors() -> None:
    rng = np.random.default_rng(1)
    head = fit_outlier_head(rng.normal(size=(50, 4)), [rng.normal(size=(20, 4)) + 2],
                            descriptors=True)  # fmt: skip
    d = head.to_dict()
    assert d["descriptors"] is True and OutlierHead.from_dict(d).descriptors
    old = {k: v for k, v in d.items() if k != "descriptors"}  # a head fitted before descriptors
    assert OutlierHead.from_dict(old).descriptors is False
    assert "descriptors" not in fit_outlier_head(rng.normal(size=(50, 4)),
                                                 [rng.normal(size=(20, 4)) + 2]).to_dict()  # fmt: skip
