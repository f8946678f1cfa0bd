"""Losses of the reconstruction networks: occupancy (BCE + Dice), Chamfer, mesh regularisers.

Every loss returns a scalar tensor averaged over the batch so that weights in a config mean the
same at any batch size. Distances are in the grid's unit cube (side 1), so a Chamfer-L2 of
1e-3 means points about 0.03 cube sides (one voxel) from the surface.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch.nn import functional as F


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice loss ``1 - (2 Σ p t + eps) / (Σ p + Σ t + eps)`` per sample, averaged.

    Counters the 9:1 empty-to-filled imbalance that plain BCE rewards with thin predictions;
    ``eps`` (one voxel) keeps empty targets finite.

    Args:
        logits: (B, ...) occupancy logits.
        target: (B, ...) 0/1 occupancy, same shape.
    """
    p = torch.sigmoid(logits).flatten(1)
    t = target.float().flatten(1)
    inter = (p * t).sum(1)
    return (1.0 - (2.0 * inter + eps) / (p.sum(1) + t.sum(1) + eps)).mean()


def occupancy_loss(
    logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 1.0, pos_weight: float = 1.0
) -> torch.Tensor:
    """Mean voxel BCE (filled voxels weighted ``pos_weight``) plus ``dice_weight`` x Dice loss."""
    t = target.float()
    pw = torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    bce = F.binary_cross_entropy_with_logits(logits, t, pos_weight=pw)
    return bce + dice_weight * dice_loss(logits, t)


def confidence_loss(
    conf_logits: torch.Tensor, occ_logits: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """BCE teaching the confidence channel whether the thresholded occupancy is right (per voxel).

    The occupancy is detached: confidence learns to judge the prediction, not to change it. Its
    sigmoid is the fusion weight of :func:`voxforge.nn.reconstruct.inference.fuse_occupancy`.
    """
    right = ((occ_logits.detach() > 0) == (target > 0.5)).float()
    return F.binary_cross_entropy_with_logits(conf_logits, right)


def azimuth_loss(
    logits: torch.Tensor, azimuth_deg: torch.Tensor, sigma_bins: float = 1.0
) -> torch.Tensor:
    """Cross-entropy of (B, A) azimuth logits against circular Gaussian soft labels around the
    true camera azimuths (B,) degrees (:func:`voxforge.nn.reconstruct.models.azimuth_soft_labels`)."""
    from voxforge.nn.reconstruct.models import azimuth_soft_labels

    soft = azimuth_soft_labels(azimuth_deg, logits.shape[1], sigma_bins)
    return -(soft * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def chamfer_distance(
    a: torch.Tensor, b: torch.Tensor, squared: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric Chamfer distance between (B, N, 3) and (B, M, 3) point sets (torch.cdist).

    Returns:
        The mean over the batch of ``mean_a min_b d + mean_b min_a d`` (d squared when
        ``squared``: Chamfer-L2; else Euclidean: Chamfer-L1), and (B, N) nearest distances from
        ``a`` to ``b`` (for F-scores).
    """
    d = torch.cdist(a, b)
    if squared:
        d = d * d
    ab = d.min(dim=2).values
    ba = d.min(dim=1).values
    return (ab.mean(1) + ba.mean(1)).mean(), ab


@lru_cache(maxsize=4)
def mesh_topology(faces_key: bytes, n_faces: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique edges (E, 2), adjacent face pairs (P, 2) and vertex degrees (V,) of a triangle mesh.

    Cached by the faces' bytes: every predicted mesh shares the icosphere's faces.
    """
    faces = np.frombuffer(faces_key, dtype=np.int64).reshape(n_faces, 3)
    e = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    edges, inverse = np.unique(e, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    face_of = np.repeat(np.arange(len(faces)), 3)
    order = np.argsort(inverse, kind="stable")
    inv_sorted, f_sorted = inverse[order], face_of[order]
    shared = np.flatnonzero(inv_sorted[1:] == inv_sorted[:-1])  # manifold: two faces per edge
    pairs = np.stack([f_sorted[shared], f_sorted[shared + 1]], axis=1)
    degree = np.bincount(edges.reshape(-1), minlength=int(faces.max()) + 1)
    return edges, pairs, degree


def _topology(faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    f = faces.detach().cpu().numpy().astype(np.int64)
    edges, pairs, degree = mesh_topology(f.tobytes(), len(f))
    dev = faces.device
    return (torch.from_numpy(edges).to(dev), torch.from_numpy(pairs).to(dev),
            torch.from_numpy(degree).to(dev))  # fmt: skip


def laplacian_loss(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Mean squared uniform Laplacian ``|v - mean(neighbours)|²`` of (B, V, 3) vertices.

    Zero for a vertex at its neighbours' centroid; keeps the deformed sphere smooth.
    """
    edges, _, degree = _topology(faces)
    nb_sum = torch.zeros_like(vertices)
    i, j = edges[:, 0], edges[:, 1]
    nb_sum.index_add_(1, i, vertices[:, j])
    nb_sum.index_add_(1, j, vertices[:, i])
    lap = vertices - nb_sum / degree.clamp_min(1).to(vertices.dtype)[None, :, None]
    return (lap * lap).sum(-1).mean()


def edge_length_loss(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Mean squared edge length of (B, V, 3) vertices (Pixel2Mesh): discourages long spikes."""
    edges, _, _ = _topology(faces)
    d = vertices[:, edges[:, 0]] - vertices[:, edges[:, 1]]
    return (d * d).sum(-1).mean()


def face_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, F, 3) unit normals of (B, V, 3) vertices (counter-clockwise faces point outward)."""
    a, b, c = (vertices[:, faces[:, k]] for k in range(3))
    n = torch.cross(b - a, c - a, dim=-1)
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def normal_consistency_loss(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Mean ``1 - cos`` of the angle between the normals of faces that share an edge."""
    _, pairs, _ = _topology(faces)
    n = face_normals(vertices, faces)
    cos = (n[:, pairs[:, 0]] * n[:, pairs[:, 1]]).sum(-1)
    return (1.0 - cos).mean()
