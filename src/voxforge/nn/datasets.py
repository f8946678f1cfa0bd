"""Labelled voxel sets every network family trains on: the shared npz format read as 32³ grids,
and a stratified train/validation split.

Grids are (N, 32, 32, 32) uint8 occupancy indexed (x, y, z) with z up; the shared 30³ sets are
zero-padded by one cell per side. Splits are seeded so every model family sees the same
validation objects for the same seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from voxforge.core.errors import ConfigError, InputFormatError

GRID = 32
"""Side of the cubic grid every voxel network reads (cells)."""


@dataclass
class ClassifierData:
    """A labelled voxel set (classifier training, render sets, completion scans).

    Attributes:
        voxels: (N, 32, 32, 32) uint8 occupancy, z up.
        labels: (N,) int64 class indices into ``classes``.
        classes: class names.
        points: (N, P, 3) float32 points in the unit ball, or None when not sampled.
        skipped: files that could not be read (path, reason), for OFF-derived sets.
    """

    voxels: np.ndarray
    labels: np.ndarray
    classes: list[str]
    points: np.ndarray | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> ClassifierData:
        """The samples at ``index`` (an (k,) int array), sharing the class list."""
        pts = None if self.points is None else self.points[index]
        return ClassifierData(self.voxels[index], self.labels[index], self.classes, pts)


def pad_to_grid(voxels: np.ndarray, size: int = GRID, *, name: str = "voxels") -> np.ndarray:
    """Zero-pad (N, a, b, c) occupancy centred to (N, size, size, size) uint8.

    Raises:
        InputFormatError: the array is not 4-D or a side is larger than ``size``.
    """
    vox = np.asarray(voxels)
    if vox.ndim != 4:
        raise InputFormatError(f"{name}: expected voxels (N, a, b, c), found shape {vox.shape}")
    if any(s > size for s in vox.shape[1:]):
        raise InputFormatError(
            f"{name}: grids of {vox.shape[1:]} do not fit the {size}³ classifier input"
        )
    pads = [(0, 0)] + [((size - s) // 2, size - s - (size - s) // 2) for s in vox.shape[1:]]
    return np.pad((vox > 0).astype(np.uint8), pads)


def load_voxel_set(path: str | os.PathLike[str]) -> ClassifierData:
    """Read a dataset npz in the shared format (``voxels``, ``labels``, ``classes``) as 32³ grids.

    Raises:
        InputFormatError: missing keys, wrong shapes (the message names the file).
    """
    from voxforge.io import load_voxel_dataset

    ds = load_voxel_dataset(path)
    vox = pad_to_grid(ds.voxels, name=str(path))
    return ClassifierData(vox, ds.labels.astype(np.int64), list(ds.classes))


def stratified_split(
    labels: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices, each class split in the same proportion (fixed ``seed``).

    Every class with at least two samples keeps at least one in each part. Returns two sorted (k,)
    int64 arrays.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_val = round(len(idx) * val_fraction)
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
