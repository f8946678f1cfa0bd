"""The completion data set: simulated one-sided scans of voxel shapes, cached to one npz.

Every sample holds three packed 32³ bit grids (the partial scan, its known-empty mask and the
full shape) plus the object it came from. Objects are split into training and validation by the
project's stratified split (the classifier's and the reconstruction networks'): no object has
scans on both sides. Training objects get ``scans_per_object`` scans of 1 to ``max_views`` views
from one side; validation objects get one scan from one side view, the benchmark's condition.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.errors import InputFormatError
from voxforge.core.progress import ProgressCallback, null_progress
from voxforge.nn.completion.sim import ScanSimConfig, one_side_views, simulate_scan
from voxforge.nn.datasets import load_voxel_set, stratified_split

log = logging.getLogger(__name__)

GRID = 32
_CACHE_VERSION = 1


class CompletionDataConfig(BaseModel):
    """Where the shapes come from and how they are scanned."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        "../shared/data/modelnet10_vox30_train.npz",
        description="Voxel set in the shared format (voxels, labels, classes).",
    )
    cache: str = Field("runs/completion/dataset.npz", description="Cached simulated scans.")
    val_fraction: float = Field(0.15, gt=0, lt=1, description="Share of objects for validation.")
    split_seed: int = Field(0, description="Seed of the stratified object split.")
    scans_per_object: int = Field(2, ge=1, le=16, description="Training scans per object.")
    max_views: int = Field(3, ge=1, le=8, description="Training scans use 1..max_views views.")
    seed: int = Field(0, description="Seed of the simulated scans.")
    limit_objects: int | None = Field(None, ge=2, description="First N objects only (smoke tests).")
    sim: ScanSimConfig = Field(default_factory=ScanSimConfig)


@dataclass
class CompletionSet:
    """Samples as packed bit rows (``GRID**3 / 8`` bytes each); :meth:`batch` unpacks a few."""

    partial: np.ndarray
    known_empty: np.ndarray
    target: np.ndarray
    objects: np.ndarray
    labels: np.ndarray
    views: np.ndarray
    val: np.ndarray
    classes: list[str]

    def __len__(self) -> int:
        return len(self.objects)

    def split(self, val: bool) -> np.ndarray:
        """Sample indices of the validation (``True``) or training part."""
        return np.flatnonzero(self.val == val)

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inputs (B, 2, R, R, R) uint8: partial and known-empty; targets (B, R, R, R) uint8)."""
        shape = (len(idx), GRID, GRID, GRID)

        def unpack(rows: np.ndarray) -> np.ndarray:
            return np.unpackbits(rows[idx], axis=1)[:, : GRID**3].reshape(shape)

        return np.stack([unpack(self.partial), unpack(self.known_empty)], axis=1), unpack(self.target)


def scan_sample(
    target: np.ndarray, n_views: int, seed: int, sim: ScanSimConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(partial, known_empty) bool grids of one simulated one-sided scan of ``target``."""
    rng = np.random.default_rng(seed)
    az, el = one_side_views(rng, n_views, sim)
    scan = simulate_scan(target, az, el, seed=int(rng.integers(2**31)), config=sim)
    return scan.partial, scan.known_empty


def simulate_set(
    voxels: np.ndarray,
    objects: np.ndarray,
    views: np.ndarray,
    seed: int,
    sim: ScanSimConfig | None = None,
    progress: ProgressCallback = null_progress,
) -> tuple[np.ndarray, np.ndarray]:
    """Scan ``voxels[objects[i]]`` with ``views[i]`` views each; (partial, known_empty) (N, R, R, R)."""
    n = len(objects)
    partial = np.zeros((n, *voxels.shape[1:]), dtype=bool)
    empty = np.zeros_like(partial)
    seeds = np.random.SeedSequence(seed).generate_state(max(n, 1), dtype=np.uint32)
    for i, (obj, k) in enumerate(zip(objects, views, strict=True)):
        partial[i], empty[i] = scan_sample(voxels[obj].astype(bool), int(k), int(seeds[i]), sim)
        if i % 256 == 0:
            progress("simulate", i / max(n, 1))
    return partial, empty


def build_set(config: CompletionDataConfig, progress: ProgressCallback = null_progress) -> dict:
    """Simulate every scan of the configured set (arrays ready for :func:`save_set`)."""
    data = load_voxel_set(config.path)
    vox, labels = data.voxels, data.labels
    if config.limit_objects:
        vox, labels = vox[: config.limit_objects], labels[: config.limit_objects]
    train_idx, val_idx = stratified_split(labels, config.val_fraction, config.split_seed)
    rng = np.random.default_rng(config.seed)
    tr_obj = np.repeat(train_idx, config.scans_per_object)
    tr_views = rng.integers(1, config.max_views + 1, len(tr_obj))
    objects = np.concatenate([tr_obj, val_idx])
    views = np.concatenate([tr_views, np.ones(len(val_idx), dtype=np.int64)])
    val = np.concatenate([np.zeros(len(tr_obj), bool), np.ones(len(val_idx), bool)])
    partial, empty = simulate_set(vox, objects, views, config.seed, config.sim, progress)
    return {
        "version": np.int64(_CACHE_VERSION),
        "partial": np.packbits(partial.reshape(len(objects), -1), axis=1),
        "known_empty": np.packbits(empty.reshape(len(objects), -1), axis=1),
        "target": np.packbits(vox[objects].astype(bool).reshape(len(objects), -1), axis=1),
        "objects": objects.astype(np.int64),
        "labels": labels[objects].astype(np.int64),
        "views": views.astype(np.int64),
        "val": val,
        "classes": np.asarray(data.classes),
        "source": np.asarray(str(config.path)),
        "settings": np.asarray(config.model_dump_json()),
    }


def load_or_build(
    config: CompletionDataConfig, progress: ProgressCallback = null_progress
) -> CompletionSet:
    """The cached set when it was made with the same settings, else simulate it and cache it."""
    path = Path(config.cache)
    if path.is_file():
        with np.load(path) as z:
            if str(z["settings"]) == config.model_dump_json() and int(z["version"]) == _CACHE_VERSION:
                return _unpack(dict(z))
        log.info("%s was made with other settings; simulating again", path)
    arrays = build_set(config, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return _unpack(arrays)


def _unpack(z: dict) -> CompletionSet:
    try:
        out = CompletionSet(
            partial=z["partial"],
            known_empty=z["known_empty"],
            target=z["target"],
            objects=z["objects"],
            labels=z["labels"],
            views=z["views"],
            val=z["val"].astype(bool),
            classes=[str(c) for c in z["classes"]],
        )
    except KeyError as err:
        raise InputFormatError(f"completion data set: cache lacks {err}") from None
    if out.partial.shape != (len(out), GRID**3 // 8):
        raise InputFormatError(f"completion data set: rows of {out.partial.shape[1]} bytes")
    return out
