"""Accuracy and speed of the shipped shape classifiers on the validation split.

The validation split is the one each model was selected on: stratified 15 % of the shared
ModelNet10 training npz, seed 0 (``configs/classifier/*.yaml``); the official test split is not
used. Reported per shipped model: accuracy and macro F1 with 1, 4 and 12 rotation-voting views,
and milliseconds per shape on ``--threads`` CPU threads, one shape per call (1, 4 and 12 views) and
in batches of 32 (12 views); best of 3 runs.
Targets (voxel model): >= 93 % validation accuracy with voting, < 10 ms per shape with voting
on 2 cores.

For the shipped voxel model also (``never_seen``): the grouped protocol's estimate on the
validation shapes it never saw a near-duplicate of, as binvox grids, as meshes arrive (each
voxelized from its smooth surface at 6 random yaws) and as one-sided phone scans (6 simulated
scans each; ``evaluate classifier --grouped --remeshed 6 --scanned 6``), with how many of them
each form calls unknown, and which of the five shared non-furniture
meshes (``shared/data/meshes``) it calls unknown. ``captures`` goes one step closer to a user:
60 of those shapes, each standing on a floor and scanned from one side by the phone LiDAR
simulator (:func:`voxforge.scan.sim_scenes.furniture_scene`), fused, cleaned and picked by
``clean_scan``, then classified as ``voxforge classify`` does. Issue 26 asks for 93 % on unseen
objects and 4 of the 5 meshes unknown with at most 2 % of validation shapes unknown.

Usage: ``.venv/bin/python benchmarks/bench_classifier.py [--threads 2] [--latency-shapes 64]``
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch

from voxforge.nn.classify.evaluate import measure_latency, validation_report
from voxforge.nn.classify.inference import load_classifier
from voxforge.nn.classify.train import load_train_config, prepare_data
from voxforge.nn.weights import models_dir

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"classifier-voxel": "voxel.yaml", "classifier-pointnet": "pointnet.yaml"}


def bench(name: str, threads: int, latency_shapes: int) -> dict:
    clf = load_classifier(name)
    cfg = load_train_config(REPO / "configs" / "classifier" / CONFIGS[name])
    val = prepare_data(cfg).val
    out = {"model": name, "params": clf.info.get("params"), **validation_report(clf, val)}
    out.pop("per_class")
    out.pop("confusion_matrix")
    x = val.voxels if clf.input_kind == "voxels" else val.points
    rng = np.random.default_rng(0)
    sample = x[rng.permutation(len(x))[:latency_shapes]]
    for v in (1, 4, 12):
        out[f"ms_per_shape_views_{v}"] = round(measure_latency(clf, sample, views=v, repeats=3), 2)
    out["ms_per_shape_views_12_batch32"] = round(
        measure_latency(clf, sample, views=12, batch_size=32, repeats=2), 2
    )
    return out


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MESHES = ("teapot.obj", "spot.obj", "Duck.glb", "fuze.obj", "featuretype.STL")


def captures(name: str = "classifier-voxel", n: int = 60, seed: int = 0) -> dict:
    """Whole simulated phone captures of ``n`` never-seen shapes: named right, called unknown."""
    from voxforge.nn.classify.evaluate import heldout_unseen
    from voxforge.nn.classify.grouping import group_shapes
    from voxforge.nn.classify.inference import classify_object
    from voxforge.nn.datasets import load_voxel_set
    from voxforge.scan import clean_scan
    from voxforge.scan.sim_scenes import furniture_scene

    clf = load_classifier(name)
    data = load_voxel_set(SHARED / "modelnet10_vox30_train.npz")
    unseen = heldout_unseen(clf.info, data.labels, group_shapes(data.voxels, data.labels))
    assert unseen is not None
    pick = np.sort(np.random.default_rng(seed).choice(unseen, min(n, len(unseen)), replace=False))
    top, known = [], []
    for i in pick:
        cleaned, _ = clean_scan(furniture_scene(data.voxels[i], seed + int(i)).cloud)
        res = classify_object(cleaned, clf)
        truth = clf.classes[int(data.labels[i])]
        top.append(res.top[0][0] == truth)
        known.append(res.label == truth)
    unknown = float(np.mean([t and not k for t, k in zip(top, known, strict=True)]))
    return {"captures": len(pick), "top_class_right": round(float(np.mean(top)), 4),
            "named_right": round(float(np.mean(known)), 4),
            "right_but_unknown": round(unknown, 4)}  # fmt: skip


def never_seen(name: str = "classifier-voxel", copies: int = 6) -> dict:
    """The grouped-protocol estimate as grids, meshes and scans, and the shared meshes' answers."""
    from voxforge.nn.classify.evaluate import evaluate_grouped
    from voxforge.nn.classify.inference import classify_file

    g = evaluate_grouped(SHARED / "modelnet10_vox30_train.npz", name, remeshed=copies, scanned=copies)
    u = g["unseen"]
    answers = {m: classify_file(SHARED / "meshes" / m, name).label for m in MESHES}
    return {
        "shapes": u["samples"],
        "grids": {"accuracy": u["accuracy"], "ci95": u["ci95"], "unknown_rate": u.get("unknown_rate")},
        "meshes": {"accuracy": u["remeshed"]["accuracy"], "ci95": u["remeshed"]["ci95"],
                   "unknown_rate": u["remeshed"].get("unknown_rate"), "yaws": copies},
        "scans": {"accuracy": u["scanned"]["accuracy"], "ci95": u["scanned"]["ci95"],
                  "unknown_rate": u["scanned"].get("unknown_rate"), "scans": copies},
        "captures": captures(name),
        "shared_meshes_unknown": sum(a == "unknown" for a in answers.values()),
        "shared_mesh_answers": answers,
    }  # fmt: skip


QUICK = {"classifier": ["--latency-shapes", "16"]}
TARGETS = {
    "classifier": {
        "results.views_12.accuracy": ">= 0.93 for the voxel model (#26)",
        "results.ms_per_shape_views_12": "< 10 ms for the voxel model",
        "never_seen.grids.accuracy": ">= 0.93 (#26)",
        "never_seen.shared_meshes_unknown": ">= 4 of 5 (#26)",
    }
}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--latency-shapes", type=int, default=64)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = [
        bench(n, args.threads, args.latency_shapes)
        for n in CONFIGS
        if (models_dir() / f"{n}.safetensors").is_file()
    ]
    out = {"threads": args.threads, "cpu": platform.machine(), "results": results}
    if (models_dir() / "classifier-voxel.safetensors").is_file() and SHARED.is_dir():
        out["never_seen"] = never_seen()
    print(json.dumps(out, indent=2))
    return out


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
