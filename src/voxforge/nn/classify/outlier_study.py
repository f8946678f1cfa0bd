"""Choose the synthetic outliers of the "unknown shape" head by cross-validation over real meshes.

For every candidate mix of synthetic kinds (:func:`voxforge.nn.classify.outliers.synthetic_outliers`)
and every regularisation ``C``, the real outlier meshes under ``--meshes`` are split into
``folds``; an outlier head (:func:`voxforge.nn.classify.outliers.fit_outlier_head`) is fitted on the
classifier's pooled features of its training shapes (inliers) against the synthetic shapes and
the other folds' meshes, its threshold is set so that 2 % of the never-seen validation shapes
(:func:`voxforge.nn.classify.evaluate.heldout_unseen`) are called unknown, and the held-out fold's
meshes it rejects are counted. With ``--remeshed N`` and ``--scanned N`` the protocol is
``calibrate-classifier``'s with the same options: the inliers gain one copy of every training
shape in each form, and the threshold keeps each form of the never-seen shapes (the grids, their
``N`` remeshed copies, their ``N`` simulated scans) at 2 % or less. The mix and ``C`` with the
most held-out meshes rejected win; other meshes (such as the five shared test meshes) play no
part.

Usage: ``python -m voxforge.nn.classify.outlier_study --model classifier-voxel
--meshes ../shared/data/meshes/robustness --out runs/outliers.json``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

MIXES: tuple[tuple[str, ...], ...] = (
    ("blobs",),
    ("blobs", "animals"),
    ("blobs", "handles"),
    ("blobs", "tall"),
    ("blobs", "machined"),
    ("blobs", "animals", "handles", "tall", "machined"),
)
"""Candidate synthetic mixes: the blobs alone, with each new kind, and all kinds."""


def held_out_rejections(
    inliers: np.ndarray,
    held: np.ndarray | list[np.ndarray],
    synthetic: np.ndarray,
    meshes: np.ndarray,
    *,
    c: float,
    folds: int = 5,
    max_unknown: float = 0.02,
    seed: int = 0,
) -> tuple[int, list[int]]:
    """Meshes rejected when held out of the head's fitting: (total, per-mesh 0/1 in input order).

    All arguments are (N, D) features; the threshold is the ``1 - max_unknown`` quantile of the
    head's scores on ``held`` (shapes of the classes the model never saw a near-duplicate of), or
    the largest of those quantiles over a list of forms of them.
    """
    from voxforge.nn.classify.outliers import fit_outlier_head

    parts = np.array_split(np.random.default_rng(seed).permutation(len(meshes)), folds)
    hit = np.zeros(len(meshes), np.int64)
    for part in parts:
        keep = np.setdiff1d(np.arange(len(meshes)), part)
        head = fit_outlier_head(inliers, [synthetic, meshes[keep]], c=c)
        forms = held if isinstance(held, list) else [held]
        threshold = max(float(np.quantile(head.score(h), 1.0 - max_unknown)) for h in forms)
        hit[part] = head.score(meshes[part]) > threshold
    return int(hit.sum()), hit.tolist()


def run_study(
    data_path: str | Path,
    model: str,
    meshes_folder: str | Path,
    *,
    mixes: tuple[tuple[str, ...], ...] = MIXES,
    cs: tuple[float, ...] = (0.03, 0.1, 0.3),
    synthetic: int = 1000,
    folds: int = 5,
    views: int = 4,
    remeshed: int = 0,
    scanned: int = 0,
    descriptors: bool = False,
) -> dict[str, Any]:
    """Held-out mesh rejections of every mix and ``C`` (see the module doc); with
    ``descriptors`` the heads read the inputs' shape descriptors beside the network's features."""
    from voxforge.nn.classify.data import input_forms
    from voxforge.nn.classify.evaluate import heldout_unseen, model_train_indices
    from voxforge.nn.classify.grouping import group_shapes
    from voxforge.nn.classify.inference import load_classifier
    from voxforge.nn.classify.outliers import mesh_folder_grids, synthetic_outliers
    from voxforge.nn.datasets import load_voxel_set

    t0 = time.perf_counter()
    clf = load_classifier(model)
    data = load_voxel_set(data_path)
    groups = group_shapes(data.voxels, data.labels)
    train = model_train_indices(clf.info, data.labels, groups)
    held = heldout_unseen(clf.info, data.labels, groups)
    if train is None or held is None:
        from voxforge.core.errors import ConfigError

        raise ConfigError(f"{model}: its JSON records no training split of {data_path}")

    def feats(g: np.ndarray) -> np.ndarray:
        return clf.predict_logits_features(g, views=views, batch_size=64,
                                           descriptors=descriptors)[1]  # fmt: skip

    forms = [(make, n) for _, make, n in input_forms(remeshed, scanned)]
    train_vox, held_vox = data.voxels[train], data.voxels[held]
    inl = feats(np.concatenate([train_vox, *(make(train_vox, 1, 0)[:, 0] for make, _ in forms)]))
    hel = [feats(held_vox)]
    hel += [feats(make(held_vox, n, 0).reshape(-1, *held_vox.shape[1:])) for make, n in forms]
    mesh = feats(mesh_folder_grids(meshes_folder))
    out: dict[str, Any] = {"model": model, "meshes": len(mesh), "folder": Path(meshes_folder).name,
                           "synthetic": synthetic, "folds": folds, "views": views,
                           "held_shapes": len(held), "remeshed": remeshed, "scanned": scanned,
                           "descriptors": descriptors, "mixes": {}}  # fmt: skip
    for mix in mixes:
        syn = feats(synthetic_outliers(synthetic, seed=0, kinds=mix))
        row = {}
        for c in cs:
            row[str(c)] = held_out_rejections(inl, hel, syn, mesh, c=c, folds=folds)[0]
        out["mixes"]["+".join(mix)] = row
    best = max(((m, c, n) for m, r in out["mixes"].items() for c, n in r.items()),
               key=lambda t: t[2])  # fmt: skip
    out["best"] = {"mix": best[0], "c": float(best[1]), "rejected": best[2]}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data/modelnet10_vox30_train.npz")
    p.add_argument("--model", default="classifier-voxel")
    p.add_argument("--meshes", default="../shared/data/meshes/robustness")
    p.add_argument("--synthetic", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--remeshed", type=int, default=0, help="Never-seen shapes as meshes, N each.")
    p.add_argument("--scanned", type=int, default=0, help="Never-seen shapes as scans, N each.")
    p.add_argument("--descriptors", action="store_true", help="Heads also read shape descriptors.")
    p.add_argument("--mixes", default=None, help="Only these mixes, e.g. blobs or blobs+animals.")
    p.add_argument("--out", default=None, help="Write the results JSON here too.")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    mixes = MIXES if a.mixes is None else tuple(tuple(m.split("+")) for m in a.mixes.split(","))
    res = run_study(a.data, a.model, a.meshes, synthetic=a.synthetic, mixes=mixes,
                    remeshed=a.remeshed, scanned=a.scanned,
                    descriptors=a.descriptors)  # fmt: skip
    from voxforge.nn.classify.multiview_study import print_report

    print_report(res, a.out)


if __name__ == "__main__":
    main()
