"""Benchmark: the photo cut-out and framing in front of the reconstruction networks.

Stand-in photos (no photos ship): ModelNet10 objects (or a generated chair when the shared data
is absent) rendered with the project's renderer, placed off-centre in a synthetic room with
clutter and sensor noise (:func:`voxforge.nn.reconstruct.photo.synthetic_photo`), saved as JPEG
at quality 80.
Reported: the cut-out mask IoU against the true mask (mean, median, share >= 0.8), the share
refused as "no object", and the time of ``prepare_image`` per photo (GrabCut path) and per
render on a plain background (threshold path). Seeded.

Run: ``.venv/bin/python benchmarks/bench_photo.py [N]`` (prints JSON).
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from voxforge.core.errors import GeometryError
from voxforge.nn.reconstruct import photo
from voxforge.nn.reconstruct.renderset import smooth_mesh
from voxforge.render.camera import framing_camera
from voxforge.render.raster import RenderOptions, render_mesh

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "modelnet10_vox30_train.npz"


def shapes(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    if DATA.is_file():
        with np.load(DATA) as z:
            vox = z["voxels"]
            return [vox[i] for i in rng.choice(len(vox), n, replace=False)]
    v = np.zeros((30, 30, 30), np.uint8)
    v[7:23, 7:23, 12:15] = 1
    v[7:10, 7:23, 15:27] = 1
    for x, y in ((7, 7), (7, 20), (20, 7), (20, 20)):
        v[x : x + 3, y : y + 3, 3:12] = 1
    return [v] * n


def rgba_view(vox: np.ndarray, rng: np.random.Generator, size: int = 320) -> np.ndarray:
    verts, faces = smooth_mesh(vox)
    cam = framing_camera(verts, size, rng.uniform(0, 360), rng.uniform(5, 35), 0.02, perspective=True)
    colour = np.asarray(rng.uniform(0.15, 0.9, 3), np.float32)
    opt = RenderOptions(background=None, edges=False)
    return render_mesh(verts, faces, np.broadcast_to(colour, (len(faces), 3)), cam, options=opt)


def main(n: int = 30) -> dict:
    rng = np.random.default_rng(0)
    ious, refused, t_photo, t_plain = [], 0, [], []
    for vox in shapes(n, rng):
        rgba = rgba_view(vox, rng)
        img, truth = photo.synthetic_photo(rgba, rng)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=80)
        t0 = time.perf_counter()
        try:
            prepared = photo.prepare_image(buf.getvalue())
        except GeometryError:
            refused += 1
            ious.append(0.0)
            continue
        t_photo.append(time.perf_counter() - t0)
        rgb, _, _ = photo.read_image(buf.getvalue())
        mask, _ = photo.cut_out(rgb)  # the same cut prepare_image made, at source resolution
        ious.append(float((mask & truth).sum() / (mask | truth).sum()))
        assert prepared.method == "grabcut"
        a = rgba[..., 3:].astype(np.float32) / 255.0
        plain = np.rint(rgba[..., :3] * a + 255.0 * (1.0 - a)).astype(np.uint8)
        t2 = time.perf_counter()
        photo.prepare_image(plain)
        t_plain.append(time.perf_counter() - t2)
    iou = np.asarray(ious)
    return {
        "photos": n,
        "source": "modelnet10 train" if DATA.is_file() else "generated chair",
        "cutout_iou_mean": round(float(iou.mean()), 3),
        "cutout_iou_median": round(float(np.median(iou)), 3),
        "share_iou_ge_0.8": round(float((iou >= 0.8).mean()), 3),
        "refused_no_object": refused,
        "prepare_photo_ms_median": round(1000 * float(np.median(t_photo)), 1),
        "prepare_render_ms_median": round(1000 * float(np.median(t_plain)), 1),
    }


QUICK = {"photo": ["10"]}


def figures(argv: list[str] | None = None) -> dict:
    """Run on ``argv[0]`` photos (30 by default); print the figures and return them."""
    argv = sys.argv[1:] if argv is None else argv
    result = main(int(argv[0]) if argv else 30)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    figures()
