"""glTF tangent frames of a UV-mapped mesh (for tangent-space normal maps).

:func:`vertex_tangents` is the one definition both the normal-map baker and the glTF writer use,
so the ``TANGENT`` a file carries is the frame its normal map was baked in.
"""

from __future__ import annotations

import numpy as np


def vertex_tangents(
    vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, normals: np.ndarray
) -> np.ndarray:
    """(n, 4) glTF ``TANGENT`` for glTF ``uv`` (origin at the image's top left): the
    area-weighted sum of the adjacent triangles' ``dP/du``, made orthogonal to the vertex normal
    and unit; ``w`` = +1 where the bitangent ``cross(n, t)`` points up the image (against
    ``dP/dv``, glTF's "+Y is up" for normal textures, MikkTSpace's sign), else -1. A vertex
    without a usable direction gets any unit vector orthogonal to its normal."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    n = np.asarray(normals, np.float64)
    e1, e2 = v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]
    d1, d2 = uv[f[:, 1]] - uv[f[:, 0]], uv[f[:, 2]] - uv[f[:, 0]]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    inv = np.where(np.abs(det) > 1e-20, 1.0 / np.where(det == 0, 1.0, det), 0.0)
    # area weight: the UV-derived vectors scale with 1/UV area, times the 3D area keeps big faces in
    area = 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1) * np.abs(det)
    dpdu = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * (inv * area)[:, None]
    dpdv = (e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * (inv * area)[:, None]
    t = np.zeros_like(v)
    b = np.zeros_like(v)
    for c in range(3):
        np.add.at(t, f[:, c], dpdu)
        np.add.at(b, f[:, c], dpdv)
    t -= n * np.einsum("ij,ij->i", t, n)[:, None]
    length = np.linalg.norm(t, axis=1)
    bad = length < 1e-12
    if bad.any():  # any direction orthogonal to the normal
        helper = np.where(np.abs(n[bad, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        alt = np.cross(n[bad], helper)
        t[bad] = alt
        length[bad] = np.linalg.norm(alt, axis=1)
    t /= np.maximum(length, 1e-30)[:, None]
    w = np.where(np.einsum("ij,ij->i", np.cross(n, t), b) > 0.0, -1.0, 1.0)
    return np.concatenate([t, w[:, None]], axis=1)
