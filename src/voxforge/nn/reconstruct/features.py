"""Feature cache of a render set: frozen-encoder features of every view, computed once.

The decoders of :mod:`voxforge.nn.reconstruct.featvox` train on these cached features instead of
images, so a training step costs only the decoder. For every shard ``shard_NNNN.npz`` of a render
set (:mod:`voxforge.nn.reconstruct.renderset`) and every input kind (``image``: the renders,
``sketch``: the line drawings) the cache holds ``<out>/<kind>_NNNN.npz`` with, per view:

- ``mid`` (N, C1, h1, w1), ``top`` (N, C2, h2, w2), ``pooled`` (N, C3) float16 features
  (:class:`voxforge.nn.encoders.image.ImageFeatures`);
- ``object_index`` (N,) int64, ``view`` (N,) int64 (the view's number within its object),
  ``azimuth`` (N,) float32 degrees, ``labels`` (N,) int64.

``max_views`` keeps only the first views of each object (sketches need fewer). A shard already
cached with the same encoder and at least the views asked for is kept (so an interrupted run
resumes; such a shard may hold more views per object than a later run asks for).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from voxforge.core.errors import InputFormatError
from voxforge.core.outputs import atomic_write_bytes
from voxforge.core.progress import ProgressCallback, null_progress

log = logging.getLogger(__name__)

FEATURE_KEYS: tuple[str, ...] = ("mid", "top", "pooled")


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def encode_batches(
    encoder: torch.nn.Module, images: np.ndarray, batch: int = 64
) -> dict[str, np.ndarray]:
    """Features of (N, S, S, 3) or (N, S, S) uint8 images as float16 arrays keyed like FEATURE_KEYS."""
    from voxforge.nn.reconstruct.models import images_to_tensor

    out: dict[str, list[np.ndarray]] = {k: [] for k in FEATURE_KEYS}
    with torch.inference_mode():
        for s in range(0, len(images), batch):
            x = images_to_tensor(images[s : s + batch]).contiguous(memory_format=torch.channels_last)
            f = encoder(x)
            for k in FEATURE_KEYS:
                out[k].append(getattr(f, k).float().numpy().astype(np.float16))
    return {k: np.concatenate(v) for k, v in out.items()}


def _views_within_object(object_index: np.ndarray) -> np.ndarray:
    """0, 1, ... numbering of the views of each object (views of an object are contiguous)."""
    start = np.r_[0, np.flatnonzero(np.diff(object_index)) + 1]
    first = np.repeat(start, np.diff(np.r_[start, len(object_index)]))
    return np.arange(len(object_index)) - first


def cache_shard(
    shard: Path, out: Path, kind: str, encoder: torch.nn.Module, max_views: int | None, stamp: str
) -> int:
    """Encode one shard's views of ``kind`` into ``out``; returns the number of views encoded."""
    with np.load(shard, allow_pickle=False) as z:
        obj = z["object_index"]
        view = _views_within_object(obj)
        keep = view < max_views if max_views else np.ones(len(obj), bool)
        pixels = z["images" if kind == "image" else "sketches"][keep]
        meta = {"object_index": obj[keep], "view": view[keep], "azimuth": z["azimuth"][keep],
                "labels": z["labels"][keep]}  # fmt: skip
    feats = encode_batches(encoder, pixels)
    _save(out, {**feats, **meta, "stamp": np.asarray(stamp)})
    return len(pixels)


def _cached(path: Path, stamp: str) -> bool:
    """The file exists with the same encoder and kind and at least the views asked for."""
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            have = json.loads(str(z["stamp"]))
    except (OSError, ValueError, KeyError):
        return False
    want = json.loads(stamp)
    same = all(have.get(k) == want.get(k) for k in ("encoder", "kind", "work_size"))
    views_ok = have.get("max_views") is None or (want.get("max_views") or 1e9) <= have["max_views"]
    return same and bool(views_ok)


def build_feature_cache(
    render_set: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    encoder_name: str = "efficientnet-lite0",
    work_size: int | None = None,
    kinds: Sequence[str] = ("image", "sketch"),
    max_views: dict[str, int] | None = None,
    wait_s: float = 0.0,
    progress: ProgressCallback | None = None,
) -> Path:
    """Cache the features of every shard of ``render_set`` for each of ``kinds``.

    Args:
        render_set: a render set folder (shards may still be appearing: see ``wait_s``).
        out_dir: the cache folder (created).
        encoder_name: a registered image encoder.
        work_size: resize the pictures to this side before the encoder (None: their own size).
        kinds: ``image`` and/or ``sketch``, cached in this order.
        max_views: per kind, keep only the first views of each object.
        wait_s: while the render set has no ``index.json``, wait up to this long for the next
            shard to appear (so caching runs beside rendering).
        progress: ``callback("features", fraction of shards)``.

    Raises:
        InputFormatError: no shard appears.
    """
    from voxforge.nn.encoders.image import load_image_encoder

    root, out = Path(render_set), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = progress or null_progress
    encoder = load_image_encoder(encoder_name, work_size).to(memory_format=torch.channels_last)
    limits = max_views or {}
    done_views, t0 = 0, time.perf_counter()
    for kind in kinds:
        stamp = json.dumps({"encoder": encoder_name, "kind": kind, "max_views": limits.get(kind),
                            "work_size": work_size})  # fmt: skip
        n = 0
        while True:
            shard = root / f"shard_{n:04d}.npz"
            finished = (root / "index.json").is_file()
            if not shard.is_file():
                if finished or not _await(shard, root, wait_s):
                    break
            target = out / f"{kind}_{n:04d}.npz"
            if not _cached(target, stamp):
                done_views += cache_shard(shard, target, kind, encoder, limits.get(kind), stamp)
                rate = done_views / max(time.perf_counter() - t0, 1e-9)
                log.info("features %s shard %d: %.1f images/s", kind, n, rate)
            n += 1
            report("features", n / max(len(list(root.glob("shard_*.npz"))), 1))
        if n == 0:
            raise InputFormatError(f"{root}: no render set shards (shard_0000.npz)")
    return out


def _await(shard: Path, root: Path, wait_s: float) -> bool:
    """Wait for ``shard`` to be complete (the next one exists, or the index is written)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if shard.is_file() or (root / "index.json").is_file():
            return shard.is_file()
        time.sleep(5.0)
    return False


@dataclass
class FeatureSet:
    """Cached features of one split and kind, in memory (float16), one row per view.

    Attributes:
        mid, top, pooled: feature arrays (N, ...).
        object_index, view, labels: (N,) int64; azimuth (N,) float32 degrees.
        objects: (M,) object ids of the split; grids (M, 32, 32, 32) bool in the data file's
            frame; object_row (N,) row of each view's object in grids.
        classes: class names.
    """

    mid: np.ndarray
    top: np.ndarray
    pooled: np.ndarray
    object_index: np.ndarray
    view: np.ndarray
    azimuth: np.ndarray
    labels: np.ndarray
    objects: np.ndarray
    grids: np.ndarray
    object_row: np.ndarray
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def load_feature_set(render_set: str | os.PathLike[str], cache: str | os.PathLike[str], kind: str,
                     split: str, *, partial: bool = False,
                     data_npz: str | os.PathLike[str] | None = None) -> FeatureSet | None:  # fmt: skip
    """Load the cached ``kind`` features of the ``split`` objects (render set's index.json split).

    ``partial``: load the shards cached so far (None when there is none yet) instead of raising
    InputFormatError when the cache is incomplete; while the render set has no index.json yet,
    the split and grids come from ``data_npz``.
    """
    from voxforge.nn.datasets import GRID

    root, folder = Path(render_set), Path(cache)
    index_path = root / "index.json"
    files = sorted(folder.glob(f"{kind}_*.npz"))
    if partial and not files:
        return None
    if index_path.is_file():
        index = json.loads(index_path.read_text())
        wanted = np.asarray(index["split"][split], dtype=np.int64)
        if len(files) != len(index["shards"]) and not partial:
            raise InputFormatError(
                f"{folder}: {len(files)} {kind} feature files, "
                f"render set has {len(index['shards'])} shards"
            )
        with np.load(root / "objects.npz", allow_pickle=False) as z:
            packed = z["voxels"]
        classes = list(index["classes"])
    elif partial and data_npz is not None:
        wanted, packed, classes = _split_from_data(data_npz, split)
    else:
        raise InputFormatError(f"{root}: not a finished render set (no index.json)")
    parts: dict[str, list[np.ndarray]] = {}
    for path in files:
        with np.load(path, allow_pickle=False) as z:
            keep = np.isin(z["object_index"], wanted)
            for key in (*FEATURE_KEYS, "object_index", "view", "azimuth", "labels"):
                parts.setdefault(key, []).append(z[key][keep])
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    packed = packed[wanted]
    grids = np.unpackbits(packed, axis=1, count=GRID**3).astype(bool).reshape(-1, GRID, GRID, GRID)
    return FeatureSet(**arrays, objects=wanted, grids=grids,
                      object_row=np.searchsorted(wanted, arrays["object_index"]),
                      classes=classes)  # fmt: skip


def _split_from_data(
    data_npz: str | os.PathLike[str], split: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The render set's object split and packed grids, recomputed from its data file (the
    classifier's stratified split, 15 %, seed 0), for a render set still being built."""
    from voxforge.io import load_voxel_dataset
    from voxforge.nn.datasets import GRID, pad_to_grid, stratified_split

    ds = load_voxel_dataset(data_npz)
    grids = pad_to_grid(ds.voxels, GRID, name=str(data_npz)).astype(bool)
    filled = grids.reshape(len(grids), -1).any(axis=1)
    train, val = stratified_split(ds.labels.astype(np.int64), 0.15, 0)
    ids = np.sort(train if split == "train" else val)
    return ids[filled[ids]], np.packbits(grids.reshape(len(grids), -1), axis=1), list(ds.classes)


def main(argv: list[str] | None = None) -> None:
    """``python -m voxforge.nn.reconstruct.features RENDER_SET OUT [IMAGE_VIEWS SKETCH_VIEWS]
    [--work-size PX] [--kinds image sketch]``: cache the features of a render set with one torch
    thread (default 4 image and 3 sketch views per object, the encoder at the pictures' own size)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m voxforge.nn.reconstruct.features")
    ap.add_argument("render_set")
    ap.add_argument("out")
    ap.add_argument("image_views", nargs="?", type=int, default=4)
    ap.add_argument("sketch_views", nargs="?", type=int, default=3)
    ap.add_argument("--work-size", type=int, default=None, help="resize pictures to this side first")
    ap.add_argument("--kinds", nargs="+", default=["image", "sketch"], choices=["image", "sketch"])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    views = {"image": args.image_views, "sketch": args.sketch_views}
    print(build_feature_cache(args.render_set, args.out, max_views=views, kinds=args.kinds,
                              work_size=args.work_size))  # fmt: skip


if __name__ == "__main__":
    main()
