"""Evaluate a classifier on a labelled voxel npz: metrics as JSON and an optional visual report.

The report folder holds ``metrics.json``, ``confusion.png`` (row-normalised confusion matrix),
``misclassified.png`` (three depth-shaded projections of each wrong shape) and ``saliency.html``
(interactive Plotly scatter of voxels coloured by Grad-CAM, plotly.js embedded so it opens
offline). It is written through :class:`voxforge.core.outputs.OutputDir`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from voxforge.core.errors import ConfigError, GeometryError, InputFormatError
from voxforge.core.progress import ProgressCallback, null_progress
from voxforge.nn.classify.data import input_forms, points_from_voxels
from voxforge.nn.classify.grouping import (
    GROUP_IOU,
    bootstrap_accuracy,
    group_shapes,
    grouped_split,
    unseen_subset,
)
from voxforge.nn.classify.inference import Classifier, load_classifier
from voxforge.nn.classify.outliers import DESCRIPTORS, OUTLIER_C, SYNTHETIC_KINDS, OutlierHead
from voxforge.nn.datasets import GRID, ClassifierData, load_voxel_set, stratified_split

log = logging.getLogger(__name__)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix (rows = truth).

    A class with no predictions has precision 0; one with no samples has recall 0 (and support 0).
    """
    c = len(classes)
    cm = np.zeros((c, c), np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    tp = np.diag(cm).astype(np.float64)
    pred_n, true_n = cm.sum(0), cm.sum(1)
    prec = np.divide(tp, pred_n, out=np.zeros(c), where=pred_n > 0)
    rec = np.divide(tp, true_n, out=np.zeros(c), where=true_n > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros(c), where=(prec + rec) > 0)
    per = {
        name: {"precision": round(float(prec[i]), 4), "recall": round(float(rec[i]), 4),
               "f1": round(float(f1[i]), 4), "support": int(true_n[i])}
        for i, name in enumerate(classes)
    }  # fmt: skip
    total = int(cm.sum())
    return {
        "accuracy": round(float(tp.sum() / total), 4) if total else 0.0,
        "samples": total,
        "macro_f1": round(float(f1[true_n > 0].mean()), 4) if (true_n > 0).any() else 0.0,
        "per_class": per,
        "classes": list(classes),
        "confusion_matrix": cm.tolist(),
    }


def check_eval_data(data: ClassifierData, classifier: Classifier, name: str) -> None:
    """Refuse a data set whose labels do not match the model's (one line naming the file)."""
    if len(data) == 0:
        raise GeometryError(f"{name}: the data set holds no samples")
    if list(data.classes) != list(classifier.classes):
        raise InputFormatError(
            f"{name}: classes {data.classes[:4]}... do not match the model's {classifier.classes[:4]}..."
        )


def evaluate_classifier(
    data_path: str | Path,
    model: str | Path = "classifier-voxel",
    *,
    views: int | None = None,
    report_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Metrics of ``model`` on the npz at ``data_path`` (keys voxels, labels, classes).

    Args:
        views: rotation-voting views (default: the model's, 12); 1 disables voting.
        report_dir: also write the visual report there.

    Returns:
        The metrics dict of :func:`classification_metrics` plus ``model``, ``data``, ``views``.
    """
    report = progress or null_progress
    data = load_voxel_set(data_path)
    clf = load_classifier(model)
    check_eval_data(data, clf, str(data_path))
    x = data.voxels if clf.input_kind == "voxels" else points_from_voxels(data.voxels, 1024)
    views = clf.views if views is None else views
    prob = []
    step = 64
    for s in range(0, len(x), step):
        prob.append(clf.predict_proba(x[s : s + step], views=views))
        report("predict", min(1.0, (s + step) / len(x)))
    p = np.concatenate(prob)
    pred = p.argmax(1)
    metrics = classification_metrics(data.labels, pred, clf.classes)
    metrics.update(model=str(clf.info.get("name", model)), data=_shown(data_path), views=int(views))
    if report_dir is not None:
        write_report(report_dir, clf, data, p, metrics, progress=report)
    return metrics


def model_train_indices(
    info: dict[str, Any], labels: np.ndarray, groups: np.ndarray
) -> np.ndarray | None:
    """Indices of the shapes a shipped model trained on, rebuilt from its JSON ``training.split``.

    A grouped split (``"grouped": true``) is rebuilt with :func:`grouped_split`, a random one with
    :func:`stratified_split`; None when the sidecar records no split or a different data size.
    """
    split = info.get("training", {}).get("split")
    if not split or int(split.get("train", 0)) + int(split.get("val", 0)) != len(labels):
        return None
    vf, seed = float(split["val_fraction"]), int(split["split_seed"])
    if split.get("grouped"):
        return grouped_split(labels, groups, vf, seed)[0]
    return stratified_split(labels, vf, seed)[0]


def heldout_unseen(info: dict[str, Any], labels: np.ndarray, groups: np.ndarray) -> np.ndarray | None:
    """The model's own validation shapes none of whose near-duplicates it trained on (or None)."""
    train = model_train_indices(info, labels, groups)
    if train is None:
        return None
    val = np.setdiff1d(np.arange(len(labels)), train)
    return unseen_subset(val, train, groups)


def evaluate_grouped(
    data_path: str | Path,
    model: str | Path = "classifier-voxel",
    *,
    views: int | None = None,
    group_iou: float = GROUP_IOU,
    val_fraction: float = 0.15,
    split_seed: int = 0,
    remeshed: int = 0,
    scanned: int = 0,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Metrics of ``model`` under the grouped protocol (:mod:`voxforge.nn.classify.grouping`).

    Returns the metrics on the grouped validation split plus ``protocol`` (grouping rule, group
    and split sizes, how many validation shapes the model's own training split held or held a
    near-duplicate of) and ``unseen``: accuracy with a group-bootstrap 95% interval, per-class
    recall and the unknown rate on the validation shapes the model never saw a near-duplicate
    of (the grouped validation for a model trained on the grouped split; otherwise the unseen
    part of the model's own validation split).

    With ``remeshed`` copies, ``unseen`` also holds ``remeshed``: the same shapes as whole meshes
    reach the classifier, each one's smooth surface voxelized at ``remeshed`` random yaws
    (:func:`voxforge.nn.classify.data.remeshed_grids`, seed 0), scored per shape as the share of
    its copies named right, with a group-bootstrap interval. With ``scanned`` copies, ``scanned``
    holds the same for simulated one-sided phone scans
    (:func:`voxforge.nn.classify.data.scanned_grids`, seed 0).
    """
    report = progress or null_progress
    data = load_voxel_set(data_path)
    clf = load_classifier(model)
    check_eval_data(data, clf, str(data_path))
    report("group", 0.0)
    groups = group_shapes(data.voxels, data.labels, group_iou)
    train, val = grouped_split(data.labels, groups, val_fraction, split_seed)
    if len(val) == 0:
        raise ConfigError(
            f"{data_path}: every near-duplicate group is larger than a {val_fraction:.0%} "
            "validation share; nothing to validate on"
        )
    model_train = model_train_indices(clf.info, data.labels, groups)
    unseen = heldout_unseen(clf.info, data.labels, groups)
    need = np.union1d(val, unseen if unseen is not None else np.zeros(0, np.int64))
    views = clf.views if views is None else views
    logits = np.zeros((len(data), len(clf.classes)), np.float32)
    x = data.voxels[need] if clf.input_kind == "voxels" else points_from_voxels(data.voxels[need], 1024)
    rule = clf.rule
    feats: np.ndarray | None = None
    step = 64
    for s in range(0, len(need), step):
        idx = need[s : s + step]
        if rule is not None and rule.needs_features:
            logits[idx], f = clf.predict_logits_features(x[s : s + step], views=views)
            if feats is None:
                feats = np.zeros((len(data), f.shape[1]), np.float32)
            feats[idx] = f
        else:
            logits[idx] = clf.predict_logits(x[s : s + step], views=views)
        report("predict", min(1.0, (s + step) / len(need)))
    pred = logits.argmax(1)
    m = classification_metrics(data.labels[val], pred[val], clf.classes)
    leaked = None
    if model_train is not None:
        leaked = int(np.isin(groups[val], groups[model_train]).sum())
    m["protocol"] = {
        "grouping": f"same-class voxel IoU >= {group_iou} over 8 z-quarter-turn/mirror alignments,"
        " connected components",
        "groups": int(groups.max() + 1),
        "val_fraction": val_fraction,
        "split_seed": split_seed,
        "train": len(train),
        "val": len(val),
        "val_seen_by_model": leaked,
    }
    if rule is not None:
        fv = None if feats is None else feats[val]
        m["unknown_rate"] = round(float(rule.is_unknown(logits[val], fv).mean()), 4)
    if unseen is not None and len(unseen):
        ok = pred[unseen] == data.labels[unseen]
        est = bootstrap_accuracy(ok, groups[unseen])
        um = classification_metrics(data.labels[unseen], pred[unseen], clf.classes)
        m["unseen"] = {
            **est.to_dict(),
            "macro_f1": um["macro_f1"],
            "recall": {k: v["recall"] for k, v in um["per_class"].items()},
            "support": {k: v["support"] for k, v in um["per_class"].items()},
        }
        if rule is not None:
            fu = None if feats is None else feats[unseen]
            m["unseen"]["unknown_rate"] = round(float(rule.is_unknown(logits[unseen], fu).mean()), 4)
        for name, make, n in input_forms(remeshed, scanned):
            m["unseen"][name] = _form_estimate(make, clf, data, unseen, groups, n, views, report)
    m.update(model=str(clf.info.get("name", model)), data=_shown(data_path), views=int(views))
    return m


def _form_estimate(
    make: Callable[..., np.ndarray],
    clf: Classifier,
    data: ClassifierData,
    shapes: np.ndarray,
    groups: np.ndarray,
    copies: int,
    views: int,
    report: ProgressCallback,
) -> dict[str, Any]:
    """Accuracy on ``shapes`` given as ``make`` (``remeshed_grids`` or ``scanned_grids``) gives
    them, ``copies`` each (see above)."""
    grids = make(data.voxels[shapes], copies, 0, lambda _s, f: report(make.__name__, f))
    flat = grids.reshape(-1, *grids.shape[2:])
    x = flat if clf.input_kind == "voxels" else points_from_voxels(flat, 1024)
    rule = clf.rule
    feats = None
    if rule is not None and rule.needs_features:
        logits, feats = clf.predict_logits_features(x, views=views)
    else:
        logits = clf.predict_logits(x, views=views)
    pred = logits.argmax(1).reshape(len(shapes), copies)
    truth = data.labels[shapes]
    share = (pred == truth[:, None]).mean(1)
    est = bootstrap_accuracy(share, groups[shapes])
    out: dict[str, Any] = {**est.to_dict(), "copies": copies}
    out["recall"] = {
        name: round(float(share[truth == c].mean()), 4)
        for c, name in enumerate(clf.classes)
        if (truth == c).any()
    }
    if rule is not None:
        out["unknown_rate"] = round(float(rule.is_unknown(logits, feats).mean()), 4)
    return out


def _shown(path: str | Path) -> str:
    """The data path as results record it: relative to the working directory, so that a report
    or a model file names no folder of one machine."""
    try:
        return os.path.relpath(Path(path).resolve())
    except ValueError:  # another drive (Windows)
        return Path(path).name


def calibrate_classifier(
    data_path: str | Path,
    model: str | Path = "classifier-voxel",
    *,
    score: str = "energy",
    max_unknown_rate: float = 0.02,
    views: int | None = None,
    group_iou: float = GROUP_IOU,
    outlier_meshes: str | Path | None = None,
    synthetic_outliers: int = 1000,
    outlier_c: float = OUTLIER_C,
    synthetic_kinds: tuple[str, ...] = SYNTHETIC_KINDS,
    remeshed: int = 0,
    scanned: int = 0,
    descriptors: bool = True,
    write: bool = True,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Fit the temperature and "unknown shape" threshold of ``model`` and store them in its JSON.

    The fitting shapes are the model's own validation shapes none of whose near-duplicates it
    trained on (:func:`heldout_unseen`), so the probabilities are calibrated for objects the model
    never saw. Returns the ``calibration`` block written under the sidecar's ``calibration`` key
    (temperature, score, threshold, fitting shapes, NLL before and after, unknown rate).

    The ``outlier`` score first fits an outlier head (:mod:`voxforge.nn.classify.outliers`) on the
    features of the model's training shapes against ``synthetic_outliers`` synthetic shapes of
    ``synthetic_kinds`` and
    the meshes under ``outlier_meshes`` (when given); the threshold then comes from the held-out
    shapes as for the other scores. With ``descriptors`` the head reads the inputs'
    :func:`~voxforge.nn.classify.outliers.shape_descriptors` beside the network's features.

    With ``remeshed`` copies the held-out shapes also come as meshes arrive (each voxelized from
    its surface at ``remeshed`` random yaws, :func:`voxforge.nn.classify.data.remeshed_grids`):
    the temperature is fitted on both, the threshold keeps each under ``max_unknown_rate``, and
    the outlier head's inliers gain one remeshed copy of every training shape, so that a mesh's
    voxelization (thicker than a binvox grid) is not itself what the head learns to reject.
    ``scanned`` does the same with simulated one-sided phone scans
    (:func:`voxforge.nn.classify.data.scanned_grids`).

    Raises:
        ConfigError: the sidecar records no training split that matches ``data_path``.
    """
    from voxforge.nn.classify.calibration import fit_open_set, nll

    report = progress or null_progress
    data = load_voxel_set(data_path)
    clf = load_classifier(model)
    check_eval_data(data, clf, str(data_path))
    report("group", 0.0)
    groups = group_shapes(data.voxels, data.labels, group_iou)
    fit = heldout_unseen(clf.info, data.labels, groups)
    if fit is None or len(fit) < 20:
        raise ConfigError(
            f"{model}: its JSON records no training split of {data_path} to hold shapes out from"
        )
    views = clf.views if views is None else views
    x = data.voxels[fit] if clf.input_kind == "voxels" else points_from_voxels(data.voxels[fit], 1024)
    desc = score == "outlier" and descriptors
    logits, feats = clf.predict_logits_features(x, views=views, batch_size=64, descriptors=desc)
    report("predict", 1.0)
    y = data.labels[fit]
    forms = input_forms(remeshed, scanned)
    if forms and clf.input_kind != "voxels":
        raise ConfigError("remeshed and scanned calibration are for voxel classifiers only")
    parts = np.zeros(len(fit), np.int64)
    base_y = y
    for part, (name, make, n) in enumerate(forms, start=1):
        grids = make(data.voxels[fit], n, 0, lambda _s, f, name=name: report(name, f))
        more = clf.predict_logits_features(grids.reshape(-1, *grids.shape[2:]), views=views,
                                           batch_size=64, descriptors=desc)  # fmt: skip
        logits, feats = np.concatenate([logits, more[0]]), np.concatenate([feats, more[1]])
        parts = np.concatenate([parts, np.full(len(fit) * n, part)])
        y = np.concatenate([y, np.repeat(base_y, n)])  # copies follow their shape
    head, extra = None, {}
    if score == "outlier":
        train = model_train_indices(clf.info, data.labels, groups)
        assert train is not None  # heldout_unseen found the split
        inliers = data.voxels[train]
        inliers = np.concatenate([inliers, *(make(inliers, 1, 0)[:, 0] for _, make, _ in forms)])
        head, extra = _outlier_head(clf, inliers, views, outlier_meshes,
                                    synthetic_outliers, outlier_c, synthetic_kinds, desc)  # fmt: skip
        if forms:
            copies = " and ".join(f"a {name} copy" for name, _, _ in forms)
            fitted = extra["outlier_head_fitted_on"]
            fitted["inliers"] = f"{len(train)} training shapes of the model and {copies} of each"
    rule = fit_open_set(logits, y, score=score, max_unknown_rate=max_unknown_rate, head=head,
                        features=feats, parts=parts)  # fmt: skip
    unknown = rule.is_unknown(logits, feats)
    block = {
        **rule.to_dict(),
        "views": int(views),
        "fitted_on": f"{len(fit)} validation shapes with no near-duplicate (voxel IoU >= "
        f"{group_iou}) in the model's training split"
        + (f", and the same as meshes at {remeshed} yaws each" if remeshed else "")
        + (f", and as {scanned} simulated one-sided scans each" if scanned else ""),
        "max_unknown_rate": max_unknown_rate,
        "nll_before": round(nll(logits, y, 1.0), 4),
        "nll_after": round(nll(logits, y, rule.temperature), 4),
        "unknown_rate": round(float(unknown[parts == 0].mean()), 4),
        **extra,
    }
    for part, (name, _, n) in enumerate(forms, start=1):
        block[name] = n
        block[f"unknown_rate_{name}"] = round(float(unknown[parts == part].mean()), 4)
    if write:
        js = _sidecar(model)
        info = json.loads(js.read_text(encoding="utf-8"))
        info["calibration"] = block
        tmp = js.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        tmp.replace(js)
    return block


def _outlier_head(
    clf: Classifier,
    inliers: np.ndarray,
    views: int,
    meshes: str | Path | None,
    synthetic: int,
    c: float,
    kinds: tuple[str, ...] = SYNTHETIC_KINDS,
    descriptors: bool = False,
) -> tuple[OutlierHead, dict[str, Any]]:
    """The outlier head of ``clf`` (inliers: its training grids) and what it was fitted on."""
    from voxforge.nn.classify.outliers import fit_outlier_head, mesh_folder_grids, synthetic_outliers

    if clf.input_kind != "voxels":
        raise ConfigError("the 'outlier' score is implemented for voxel classifiers only")
    sets = [synthetic_outliers(synthetic, seed=0, kinds=kinds)] if synthetic > 0 else []
    if meshes is not None:
        sets.append(mesh_folder_grids(meshes))
    if not sets:
        raise ConfigError("the 'outlier' score needs synthetic outliers or an outlier mesh folder")

    def feat(g: np.ndarray) -> np.ndarray:
        return clf.predict_logits_features(g, views=views, batch_size=64, descriptors=descriptors)[1]

    head = fit_outlier_head(feat(inliers), [feat(g) for g in sets], c=c, descriptors=descriptors)
    fitted = {"inliers": f"{len(inliers)} training shapes of the model", "synthetic_blobs": synthetic,
              **({"synthetic_kinds": list(kinds)} if tuple(kinds) != ("blobs",) else {}),
              "meshes": None if meshes is None else {"folder": Path(meshes).name,
                                                     "count": len(sets[-1])},
              "c": c, **({"descriptors": DESCRIPTORS} if descriptors else {})}  # fmt: skip
    return head, {"outlier_head_fitted_on": fitted}


def _sidecar(model: str | Path) -> Path:
    """The JSON sidecar path of a model name or path (as :func:`load_classifier` resolves it)."""
    from voxforge.nn.weights import models_dir

    p = Path(model)
    if p.suffix in (".json", ".safetensors"):
        return p.with_suffix(".json")
    if p.parent != Path("."):
        return p.with_suffix(".json")
    return models_dir() / f"{model}.json"


# --------------------------------------------------------------------------- report


def write_report(
    out: str | Path,
    clf: Classifier,
    data: ClassifierData,
    prob: np.ndarray,
    metrics: dict[str, Any],
    *,
    max_shapes: int = 24,
    saliency_shapes: int = 6,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write metrics.json, confusion.png, misclassified.png and saliency.html into ``out``."""
    from voxforge.core.outputs import OutputDir

    report = progress or null_progress
    pred = prob.argmax(1)
    wrong = np.flatnonzero(pred != data.labels)
    with OutputDir(out) as od:
        od.path("metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        od.add("metrics.json")
        report("report", 0.2)
        _confusion_png(od.path("confusion.png"), np.asarray(metrics["confusion_matrix"]), clf.classes)
        od.add("confusion.png")
        report("report", 0.4)
        _misclassified_png(od.path("misclassified.png"), data, pred, prob, wrong[:max_shapes])
        od.add("misclassified.png")
        report("report", 0.6)
        if clf.input_kind == "voxels":
            # the wrong ones first (the ones worth looking at), then correct ones for contrast
            right = np.flatnonzero(pred == data.labels)
            picks = np.concatenate([wrong[: saliency_shapes // 2], right])[:saliency_shapes]
            _saliency_html(od.path("saliency.html"), clf, data, picks, pred)
            od.add("saliency.html")
        report("report", 1.0)
    return Path(out)


def _confusion_png(path: Path, cm: np.ndarray, classes: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i, j in np.ndindex(cm.shape):
        if cm[i, j]:
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")  # fmt: skip
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title("confusion matrix (row-normalised colour, counts)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def depth_views(grid: np.ndarray) -> np.ndarray:
    """(s, s, s) occupancy -> (s, 3 s) float image in [0, 1]: front, side, top depth projections.

    Nearer filled cells are brighter; empty columns are 0. z is drawn upwards.
    """
    occ = np.asarray(grid) > 0
    s = occ.shape[0]
    imgs = []
    for axis in (1, 0, 2):  # look along +y (front), +x (side), -z (top)
        o = occ if axis != 2 else occ[:, :, ::-1]
        hit = o.any(axis=axis)
        first = np.argmax(o, axis=axis)
        depth = np.where(hit, 1.0 - 0.7 * first / s, 0.0)
        imgs.append(depth.T[::-1])
    return np.concatenate(imgs, axis=1)


def _misclassified_png(
    path: Path, data: ClassifierData, pred: np.ndarray, prob: np.ndarray, idx: np.ndarray
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(idx), 1)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 1.9 * rows), dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    if len(idx) == 0:
        axes[0, 0].text(0.5, 0.5, "no misclassified shapes", ha="center", va="center")
    for ax, i in zip(axes.ravel(), idx, strict=False):
        ax.imshow(depth_views(data.voxels[i]), cmap="gray", vmin=0, vmax=1)
        t, p = data.classes[data.labels[i]], data.classes[pred[i]]
        ax.set_title(f"#{i}: {t} → {p} ({prob[i, pred[i]]:.2f})", fontsize=8)
    fig.suptitle("misclassified (front | side | top)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def cam_layer(model: nn.Module) -> nn.Module:
    """The layer whose activations Grad-CAM weighs: the last convolutional stage (an ensemble's:
    its first member's, weighed by the ensemble's output)."""
    if hasattr(model, "members"):
        return cam_layer(model.members[0])  # type: ignore[index]
    if hasattr(model, "body"):
        return model.body  # VoxResNet
    if hasattr(model, "features"):
        return model.features[3]  # VoxNet: second conv
    raise ConfigError(f"no Grad-CAM layer known for {type(model).__name__}")


def grad_cam(model: nn.Module, grid: np.ndarray, target: int | None = None) -> np.ndarray:
    """Grad-CAM saliency (Selvaraju et al. 2017) of one (32, 32, 32) grid, upsampled to the grid.

    Returns (32, 32, 32) float32 in [0, 1] for class ``target`` (default: the predicted class).
    """
    layer = cam_layer(model)
    acts: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _m, _i, o: acts.append(o))
    try:
        model.eval()
        x = torch.from_numpy((np.asarray(grid) > 0).astype(np.float32))[None, None]
        logits = model(x)
        a = acts[0]
        cls = int(logits.argmax(1)) if target is None else int(target)
        (g,) = torch.autograd.grad(logits[0, cls], a)
    finally:
        hook.remove()
    w = g.mean(dim=(2, 3, 4), keepdim=True)
    cam = torch.relu((w * a).sum(1, keepdim=True))
    cam = nn.functional.interpolate(cam, size=(GRID,) * 3, mode="trilinear", align_corners=False)
    cam = cam[0, 0].detach().numpy()
    top = float(cam.max())
    return (cam / top if top > 0 else cam).astype(np.float32)


def _saliency_html(
    path: Path, clf: Classifier, data: ClassifierData, idx: np.ndarray, pred: np.ndarray
) -> None:
    import plotly.graph_objects as go

    parts = []
    for k, i in enumerate(idx):
        cam = grad_cam(clf.model, data.voxels[i])
        xyz = np.argwhere(data.voxels[i] > 0)
        fig = go.Figure(
            go.Scatter3d(
                x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], mode="markers",
                marker={"size": 3, "symbol": "square", "color": cam[tuple(xyz.T)],
                        "colorscale": "Inferno", "cmin": 0, "cmax": 1,
                        "colorbar": {"title": "Grad-CAM"}},
            )
        )  # fmt: skip
        t, p = data.classes[data.labels[i]], data.classes[pred[i]]
        fig.update_layout(
            title=f"#{i}: true {t}, predicted {p}",
            scene={"aspectmode": "cube", "xaxis": {"range": [0, GRID]},
                   "yaxis": {"range": [0, GRID]}, "zaxis": {"range": [0, GRID]}},
            height=520, margin={"l": 0, "r": 0, "t": 40, "b": 0},
        )  # fmt: skip
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(k == 0)))
    body = "\n".join(parts) or "<p>no shapes</p>"
    html = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>voxforge saliency</title></head>"
        f"<body><h1>Voxels coloured by Grad-CAM saliency</h1>{body}</body></html>"
    )
    path.write_text(html, encoding="utf-8")


def measure_latency(
    clf: Classifier, x: np.ndarray, *, views: int, batch_size: int = 1, repeats: int = 1
) -> float:
    """Milliseconds per shape to classify ``x`` with ``views`` voting views, ``batch_size`` shapes
    per call (1 = one shape at a time, as the CLI does); the best of ``repeats`` runs. A model
    whose unknown-shape rule reads features is timed with the features and the rule included."""
    import time

    rule = clf.rule

    def answer(chunk: np.ndarray) -> None:
        if rule is not None and rule.needs_features:
            rule.is_unknown(*clf.predict_logits_features(chunk, views=views, batch_size=batch_size))
        else:
            clf.predict_proba(chunk, views=views, batch_size=batch_size)

    answer(x[:batch_size])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        answer(x)
        best = min(best, (time.perf_counter() - t0) * 1000 / len(x))
    return best


def validation_report(
    clf: Classifier, val: ClassifierData, *, views: tuple[int, ...] = (1, 4, 12)
) -> dict[str, Any]:
    """Accuracy and macro F1 on a validation set for each number of voting views."""
    x = val.voxels if clf.input_kind == "voxels" else val.points
    if x is None:
        raise ConfigError("point model needs points in the validation data")
    out: dict[str, Any] = {"samples": len(val)}
    for v in views:
        m = classification_metrics(val.labels, clf.predict_proba(x, views=v).argmax(1), clf.classes)
        out[f"views_{v}"] = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
        if v == max(views):
            out["per_class"] = m["per_class"]
            out["confusion_matrix"] = m["confusion_matrix"]
    return out
