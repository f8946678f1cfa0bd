"""Record3D captures: the ``.r3d`` file (a zip) or its unpacked folder, and PLY sequences.

Layout (Record3D's "Export > .r3d")::

    capture.r3d (zip)
      metadata            JSON: "w", "h" colour size; "dw", "dh" depth size; "K": 9 numbers, the
                          colour camera's pinhole matrix stored column-major (fx, 0, 0, 0, fy, 0,
                          cx, cy, 1); "fps"; "poses": one [qx, qy, qz, qw, tx, ty, tz] per frame,
                          camera-to-world in ARKit's y-up world (camera looking down -z), metres;
                          optional "frameTimestamps" (s)
      rgbd/0.jpg          colour image (w x h)
      rgbd/0.depth        LZFSE-compressed float32 z-depth in metres, dh x dw (NaN = no return)
      rgbd/0.conf         LZFSE-compressed uint8 confidence 0/1/2, dh x dw (optional)
      icon                preview image (not a frame)

LZFSE is decoded with the ``lzfse`` package from PyPI. Depth is turned into the uint16
millimetres of :class:`~voxforge.io.arkit.CaptureFrame` (0.5 mm rounding, far beyond 65.5 m
dropped).

Layout of Record3D's "Export > PLY sequence" (a folder, or a zip of one)::

    sequence/
      0.ply, 1.ply, ...   one point cloud per frame, numbered (any common prefix, any zero
                          padding): ``element vertex`` with float x, y, z in metres and uchar
                          red, green, blue (optional nx, ny, nz); no faces. Every frame in the one
                          world space of the recording, ARKit's y-up axes, so the frames line up
                          without poses.
      metadata(.json)     optional, from the same recording: its "fps" or "frameTimestamps"
                          give the time span (the PLY files carry no times)

The frames are :class:`PointFrame` s (points, not depth maps); :mod:`voxforge.scan.capture`
merges them per voxel (:func:`voxforge.scan.fuse.fuse_point_frames`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from voxforge.core.errors import InputFormatError, UnsupportedInputError
from voxforge.core.pointcloud import PointCloud
from voxforge.io._base import Source
from voxforge.io.arkit import (
    CaptureFrame,
    LazyFrames,
    check_confidence,
    check_intrinsics,
    check_pose,
    decode_image,
)
from voxforge.io.stray import QUATERNION_TOL, quaternion_to_matrix

METADATA = "metadata"


def is_record3d(folder: Path) -> bool:
    """A folder with a ``metadata`` file and an ``rgbd/`` sub-folder."""
    return (folder / METADATA).is_file() and (folder / "rgbd").is_dir()


def _lzfse_decompress(data: bytes, where: Path) -> bytes:
    try:
        import lzfse
    except ImportError:
        raise UnsupportedInputError(
            f"{where}: Record3D depth is LZFSE-compressed; install the 'lzfse' package to read it"
        ) from None
    try:
        return lzfse.decompress(data)
    except Exception as e:  # lzfse.error on corrupt streams
        raise InputFormatError(f"{where}: LZFSE data does not decompress ({e})") from None


def _json_object(path: Path) -> dict[str, Any]:
    """A metadata file's JSON object; one line naming the file when it is not one."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputFormatError(f"{path}: not valid JSON metadata ({type(e).__name__})") from None
    if not isinstance(meta, dict):
        raise InputFormatError(f"{path}: expected a JSON object")
    return meta


def read_metadata(path: Path) -> dict[str, Any]:
    """The checked ``metadata`` JSON: sizes, intrinsics (3, 3), poses (n, 4, 4), times."""
    meta = _json_object(path)
    try:
        w, h, dw, dh = (int(meta[k]) for k in ("w", "h", "dw", "dh"))
        k = np.asarray(meta["K"], dtype=np.float64)
        poses = np.asarray(meta["poses"], dtype=np.float64)
    except KeyError as e:
        raise InputFormatError(f"{path}: no {e.args[0]!r} entry") from None
    except (TypeError, ValueError):
        raise InputFormatError(f"{path}: w, h, dw, dh, K or poses is not numeric") from None
    if min(w, h, dw, dh) < 2:
        raise InputFormatError(f"{path}: image sizes must be at least 2 pixels")
    if k.size != 9 or not np.isfinite(k).all():
        raise InputFormatError(f"{path}: 'K' must hold 9 finite numbers, found {k.size}")
    k = k.reshape(3, 3).T  # stored column-major
    check_intrinsics(k, path)
    if poses.ndim != 2 or poses.shape[1] != 7 or len(poses) == 0:
        raise InputFormatError(f"{path}: 'poses' must be rows of 7 numbers, found shape {poses.shape}")
    if not np.isfinite(poses).all():
        raise InputFormatError(f"{path}: 'poses' holds NaN or infinite values")
    norm = np.linalg.norm(poses[:, :4], axis=1)
    bad = np.flatnonzero(np.abs(norm - 1.0) > QUATERNION_TOL)
    if len(bad):
        raise InputFormatError(
            f"{path}: pose {bad[0]} is not a rotation (quaternion norm {norm[bad[0]]:.4g})"
        )
    mats = np.tile(np.eye(4), (len(poses), 1, 1))
    mats[:, :3, :3] = quaternion_to_matrix(poses[:, :4] / norm[:, None])
    mats[:, :3, 3] = poses[:, 4:]
    times = meta.get("frameTimestamps")
    fps = meta.get("fps")
    if isinstance(times, list) and len(times) == len(poses):
        span = float(times[-1]) - float(times[0])
    elif isinstance(fps, int | float) and fps > 0:
        span = (len(poses) - 1) / float(fps)
    else:
        span = None
    return {"color_size": (w, h), "depth_size": (dw, dh), "K": k, "poses": mats, "span": span}


class Record3DFrames(LazyFrames):
    """The frames of an unpacked Record3D capture."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.meta = read_metadata(folder / METADATA)
        rgbd = folder / "rgbd"
        self.numbers = sorted(
            int(p.stem) for p in rgbd.iterdir() if p.suffix == ".depth" and p.stem.isdigit()
        )
        if not self.numbers:
            raise InputFormatError(f"{rgbd}: no frames (expected 0.depth, 1.depth, ...)")
        too_many = [n for n in self.numbers if n >= len(self.meta["poses"])]
        if too_many:
            raise InputFormatError(
                f"{rgbd / f'{too_many[0]}.depth'}: frame {too_many[0]} has no pose "
                f"(metadata lists {len(self.meta['poses'])})"
            )
        super().__init__(len(self.numbers))
        self.color_frames = sum((rgbd / f"{n}.jpg").is_file() for n in self.numbers)

    def _where(self, i: int) -> str:
        return str(self.folder / "rgbd" / f"{self.numbers[i]}.depth")

    def _read(self, i: int) -> CaptureFrame:
        n = self.numbers[i]
        rgbd = self.folder / "rgbd"
        dw, dh = self.meta["depth_size"]
        depth_path = rgbd / f"{n}.depth"
        raw = _lzfse_decompress(_read_bytes(depth_path), depth_path)
        if len(raw) != 4 * dw * dh:
            raise InputFormatError(
                f"{depth_path}: holds {len(raw)} bytes, metadata's {dw}x{dh} float32 depth "
                f"needs {4 * dw * dh}"
            )
        metres = np.frombuffer(raw, dtype="<f4").reshape(dh, dw).astype(np.float64)
        mm = np.where(np.isfinite(metres) & (metres > 0), np.rint(metres * 1000.0), 0.0)
        depth = np.where(mm <= 65535, mm, 0).astype(np.uint16)
        conf_path = rgbd / f"{n}.conf"
        if conf_path.is_file():
            raw_c = _lzfse_decompress(_read_bytes(conf_path), conf_path)
            if len(raw_c) != dw * dh:
                raise InputFormatError(
                    f"{conf_path}: holds {len(raw_c)} bytes, {dw}x{dh} uint8 needs {dw * dh}"
                )
            conf = np.frombuffer(raw_c, dtype=np.uint8).reshape(dh, dw).copy()
            check_confidence(conf, depth.shape, conf_path)
        else:
            conf = np.full(depth.shape, 2, dtype=np.uint8)
        jpg = rgbd / f"{n}.jpg"
        rgb = None
        if jpg.is_file():
            rgb = cv2.cvtColor(decode_image(_read_bytes(jpg), cv2.IMREAD_COLOR, jpg), cv2.COLOR_BGR2RGB)
        pose = self.meta["poses"][n]
        check_pose(pose, self.folder / METADATA, f"pose {n}")
        return CaptureFrame(
            depth_mm=depth,
            confidence=conf,
            rgb=rgb,
            pose=pose,
            intrinsics=self.meta["K"],
            color_size=self.meta["color_size"],
        )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputFormatError(f"{path}: cannot read ({e.strerror or e})") from None


def open_record3d(folder: Path):
    """A :class:`~voxforge.io.captures.Capture` of an unpacked Record3D capture."""
    from voxforge.io.captures import Capture

    frames = Record3DFrames(folder)
    return Capture(
        app="Record3D",
        layout="record3d",
        root=folder,
        frames=frames,
        color_frames=frames.color_frames,
        depth_size=frames.meta["depth_size"],
        time_span_s=frames.meta["span"],
    )


def write_r3d(frames: list[CaptureFrame], path: Path, *, fps: float = 60.0) -> Path:
    """Write frames as a Record3D ``.r3d`` zip (for tests and tools), in the layout above."""
    import zipfile

    import lzfse

    from voxforge.io.stray import matrix_to_quaternion

    h, w = frames[0].depth_mm.shape
    cw, ch = frames[0].rgb_size
    meta = {
        "w": cw,
        "h": ch,
        "dw": w,
        "dh": h,
        "fps": fps,
        "K": [float(v) for v in frames[0].intrinsics.T.reshape(-1)],
        "poses": [
            [
                *(float(v) for v in matrix_to_quaternion(f.pose[:3, :3])),
                *(float(v) for v in f.pose[:3, 3]),
            ]
            for f in frames
        ],
        "initPose": [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(METADATA, json.dumps(meta))
        for i, f in enumerate(frames):
            metres = np.where(f.depth_mm > 0, f.depth_mm * 0.001, np.nan).astype("<f4")
            z.writestr(f"rgbd/{i}.depth", lzfse.compress(metres.tobytes()))
            z.writestr(f"rgbd/{i}.conf", lzfse.compress(f.confidence.astype(np.uint8).tobytes()))
            if f.rgb is not None:
                _, buf = cv2.imencode(
                    ".jpg", cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
                )
                z.writestr(f"rgbd/{i}.jpg", buf.tobytes())
    return path


# --- PLY sequences -------------------------------------------------------------------------------

PLY_FRAME = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)\.ply$", re.IGNORECASE)
_HEAD_BYTES = 64 << 10
"""Bytes read from each frame to check its header when the sequence is opened."""


@dataclass
class PointFrame:
    """One frame of a PLY sequence: its points in the recording's y-up world, metres.

    Attributes:
        xyz: (n, 3) float64 positions (ARKit axes: +y up).
        rgb: (n, 3) float32 sRGB colours in 0..1, or None when the file has no colours.
        normals: (n, 3) float32 normals (ARKit axes), or None when the file has none.
    """

    xyz: np.ndarray
    rgb: np.ndarray | None = None
    normals: np.ndarray | None = None


def ply_sequence_files(folder: Path) -> list[Path]:
    """The numbered ``.ply`` files of a folder in frame order; empty unless every numbered
    ``.ply`` shares one name prefix."""
    found: dict[str, list[tuple[int, Path]]] = {}
    for p in folder.iterdir():
        m = PLY_FRAME.match(p.name)
        if m and p.is_file() and not p.name.startswith("."):
            found.setdefault(m["prefix"], []).append((int(m["number"]), p))
    if len(found) != 1:
        return []
    frames = sorted(next(iter(found.values())))
    numbers = [n for n, _ in frames]
    if len(set(numbers)) != len(numbers):
        return []  # 1.ply beside 01.ply: not one numbering
    return [p for _, p in frames]


def is_record3d_ply(folder: Path) -> bool:
    """A folder of numbered ``.ply`` files, the first not declaring faces (numbered meshes are no
    sequence); a first file too damaged to tell is taken as a frame, for the reader to name."""
    files = ply_sequence_files(folder)
    if not files:
        return False
    try:
        return _header(files[0], _head(files[0])).face_count == 0
    except InputFormatError:
        return True


def _header(path: Path, head: bytes):
    from voxforge.io.ply import parse_header

    return parse_header(Source(name=str(path), path=path), head)


class PlyFrames(Sequence[PointFrame]):
    """The frames of a PLY sequence, each file read when indexed; headers checked on opening."""

    def __init__(self, files: list[Path]) -> None:
        if not files:
            raise InputFormatError("PLY sequence: no numbered .ply files")
        self.files = files
        self.color_frames = 0
        self.points = 0
        for path in files:
            header = self._check_header(path)
            vertex = header.element("vertex")
            names = {p.name for p in vertex.properties} if vertex else set()
            self.color_frames += {"red", "green", "blue"} <= names or {"r", "g", "b"} <= names
            self.points += vertex.count if vertex else 0

    @staticmethod
    def _check_header(path: Path):
        header = _header(path, _head(path))
        if header.face_count:
            raise InputFormatError(
                f"{path}: declares {header.face_count} faces; a PLY sequence frame is a point cloud"
            )
        vertex = header.element("vertex")
        if vertex is None or not {"x", "y", "z"} <= {p.name for p in vertex.properties}:
            raise InputFormatError(f"{path}: PLY frame has no vertex element with x, y, z")
        return header

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self.files) <= i < len(self.files):
            raise IndexError(i)
        from voxforge.io.ply import read_ply_points

        path = self.files[i]
        cloud = read_ply_points(Source(name=str(path), path=path))
        if not np.isfinite(cloud.xyz).all():
            keep = np.isfinite(cloud.xyz).all(axis=1)  # NaN marks pixels without a return
            cloud = cloud.select(keep)
        return PointFrame(xyz=cloud.xyz, rgb=cloud.rgb, normals=cloud.normals)


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(_HEAD_BYTES)
    except OSError as e:
        raise InputFormatError(f"{path}: cannot read ({e.strerror or e})") from None


def sequence_time_span(folder: Path, frames: int) -> float | None:
    """Seconds from the first to the last frame from a Record3D ``metadata``/``metadata.json``
    beside the frames (its ``frameTimestamps``, else ``fps``); None without one."""
    for name in (METADATA, "metadata.json"):
        path = folder / name
        if not path.is_file():
            continue
        meta = _json_object(path)
        times, fps = meta.get("frameTimestamps"), meta.get("fps")
        try:
            if isinstance(times, list) and len(times) >= frames > 0:
                return float(times[frames - 1]) - float(times[0])
            if isinstance(fps, int | float) and not isinstance(fps, bool) and fps > 0:
                return (frames - 1) / float(fps)
        except (TypeError, ValueError):
            raise InputFormatError(f"{path}: 'frameTimestamps' is not numeric") from None
    return None


def open_record3d_ply(folder: Path):
    """A :class:`~voxforge.io.captures.Capture` of a Record3D PLY sequence folder."""
    from voxforge.io.captures import Capture

    frames = PlyFrames(ply_sequence_files(folder))
    return Capture(
        app="Record3D",
        layout="record3d-ply",
        root=folder,
        frames=frames,
        color_frames=frames.color_frames,
        depth_size=None,
        time_span_s=sequence_time_span(folder, len(frames)),
        frame_kind="points",
    )


def write_ply_sequence(clouds: list[PointCloud], folder: Path, *, pad: int = 0) -> Path:
    """Write y-up point clouds as a PLY sequence folder (``0.ply``, ``1.ply``, ...; numbers
    zero-padded to ``pad`` digits), in the layout above (for tests and tools)."""
    from voxforge.io.ply import encode_ply

    folder.mkdir(parents=True, exist_ok=True)
    for i, cloud in enumerate(clouds):
        (folder / f"{i:0{pad}d}.ply").write_bytes(encode_ply(cloud))
    return folder
