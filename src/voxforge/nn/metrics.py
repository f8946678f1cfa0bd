"""Quality of reconstructed occupancy grids: IoU, Dice, Chamfer distances and F-score.

Conventions (one place, so every report means the same thing):

* Predictions are (B, R, R, R) probabilities (or bool); a cell is occupied when ``p >= t``.
  IoU is reported at t = 0.3, 0.4 and 0.5; the headline ``mean_iou`` uses **t = 0.4** (a
  BCE-with-Dice model is slightly under-confident on thin parts, and 0.4 is the usual choice of
  the 3D-R2N2 / Pix2Vox line of work). Dice uses the same t = 0.4.
* Both empty counts as a perfect match (IoU = Dice = F = 1, Chamfer 0).
* Surface points are the centres of the *boundary* cells (occupied with an empty 6-neighbour,
  the grid border counting as empty) in the grid's unit cube ``[-0.5, 0.5]^3``, so a solid and a
  shell of the same shape agree.
* Chamfer-L1 = 0.5 (mean_p min_q |p - q| + mean_q min_p |q - p|) (Euclidean distances, unit
  cube units); Chamfer-L2 the same with squared distances.
* F-score at tau = 1/32 (one cell of the 32³ grid; distances <= tau count): the harmonic mean of
  precision (share of predicted surface points within tau of the target surface) and recall.
* When exactly one side is empty, Chamfer-L1 = sqrt(3) and Chamfer-L2 = 3 (the cube diagonal,
  the largest distance possible) and F = 0, so empty predictions are penalised, never skipped.
"""

from __future__ import annotations

import numpy as np

from voxforge.core.errors import GeometryError

IOU_THRESHOLDS = (0.3, 0.4, 0.5)
HEADLINE_THRESHOLD = 0.4
"""Occupancy threshold of ``mean_iou`` and Dice."""
FSCORE_TAU = 1.0 / 32.0
"""F-score distance threshold: one cell of the 32³ grid, in unit-cube units."""
_EMPTY_L1 = float(np.sqrt(3.0))
_EMPTY_L2 = 3.0


def _as_batch(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred)
    t = np.asarray(target).astype(bool)
    p = p[None] if p.ndim == 3 else p
    t = t[None] if t.ndim == 3 else t
    if p.ndim != 4 or p.shape != t.shape:
        raise GeometryError(
            f"metrics need predictions and targets of the same (B, R, R, R) shape, got {p.shape} and "
            f"{t.shape}"
        )
    return p, t


def _occupied(pred: np.ndarray, threshold: float) -> np.ndarray:
    return pred.astype(bool) if pred.dtype == bool else pred >= threshold


def iou(pred: np.ndarray, target: np.ndarray, threshold: float = HEADLINE_THRESHOLD) -> np.ndarray:
    """(B,) float64 intersection over union of ``pred >= threshold`` and ``target`` (1 if both empty)."""
    p, t = _as_batch(pred, target)
    occ = _occupied(p, threshold).reshape(len(p), -1)
    tt = t.reshape(len(t), -1)
    inter = np.count_nonzero(occ & tt, axis=1)
    union = np.count_nonzero(occ | tt, axis=1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def dice(pred: np.ndarray, target: np.ndarray, threshold: float = HEADLINE_THRESHOLD) -> np.ndarray:
    """(B,) float64 Dice coefficient 2|A∩B| / (|A| + |B|) (1 if both empty)."""
    p, t = _as_batch(pred, target)
    occ = _occupied(p, threshold).reshape(len(p), -1)
    tt = t.reshape(len(t), -1)
    inter = np.count_nonzero(occ & tt, axis=1)
    total = np.count_nonzero(occ, axis=1) + np.count_nonzero(tt, axis=1)
    return np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 1.0)


def surface_points(grid: np.ndarray) -> np.ndarray:
    """(n, 3) float64 centres of the boundary cells of a (R, R, R) bool grid, unit cube units."""
    g = np.asarray(grid, dtype=bool)
    padded = np.pad(g, 1)
    interior = g.copy()
    for axis in range(3):
        for shift in (-1, 1):
            interior &= np.roll(padded, shift, axis=axis)[1:-1, 1:-1, 1:-1]
    cells = np.argwhere(g & ~interior)
    return (cells + 0.5) / g.shape[0] - 0.5


def _nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a),) distance from each point of ``a`` to the nearest of ``b``."""
    from scipy.spatial import cKDTree

    return cKDTree(b).query(a, k=1)[0]


def point_distances(p: np.ndarray, q: np.ndarray, tau: float = FSCORE_TAU) -> tuple[float, float, float]:
    """(Chamfer-L1, Chamfer-L2, F-score at ``tau``) between point sets (n, 3) and (m, 3)."""
    if len(p) == 0 and len(q) == 0:
        return 0.0, 0.0, 1.0
    if len(p) == 0 or len(q) == 0:
        return _EMPTY_L1, _EMPTY_L2, 0.0
    d_pq = _nearest(p, q)
    d_qp = _nearest(q, p)
    l1 = 0.5 * (float(d_pq.mean()) + float(d_qp.mean()))
    l2 = 0.5 * (float((d_pq**2).mean()) + float((d_qp**2).mean()))
    precision = float(np.mean(d_pq <= tau + 1e-9))
    recall = float(np.mean(d_qp <= tau + 1e-9))
    f = 2.0 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return l1, l2, f


def surface_distances(
    pred: np.ndarray,
    target: np.ndarray,
    threshold: float = HEADLINE_THRESHOLD,
    tau: float = FSCORE_TAU,
) -> dict[str, np.ndarray]:
    """Chamfer-L1, Chamfer-L2 and F-score between the surfaces of predicted and true grids.

    Returns:
        ``{"chamfer_l1", "chamfer_l2", "fscore"}``, each (B,) float64.
    """
    p, t = _as_batch(pred, target)
    occ = _occupied(p, threshold)
    rows = [
        point_distances(surface_points(a), surface_points(b), tau) for a, b in zip(occ, t, strict=True)
    ]
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    return {"chamfer_l1": arr[:, 0], "chamfer_l2": arr[:, 1], "fscore": arr[:, 2]}


def reconstruction_metrics(
    pred: np.ndarray, target: np.ndarray, *, tau: float = FSCORE_TAU
) -> dict[str, np.ndarray]:
    """Every per-sample metric of (B, R, R, R) predictions against bool targets.

    Returns:
        ``iou@0.3``, ``iou@0.4``, ``iou@0.5``, ``dice``, ``chamfer_l1``, ``chamfer_l2``,
        ``fscore``: each (B,) float64 (module docstring for the definitions).
    """
    out = {f"iou@{t:g}": iou(pred, target, t) for t in IOU_THRESHOLDS}
    out["dice"] = dice(pred, target)
    out.update(surface_distances(pred, target, tau=tau))
    return out


def summarize(per_sample: dict[str, np.ndarray]) -> dict[str, float]:
    """Means of per-sample metrics, plus ``mean_iou`` (= mean ``iou@0.4``)."""
    out = {k: float(np.mean(v)) if len(v) else float("nan") for k, v in per_sample.items()}
    out["mean_iou"] = out.get(f"iou@{HEADLINE_THRESHOLD:g}", float("nan"))
    return out
