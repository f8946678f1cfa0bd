"""Measure ``voxforge generate PROMPT --image PHOTO`` (text + picture) against text alone.

Held-back ModelNet10 shapes (the classifier's validation split) are rendered to one photo each with
the reconstruction renderer (seeded); each photo is reconstructed with the shipped image network,
then for "a tall X" and "a low X" the generator makes 4 variations from the picture and 4 from the
text alone. Reported: mean IoU (best of the 8 z-quarter-turn / mirror alignments) of the shapes to
the picture's reconstruction, with and without the picture; the share of pictures whose "tall"
shapes are taller (height over the longer side) than their "low" shapes; the voxel classifier's
agreement with the class of the picture's shapes. Photos the cut-out refuses are counted apart.
Prints one JSON object.

    PYTHONPATH=src python scripts/measure_generate_image.py \
        --data ../shared/data/modelnet10_vox30_train.npz
"""

from __future__ import annotations

import argparse
import io
import json

import numpy as np
import torch
from PIL import Image

from voxforge.core.errors import VoxforgeError
from voxforge.nn.classify.inference import load_classifier
from voxforge.nn.generate.captions import measure_shape
from voxforge.nn.generate.generator import load_generator
from voxforge.nn.generate.hybrid import DEFAULT_STRENGTH, generate_with_picture, picture_shape
from voxforge.nn.generate.train import GenerateTrainConfig, captioned_set, dihedral
from voxforge.nn.reconstruct.inference import load_reconstructor
from voxforge.nn.reconstruct.renderset import render_views

CLASSES = ("chair", "sofa", "table", "bed", "desk")


def best_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two bool grids over the 8 alignments of ``b``."""
    return max(float((a & dihedral(b, k)).sum() / max((a | dihedral(b, k)).sum(), 1)) for k in range(8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/modelnet10_vox30_train.npz")
    ap.add_argument("--weights", default="generator-text")
    ap.add_argument("--per-class", type=int, default=3)
    ap.add_argument("--strength", type=float, default=DEFAULT_STRENGTH)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = load_generator(args.weights)
    rec, clf = load_reconstructor("image"), load_classifier("classifier-voxel")
    data = captioned_set(GenerateTrainConfig(data=args.data))
    rng = np.random.default_rng(args.seed)
    rows, refused = [], []
    for cls in CLASSES:
        pool = [int(i) for i in data.val if data.classes[int(data.labels[i])] == cls]
        for i in rng.choice(pool, args.per_class, replace=False):
            views = render_views(data.voxels[i], np.random.default_rng(int(i)), 1, size=256)
            buf = io.BytesIO()
            Image.fromarray(views.images[0]).save(buf, format="PNG")
            try:
                pic = picture_shape(buf.getvalue(), rec)
            except VoxforgeError as err:  # the photo cut-out found no object: counted, skipped
                refused.append({"class": cls, "shape": int(i), "error": str(err)})
                continue
            word = cls.replace("_", " ")
            text = gen.generate(f"a tall {word}", 4, 7).occupancy
            hi = generate_with_picture(gen, f"a tall {word}", pic, 4, 7, strength=args.strength)
            lo = generate_with_picture(gen, f"a low {word}", pic, 4, 7, strength=args.strength)
            both = np.concatenate([hi.occupancy, lo.occupancy])
            pred = clf.predict_proba(both.astype(np.uint8), views=4).argmax(1)
            height = [np.mean([measure_shape(g).height_ratio for g in s.occupancy]) for s in (hi, lo)]
            rows.append(
                {
                    "class": cls,
                    "shape": int(i),
                    "iou_with_picture": float(
                        np.mean([best_iou(pic.occupancy, g) for g in hi.occupancy])
                    ),
                    "iou_text_only": float(np.mean([best_iou(pic.occupancy, g) for g in text])),
                    "tall_above_low": bool(height[0] > height[1]),
                    "class_agreement": float(np.mean([clf.classes[p] == cls for p in pred])),
                }
            )
    numbers = [k for k in rows[0] if k not in ("class", "shape")]
    mean = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in numbers}
    closer = float(np.mean([r["iou_with_picture"] > r["iou_text_only"] for r in rows]))
    report = {
        "pictures": len(rows),
        "refused": refused,
        "strength": args.strength,
        "guidance": gen.resolve_guidance(None),
        "mean": mean,
        "share_closer_with_picture": round(closer, 4),
        "rows": rows,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
