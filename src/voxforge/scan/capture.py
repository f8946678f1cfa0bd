"""Phone captures as one point cloud or mesh: frames opened by :mod:`voxforge.io.captures`,
fused by :mod:`voxforge.scan.fuse`.

io recognises a capture (a folder, a zip of one or an ``.r3d`` file) and reads its frames; this
module keeps the opened capture (and a zip's temporary folder) alive while the frames are fused,
so the unpacked files are removed once fusion is done. :func:`load_input` is the reader of every
input for the layers above (``voxforge.load``, the pipelines, ``voxforge info``): it is
:func:`voxforge.io.load_any` with :func:`fuse_capture` as its ``capture_reader``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voxforge.core.errors import UnsupportedInputError, VoxforgeError
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.core.progress import ProgressCallback
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.io import load_any, load_points
from voxforge.io.captures import Capture, open_capture
from voxforge.scan.fuse import fuse_frames, fuse_point_frames, fuse_tsdf


def fuse_capture(
    capture: Capture,
    name: str,
    *,
    min_confidence: int = 1,
    voxel_size: float = 0.005,
    max_depth: float = 5.0,
    normals: bool = True,
    progress: ProgressCallback | None = None,
) -> PointCloud:
    """Fuse an opened capture's frames into one z-up point cloud in metres.

    Options as :func:`voxforge.scan.fuse.fuse_frames`; point frames (a PLY sequence) are merged
    by :func:`voxforge.scan.fuse.fuse_point_frames`, which has no confidence or depth to filter.
    ``meta["format"]`` is the layout name and ``meta["capture"]`` the
    :meth:`~voxforge.io.captures.Capture.summary`; ``name`` labels the source and any error that
    is not a voxforge error.
    """
    if capture.frame_kind == "points":
        cloud = _guard(
            name,
            lambda: fuse_point_frames(
                capture.frames, voxel_size=voxel_size, normals=normals, progress=progress
            ),
        )
    else:
        cloud = _guard(
            name,
            lambda: fuse_frames(
                capture.frames,
                min_confidence=min_confidence,
                voxel_size=voxel_size,
                max_depth=max_depth,
                normals=normals,
                progress=progress,
            ),
        )
    summary = capture.summary()
    cloud.meta.update({"source": name, "format": summary["layout"], "capture": summary})
    return cloud


def load_capture(
    path: str | Path,
    *,
    name: str | None = None,
    min_confidence: int = 1,
    voxel_size: float = 0.005,
    max_depth: float = 5.0,
    normals: bool = True,
    progress: ProgressCallback | None = None,
) -> PointCloud:
    """Open a capture folder, zip or ``.r3d`` in any layout and fuse it (:func:`fuse_capture`).

    Raises:
        UnsupportedInputError: a folder in no capture layout. InputFormatError: a zip that does
        not unpack, or a malformed capture (the message names the file).
    """
    label = name or str(path)
    with open_capture(path, label) as cap:
        return fuse_capture(
            cap,
            label,
            min_confidence=min_confidence,
            voxel_size=voxel_size,
            max_depth=max_depth,
            normals=normals,
            progress=progress,
        )


def load_capture_mesh(
    path: str | Path,
    *,
    name: str | None = None,
    voxel_size: float = 0.004,
    truncation: float | None = None,
    min_confidence: int = 1,
    max_depth: float = 5.0,
    progress: ProgressCallback | None = None,
) -> Mesh:
    """Open a capture and fuse it into a coloured z-up triangle mesh (metres) by TSDF
    integration and marching cubes (:func:`voxforge.scan.fuse.fuse_tsdf`).

    Frames are re-read from disk for each pass rather than held in memory, so long captures with
    full-size colour images fit.
    """
    label = name or str(path)
    with open_capture(path, label) as cap:
        if cap.frame_kind != "depth":
            raise UnsupportedInputError(
                f"{label}: a {cap.app} {cap.layout} export holds point clouds, not depth maps, so "
                "it cannot be TSDF-fused into a mesh; read it as points"
            )
        mesh = _guard(
            label,
            lambda: fuse_tsdf(
                cap.frames,
                voxel_size=voxel_size,
                truncation=truncation,
                min_confidence=min_confidence,
                max_depth=max_depth,
                progress=progress,
            ),
        )
        summary = cap.summary()
    mesh.meta.update({"source": label, "format": summary["layout"], "capture": summary})
    return mesh


def load_input(
    source: str | os.PathLike[str] | bytes,
    *,
    up: str | None = None,
    units: str | None = None,
    filename: str | None = None,
) -> PointCloud | Mesh | VoxelGrid:
    """Read any input :func:`voxforge.io.load_any` reads, and phone captures fused into a cloud."""
    return load_any(source, up=up, units=units, filename=filename, capture_reader=fuse_capture)


def load_input_points(
    source: str | os.PathLike[str] | bytes,
    *,
    units: str | None = None,
    filename: str | None = None,
) -> PointCloud:
    """:func:`voxforge.io.load_points`, with phone captures fused into a cloud."""
    return load_points(source, units=units, filename=filename, capture_reader=fuse_capture)


def _guard(label: str, run: Callable[[], Any]) -> Any:
    """Run a fusion; errors that are not voxforge errors become one line naming the capture."""
    try:
        return run()
    except VoxforgeError:
        raise
    except Exception as e:
        raise UnsupportedInputError(
            f"{label}: capture could not be read ({type(e).__name__}: {e})"
        ) from None
