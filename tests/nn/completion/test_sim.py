"""The voxel-space phone scan: returns on the surface, known-empty space in front of it."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core.errors import ConfigError
from voxforge.nn.completion.dataset import CompletionDataConfig, _unpack, build_set
from voxforge.nn.completion.sim import simulate_scan, view_direction


def _surface(g: np.ndarray) -> np.ndarray:
    p = np.pad(g, 1)
    inner = g.copy()
    for a in range(3):
        for s in (-1, 1):
            inner &= np.roll(p, s, axis=a)[1:-1, 1:-1, 1:-1]
    return g & ~inner


def test_ideal_scan_sees_the_front_surface_and_the_space_before_it(block: np.ndarray) -> None:
    scan = simulate_scan(block, [0.0], [30.0], seed=0, noise=False)
    assert scan.partial.sum() > 200
    assert not (scan.partial & ~_surface(block)).any()  # every return is a surface cell
    assert not (scan.known_empty & block).any()  # no known-empty cell is inside the shape
    assert not (scan.known_empty & scan.partial).any()
    # the camera is on +x: the front face is seen, the back face is not
    assert scan.partial[25, 10:22, 3:11].all() and not scan.partial[6].any()
    # the cell in front of each return (towards the camera) is known empty
    front = np.argwhere(scan.partial[25])
    assert scan.known_empty[26, front[:, 0], front[:, 1]].all()
    # space beside the object is seen through; the shadow behind it is not
    assert scan.known_empty[28, 2, 20] and scan.known_empty[2, 28, 14]
    assert not scan.known_empty[3, 16, 6]


def test_scan_is_seeded_and_noise_stays_consistent(block: np.ndarray) -> None:
    a = simulate_scan(block, [20.0, 50.0], [10.0, 40.0], seed=3)
    b = simulate_scan(block, [20.0, 50.0], [10.0, 40.0], seed=3)
    c = simulate_scan(block, [20.0, 50.0], [10.0, 40.0], seed=4)
    assert (a.partial == b.partial).all() and (a.known_empty == b.known_empty).all()
    assert (a.partial != c.partial).any()
    assert not (a.known_empty & a.partial).any()
    # noise moves returns off the surface by about a cell at most
    from scipy import ndimage

    near = ndimage.binary_dilation(block, iterations=2)
    assert (a.partial & near).sum() == a.partial.sum()


def test_view_direction_and_bad_grid() -> None:
    assert np.allclose(view_direction(90.0, 0.0), [0.0, 1.0, 0.0], atol=1e-12)
    with pytest.raises(ConfigError, match="cubic grid"):
        simulate_scan(np.zeros((8, 8, 4), bool), [0.0], [0.0], seed=0)


def test_data_set_splits_by_object_and_packs_consistent_grids(tmp_path, shared_data) -> None:
    cfg = CompletionDataConfig(
        path=str(shared_data / "modelnet10_vox30_train.npz"), cache=str(tmp_path / "c.npz"),
        limit_objects=20, scans_per_object=2,
    )  # fmt: skip
    data = _unpack(build_set(cfg))
    train, val = data.split(False), data.split(True)
    assert len(val) >= 1 and len(train) == 2 * (20 - len(val))
    assert not set(data.objects[train]) & set(data.objects[val])
    assert (data.views[val] == 1).all() and data.views[train].max() <= 3
    x, y = data.batch(np.arange(len(data)))
    assert x.shape == (len(data), 2, 32, 32, 32) and y.shape == (len(data), 32, 32, 32)
    assert not (x[:, 0] & x[:, 1]).any()  # observed and known-empty never overlap
    seen = x[:, 0].reshape(len(data), -1).sum(1) > 0
    shaped = y.reshape(len(data), -1).sum(1) > 0  # the shared set holds a few empty shapes
    assert (seen == shaped).all() and shaped.sum() > len(data) // 2
