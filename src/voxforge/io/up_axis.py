"""Guess a mesh's up axis (y or z) from its geometry: the side it rests on flat.

OBJ, STL and PLY files do not say which way is up. OBJ is y-up by the convention of modelling
programs, STL and PLY z-up by that of printers and scanners, yet scans (YCB objects, the fuze
bottle) are OBJ written z-up and lie on their side when read as y-up. Real objects stand on a
*flat base*, so each candidate up axis is scored by the base it gives, in that axis' z-up frame:

* the *contact*: faces within a thin slab (1% of the largest extent) above the lowest point whose
  normals are within 20° of vertical; a bottle's bottom or a drill's battery pack, and a chair's
  four leg ends, but only a sliver of a cylinder lying on its side;
* ``flat``: the contact's area projected on the ground, over the footprint (the bounding box of
  the whole mesh seen from above);
* ``spread``: the area of the convex hull of the contact, over the footprint (a chair's legs span
  its footprint although they touch with little area);
* ``tilt``: how far the object tips before its centre (of the surface: scans are rarely closed)
  leaves the contact's hull, in degrees; the base *rests* the object when this is at least 5° (a
  drill on its side touches flat only under its battery, away from its centre).

A base that rests scores ``flat + spread``; one that does not scores 0. The file format's
convention stands unless the other axis scores at least 3 times as much: a chair lying on its
flat back scores about as much as one on its legs, and there the convention decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

SLAB = 0.01
"""Thickness of the contact slab, as a fraction of the mesh's largest extent."""
FLAT_DEG = 20.0
"""Faces within this angle of horizontal count as contact."""
REST_DEG = 5.0
"""A base rests the object when it tips by at least this much before falling over."""
SWITCH = 3.0
"""The other axis wins only when its base scores this many times the convention's."""


@dataclass(frozen=True)
class Base:
    """The base a mesh stands on with one axis up (see module doc).

    Attributes:
        flat: contact area seen from above, over the footprint.
        spread: convex hull area of the contact, over the footprint.
        tilt_deg: tipping angle before the centre of mass leaves the contact hull (negative when
            it is outside already; -90 without a contact polygon).
    """

    flat: float
    spread: float
    tilt_deg: float

    @property
    def rests(self) -> bool:
        return self.tilt_deg >= REST_DEG

    @property
    def score(self) -> float:
        return self.flat + self.spread if self.rests else 0.0

    def as_dict(self) -> dict[str, float | bool]:
        return {
            "flat": round(self.flat, 4),
            "spread": round(self.spread, 4),
            "tilt_deg": round(self.tilt_deg, 2),
            "rests": self.rests,
        }


@dataclass(frozen=True)
class UpGuess:
    """The guessed up axis with the bases that decided it.

    Attributes:
        up: ``"y"`` or ``"z"``.
        convention: the file format's usual axis.
        from_base: True when ``up`` was chosen because it gives a flat base that rests the
            object; False when neither axis does and the convention stands.
        bases: the :class:`Base` of each axis.
    """

    up: str
    convention: str
    from_base: bool
    bases: dict[str, Base]

    def note(self, file_type: str) -> str:
        """One line for the user: the axis, why, and how to override."""
        other = "z" if self.up == "y" else "y"
        why = (
            "guessed from a flat base"
            if self.from_base
            else f"the {file_type.upper()} convention; no flat base found"
        )
        return f"up axis: {self.up} ({why}; --up {other} to override)"


AXES = {"z": [0, 1, 2], "y": [0, 2, 1]}
"""File-frame coordinates seen as (horizontal, horizontal, up) with each axis up (a y-up file's
ground plane is x-z; the reflection against our (x, -z) does not change areas or distances)."""


def resting_base(vertices: np.ndarray, faces: np.ndarray, up: str) -> Base:
    """The :class:`Base` of a mesh read with ``up`` (``"y"`` or ``"z"``) as its up axis.

    Args:
        vertices: (n, 3) positions in the file's frame.
        faces: (m, 3) vertex indices.
        up: the candidate up axis.
    """
    tri = np.asarray(vertices, dtype=np.float64)[np.asarray(faces)]
    return _base(tri, np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), up)


def guess_up(tm: trimesh.Trimesh, convention: str) -> UpGuess:
    """The up axis whose base rests the mesh flat, the format's ``convention`` unless the other
    axis' base scores :data:`SWITCH` times as much (see module doc)."""
    tri = np.asarray(tm.vertices, dtype=np.float64)[np.asarray(tm.faces)]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    bases = {a: _base(tri, cross, a) for a in ("y", "z")}
    other = "z" if convention == "y" else "y"
    wins = bases[other].rests and bases[other].score >= SWITCH * bases[convention].score
    up = other if wins else convention
    return UpGuess(up=up, convention=convention, from_base=bases[up].rests, bases=bases)


def _base(tri_file: np.ndarray, cross_file: np.ndarray, up: str) -> Base:
    """:func:`resting_base` from (m, 3, 3) triangles and their (m, 3) edge cross products."""
    tri, cross = tri_file[..., AXES[up]], cross_file[:, AXES[up]]
    area2 = np.linalg.norm(cross, axis=1)
    points = tri.reshape(-1, 3)
    extent = float(np.ptp(points, axis=0).max()) if len(points) else 0.0
    lo, hi = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    footprint = float(np.prod(hi - lo))
    if not (extent > 0 and footprint > 0):
        return Base(0.0, 0.0, -90.0)
    z0 = float(points[:, 2].min())
    in_slab = (tri[:, :, 2] <= z0 + SLAB * extent).all(axis=1)
    up_cos = np.abs(cross[:, 2]) / np.maximum(area2, 1e-300)
    contact = in_slab & (up_cos >= np.cos(np.radians(FLAT_DEG))) & (area2 > 0)
    flat = float(0.5 * np.abs(cross[contact, 2]).sum()) / footprint
    hull = _hull_2d(tri[contact][:, :, :2].reshape(-1, 2))
    if hull is None:
        return Base(flat, 0.0, -90.0)
    # centre of the surface: a solid's centre of mass needs a closed mesh, which scans rarely are
    com = (area2[:, None] * tri.mean(axis=1)).sum(axis=0) / max(float(area2.sum()), 1e-300)
    inside = float(-(hull.equations[:, :2] @ com[:2] + hull.equations[:, 2]).max())
    tilt = float(np.degrees(np.arctan2(inside, max(com[2] - z0, 0.0))))
    return Base(flat, float(hull.volume) / footprint, tilt)


def _hull_2d(points: np.ndarray):  # -> scipy.spatial.ConvexHull | None
    """Convex hull of 2-D points, or None when they span no area."""
    from scipy.spatial import ConvexHull, QhullError

    pts = np.unique(np.round(points, 12), axis=0)
    if len(pts) < 3:
        return None
    try:
        hull = ConvexHull(pts)
    except (QhullError, ValueError):
        return None
    return hull if hull.volume > 0 else None
