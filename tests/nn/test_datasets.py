"""voxforge.nn.datasets: the shared voxel sets padded to 32³, the stratified split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voxforge.core.errors import ConfigError, InputFormatError
from voxforge.nn.datasets import load_voxel_set, pad_to_grid, stratified_split


def test_pad_to_grid_centres_30_in_32() -> None:
    vox = np.zeros((1, 30, 30, 30), np.uint8)
    vox[0, 0, 0, 0] = 1
    vox[0, 29, 29, 29] = 7  # any non-zero is filled
    out = pad_to_grid(vox)
    assert out.shape == (1, 32, 32, 32) and out.dtype == np.uint8
    assert out.sum() == 2 and out[0, 1, 1, 1] == 1 and out[0, 30, 30, 30] == 1


def test_pad_to_grid_refuses_wrong_shapes() -> None:
    with pytest.raises(InputFormatError, match=r"x.npz: expected voxels \(N, a, b, c\)"):
        pad_to_grid(np.zeros((30, 30, 30)), name="x.npz")
    with pytest.raises(InputFormatError, match="do not fit"):
        pad_to_grid(np.zeros((1, 40, 30, 30)))


def test_stratified_split_is_stratified_disjoint_and_seeded() -> None:
    labels = np.repeat([0, 1, 2], [20, 10, 2])
    tr, va = stratified_split(labels, 0.2, seed=3)
    assert np.bincount(labels[va]).tolist() == [4, 2, 1]
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 32
    tr2, va2 = stratified_split(labels, 0.2, seed=3)
    assert np.array_equal(va, va2) and np.array_equal(tr, tr2)
    assert not np.array_equal(va, stratified_split(labels, 0.2, seed=4)[1])
    with pytest.raises(ConfigError):
        stratified_split(labels, 1.0, 0)


def test_load_voxel_set_reads_the_shared_file(shared_data: Path) -> None:
    d = load_voxel_set(shared_data / "modelnet10_vox30_train.npz")
    assert d.voxels.shape == (3991, 32, 32, 32) and d.voxels.dtype == np.uint8
    assert np.bincount(d.labels).tolist() == [106, 515, 889, 200, 200, 465, 200, 680, 392, 344]
    assert d.classes[0] == "bathtub" and d.classes[-1] == "toilet"
    assert d.voxels[:, 0].sum() == 0 and d.voxels[:, 31].sum() == 0  # the padding


def test_load_voxel_set_refuses_a_wrong_array(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, voxels=np.zeros((4, 30, 30)), labels=np.zeros(4, np.int64), classes=np.array(["a"]))
    with pytest.raises(InputFormatError, match=r"bad\.npz"):
        load_voxel_set(bad)
