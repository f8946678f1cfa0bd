"""Typed entry points: ``load_points``, ``load_mesh``, ``load_voxels``, ``load_any``, writers.

A loader takes a path or bytes (with a ``filename`` hint), sniffs the content, tries the
format the content shows and then the one the extension names, and returns a validated core
type in z-up metres. Whatever goes wrong comes out as one voxforge error naming the input:
:class:`InputFormatError` (unreadable, truncated, malformed), :class:`UnsupportedInputError`
(unknown format, wrong kind, lying extension) or :class:`GeometryError` (empty, NaN, no faces).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from voxforge.core.errors import (
    ConfigError,
    GeometryError,
    InputFormatError,
    UnsupportedInputError,
    VoxforgeError,
)
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.io import captures, ply
from voxforge.io._base import UNIT_SCALES, Source, normalize_units
from voxforge.io.formats import EXTENSIONS, FORMATS, format_for_extension, sniff_source
from voxforge.io.heads import article, foreign_content, head_refusal

log = logging.getLogger(__name__)

PathOrBytes = str | os.PathLike[str] | bytes
KIND_HINT = {
    "points": "a point cloud; use load_points or load_any",
    "mesh": "a mesh; use load_mesh or load_any",
    "voxels": "a voxel grid; use load_voxels or load_any",
}
SCAN_FORMATS = ("ply", "pcd", "xyz")
KIND_WORD = {"points": "point cloud", "mesh": "mesh", "voxels": "voxel grid"}
FORMAT_WORD = {"gltf": "glTF", "vox": "MagicaVoxel", "binvox": "binvox", "capture": "phone-capture"}


def load_points(
    source: PathOrBytes,
    *,
    units: str | None = None,
    filename: str | None = None,
    capture_reader: captures.CaptureReader | None = None,
) -> PointCloud:
    """Read a point cloud (PLY, PCD, LAS/LAZ, XYZ/TXT/CSV, a phone capture folder, zip or .r3d).

    Args:
        source: path, or the file's bytes (then ``filename`` names it and hints the format).
        units: unit of the file's coordinates (``"m"``, ``"cm"``, ``"mm"``, ``"in"``, ...);
            default metres, or what a LAS header says.
        capture_reader: turns an opened phone capture into a point cloud
            (:func:`voxforge.scan.capture.fuse_capture`); without one a capture is refused,
            since io reads frames and ``scan`` fuses them.

    Returns:
        A validated :class:`PointCloud`, z-up metres; ``meta`` has source, format, units,
        units_guessed, up. A PLY with faces gives its vertices.
    """
    options = {"units": units, "capture_reader": capture_reader}
    obj = _load(source, "points", filename, options)
    assert isinstance(obj, PointCloud)
    return obj


def load_mesh(
    source: PathOrBytes,
    *,
    up: str | None = None,
    units: str | None = None,
    filename: str | None = None,
) -> Mesh:
    """Read a mesh (OBJ+MTL, STL, OFF, PLY with faces, GLB/glTF, 3MF, USD/USDZ) as z-up metres.

    ``up`` (``"y"``/``"z"``) overrides the format's up-axis convention; ``units`` overrides the
    automatic units (see :mod:`voxforge.io.meshes`).
    """
    obj = _load(source, "mesh", filename, {"up": up, "units": units})
    assert isinstance(obj, Mesh)
    return obj


def load_voxels(
    source: PathOrBytes,
    *,
    up: str | None = None,
    pitch: float | None = None,
    filename: str | None = None,
) -> VoxelGrid:
    """Read a voxel grid (voxforge ``.npz``, ``.npy``, binvox, MagicaVoxel ``.vox``).

    ``up`` applies to binvox (Y-up by convention; ``"z"`` for files made from z-up meshes);
    ``pitch`` (metres) sizes the cells of formats without a physical size (npy, vox).
    """
    obj = _load(source, "voxels", filename, {"up": up, "pitch": pitch})
    assert isinstance(obj, VoxelGrid)
    return obj


def load_any(
    source: PathOrBytes,
    *,
    up: str | None = None,
    units: str | None = None,
    filename: str | None = None,
    capture_reader: captures.CaptureReader | None = None,
) -> PointCloud | Mesh | VoxelGrid:
    """Read whatever the input holds: a PLY with faces is a mesh, without faces a point cloud.

    A phone capture goes through ``capture_reader`` as in :func:`load_points`.
    """
    options = {"up": up, "units": units, "capture_reader": capture_reader}
    return _load(source, "any", filename, options)


def sniff(source: PathOrBytes, *, filename: str | None = None) -> str:
    """The format name of an input, from its content first and its extension second.

    A folder is ``"capture"`` when it is in a phone capture layout (:mod:`voxforge.io.captures`).
    Raises UnsupportedInputError when neither content nor extension is known.
    """
    src = Source.from_input(source, filename)
    if src.path is not None and src.path.is_dir():
        if captures.is_capture_dir(src.path):
            return "capture"
        raise captures.not_a_capture(src.path, src.name)
    fmt = sniff_source(src) or format_for_extension(src)
    if fmt is None:
        raise _unknown(src)
    return fmt


# --- dispatch ---------------------------------------------------------------------------------


def _load(source: PathOrBytes, kind: str, filename: str | None, options: dict[str, Any]):
    src = Source.from_input(source, filename)
    options = {k: v for k, v in options.items() if v is not None}
    if src.path is not None and src.path.is_dir():
        if kind not in ("points", "any"):
            raise InputFormatError(f"{src.name}: is a directory, expected a file")
        reader = options.get("capture_reader")
        cloud = captures.read_capture_dir(src.path, src.name, capture_reader=reader)
        return _finish_points(src, cloud, "capture", None, options.get("units"))
    if not src.size:
        raise InputFormatError(f"{src.name}: file is empty")
    # Only the head and the size decide what to try; a file is read whole by its reader.
    by_content = sniff_source(src)
    by_ext = format_for_extension(src)
    head = src.head()
    if by_content is None:
        foreign = foreign_content(head)
        if foreign is not None:
            raise _foreign(src, foreign, by_ext)
    candidates = [f for f in dict.fromkeys((by_content, by_ext)) if f is not None]
    if not candidates:
        raise _unknown(src)
    failures: list[tuple[str, VoxforgeError]] = []
    for fmt in candidates:
        refusal = head_refusal(fmt, head, src.size)
        if refusal is not None:
            failures.append((fmt, src.error(refusal)))
            continue
        try:
            obj = _read(src, fmt, kind, options)
        except GeometryError:
            raise  # the file parsed; its geometry is what is wrong
        except (InputFormatError, UnsupportedInputError) as e:
            failures.append((fmt, e))
            continue
        if by_ext is not None and by_ext != fmt:
            log.warning("%s: extension says %s but content is %s", src.name, by_ext, fmt)
            obj.meta["extension_mismatch"] = by_ext
        return obj
    if len(failures) == 1:
        raise failures[0][1]
    (f1, e1), (f2, e2) = failures
    raise UnsupportedInputError(
        f"{src.name}: extension says {f2.upper()} but content looks like {f1.upper()}, and "
        f"neither parses ({f1}: {_strip(src, e1)}; {f2}: {_strip(src, e2)})"
    )


def _read(src: Source, fmt: str, kind: str, options: dict[str, Any]):
    spec = FORMATS[fmt]
    read_kind = kind
    if kind == "any":
        read_kind = spec.kinds[0]
        if fmt == "ply":
            read_kind = "mesh" if _guarded(src, fmt, ply.ply_has_faces) else "points"
    if read_kind not in spec.readers:
        held = spec.kinds[0]
        raise UnsupportedInputError(f"{src.name}: {fmt.upper()} holds {KIND_HINT.get(held, held)}")
    reader_options = _options_for(fmt, read_kind, options)
    obj = _guarded(src, fmt, spec.readers[read_kind], **reader_options)
    if read_kind == "points":
        return _finish_points(src, obj, fmt, obj.meta.get("units"), options.get("units"))
    obj.meta = {"source": src.name, **obj.meta}
    obj.meta.setdefault("format", fmt)
    if read_kind == "voxels":
        if obj.count == 0:
            raise GeometryError(f"{src.name}: voxel grid has no filled cells")
        obj.meta.setdefault("units", "m")
        obj.meta.setdefault("units_guessed", False)
        obj.meta.setdefault("up", "z")
    return obj


def _options_for(fmt: str, kind: str, options: dict[str, Any]) -> dict[str, Any]:
    if kind == "mesh":
        return {k: options[k] for k in ("up", "units") if k in options}
    if kind == "voxels":
        return {k: options[k] for k in ("up", "pitch") if k in options}
    if fmt == "capture" and "capture_reader" in options:
        return {"capture_reader": options["capture_reader"]}
    if fmt == "las" and "units" in options:
        return {"units": options["units"]}
    return {}


def _guarded(src: Source, fmt: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a reader; anything that is not a voxforge error becomes an InputFormatError."""
    try:
        return func(src, *args, **kwargs)
    except VoxforgeError:
        raise
    except Exception as e:  # third-party parsers raise anything on malformed input
        text = str(e).strip().splitlines()
        detail = f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__
        raise InputFormatError(f"{src.name}: cannot read as {fmt.upper()} ({detail})") from e


def _finish_points(
    src: Source, cloud: PointCloud, fmt: str, reader_units: str | None, units: str | None
) -> PointCloud:
    """Apply the ``units`` override (readers report metres), fill ``meta``, validate."""
    units = normalize_units(units)
    meta = dict(cloud.meta)
    if fmt in SCAN_FORMATS or fmt == "capture":
        if units is not None and units != "m":
            cloud = PointCloud(xyz=cloud.xyz * UNIT_SCALES[units], rgb=cloud.rgb, normals=cloud.normals)
        meta["units"] = units or "m"
        meta["units_guessed"] = units is None and fmt != "capture"  # ARKit depth is metres
    else:
        meta.setdefault("units", reader_units or units or "m")
        meta.setdefault("units_guessed", units is None)
    meta.setdefault("format", fmt)
    meta.setdefault("up", "z")
    cloud.meta = {"source": src.name, **meta}
    return cloud.validate(src.name)


def _strip(src: Source, e: BaseException) -> str:
    return str(e).removeprefix(f"{src.name}: ")


def _foreign(src: Source, what: str, by_ext: str | None) -> UnsupportedInputError:
    """``photo.obj: is a PNG image, not an OBJ mesh`` (images go to ``voxforge reconstruct``)."""
    if by_ext is not None:
        kinds = FORMATS[by_ext].kinds
        name = FORMAT_WORD.get(by_ext, by_ext.upper())
        what_it_holds = KIND_WORD.get(kinds[0], kinds[0]) if len(kinds) == 1 else "file"
        expected = f"{article(name)} {name} {what_it_holds}"
    else:
        expected = "a mesh, scan or voxel grid"
    hint = "; photos go to `voxforge reconstruct`" if what.endswith("image") else ""
    return UnsupportedInputError(f"{src.name}: is {what}, not {expected}{hint}")


def _unknown(src: Source) -> UnsupportedInputError:
    head = src.head(16) if src.path is None or src.path.is_file() else b""
    known = ", ".join(sorted(EXTENSIONS))
    return UnsupportedInputError(
        f"{src.name}: unknown format (extension {src.suffix or 'none'!r}, content starts with "
        f"{head!r}); readable extensions: {known}"
    )


# --- writers ----------------------------------------------------------------------------------


def save_points(
    cloud: PointCloud,
    path: str | os.PathLike[str],
    *,
    ascii: bool = False,
    format: str | None = None,
    **options: Any,
) -> Path:
    """Write a point cloud, atomically; the format follows the extension (default PLY).

    PLY: binary little-endian (``ascii=True`` for text), xyz float32 (float64 beyond 1 km),
    colours uint8, normals float32. PCD: ``encoding="binary" | "ascii" | "binary_compressed"``
    (``ascii=True`` means ascii). XYZ/TXT/CSV: text. Returns the path written.
    """
    cloud.validate("point cloud to save")
    fmt = (format or EXTENSIONS.get(Path(path).suffix.lower()) or "ply").lower()
    spec = FORMATS[fmt]
    if "points" not in spec.kinds or spec.writer is None:
        raise ConfigError(f"cannot write point clouds as {fmt}; use .ply, .pcd or .xyz")
    if fmt == "ply":
        options["ascii"] = ascii
    elif fmt == "pcd" and ascii:
        options.setdefault("encoding", "ascii")
    spec.writer(cloud, path, **options)
    return Path(path)


def save_voxels(
    grid: VoxelGrid, path: str | os.PathLike[str], *, format: str | None = None, **options: Any
) -> Path:
    """Write a voxel grid, atomically: ``.npz`` (default, lossless), ``.binvox`` or ``.vox``."""
    fmt = (format or EXTENSIONS.get(Path(path).suffix.lower()) or "npz").lower()
    spec = FORMATS[fmt]
    if "voxels" not in spec.kinds or spec.writer is None:
        raise ConfigError(f"cannot write voxel grids as {fmt}; use .npz, .binvox or .vox")
    if not np.isfinite(grid.origin).all():
        raise GeometryError("voxel grid origin is not finite")
    spec.writer(grid, path, **options)
    return Path(path)
