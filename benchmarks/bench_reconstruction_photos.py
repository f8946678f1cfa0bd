"""Photo-like pictures of chairs and tables -> 3D -> the shipped classifier; and made-up shapes.

Photo check: validation chairs and tables (the classifier's stratified split of the shared
ModelNet10 training file, 15 %, seed 0: objects neither the reconstruction model nor the
classifier trained on) are rendered with textures (wood grain, painted or fabric-like colours
varying over the surface) from random views, put into a synthetic room (a wall lit from one
side, a wood-grain floor, clutter, sensor noise: :func:`voxforge.nn.reconstruct.photo.
synthetic_photo`) and saved as JPEG. Each photo goes through the reconstruct job as a user's
would (``prepare_image`` cuts it out, the shipped image model reconstructs it), and the
reconstructed ``voxels.npz`` through the classify job (the shipped classifier, as
``voxforge classify`` runs it). Reported: the share the classifier names correctly (agreement),
the same classifier on the true voxels of those objects (its ceiling here), the reconstruction
IoU against the true object in the first view's frame, the cut-out method and the confusions.

Familiarity check: made-up shapes outside the ten classes (sphere, torus, cone, ring, toy car,
star, spring, random blobs), 3 views each on plain backgrounds, and as many validation views:
the share the model calls unfamiliar ("does not look like any of the shapes the model knows").

Run: ``.venv/bin/python benchmarks/bench_reconstruction_photos.py [--per-class 12]
[--weights STEM]`` (prints JSON). Seeded; 1 torch thread.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from voxforge.nn.datasets import stratified_split
from voxforge.nn.reconstruct.photo import synthetic_photo
from voxforge.nn.reconstruct.renderset import (
    EVAL_CONFIG,
    render_views,
    smooth_mesh,
    view_target,
)
from voxforge.render.camera import framing_camera
from voxforge.render.raster import RenderOptions, render_mesh

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "modelnet10_vox30_train.npz"


def validation_objects() -> tuple[np.ndarray, np.ndarray, list[str]]:
    with np.load(DATA) as z:
        vox, labels, classes = z["voxels"], z["labels"].astype(np.int64), [str(c) for c in z["classes"]]
    _, val = stratified_split(labels, 0.15, 0)
    val = np.sort(val)
    return vox[val], labels[val], classes


def textured_colours(verts: np.ndarray, faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(F, 3) sRGB face colours: wood grain, painted or fabric-like, varying over the surface."""
    c = verts[faces].mean(axis=1)
    kind = rng.integers(3)
    noise = rng.normal(0.0, 0.03, (len(faces), 1))
    if kind == 0:  # wood: warm brown with rings along a random axis
        base = np.array([0.55, 0.36, 0.2]) * rng.uniform(0.7, 1.2)
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        rings = 0.5 + 0.5 * np.sin(c @ axis * rng.uniform(40, 90) + 3 * np.sin(c[:, 2] * 11))
        rgb = base * (0.75 + 0.3 * rings[:, None]) + noise
    elif kind == 1:  # painted: one saturated hue, slight wear
        base = rng.uniform(0.1, 0.9, 3)
        rgb = base + noise + 0.05 * np.sin(c[:, :1] * 60)
    else:  # fabric seat on a dark frame: colour by height band
        seat, frame = rng.uniform(0.2, 0.9, 3), rng.uniform(0.05, 0.3, 3)
        band = (c[:, 2] > np.quantile(c[:, 2], 0.35)) & (c[:, 2] < np.quantile(c[:, 2], 0.7))
        rgb = np.where(band[:, None], seat, frame) + noise
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def photo_of(vox: np.ndarray, rng: np.random.Generator, size: int = 320) -> tuple[bytes, float]:
    """A JPEG photo-like picture of the object, and the camera azimuth (degrees)."""
    verts, faces = smooth_mesh(vox)
    az, el = float(rng.uniform(0, 360)), float(rng.uniform(8, 35))
    cam = framing_camera(verts, size, az, el, 0.02, perspective=True, fov_deg=float(rng.uniform(25, 45)))
    rgba = render_mesh(verts, faces, textured_colours(verts, faces, rng), cam,
                       options=RenderOptions(background=None, edges=False))  # fmt: skip
    img, _ = synthetic_photo(rgba, rng, (640, 480), object_share=(0.45, 0.75))
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=85)
    return buf.getvalue(), az


def photo_check(per_class: int, weights: Path | None, out: Path | None = None) -> dict:
    from voxforge.core.errors import VoxforgeError
    from voxforge.nn.classify.inference import load_classifier
    from voxforge.nn.metrics import iou
    from voxforge.nn.reconstruct.inference import load_reconstructor
    from voxforge.pipelines.classify import ClassifyConfig, run_classify
    from voxforge.pipelines.reconstruct import ReconstructConfig, run_reconstruct

    vox, labels, classes = validation_objects()
    rng = np.random.default_rng(0)
    rec = load_reconstructor("image", weights, "cpu")
    clf_name = load_classifier(ClassifyConfig().model).info.get("name", ClassifyConfig().model)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-photos-") as tmp:
        for name in ("chair", "table"):
            c = classes.index(name)
            pick = rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False)
            for n, i in enumerate(pick):
                jpeg, az = photo_of(vox[i], rng)
                if out is not None and n < 3:
                    (out / f"{name}_{n}.jpg").write_bytes(jpeg)
                row: dict = {"object": int(i), "truth": name}
                try:
                    r = run_reconstruct([jpeg], Path(tmp) / f"r{i}", ReconstructConfig(),
                                        reconstructor=rec)  # fmt: skip
                except VoxforgeError as err:
                    row.update(label="refused", error=str(err))
                    rows.append(row)
                    continue
                target = view_target(vox[i], az)
                row["iou"] = float(iou(r.reconstruction.occupancy[None], target[None], 0.4)[0])
                row["cut_out"] = r.summary["inputs"][0]["cut_out"]
                row["confidence"] = r.summary["confidence"]
                row["warning"] = r.summary.get("warning")
                run_classify(Path(tmp) / f"r{i}" / "voxels.npz", Path(tmp) / f"c{i}", ClassifyConfig())
                row["label"] = _label(Path(tmp) / f"c{i}")
                truth_npz = Path(tmp) / f"t{i}.npz"
                _save_truth(vox[i], truth_npz)
                run_classify(truth_npz, Path(tmp) / f"tc{i}", ClassifyConfig())
                row["label_true_voxels"] = _label(Path(tmp) / f"tc{i}")
                rows.append(row)
    ok = [r["label"] == r["truth"] for r in rows]
    ceiling = [r.get("label_true_voxels") == r["truth"] for r in rows]
    confusions: dict[str, int] = {}
    for r in rows:
        if r["label"] != r["truth"]:
            key = f"{r['truth']} as {r['label']}"
            confusions[key] = confusions.get(key, 0) + 1
    return {
        "photos": len(rows),
        "reconstruction_model": rec.info.get("name", "?"),
        "classifier": clf_name,
        "agreement": round(float(np.mean(ok)), 3),
        "agreement_per_class": {
            k: round(float(np.mean([o for o, r in zip(ok, rows, strict=True) if r["truth"] == k])), 3)
            for k in ("chair", "table")
        },
        "classifier_on_true_voxels": round(float(np.mean(ceiling)), 3),
        "reconstruction_iou_mean": round(float(np.mean([r.get("iou", 0.0) for r in rows])), 4),
        "cut_out_methods": sorted({r.get("cut_out", "refused") for r in rows}),
        "flagged_unfamiliar": int(sum(bool(r.get("warning")) for r in rows)),
        "confusions": confusions,
    }


def _save_truth(vox: np.ndarray, path: Path) -> None:
    from voxforge.core.voxelgrid import VoxelGrid
    from voxforge.io.voxels import encode_npz

    grid = VoxelGrid(occupancy=vox.astype(bool), pitch=np.full(3, 0.01), origin=np.zeros(3))
    path.write_bytes(encode_npz(grid))


def _label(folder: Path) -> str:
    return str(json.loads((folder / "classification.json").read_text())["label"])


# ------------------------------------------------------------------------------- made-up shapes


def made_up_shapes(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """30³ uint8 grids of shapes outside the ten furniture classes."""
    g = (np.mgrid[0:30, 0:30, 0:30].transpose(1, 2, 3, 0) + 0.5 - 15.0).astype(np.float32)
    x, y, z = g[..., 0], g[..., 1], g[..., 2]
    r_xy = np.hypot(x, y)
    shapes = {
        "sphere": x**2 + y**2 + z**2 <= 12**2,
        "torus": (r_xy - 9) ** 2 + z**2 <= 4**2,
        "cone": (r_xy <= (13 - z) * 0.5) & (z >= -13) & (z <= 13),
        "ring": (r_xy <= 13) & (r_xy >= 10) & (np.abs(z) <= 2),
    }
    car = (np.abs(x) <= 13) & (np.abs(y) <= 6) & (z >= -9) & (z <= -2)
    car |= (np.abs(x + 1) <= 6) & (np.abs(y) <= 5) & (z > -2) & (z <= 3)
    for wx in (-8, 8):
        for wy in (-6, 6):
            car |= ((x - wx) ** 2 + (z + 10) ** 2 <= 3.5**2) & (np.abs(y - wy) <= 1.5)
    shapes["toy_car"] = car
    ang = np.arctan2(y, x)
    star_r = 7 + 6 * (0.5 + 0.5 * np.cos(5 * ang))
    shapes["star"] = (r_xy <= star_r) & (np.abs(z) <= 2.5)
    t = np.linspace(0, 8 * np.pi, 800)
    spring = np.zeros((30, 30, 30), bool)
    for cx, cy, cz in zip(15 + 8 * np.cos(t), 15 + 8 * np.sin(t), 2 + t / (8 * np.pi) * 26, strict=True):
        spring |= (g[..., 0] + 15 - cx) ** 2 + (g[..., 1] + 15 - cy) ** 2 + (
            g[..., 2] + 15 - cz
        ) ** 2 <= 2.2**2
    shapes["spring"] = spring
    from scipy import ndimage

    for k in range(5):
        field = ndimage.gaussian_filter(rng.normal(size=(30, 30, 30)), 3.0)
        field -= ((x**2 + y**2 + z**2) / 14.0**2) * field.std() * 2
        blob = field > np.quantile(field, 0.85)
        lab, n = ndimage.label(blob)
        if n:
            blob = lab == (1 + int(np.argmax(ndimage.sum(blob, lab, range(1, n + 1)))))
        shapes[f"blob_{k}"] = blob
    return {k: v.astype(np.uint8) for k, v in shapes.items()}


def familiarity_check(weights: Path | None, views: int = 3, known: int = 50) -> dict:
    from voxforge.nn.reconstruct.eval import eval_rng
    from voxforge.nn.reconstruct.inference import load_reconstructor

    rec = load_reconstructor("image", weights, "cpu")
    rng = np.random.default_rng(1)
    made = made_up_shapes(rng)
    flagged: dict[str, int] = {}
    sims = []
    for n, (name, vox) in enumerate(made.items()):
        r = render_views(vox, eval_rng(5, n), views, EVAL_CONFIG.size, EVAL_CONFIG)
        hits = 0
        for img in r.images:
            fam = rec.predict([img]).familiarity
            if fam is None:
                return {"note": "the model has no familiarity check"}
            hits += int(not fam["familiar"])
            sims.append(fam["similarity"])
        flagged[name] = hits
    vox, _, _ = validation_objects()
    pick = np.random.default_rng(2).choice(len(vox), size=known, replace=False)
    accepted = 0
    for i in pick:
        r = render_views(vox[i], eval_rng(5, 1000 + int(i)), 1, EVAL_CONFIG.size, EVAL_CONFIG)
        accepted += int(rec.predict([r.images[0]]).familiarity["familiar"])
    total = views * len(made)
    return {
        "made_up_views": total,
        "made_up_flagged": int(sum(flagged.values())),
        "made_up_flagged_share": round(sum(flagged.values()) / total, 3),
        "per_shape_flagged": flagged,
        "validation_views": known,
        "validation_accepted_share": round(accepted / known, 3),
    }


def figures(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=12)
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--save-photos", type=Path, help="Keep the first photos here.")
    a = ap.parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    if a.save_photos:
        a.save_photos.mkdir(parents=True, exist_ok=True)
    result = {
        "photo_check": photo_check(a.per_class, a.weights, a.save_photos),
        "familiarity": familiarity_check(a.weights),
    }
    print(json.dumps(result, indent=2))
    return result


QUICK = {"reconstruction_photos": ["--per-class", "3"]}

if __name__ == "__main__":
    figures()
