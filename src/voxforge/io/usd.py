"""USD meshes (``.usdz``, ``.usda``, ``.usdc``, ``.usd``): what iPhone scanning apps (Polycam,
Scaniverse, Apple's Object Capture, the 3D Scanner App) share by default.

Read with Pixar's ``usd-core`` (``pxr``) from PyPI. Every visible ``UsdGeom.Mesh`` prim is taken
with its world transform, its polygons fanned into triangles; ``primvars:displayColor``
(constant, uniform, vertex or faceVarying; linear RGB by the USD convention) becomes face colours.
Units and up axis come from the stage's own metadata: ``metersPerUnit`` (when the file does not
author it, USD's fallback of centimetres applies and ``units_guessed`` is True) and ``upAxis``
(Y or Z; fallback Y). ``units=`` and ``up=`` override. Textures bound through
``UsdPreviewSurface`` are not read (the mesh comes without their colours), nor are ``UsdGeom.Points``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from voxforge.core.errors import GeometryError, UnsupportedInputError
from voxforge.core.mesh import Mesh
from voxforge.io._base import (
    UNIT_SCALES,
    Y_UP_TO_Z_UP,
    FormatSpec,
    Source,
    normalize_units,
    normalize_up,
)

USDC_MAGIC = b"PXR-USDC"
USDA_MAGIC = b"#usda"
USD_MEMBER_SUFFIXES = (".usdc", ".usda", ".usd")


def sniff_usd(head: bytes, size: int) -> bool:
    return head.startswith(USDC_MAGIC) or head.startswith(USDA_MAGIC)


def is_usdz_names(names: list[str]) -> bool:
    """A zip whose first member is a USD layer: the USDZ package rule."""
    return bool(names) and names[0].lower().endswith(USD_MEMBER_SUFFIXES)


def _pxr(src: Source) -> Any:
    try:
        from pxr import Usd, UsdGeom
    except ImportError:
        raise UnsupportedInputError(
            f"{src.name}: reading USD/USDZ needs the 'usd-core' package (pip install usd-core)"
        ) from None
    return Usd, UsdGeom


def read_usd(src: Source, *, up: str | None = None, units: str | None = None, **_: Any) -> Mesh:
    """Read a USD stage's meshes as one z-up mesh in metres (see module doc)."""
    Usd, UsdGeom = _pxr(src)
    up, units = normalize_up(up), normalize_units(units)
    data = src.data()
    suffix = ".usdz" if data[:2] == b"PK" else ".usdc" if data.startswith(USDC_MAGIC) else ".usda"
    with tempfile.TemporaryDirectory(prefix="voxforge-usd-") as tmp:
        path = Path(tmp) / f"stage{suffix}"
        path.write_bytes(data)
        try:
            stage = Usd.Stage.Open(str(path))
        except Exception as e:  # pxr raises Tf errors on malformed layers
            text = str(e).strip().splitlines()
            raise src.error(
                f"not a readable USD stage ({text[-1][:160] if text else type(e).__name__})"
            ) from None
        if stage is None:
            raise src.error("not a readable USD stage")
        tm = _stage_mesh(src, stage, Usd, UsdGeom)
        authored = bool(UsdGeom.StageHasAuthoredMetersPerUnit(stage))
        mpu = float(UsdGeom.GetStageMetersPerUnit(stage))
        file_up = str(UsdGeom.GetStageUpAxis(stage)).lower()
    if not (np.isfinite(mpu) and mpu > 0):
        raise src.error(f"metersPerUnit must be positive, found {mpu}")
    scale = UNIT_SCALES[units] if units is not None else mpu
    use_up = up or file_up
    if use_up == "y":
        tm.apply_transform(Y_UP_TO_Z_UP)
    if scale != 1.0:
        tm.apply_scale(scale)
    meta = {
        "format": "usd",
        "units": units or _unit_name(mpu),
        "units_guessed": units is None and not authored,
        "meters_per_unit": mpu,
        "up": use_up,
        "up_guessed": False,
    }
    return Mesh(tm=tm, meta=meta).validate(src.name)


def _unit_name(mpu: float) -> str:
    for name, s in UNIT_SCALES.items():
        if abs(s - mpu) <= 1e-9 * s:
            return name
    return f"{mpu:g} m"


def _stage_mesh(src: Source, stage: Any, Usd: Any, UsdGeom: Any) -> trimesh.Trimesh:
    from voxforge.core.color import linear_to_srgb

    cache = UsdGeom.XformCache(Usd.TimeCode.Default())
    verts, faces, colors = [], [], []
    offset = 0
    any_color = False
    for prim in stage.Traverse():
        if not prim.IsA(UsdGeom.Mesh):
            continue
        if UsdGeom.Imageable(prim).ComputeVisibility() == UsdGeom.Tokens.invisible:
            continue
        mesh = UsdGeom.Mesh(prim)
        pts = np.asarray(mesh.GetPointsAttr().Get() or [], dtype=np.float64).reshape(-1, 3)
        counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get() or [], dtype=np.int64)
        idx = np.asarray(mesh.GetFaceVertexIndicesAttr().Get() or [], dtype=np.int64)
        where = f"{src.name}: {prim.GetPath()}"
        if len(pts) == 0 or len(counts) == 0:
            continue
        if counts.sum() != len(idx) or (counts < 3).any():
            raise GeometryError(
                f"{where}: faceVertexCounts sum to {int(counts.sum())} (each >= 3), "
                f"faceVertexIndices holds {len(idx)}"
            )
        if idx.min() < 0 or idx.max() >= len(pts):
            raise GeometryError(f"{where}: a face index is outside the {len(pts)} points")
        m = np.asarray(cache.GetLocalToWorldTransform(prim), dtype=np.float64)
        world = np.c_[pts, np.ones(len(pts))] @ m  # USD matrices act on row vectors
        tri_corner, tri_face = _fan(counts)
        tris = idx[tri_corner]
        verts.append(world[:, :3])
        faces.append(tris + offset)
        offset += len(pts)
        rgb = _display_color(UsdGeom, prim, len(pts), counts, idx, tri_corner, tri_face)
        any_color |= rgb is not None
        colors.append(rgb if rgb is not None else np.full((len(tris), 3), 0.7))
    if not faces:
        raise GeometryError(f"{src.name}: the USD stage holds no mesh with faces")
    tm = trimesh.Trimesh(np.concatenate(verts), np.concatenate(faces), process=False)
    if any_color:
        srgb = np.clip(linear_to_srgb(np.concatenate(colors).astype(np.float32)), 0, 1)
        rgba = np.hstack([np.rint(srgb * 255), np.full((len(srgb), 1), 255)]).astype(np.uint8)
        tm.visual = trimesh.visual.ColorVisuals(tm, face_colors=rgba)
    return tm


def _fan(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((t, 3) corner indices into faceVertexIndices, (t,) polygon of each triangle) of the fan
    triangulation of polygons with ``counts`` corners."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ntri = counts - 2
    face = np.repeat(np.arange(len(counts)), ntri)
    k = np.arange(ntri.sum()) - np.repeat(np.cumsum(ntri) - ntri, ntri) + 1
    first = starts[face]
    return np.stack([first, first + k, first + k + 1], axis=1), face


def _display_color(UsdGeom, prim, n_points, counts, idx, tri_corner, tri_face) -> np.ndarray | None:
    """(t, 3) linear RGB per triangle from ``primvars:displayColor``, or None."""
    pv = UsdGeom.PrimvarsAPI(prim).GetPrimvar("displayColor")
    if not pv or not pv.HasValue():
        return None
    values = np.asarray(pv.ComputeFlattened() or [], dtype=np.float64).reshape(-1, 3)
    interp = pv.GetInterpolation()
    if len(values) == 0:
        return None
    if interp == UsdGeom.Tokens.constant or len(values) == 1:
        return np.broadcast_to(values[0], (len(tri_face), 3)).copy()
    if interp == UsdGeom.Tokens.uniform and len(values) == len(counts):
        return values[tri_face]
    if interp in (UsdGeom.Tokens.vertex, UsdGeom.Tokens.varying) and len(values) == n_points:
        return values[idx[tri_corner]].mean(axis=1)
    if interp == UsdGeom.Tokens.faceVarying and len(values) == len(idx):
        return values[tri_corner].mean(axis=1)
    return None


FORMATS = (
    FormatSpec(
        name="usd",
        kinds=("mesh",),
        extensions=(".usdz", ".usd", ".usda", ".usdc"),
        description="Pixar USD / USDZ meshes (iPhone apps' default); units and up axis from the "
        "stage metadata (needs usd-core)",
        readers={"mesh": read_usd},
        sniff=sniff_usd,
    ),
)
