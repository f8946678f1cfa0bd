"""Mesh quality report: topology (watertight, manifold, winding), defects, holes, scale and UVs.

:func:`check_mesh` measures a triangle mesh and returns a :class:`MeshReport`; the counts are
computed from the face array with numpy (edge tables and union-find over face corners), so the
same numbers drive the repair's "never worse" comparison (:mod:`voxforge.mesh.repair`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from voxforge.core.errors import GeometryError
from voxforge.core.mesh import Mesh

SMALL_COMPONENT_FRACTION = 0.01
"""A component with fewer than this fraction of the faces (and under 100 faces) is "small"."""
MIN_DIAGONAL_M = 1e-4
MAX_DIAGONAL_M = 1e4
"""Bounding diagonals outside [0.1 mm, 10 km] are flagged as a likely units mistake."""


@dataclass
class MeshReport:
    """What :func:`check_mesh` found. Lengths are metres (``load_mesh`` converts); ``units`` are
    the file's own units as the reader found them."""

    vertices: int
    faces: int
    watertight: bool
    boundary_edges: int
    non_manifold_edges: int
    non_manifold_vertices: int
    winding_consistent: bool
    inconsistent_edges: int
    outward: bool | None
    degenerate_faces: int
    duplicate_faces: int
    components: int
    small_components: int
    holes: list[dict[str, float]] = field(default_factory=list)
    bounds: list[list[float]] = field(default_factory=list)
    diagonal: float = 0.0
    area: float = 0.0
    volume: float | None = None
    units: str | None = None
    has_uv: bool = False
    self_intersections: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def manifold(self) -> bool:
        """No edge with more than two faces and no vertex where two fans touch."""
        return self.non_manifold_edges == 0 and self.non_manifold_vertices == 0

    @property
    def ok(self) -> bool:
        """Watertight, manifold, consistently wound, outward, with no degenerate or duplicate faces."""
        return (
            self.watertight
            and self.manifold
            and self.winding_consistent
            and self.outward is not False
            and self.degenerate_faces == 0
            and self.duplicate_faces == 0
        )

    def defects(self) -> int:
        """One number that counts every defect; repairs must not increase it."""
        return (
            self.boundary_edges
            + self.non_manifold_edges
            + self.non_manifold_vertices
            + self.inconsistent_edges
            + self.degenerate_faces
            + self.duplicate_faces
            + (1 if self.outward is False else 0)
        )

    def worse_than(self, other: MeshReport) -> bool:
        """True when this report loses a property ``other`` has, or has more defects."""
        lost = (
            (other.watertight and not self.watertight)
            or (other.manifold and not self.manifold)
            or (other.winding_consistent and not self.winding_consistent)
        )
        return bool(lost or self.defects() > other.defects())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["manifold"] = self.manifold
        d["ok"] = self.ok
        d["defects"] = self.defects()
        return d

    def summary(self) -> str:
        """A few human lines."""
        yes = {True: "yes", False: "no", None: "n/a"}
        lines = [
            f"{self.vertices} vertices, {self.faces} faces, {self.components} component(s)"
            f" ({self.small_components} small)",
            f"watertight: {yes[self.watertight]} ({self.boundary_edges} boundary edges, "
            f"{len(self.holes)} hole(s))",
            f"manifold: {yes[self.manifold]} ({self.non_manifold_edges} edges, "
            f"{self.non_manifold_vertices} vertices)",
            f"winding consistent: {yes[self.winding_consistent]} ({self.inconsistent_edges} edges);"
            f" outward: {yes[self.outward]}",
            f"degenerate faces: {self.degenerate_faces}; duplicate faces: {self.duplicate_faces}",
            f"size: {self.diagonal:.4g} m diagonal (file units: {self.units or 'unknown'});"
            f" UVs: {yes[self.has_uv]}",
        ]
        lines += [f"warning: {w}" for w in self.warnings]
        lines.append("verdict: " + ("ok" if self.ok else f"{self.defects()} defect(s)"))
        return "\n".join(lines)


def check_mesh(mesh: Mesh | trimesh.Trimesh, *, units: str | None = None) -> MeshReport:
    """Measure ``mesh``; raises :class:`GeometryError` for no faces or non-finite vertices."""
    meta: dict[str, Any] = {}
    if isinstance(mesh, Mesh):
        meta = mesh.meta
        mesh = mesh.tm
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.faces, dtype=np.int64)
    if len(f) == 0:
        raise GeometryError("mesh has no faces")
    if not np.isfinite(v).all():
        raise GeometryError("mesh has vertices with NaN/inf coordinates")
    if f.min() < 0 or f.max() >= len(v):
        raise GeometryError("mesh has faces that index missing vertices")

    # Topology is that of the surface, not of the vertex list: UV and normal seams repeat a
    # vertex at one position (every textured glTF does), so vertices at one position are one.
    n_listed = len(v)
    v, weld = np.unique(v, axis=0, return_inverse=True)
    f = weld.ravel()[f]
    degenerate = _degenerate(v, f)
    duplicate = _duplicate_faces(f)
    keep = ~degenerate
    edges = np.sort(_directed_edges(f[keep]), axis=1)
    _, edge_id, counts = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    edge_id = edge_id.ravel()
    boundary = int((counts == 1).sum())
    non_manifold = int((counts > 2).sum())
    inconsistent = _inconsistent_edges(f[keep], counts, edge_id)
    nm_vertices = _non_manifold_vertices(f[keep], edge_id, len(v))
    n_comp, comp_sizes = _components(f[keep], len(v))
    small = int(
        ((comp_sizes < SMALL_COMPONENT_FRACTION * len(f)) & (comp_sizes < 100)).sum()
        if n_comp > 1
        else 0
    )
    holes = _holes(v, edges.reshape(-1, 2), counts[edge_id] == 1)
    watertight = boundary == 0 and non_manifold == 0
    winding = inconsistent == 0
    tm = trimesh.Trimesh(v, f[keep], process=False)
    volume = float(tm.volume) if watertight and winding else None
    lo, hi = v.min(axis=0), v.max(axis=0)
    diagonal = float(np.linalg.norm(hi - lo))
    warnings = []
    if diagonal < MIN_DIAGONAL_M or diagonal > MAX_DIAGONAL_M:
        warnings.append(f"bounding diagonal {diagonal:.3g} m is implausible; check the units (--units)")
    if n_comp > 1 and small:
        warnings.append(f"{small} small component(s) (stray fragments)")
    uv = getattr(mesh.visual, "uv", None) if mesh.visual is not None else None
    return MeshReport(
        vertices=n_listed,
        faces=len(f),
        watertight=watertight,
        boundary_edges=boundary,
        non_manifold_edges=non_manifold,
        non_manifold_vertices=nm_vertices,
        winding_consistent=winding,
        inconsistent_edges=inconsistent,
        outward=None if volume is None else volume > 0,
        degenerate_faces=int(degenerate.sum()),
        duplicate_faces=duplicate,
        components=n_comp,
        small_components=small,
        holes=holes,
        bounds=[lo.tolist(), hi.tolist()],
        diagonal=diagonal,
        area=float(tm.area),
        volume=volume,
        units=units or meta.get("units"),
        has_uv=uv is not None and len(uv) == n_listed,
        warnings=warnings,
    )


def _directed_edges(f: np.ndarray) -> np.ndarray:
    """(3m, 2) edges in face order: (a,b), (b,c), (c,a) of each face, face-major."""
    return f[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)


def _degenerate(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Faces with a repeated vertex index or (near) zero area."""
    repeated = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])
    tri = v[f]
    area2 = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    scale = max(float(np.ptp(v, axis=0).max()), 1e-30)
    return repeated | (area2 <= 1e-12 * scale * scale)


def _duplicate_faces(f: np.ndarray) -> int:
    """Faces that repeat another face's vertex set (either winding)."""
    _, counts = np.unique(np.sort(f, axis=1), axis=0, return_counts=True)
    return int((counts - 1).sum())


def _inconsistent_edges(f: np.ndarray, counts: np.ndarray, edge_id: np.ndarray) -> int:
    """Two-face edges traversed in the same direction by both faces (a flipped neighbour)."""
    d = _directed_edges(f)
    two = counts[edge_id] == 2
    if not two.any():
        return 0
    _, dcounts = np.unique(d[two], axis=0, return_counts=True)
    return int((dcounts > 1).sum())


def _non_manifold_vertices(f: np.ndarray, edge_id: np.ndarray, n_vertices: int) -> int:
    """Vertices whose incident faces form more than one fan (bow-tie vertices).

    Each (vertex, incident edge) pair is a node; every face corner joins its two edges at that
    vertex. A manifold vertex has one connected fan.
    """
    if len(f) == 0:
        return 0
    e = edge_id.reshape(-1, 3)  # edges (a,b), (b,c), (c,a) per face
    # Corner at vertex a joins edges 0 and 2; at b: 0 and 1; at c: 1 and 2.
    corner_v = f.ravel()
    e1 = e[:, [0, 0, 1]].ravel()
    e2 = e[:, [2, 1, 2]].ravel()
    keys = np.concatenate([np.column_stack([corner_v, e1]), np.column_stack([corner_v, e2])])
    uniq, node = np.unique(keys, axis=0, return_inverse=True)
    node = node.ravel()
    half = len(corner_v)
    n = len(uniq)
    graph = coo_matrix((np.ones(half), (node[:half], node[half:])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    fans = np.unique(np.column_stack([uniq[:, 0], labels]), axis=0)
    per_vertex = np.bincount(fans[:, 0], minlength=n_vertices)
    return int((per_vertex > 1).sum())


def _components(f: np.ndarray, n_vertices: int) -> tuple[int, np.ndarray]:
    """Face-connected components (through shared vertices); (count, faces per component)."""
    if len(f) == 0:
        return 0, np.zeros(0, dtype=np.int64)
    a = f.ravel()
    b = np.roll(f, 1, axis=1).ravel()
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n_vertices, n_vertices))
    _, labels = connected_components(graph, directed=False)
    face_label = labels[f[:, 0]]
    sizes = np.bincount(face_label)
    sizes = sizes[sizes > 0]
    return len(sizes), sizes


def _holes(v: np.ndarray, edges: np.ndarray, is_boundary: np.ndarray) -> list[dict[str, float]]:
    """Boundary loops (connected sets of one-face edges), largest first: edges and perimeter."""
    b = edges[is_boundary]
    if len(b) == 0:
        return []
    n = len(v)
    graph = coo_matrix((np.ones(len(b)), (b[:, 0], b[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    loop = labels[b[:, 0]]
    lengths = np.linalg.norm(v[b[:, 0]] - v[b[:, 1]], axis=1)
    _, inv = np.unique(loop, return_inverse=True)
    n_edges = np.bincount(inv)
    perim = np.bincount(inv, weights=lengths)
    order = np.argsort(-perim)
    return [{"edges": int(n_edges[i]), "perimeter": float(perim[i])} for i in order]
