"""USD meshes (``.usdz``, ``.usda``, ``.usdc``, ``.usd``): what iPhone scanning apps (Polycam,
Scaniverse, Apple's Object Capture, the 3D Scanner App) share by default.

Read with Pixar's ``usd-core`` (``pxr``) from PyPI. Every visible ``UsdGeom.Mesh`` prim is taken
with its world transform, its polygons fanned into triangles; ``primvars:displayColor``
(constant, uniform, vertex or faceVarying; linear RGB by the USD convention) becomes face colours.
Units and up axis come from the stage's own metadata: ``metersPerUnit`` (when the file does not
author it, USD's fallback of centimetres applies and ``units_guessed`` is True) and ``upAxis``
(Y or Z; fallback Y). ``units=`` and ``up=`` override. A ``UsdPreviewSurface`` material whose
``diffuseColor`` is a ``UsdUVTexture`` (how Polycam, Scaniverse and Object Capture colour their
scans) is sampled per triangle into face colours; its constant ``diffuseColor`` is used otherwise,
then ``displayColor``. ``UsdGeom.Points`` are not read.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from voxforge.core.errors import GeometryError, InputFormatError, UnsupportedInputError
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
        # a file on disk is opened in place, so textures beside it resolve
        # (a .usd file holds either encoding; USD picks the right one from its content)
        in_place = (suffix, ".usd") if suffix != ".usdz" else (suffix,)
        path = src.path if src.path is not None and src.path.suffix.lower() in in_place else None
        if path is None:
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
        rgb = _texture_colors(where, prim, idx, tri_corner)
        if rgb is None:
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


def _texture_colors(where: str, prim: Any, idx: np.ndarray, tri_corner: np.ndarray) -> np.ndarray | None:
    """(t, 3) linear RGB per triangle from the bound ``UsdPreviewSurface``'s ``diffuseColor``:
    a ``UsdUVTexture`` sampled at each triangle's corners (pulled a third of the way to its
    centroid, away from UV seams) and centroid, averaged in linear light; or the input's constant
    colour. None when the prim has no such material or texture coordinates."""
    from pxr import Ar, UsdGeom, UsdShade

    from voxforge.core.color import srgb_to_linear

    material, _ = UsdShade.MaterialBindingAPI(prim).ComputeBoundMaterial()
    if not material:
        return None
    surface = material.ComputeSurfaceSource()[0]
    inp = surface.GetInput("diffuseColor") if surface else None
    if not inp:
        return None
    sources = inp.GetConnectedSources()[0]
    if not sources:
        value = inp.Get()
        if value is None:
            return None
        return np.broadcast_to(np.asarray(value, dtype=np.float64)[:3], (len(tri_corner), 3)).copy()
    tex = UsdShade.Shader(sources[0].source.GetPrim())
    file_input = tex.GetInput("file")
    asset = file_input.Get() if file_input else None
    if asset is None or not asset.resolvedPath:
        return None
    handle = Ar.GetResolver().OpenAsset(Ar.ResolvedPath(asset.resolvedPath))
    buf = handle.GetBuffer() if handle else None
    img = None
    if buf:
        import cv2

        img = cv2.imdecode(np.frombuffer(bytes(buf), np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise InputFormatError(f"{where}: texture {asset.authoredPath} is not a readable image")
    varname = "st"
    st_input = tex.GetInput("st")
    st_sources = st_input.GetConnectedSources()[0] if st_input else []
    if st_sources:
        reader = UsdShade.Shader(st_sources[0].source.GetPrim())
        name_input = reader.GetInput("varname")
        if name_input and name_input.Get():
            varname = str(name_input.Get())
    pv = UsdGeom.PrimvarsAPI(prim).GetPrimvar(varname)
    if not pv or not pv.HasValue():
        return None
    uv = np.asarray(pv.ComputeFlattened(), dtype=np.float64).reshape(-1, 2)
    interp = pv.GetInterpolation()
    if interp == UsdGeom.Tokens.faceVarying and len(uv) == len(idx):
        corner_uv = uv[tri_corner]
    elif interp in (UsdGeom.Tokens.vertex, UsdGeom.Tokens.varying) and len(uv) > idx.max():
        corner_uv = uv[idx[tri_corner]]
    else:
        return None
    linear = srgb_to_linear(img[..., ::-1].astype(np.float32) / 255.0)
    h, w = linear.shape[:2]
    centroid = corner_uv.mean(axis=1, keepdims=True)
    samples = np.concatenate([corner_uv + (centroid - corner_uv) / 3.0, centroid], axis=1)
    u = samples[..., 0] % 1.0
    v = samples[..., 1] % 1.0
    col = np.minimum((u * w).astype(np.int64), w - 1)
    row = np.minimum(((1.0 - v) * h).astype(np.int64), h - 1)  # st's origin is the bottom left
    return linear[row, col].mean(axis=1).astype(np.float64)


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
