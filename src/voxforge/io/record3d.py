"""Record3D captures: the ``.r3d`` file (a zip) or its unpacked folder.

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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from voxforge.core.errors import InputFormatError, UnsupportedInputError
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


def read_metadata(path: Path) -> dict[str, Any]:
    """The checked ``metadata`` JSON: sizes, intrinsics (3, 3), poses (n, 4, 4), times."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputFormatError(f"{path}: not valid JSON metadata ({type(e).__name__})") from None
    if not isinstance(meta, dict):
        raise InputFormatError(f"{path}: expected a JSON object")
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
