"""Measure the multi-view member (:mod:`voxforge.nn.classify.multiview`) on the grouped protocol.

The frozen encoder's pooled features of every training shape, seen from ``yaws`` cameras around
z, are cached once (float16 ``.npy`` under ``--cache``); heads then train in seconds, so every
protocol of :mod:`voxforge.nn.classify.grouping` is affordable:

- ``random``: the stratified 15 % split the shipped voxel models were trained on (leaky: most
  validation shapes have a near-duplicate in training);
- ``never_seen``: the shapes of that split's validation none of whose near-duplicates are in its
  training part (with a group-bootstrap 95 % interval);
- ``grouped``: the class-stratified split of whole groups (``grouped_split``);
- ``kfold``: ``folds``-fold cross-validation over whole groups (``grouped_folds``), mean and
  standard deviation over the folds; ``kfold_small_groups`` the same with groups larger than a
  fold's share of their class kept in training (``max_share = 1 / folds``);
- ``open_set``: for the outlier-exposure "unknown" rule (:mod:`voxforge.nn.classify.outliers`),
  how many of the outlier meshes under ``--outliers`` a head fitted without them rejects
  (5-fold over the meshes; inliers the random split's training shapes, outliers 1000 synthetic
  blobs and the other meshes; threshold at 2 % of the never-seen validation shapes), with the
  shipped voxel model's pooled features alone and side by side with this member's;
- ``ensemble``: on the never-seen shapes, the equal-weight mean of temperature-calibrated
  log-probabilities of this head (trained on the random split's training part) and a shipped
  voxel classifier trained on the same split (temperatures fitted on those shapes, as
  ``voxforge train ensemble-classifier`` does).

A prediction averages the head's logits over ``views`` evenly spaced cameras (the first cached
yaw set); training uses every rotation of that camera set the cache holds (yaws // views sets),
and their x-mirrors when ``--mirror``. Latency is timed through :class:`Classifier` (render,
encoder and head, ``views`` voting views, one shape per call).

Usage: ``python -m voxforge.nn.classify.multiview_study --size 64 --yaws 12 --out runs/mv.json``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from voxforge.nn.classify.multiview import fit_head, head_logits, render_features, view_yaws


def cached_features(
    voxels: np.ndarray, cache: Path, *, size: int, yaws: int, mirror: bool = False
) -> np.ndarray:
    """(N, yaws, D) float16 features from ``cache`` or computed (and stored) now."""
    from voxforge.nn.encoders.image import load_image_encoder

    path = cache / f"{size}px_{yaws}yaws{'_mirror' if mirror else ''}.npy"
    if path.is_file():
        feats = np.load(path)
        if len(feats) == len(voxels) and feats.shape[1] == yaws:
            return feats
    enc = load_image_encoder().to(memory_format=torch.channels_last)
    feats = render_features(voxels, view_yaws(yaws), encoder=enc, size=size, mirror=mirror)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, feats)
    return feats


def view_sets(yaws: int, views: int) -> list[list[int]]:
    """Index sets of ``views`` evenly spaced cameras among ``yaws`` cached ones, every rotation."""
    if yaws % views:
        raise ValueError(f"views {views} must divide the cached yaws {yaws}")
    step = yaws // views
    return [[k + step * j for j in range(views)] for k in range(step)]


def pooled(feats: list[np.ndarray], index: np.ndarray, sets: list[list[int]]) -> np.ndarray:
    """Stacked view-averaged features of ``index`` for every feature array and view set."""
    return np.concatenate([f[index][:, s].astype(np.float32).mean(1) for f in feats for s in sets])


def _recall(pred: np.ndarray, y: np.ndarray, classes: list[str]) -> dict[str, float]:
    present = [(k, c) for k, c in enumerate(classes) if (y == k).any()]
    return {c: round(float((pred[y == k] == k).mean()), 3) for k, c in present}


def run_study(
    data_path: str | Path,
    cache: str | Path,
    *,
    size: int = 64,
    yaws: int = 12,
    views: int = 4,
    mirror: bool = False,
    hidden: int = 0,
    folds: int = 5,
    epochs: int = 30,
    seed: int = 0,
    ensemble_with: str | None = "classifier-voxel",
    outliers: str | Path | None = None,
    latency_shapes: int = 16,
) -> dict[str, Any]:
    """Every protocol's accuracy of a head on cached multi-view features (see the module doc)."""
    from voxforge.nn.classify.calibration import fit_temperature, softmax
    from voxforge.nn.classify.evaluate import measure_latency
    from voxforge.nn.classify.grouping import (
        bootstrap_accuracy,
        group_shapes,
        grouped_folds,
        grouped_split,
        unseen_subset,
    )
    from voxforge.nn.classify.inference import Classifier, load_classifier
    from voxforge.nn.classify.multiview import MultiViewLite
    from voxforge.nn.datasets import load_voxel_set, stratified_split

    data = load_voxel_set(data_path)
    y, classes = data.labels, list(data.classes)
    cache = Path(cache)
    t0 = time.perf_counter()
    feats = [cached_features(data.voxels, cache, size=size, yaws=yaws)]
    if mirror:
        feats.append(cached_features(data.voxels, cache, size=size, yaws=yaws, mirror=True))
    sets = view_sets(yaws, views)
    groups = group_shapes(data.voxels, y)

    def fit(train: np.ndarray) -> torch.nn.Module:
        return fit_head(pooled(feats, train, sets), np.tile(y[train], len(feats) * len(sets)),
                        num_classes=len(classes), hidden=hidden, epochs=epochs, seed=seed)  # fmt: skip

    def logits(head: torch.nn.Module, index: np.ndarray) -> np.ndarray:
        return head_logits(head, pooled(feats[:1], index, sets[:1]))

    out: dict[str, Any] = {"size": size, "cached_yaws": yaws, "views": views, "mirror": mirror,
                           "hidden": hidden, "epochs": epochs, "seed": seed}  # fmt: skip
    rtr, rva = stratified_split(y, 0.15, 0)
    never = unseen_subset(rva, rtr, groups)
    head = fit(rtr)
    pred = logits(head, rva).argmax(1)
    out["random"] = {"accuracy": round(float((pred == y[rva]).mean()), 4), "samples": len(rva)}
    ln = logits(head, never)
    out["never_seen"] = {**bootstrap_accuracy(ln.argmax(1) == y[never], groups[never]).to_dict(),
                         "recall": _recall(ln.argmax(1), y[never], classes)}  # fmt: skip
    gtr, gva = grouped_split(y, groups, 0.15, 0)
    pred = logits(fit(gtr), gva).argmax(1)
    out["grouped"] = {**bootstrap_accuracy(pred == y[gva], groups[gva]).to_dict(),
                      "recall": _recall(pred, y[gva], classes)}  # fmt: skip
    for key, share in (("kfold", None), ("kfold_small_groups", 1.0 / folds)):
        accs, pred = [], np.full(len(y), -1, np.int64)
        for f in grouped_folds(y, groups, folds, seed=0, max_share=share):
            p = logits(fit(np.setdiff1d(np.arange(len(y)), f)), f).argmax(1)
            pred[f] = p
            accs.append(float((p == y[f]).mean()))
        held = pred >= 0
        out[key] = {"folds": folds, "max_share": share, "samples": int(held.sum()),
                    "mean": round(float(np.mean(accs)), 4), "std": round(float(np.std(accs)), 4),
                    "per_fold": [round(a, 4) for a in accs],
                    "recall": _recall(pred[held], y[held], classes)}  # fmt: skip
    if ensemble_with:
        other = load_classifier(ensemble_with)
        lo = other.predict_logits(data.voxels[never], views=views, batch_size=64)
        t_o, t_m = fit_temperature(lo, y[never]), fit_temperature(ln, y[never])
        both = np.log(softmax(lo, t_o)) + np.log(softmax(ln, t_m))
        out["ensemble"] = {
            "with": ensemble_with,
            "member_alone": round(float((lo.argmax(1) == y[never]).mean()), 4),
            **bootstrap_accuracy(both.argmax(1) == y[never], groups[never]).to_dict(),
        }
    if ensemble_with and outliers is not None:
        out["open_set"] = open_set_check(
            load_classifier(ensemble_with), data.voxels, feats[0], rtr, never, outliers,
            size=size, yaws=sets[0], views=views, seed=seed,
        )  # fmt: skip
    model = MultiViewLite(len(classes), render_size=size, hidden=hidden)
    model.head = head
    clf = Classifier(model.eval(), classes, "voxels", {}, views)
    out["latency_ms_per_shape"] = round(
        measure_latency(clf, data.voxels[rva[:latency_shapes]], views=views, repeats=3), 2
    )
    out["threads"] = torch.get_num_threads()
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def open_set_check(
    clf: Any,
    voxels: np.ndarray,
    feats: np.ndarray,
    train: np.ndarray,
    held: np.ndarray,
    outliers: str | Path,
    *,
    size: int,
    yaws: list[int],
    views: int,
    seed: int = 0,
    cs: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3),
    folds: int = 5,
) -> dict[str, Any]:
    """Held-out outlier meshes rejected by outlier heads on ``clf``'s features, alone and joined
    with the cached multi-view features (``yaws``: the cached indices of the ``views`` cameras)."""
    from voxforge.nn.classify.outlier_study import held_out_rejections
    from voxforge.nn.classify.outliers import mesh_folder_grids, synthetic_outliers
    from voxforge.nn.encoders.image import load_image_encoder

    meshes, blobs = mesh_folder_grids(outliers), synthetic_outliers(1000, seed=0)
    enc = load_image_encoder().to(memory_format=torch.channels_last)

    def mv(g: np.ndarray) -> np.ndarray:
        f = render_features(g, view_yaws(views), encoder=enc, size=size)
        return f.astype(np.float32).mean(1)

    def vox(g: np.ndarray) -> np.ndarray:
        return clf.predict_logits_features(g, views=views, batch_size=64)[1]

    cached = lambda i: feats[i][:, yaws].astype(np.float32).mean(1)  # noqa: E731
    sets = {"voxel": {"inl": vox(voxels[train]), "held": vox(voxels[held]), "blobs": vox(blobs),
                      "meshes": vox(meshes)}}  # fmt: skip
    mvs = {"inl": cached(train), "held": cached(held), "blobs": mv(blobs), "meshes": mv(meshes)}
    sets["voxel+multiview"] = {k: np.concatenate([v, mvs[k]], 1) for k, v in sets["voxel"].items()}
    out: dict[str, Any] = {"meshes": len(meshes), "folder": Path(outliers).name}
    for name, s in sets.items():
        out[name] = {
            str(c): held_out_rejections(s["inl"], s["held"], s["blobs"], s["meshes"], c=c,
                                        folds=folds, seed=seed)[0]
            for c in cs
        }  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data/modelnet10_vox30_train.npz")
    p.add_argument("--cache", default="runs/multiview")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--yaws", type=int, default=12)
    p.add_argument("--views", type=int, default=4)
    p.add_argument("--mirror", action="store_true")
    p.add_argument("--hidden", type=int, default=0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--outliers", default=None, help="Folder of non-furniture meshes (open-set check).")
    p.add_argument("--out", default=None, help="Write the results JSON here too.")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    res = run_study(a.data, a.cache, size=a.size, yaws=a.yaws, views=a.views, mirror=a.mirror,
                    hidden=a.hidden, folds=a.folds, epochs=a.epochs, outliers=a.outliers)  # fmt: skip
    print_report(res, a.out)


def print_report(res: dict, out: str | None) -> None:
    """Print a study's results as JSON, and write them to ``out`` too when given."""
    text = json.dumps(res, indent=2)
    print(text)
    if out:
        Path(out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
