"""An "unknown shape" detector trained by outlier exposure on the classifier's features.

A classifier trained on ten furniture classes maps every input to furniture-like features, so its
own confidence (max probability, energy) and distances in its feature space (Mahalanobis, nearest
neighbour) barely separate a teapot from an unusual dresser. Outlier exposure (Hendrycks et al.
2019) shows the detector examples of what is *not* a class: here a logistic regression on the
pooled penultimate features of the frozen network, with the training shapes as inliers and as
outliers

* synthetic blobs: unions of 1-4 randomly posed rounded superquadrics (organic, curved shapes
  without the flat panels and thin legs of furniture), made deterministically from a seed;
* optionally real non-furniture meshes (a folder of mesh files) voxelized like any input.

Inliers and outliers weigh the same in the loss, and the two outlier sources weigh the same
within the outliers. The fitted head is a few hundred numbers (feature mean and scale, weights,
bias) stored in the model's JSON next to the threshold (:mod:`voxforge.nn.classify.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxforge.core.errors import ConfigError, VoxforgeError

OUTLIER_C = 0.1
"""Inverse L2 strength of the logistic regression (sklearn's ``C`` convention)."""


SYNTHETIC_KINDS = ("blobs",)
"""Default kinds of synthetic outliers (see :func:`synthetic_outliers`)."""
ALL_KINDS = ("blobs", "animals", "handles", "tall", "machined")


def synthetic_outliers(
    n: int, seed: int = 0, resolution: int = 48, kinds: tuple[str, ...] | list[str] = SYNTHETIC_KINDS
) -> np.ndarray:
    """(n, 32, 32, 32) uint8 classifier inputs of random non-furniture (deterministic in ``seed``).

    The ``n`` shapes are dealt in turn over ``kinds``, each sampled on a ``resolution``³ grid
    ([-1, 1]³, z up) and put on the classifier's lattice:

    * ``blobs``: the union of 1-4 superquadrics with random centre, semi-axes (0.1-0.6 of the
      half box), orientation and exponent (0.8-2.5: slightly pointed to rounded, never a box);
    * ``animals``: a horizontal ellipsoid body with a head, optionally a neck, 0, 2 or 4 legs
      and a tail, turned about z (quadrupeds, birds, fish);
    * ``handles``: a rounded body (ellipsoid or cylinder) with 1-2 tori or bent tubes at its
      side or top, and sometimes a spout (mugs, jugs, kettles, bags);
    * ``tall``: a solid of revolution 3-8 times as tall as wide with a random smooth profile
      (bottles, vases, figurines);
    * ``machined``: a block or cylinder with 1-4 round holes, steps and slots cut out
      (brackets, flanges, fixtures).

    Raises:
        ConfigError: an unknown kind.
    """
    from voxforge.nn.classify.inference import voxelgrid_to_input

    bad = [k for k in kinds if k not in _MAKERS]
    if bad or not kinds:
        raise ConfigError(f"unknown synthetic outlier kinds {bad}; known: {', '.join(ALL_KINDS)}")
    rng = np.random.default_rng(seed)
    axis = np.linspace(-1.0, 1.0, resolution)
    cells = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1)
    out: list[np.ndarray] = []
    while len(out) < n:
        occ = _MAKERS[kinds[len(out) % len(kinds)]](cells, rng)
        if occ.sum() >= 50:
            out.append(voxelgrid_to_input(occ, 1.0, name="synthetic outlier"))
    return np.stack(out) if out else np.zeros((0, 32, 32, 32), np.uint8)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    return np.linalg.qr(rng.normal(size=(3, 3)))[0]


def _yaw(rng: np.random.Generator) -> np.ndarray:
    a = rng.uniform(0, 2 * np.pi)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def _ellipsoid(cells: np.ndarray, centre: np.ndarray, semi: np.ndarray, rot: np.ndarray | None = None,
               power: float = 2.0) -> np.ndarray:  # fmt: skip
    d = cells - centre
    if rot is not None:
        d = d @ rot
    return (np.abs(d / semi) ** power).sum(-1) <= 1.0


def _capsule(cells: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """Cells within ``radius`` of the segment a-b."""
    ab = b - a
    t = np.clip(((cells - a) @ ab) / max(float(ab @ ab), 1e-9), 0.0, 1.0)
    return np.linalg.norm(cells - (a + t[..., None] * ab), axis=-1) <= radius


def _torus(cells: np.ndarray, centre: np.ndarray, rot: np.ndarray, major: float, minor: float,
           arc: float = 2 * np.pi) -> np.ndarray:  # fmt: skip
    d = (cells - centre) @ rot
    ring = np.hypot(d[..., 0], d[..., 1])
    ang = np.arctan2(d[..., 1], d[..., 0]) % (2 * np.pi)
    return (np.hypot(ring - major, d[..., 2]) <= minor) & (ang <= arc)


def _blob(cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    occ = np.zeros(cells.shape[:3], bool)
    for _ in range(int(rng.integers(1, 5))):  # draws in this order: centre, semi-axes, power, turn
        centre, semi = rng.uniform(-0.5, 0.5, 3), rng.uniform(0.1, 0.6, 3)
        power = 2.0 / rng.uniform(0.8, 2.5)
        occ |= _ellipsoid(cells, centre, semi, _rotation(rng), power)
    return occ


def _animal(cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    yaw = _yaw(rng)
    c = cells @ yaw  # the animal's own frame: body along x
    length, girth = rng.uniform(0.45, 0.8), rng.uniform(0.15, 0.35)
    legs = int(rng.choice([0, 2, 4]))
    leg_len = rng.uniform(0.2, 0.6) if legs else 0.0
    body_z = -0.9 + leg_len + girth
    occ = _ellipsoid(
        c, np.array([0.0, 0.0, body_z]), np.array([length, girth, girth * rng.uniform(0.8, 1.2)])
    )
    neck = rng.uniform(0.0, 0.4)
    head_c = np.array([length * 0.9 + rng.uniform(0.0, 0.15), 0.0, body_z + girth * 0.5 + neck])
    head_r = girth * rng.uniform(0.5, 0.9)
    if neck > 0.1:
        occ |= _capsule(c, np.array([length * 0.7, 0.0, body_z]), head_c, girth * rng.uniform(0.25, 0.5))
    occ |= _ellipsoid(c, head_c, np.array([head_r * rng.uniform(1.0, 1.8), head_r, head_r]))
    radius = rng.uniform(0.04, 0.1)
    xs = [length * 0.6, -length * 0.6] if legs == 4 else [0.0]
    for x in xs[: max(1, legs // 2)] if legs else []:
        for y in (-girth * 0.6, girth * 0.6):
            occ |= _capsule(c, np.array([x, y, body_z]), np.array([x, y, -0.95]), radius)
    if rng.random() < 0.7:
        tail_end = np.array([-length - rng.uniform(0.1, 0.4), 0.0, body_z + rng.uniform(-0.3, 0.4)])
        occ |= _capsule(c, np.array([-length * 0.8, 0.0, body_z]), tail_end, rng.uniform(0.02, 0.08))
    return occ


def _handles(cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    c = cells @ _yaw(rng)
    w, h = rng.uniform(0.35, 0.7), rng.uniform(0.3, 0.8)
    if rng.random() < 0.5:
        occ = _ellipsoid(c, np.zeros(3), np.array([w, w * rng.uniform(0.7, 1.0), h]))
    else:
        occ = (np.hypot(c[..., 0], c[..., 1]) <= w) & (np.abs(c[..., 2]) <= h)
    for _ in range(int(rng.integers(1, 3))):
        major, minor = rng.uniform(0.2, 0.45), rng.uniform(0.06, 0.12)
        if rng.random() < 0.6:  # a side handle: a ring standing in the x-z plane
            rot = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
            centre = np.array([w + major * 0.5, 0.0, rng.uniform(-0.3, 0.3) * h])
        else:  # a top handle: a ring standing over the body
            rot = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]) @ _yaw(rng)
            centre = np.array([0.0, 0.0, h])
        occ |= _torus(c, centre, rot, major, minor, rng.uniform(np.pi, 2 * np.pi))
    if rng.random() < 0.5:
        occ |= _capsule(c, np.array([-w * 0.7, 0.0, 0.0]),
                        np.array([-w - rng.uniform(0.2, 0.5), 0.0, h * rng.uniform(0.3, 1.0)]),
                        rng.uniform(0.04, 0.1))  # fmt: skip
    return occ


def _tall(cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height = 0.95
    width = height * 2 / rng.uniform(3.0, 8.0)
    knots = rng.uniform(0.3, 1.0, int(rng.integers(3, 7))) * width
    z = cells[..., 2]
    profile = np.interp(z, np.linspace(-height, height, len(knots)), knots)
    occ = (np.hypot(cells[..., 0], cells[..., 1]) <= profile) & (np.abs(z) <= height)
    if rng.random() < 0.3:  # a tilted figure rather than a turned one
        occ |= _ellipsoid(cells, np.array([0.0, 0.0, height - width]), np.full(3, width * 1.2))
    return occ


def _machined(cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    c = cells @ _rotation(rng) if rng.random() < 0.3 else cells @ _yaw(rng)
    half = rng.uniform(0.2, 0.9, 3)
    if rng.random() < 0.3:
        occ = (np.hypot(c[..., 0], c[..., 1]) <= half[0]) & (np.abs(c[..., 2]) <= half[2])
    else:
        occ = np.all(np.abs(c) <= half, -1)
    for _ in range(int(rng.integers(1, 5))):
        ax = int(rng.integers(0, 3))
        others = [a for a in range(3) if a != ax]
        centre = rng.uniform(-0.7, 0.7, 2) * half[others]
        r = rng.uniform(0.08, 0.45) * half[others].min()
        occ &= np.hypot(c[..., others[0]] - centre[0], c[..., others[1]] - centre[1]) > r
    for _ in range(int(rng.integers(0, 3))):  # steps and slots
        lo = rng.uniform(-1.0, 0.6, 3) * half
        hi = lo + rng.uniform(0.2, 1.0, 3) * half
        occ &= ~np.all((c >= lo) & (c <= hi), -1)
    return occ


_MAKERS = {"blobs": _blob, "animals": _animal, "handles": _handles, "tall": _tall,
           "machined": _machined}  # fmt: skip


def mesh_folder_grids(folder: str | Path) -> np.ndarray:
    """(k, 32, 32, 32) uint8 inputs of every mesh file under ``folder`` (one per file name).

    Raises:
        ConfigError: no such folder, or no mesh in it that loads.
    """
    from voxforge.io import load_any
    from voxforge.nn.classify.inference import object_to_grid

    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{root}: no such folder of outlier meshes")
    seen: dict[str, np.ndarray] = {}
    exts = {".stl", ".obj", ".ply", ".off", ".glb", ".gltf"}
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in exts and p.name not in seen:
            try:
                seen[p.name] = object_to_grid(load_any(p))
            except VoxforgeError:  # a mesh that does not load is skipped
                continue
    if not seen:
        raise ConfigError(f"{root}: no mesh file that loads")
    return np.stack(list(seen.values()))


DESCRIPTORS = 26
"""Length of :func:`shape_descriptors`' vector."""


def shape_descriptors(grids: np.ndarray) -> np.ndarray:
    """(N, 26) float64 hand-made shape descriptors of (N, 32, 32, 32) classifier inputs.

    A network trained on ten furniture classes maps a teapot to furniture-like features; these
    numbers describe what furniture shares whatever its class (flat level panels, upright
    walls, a few legs or a plinth on the floor, mirror symmetry, boxy proportions), so the
    outlier head can weigh them beside the network's features. All are unchanged by a turn
    about z (exactly for quarter turns) and by mirroring:

    * 0-2: the footprint's short and long side and the height, over the longest side;
    * 3: filled share of the bounding box; 4-5: share of cells removed by one and two erosions
      (thin parts);
    * 6-13: the mean cross-section area of 8 height bands over the footprint's area;
    * 14-18: histogram of ``|n_z|`` of the surface normals (5 bins, 0-1);
    * 19-20: four- and two-fold alignment of the horizontal normals' azimuths
      (``|mean exp(4i theta)|``, ``|mean exp(2i theta)|``);
    * 21-22: mirror symmetry about the two principal vertical planes (share of cells whose
      mirror image lies within a cell of a filled one), smaller first;
    * 23-24: floor contact (the lowest two layers): components (at most 8, over 8) and area
      over the footprint;
    * 25: connected components (at most 5, over 5).

    An empty grid gives zeros.
    """
    g = np.asarray(grids)
    if g.ndim == 3:
        g = g[None]
    return np.stack([_descriptors(x > 0) for x in g]) if len(g) else np.zeros((0, DESCRIPTORS))


def _descriptors(occ: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    filled = np.argwhere(occ)
    if len(filled) < 2:
        return np.zeros(DESCRIPTORS)
    lo, hi = filled.min(0), filled.max(0) + 1
    # the object with 5 empty cells around it: the filters below (the widest reaches 4 cells)
    # see what they would see in the whole grid, on fewer cells
    occ = np.pad(occ[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], 5)
    idx = (filled - lo + 5).astype(np.float64)
    ext = (hi - lo).astype(np.float64)
    side = ext.max()
    n = len(idx)
    eroded = ndimage.binary_erosion(occ)
    twice = ndimage.binary_erosion(eroded)
    f = [*(np.sort(ext[:2]) / side), ext[2] / side, n / np.prod(ext),
         1.0 - eroded.sum() / n, 1.0 - twice.sum() / n]  # fmt: skip
    foot = occ.any(2).sum()
    band = lambda z: np.clip(((z - 5) / ext[2] * 8).astype(int), 0, 7)  # noqa: E731
    cells = np.bincount(band(idx[:, 2]), minlength=8)
    layers = np.bincount(band(np.arange(5, 5 + ext[2])), minlength=8)
    f += list(cells / np.maximum(layers, 1) / foot)
    gx, gy, gz = np.gradient(ndimage.gaussian_filter(occ.astype(np.float32), 1.0))
    surface = occ & ~eroded
    normals = np.stack([gx[surface], gy[surface], gz[surface]], 1)
    length = np.linalg.norm(normals, axis=1)
    normals = normals[length > 1e-6] / length[length > 1e-6, None]
    nz = np.abs(normals[:, 2])
    f += list(np.histogram(nz, bins=5, range=(0, 1))[0] / max(len(nz), 1))
    level = nz < 0.5
    theta = np.arctan2(normals[level, 1], normals[level, 0])
    f += [abs(np.exp(4j * theta).mean()), abs(np.exp(2j * theta).mean())] if level.any() else [0, 0]
    centres = idx + 0.5
    xy = centres[:, :2] - centres[:, :2].mean(0)
    f += sorted(_mirror_shares(occ, centres, np.linalg.eigh(xy.T @ xy)[1].T))
    bottom = occ[:, :, 5:7].any(2)
    f += [min(ndimage.label(bottom)[1], 8) / 8, bottom.sum() / foot,
          min(ndimage.label(occ)[1], 5) / 5]  # fmt: skip
    return np.asarray(f, np.float64)


_MIRROR_OFFSETS = np.array([(dx, dy, 0) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
                           + [(0, 0, -1), (0, 0, 1)])  # fmt: skip


def _mirror_shares(occ: np.ndarray, centres: np.ndarray, axes: np.ndarray) -> list[float]:
    """Per row of ``axes`` ((k, 2) unit vectors): the share of filled cells whose mirror image
    across the vertical plane through the centroid along it lies within 1.01 cells of a filled
    cell's centre.

    The mirror keeps z, so the only centres that near are the 3 x 3 cells around it in its own
    layer and the cell straight above or below it (a neighbour's centre one layer away is
    within 0.14 cells horizontally). ``occ`` must have an empty cell around the object.
    """
    mid = centres[:, :2].mean(0)
    rel = centres[:, :2] - mid
    nx, ny, nz = occ.shape
    flat = occ.ravel()
    off = _MIRROR_OFFSETS
    zs = centres[:, 2].astype(np.int64)[:, None] + off[:, 2]
    out = []
    for axis in axes:
        image = rel - 2 * np.outer(rel @ axis, axis) + mid
        base = np.floor(image).astype(np.int64)
        cx = np.clip(base[:, None, 0] + off[:, 0], 0, nx - 1)
        cy = np.clip(base[:, None, 1] + off[:, 1], 0, ny - 1)
        d2 = (cx + 0.5 - image[:, None, 0]) ** 2 + (cy + 0.5 - image[:, None, 1]) ** 2
        hit = flat[(cx * ny + cy) * nz + zs]
        out.append(float((hit & (d2 + off[:, 2] ** 2 <= 1.01**2)).any(1).mean()))
    return out


@dataclass(frozen=True)
class OutlierHead:
    """Logistic "not one of the classes" score on standardised features.

    ``score(f) = ((f - mean) / scale) @ weight + bias``; higher means less like the classes.
    With ``descriptors`` the features are the network's pooled features followed by
    :func:`shape_descriptors` of the same input grids
    (:meth:`voxforge.nn.classify.inference.Classifier.predict_logits_features` appends them).
    """

    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: float
    descriptors: bool = False

    def score(self, features: np.ndarray) -> np.ndarray:
        """(N,) float64 scores of (N, D) features."""
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != len(self.weight):
            raise ConfigError(f"outlier head expects (N, {len(self.weight)}) features, got {f.shape}")
        return ((f - self.mean) / self.scale) @ self.weight + self.bias

    def to_dict(self) -> dict[str, Any]:
        out = {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
               "weight": self.weight.tolist(), "bias": float(self.bias)}  # fmt: skip
        if self.descriptors:
            out["descriptors"] = True
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OutlierHead:
        return cls(np.asarray(d["mean"], np.float64), np.asarray(d["scale"], np.float64),
                   np.asarray(d["weight"], np.float64), float(d["bias"]),
                   bool(d.get("descriptors", False)))  # fmt: skip


def fit_outlier_head(
    inliers: np.ndarray,
    outliers: list[np.ndarray],
    *,
    c: float = OUTLIER_C,
    descriptors: bool = False,
) -> OutlierHead:
    """L2-regularised logistic regression of inliers (0) against the outlier sets (1).

    Minimises ``0.5 |w|² + c * sum_i s_i * log_loss_i`` (L-BFGS) with sample weights ``s`` that
    give inliers and outliers equal total weight and every outlier set an equal share of it.
    Features are standardised with the inliers' mean and standard deviation. ``descriptors``
    records that the features end with :func:`shape_descriptors`.
    """
    from scipy.optimize import minimize

    sets = [np.asarray(o, np.float64) for o in outliers if len(o)]
    inl = np.asarray(inliers, np.float64)
    if len(inl) == 0 or not sets:
        raise ConfigError("the outlier head needs inlier features and at least one outlier set")
    mean, scale = inl.mean(0), inl.std(0) + 1e-6
    x = (np.concatenate([inl, *sets]) - mean) / scale
    y = np.concatenate([np.zeros(len(inl)), np.ones(sum(len(s) for s in sets))])
    w = np.concatenate([np.full(len(inl), 1.0 / len(inl))]
                       + [np.full(len(s), 1.0 / (len(sets) * len(s))) for s in sets])  # fmt: skip
    w *= len(x) / 2.0

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:-1] + theta[-1]
        nll = np.logaddexp(0.0, z) - y * z
        g = w * (1.0 / (1.0 + np.exp(-z)) - y)
        grad = np.concatenate([c * (x.T @ g) + theta[:-1], [c * g.sum()]])
        reg = 0.5 * float(theta[:-1] @ theta[:-1])
        return reg + c * float(w @ nll), grad

    res = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B",
                   options={"maxiter": 3000})  # fmt: skip
    return OutlierHead(mean, scale, res.x[:-1].copy(), float(res.x[-1]), descriptors)
