"""Phone capture layouts (folders, zips, ``.r3d`` files): recognise the app, open its frames.

A capture is a set of frames, as a phone scanning app exports them: depth maps with poses, or
per-frame point clouds in one world space. Five layouts are read, each by its own module, into
:class:`~voxforge.io.arkit.CaptureFrame` sequences in ARKit's conventions (depth frames) or
:class:`~voxforge.io.record3d.PointFrame` sequences (point frames):

===================  ==========================================================================
``3d-scanner-app``   3D Scanner App "All Data" export (:mod:`voxforge.io.arkit`)
``stray-scanner``    Stray Scanner (iOS/Android) folder (:mod:`voxforge.io.stray`)
``stray-dataset``    the Stray toolkit's dataset folder: Open3D ``camera_intrinsics.json`` and
                     ``scene/trajectory.log`` (:mod:`voxforge.io.stray`)
``record3d``         Record3D ``.r3d`` file or its unpacked folder (:mod:`voxforge.io.record3d`)
``record3d-ply``     Record3D PLY sequence: a folder of numbered per-frame ``.ply`` point clouds
                     (:mod:`voxforge.io.record3d`; point frames)
===================  ==========================================================================

:func:`open_capture` recognises the layout of a folder, a zip of one, or an ``.r3d`` file (a zip
is unpacked into a temporary folder, refusing absolute or ``..`` member paths and absurd sizes,
and removed when the ``with`` block ends) and gives a :class:`Capture`: its lazy frames and
:meth:`Capture.summary` (app, frames, colour frames, depth size, time span, the app's own
meshes). io never fuses frames: :mod:`voxforge.scan.capture` opens a capture here and fuses it
into a z-up point cloud or mesh, and passes its reader to :func:`voxforge.io.load_any` as
``capture_reader`` (without one, a capture is recognised by :func:`voxforge.io.sniff` but
refused by the loaders). docs/formats.md lists each layout's facts.
"""

from __future__ import annotations

import io
import logging
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from voxforge.core.errors import (
    InputFormatError,
    SizeLimitError,
    UnsupportedInputError,
    VoxforgeError,
)
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.io._base import FormatSpec, Source
from voxforge.io.heads import ZIP_ERRORS, zip_problem
from voxforge.io.limits import extract_zip_capped, read_limits

MAX_UNZIPPED_BYTES = 8 << 30
"""Refuse capture zips that would expand beyond 8 GiB (zip bombs, wrong uploads)."""
CAPTURE_FILE_SUFFIXES = (".zip", ".r3d")


@dataclass
class Capture:
    """An opened capture: its frames (read lazily) and what the app wrote beside them.

    Attributes:
        app: the app whose layout was recognised (``"3D Scanner App"``, ...).
        layout: the layout's short name (``"3d-scanner-app"``, ``"stray-scanner"``, ``"record3d"``).
        root: the folder the frames were found in.
        frames: the frames, each read from disk when indexed (a ``Sequence[CaptureFrame]``, or
            ``Sequence[PointFrame]`` when ``frame_kind`` is ``"points"``).
        color_frames: how many frames have an image (point frames: colours) of their own.
        depth_size: (width, height) of the depth maps; None for point frames.
        time_span_s: seconds between the first and last frame, or None when the app keeps no times.
        app_meshes: the app's own meshes in the export, best first.
        frame_kind: ``"depth"`` (depth maps with poses) or ``"points"`` (point clouds in one
            world space).
    """

    app: str
    layout: str
    root: Path
    frames: Any
    color_frames: int
    depth_size: tuple[int, int] | None
    time_span_s: float | None = None
    app_meshes: list[Path] = field(default_factory=list)
    frame_kind: str = "depth"

    def summary(self) -> dict[str, Any]:
        """JSON-safe description for ``voxforge info`` and ``meta["capture"]``."""
        return {
            "app": self.app,
            "layout": self.layout,
            "frames": len(self.frames),
            "color_frames": self.color_frames,
            "depth_size": None
            if self.depth_size is None
            else f"{self.depth_size[0]}x{self.depth_size[1]}",
            "time_span_s": None if self.time_span_s is None else round(self.time_span_s, 3),
            "app_meshes": [p.name for p in self.app_meshes],
        }


Detector = Callable[[Path], bool]
Opener = Callable[[Path], Capture]


def _layouts() -> list[tuple[str, Detector, Opener]]:
    """(name, detect, open) of every layout, most specific first."""
    from voxforge.io import arkit, record3d, stray

    return [
        ("record3d", record3d.is_record3d, record3d.open_record3d),
        ("record3d-ply", record3d.is_record3d_ply, record3d.open_record3d_ply),
        ("stray-scanner", stray.is_stray, stray.open_stray),
        ("stray-dataset", stray.is_stray_dataset, stray.open_stray_dataset),
        ("3d-scanner-app", arkit.is_capture, arkit.open_scanner_app),
    ]


def capture_layout(folder: Path) -> str | None:
    """The layout name of a folder (or of its only sub-folder), or None when it is no capture."""
    found = _find_layout(folder)
    return None if found is None else found[0]


def is_capture_dir(path: str | Path) -> bool:
    """True for a folder in one of the capture layouts."""
    p = Path(path)
    return p.is_dir() and capture_layout(p) is not None


def _find_layout(folder: Path) -> tuple[str, Path, Opener] | None:
    for root in _roots(folder):
        for name, detect, opener in _layouts():
            try:
                if detect(root):
                    return name, root, opener
            except (InputFormatError, OSError):
                continue
    return None


def _roots(folder: Path) -> list[Path]:
    """The folder, then its only sub-folder (zips usually hold one top-level folder)."""
    roots = [folder]
    try:
        subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("__MACOSX", "."))]
    except OSError:
        return roots
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    if len(subs) == 1 and not files:
        roots.append(subs[0])
    return roots


@contextmanager
def open_capture(path: str | Path, name: str | None = None) -> Iterator[Capture]:
    """Open a capture folder, a zip of one or an ``.r3d`` file; unpacked files live until the
    ``with`` block ends.

    Raises:
        UnsupportedInputError: a folder in no known layout. InputFormatError: a zip that does not
        unpack, or a malformed capture (the message names the file).
    """
    p = Path(path)
    label = name or str(p)
    if p.is_dir():
        yield _open_dir(p, label)
        return
    with _open_source(Source.from_input(p, label)) as cap:
        yield cap


@contextmanager
def _open_source(src: Source) -> Iterator[Capture]:
    """Unpack a zip or ``.r3d`` into a temporary folder, open it, remove it when the block ends."""
    with tempfile.TemporaryDirectory(prefix="voxforge-capture-") as tmp:
        unpack_zip(src, Path(tmp))
        with _named_inside(tmp, src.name):
            yield _open_dir(Path(tmp), src.name)


@contextmanager
def _named_inside(tmp: str, label: str) -> Iterator[None]:
    """Errors and warnings about unpacked files name them inside the archive
    (``scan.r3d/rgbd/3.depth``), not by the temporary folder they were unpacked into."""

    def rename(record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if tmp in text:
            record.msg, record.args = text.replace(tmp, label), ()
        return True

    readers = [logging.getLogger(f"voxforge.io.{m}") for m in ("arkit", "stray", "record3d", "captures")]
    for logger in readers:
        logger.addFilter(rename)
    try:
        yield
    except VoxforgeError as e:
        text = str(e)
        if tmp not in text:
            raise
        raise type(e)(text.replace(tmp, label)) from None
    finally:
        for logger in readers:
            logger.removeFilter(rename)


def _open_dir(folder: Path, label: str) -> Capture:
    found = _find_layout(folder)
    if found is None:
        raise not_a_capture(folder, label)
    _, root, opener = found
    return opener(root)


def not_a_capture(folder: Path, label: str) -> UnsupportedInputError:
    """The error for a folder in no capture layout; it names the app when the folder is a capture
    that lost its depth frames (poses and intrinsics only), so the user knows what to copy."""
    for root in _roots(folder):
        partial = _without_depth(root)
        if partial is not None:
            return UnsupportedInputError(
                f"{label}: {partial}, but no depth frames; voxforge fuses the depth frames, so "
                "give the whole capture folder as the app exported it (or the app's point "
                "cloud or mesh)"
            )
    return UnsupportedInputError(
        f"{label}: is a folder but not a phone capture (3D Scanner App, Stray Scanner, "
        "Record3D or Record3D PLY sequence layout); expected a point cloud, mesh or voxel "
        "file, or a capture folder"
    )


def _without_depth(root: Path) -> str | None:
    """What capture ``root`` looks like when it has an app's pose files but not its depth
    frames, or None."""
    from voxforge.io import arkit, record3d, stray

    if (root / stray.ODOMETRY).is_file() and not (root / "depth").is_dir():
        return "a Stray Scanner capture with its poses (odometry.csv)"
    if (
        (root / stray.INTRINSICS_JSON).is_file()
        and (root / stray.TRAJECTORY).is_file()
        and not (root / "depth").is_dir()
    ):
        return "a Stray dataset with its intrinsics and poses (scene/trajectory.log)"
    if (root / record3d.METADATA).is_file() and not (root / "rgbd").is_dir():
        return "a Record3D export with its metadata"
    if arkit.has_poses_only(root):
        return "a 3D Scanner App export with its frame poses (frame_*.json)"
    return None


def unpack_zip(src: Source, dest: Path) -> None:
    """Unpack a zip (or ``.r3d``) into ``dest``, refusing unsafe member paths and zip bombs.

    The bytes written are counted while unpacking and stop at the cap of
    :func:`voxforge.io.limits.read_limits`, whatever sizes the zip declares.
    """
    cap = min(MAX_UNZIPPED_BYTES, read_limits().max_unzipped_bytes)
    data = src.data() if src.path is None else None
    try:
        with zipfile.ZipFile(io.BytesIO(data) if data is not None else src.path) as z:  # type: ignore[arg-type]
            extract_zip_capped(z, dest, _safe_members(src, z, cap), cap, src.name)
    except VoxforgeError:
        raise
    except ZIP_ERRORS as e:
        raise src.error(f"cannot unpack the capture: the file {zip_problem(e)}") from None
    except Exception as e:  # disk errors, zlib errors from corrupt members and the like
        raise src.error(f"cannot unpack zip ({type(e).__name__}: {e})") from None


def _safe_members(src: Source, z: zipfile.ZipFile, max_bytes: int) -> list[zipfile.ZipInfo]:
    members = z.infolist()
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise SizeLimitError(f"{src.name}: zip would expand to {total:,} bytes (limit {max_bytes:,})")
    for m in members:
        p = PurePosixPath(m.filename)
        if p.is_absolute() or ".." in p.parts or ":" in m.filename:
            raise src.error(f"zip member {m.filename!r} points outside the archive folder")
    return members


def load_app_mesh(path: str | Path, *, name: str | None = None) -> Mesh:
    """The app's own mesh from a capture export (``textured_output.obj`` before ``export.obj``),
    read as the app writes it: ARKit's y-up world in metres, turned z-up like the frames.

    Raises:
        UnsupportedInputError: the capture holds no mesh of the app's.
    """
    from voxforge.io.loaders import load_mesh

    label = name or str(path)
    p = Path(path)
    if not p.is_dir() and not (p.is_file() and zipfile.is_zipfile(p)):
        raise UnsupportedInputError(
            f"{label}: the app's own mesh is read from a capture export (a folder, zip or .r3d); "
            "this is not one (read a mesh file directly, without --use-app-mesh)"
        )
    with open_capture(path, label) as cap:
        if not cap.app_meshes:
            raise UnsupportedInputError(
                f"{label}: the {cap.app} export holds no mesh of the app's own (looked for "
                "textured_output.obj, export.obj and other un-numbered meshes beside the frames)"
            )
        chosen = cap.app_meshes[0]
        mesh = load_mesh(chosen, up="y", units="m")
        mesh.meta.update({"source": label, "app_mesh": chosen.name, "capture": cap.summary()})
    return mesh


CaptureReader = Callable[[Capture, str], PointCloud]
"""Turns an opened capture (and the name its errors use) into a point cloud.

io reads frames and never fuses them: :func:`voxforge.scan.capture.fuse_capture` is the reader
the layers above pass to :func:`voxforge.io.load_any` (``capture_reader=``)."""


def _refuse(label: str) -> UnsupportedInputError:
    return UnsupportedInputError(
        f"{label}: is a phone capture; voxforge.io reads its frames (io.captures.open_capture) and "
        "voxforge.scan fuses them (voxforge.load or voxforge.scan.capture.load_capture)"
    )


def read_capture_dir(
    path: Path, name: str, *, capture_reader: CaptureReader | None = None
) -> PointCloud:
    """A capture folder in any layout through ``capture_reader``; a folder in none is refused by
    name, and so is any capture when no reader is given."""
    with open_capture(path, name) as cap:
        if capture_reader is None:
            raise _refuse(name)
        return capture_reader(cap, name)


def read_capture_zip(src: Source, *, capture_reader: CaptureReader | None = None) -> PointCloud:
    """A zipped capture folder or an ``.r3d`` file through ``capture_reader``; the unpacked
    files live until the reader returns."""
    if capture_reader is None:
        raise _refuse(src.name)
    with _open_source(src) as cap:
        return capture_reader(cap, src.name)


FORMATS = (
    FormatSpec(
        name="capture",
        kinds=("points",),
        extensions=CAPTURE_FILE_SUFFIXES,
        description="phone capture: 3D Scanner App / Stray Scanner / Record3D folder or PLY "
        "sequence, a .zip of one, or a Record3D .r3d",
        readers={"points": read_capture_zip},
        sniff=None,  # zips are told apart by member names in formats.sniff_source
    ),
)
