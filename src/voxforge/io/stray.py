"""Stray Scanner captures (iOS and Android): depth PNGs or ``.npy``, confidence, ``rgb.mp4``,
``odometry.csv`` and ``camera_matrix.csv``.

Layout (what the app's export holds)::

    capture/
      camera_matrix.csv   3 rows of 3 comma-separated numbers: the colour camera's pinhole matrix
                          for the video's resolution (1920x1440 on iPhones)
      odometry.csv        header "timestamp, frame, x, y, z, qx, qy, qz, qw" (spaces after the
                          commas, CRLF line ends in some exports); one row per frame: ARKit time in
                          seconds, frame number, camera-to-world position (m) and unit quaternion
                          (scalar last) in ARKit's y-up world, camera looking down -z
      depth/000000.png    (h, w) uint16 z-depth in millimetres (256x192 on iPhones; other sizes
                          on Android ToF phones); older versions write depth/000000.npy (uint16
                          millimetres, or float metres)
      confidence/000000.png  (h, w) uint8 0/1/2 (optional)
      rgb.mp4             the colour video, frame i = odometry frame i (optional)

Columns are found by their header names, so extra columns do not matter. ``q`` and ``-q`` are the
same rotation (exports flip hemisphere between rows); a quaternion whose norm is not 1 is refused
as "not a rotation". The video is decoded with OpenCV, one frame at a time and in order.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from voxforge.core.errors import InputFormatError
from voxforge.io.arkit import (
    CaptureFrame,
    LazyFrames,
    check_intrinsics,
    read_confidence,
    read_png,
)

ODOMETRY = "odometry.csv"
CAMERA_MATRIX = "camera_matrix.csv"
VIDEO = "rgb.mp4"
ODOMETRY_COLUMNS = ("timestamp", "frame", "x", "y", "z", "qx", "qy", "qz", "qw")
QUATERNION_TOL = 1e-3
"""How far a quaternion's norm may be from 1."""


def is_stray(folder: Path) -> bool:
    """A folder with ``odometry.csv`` and a ``depth/`` sub-folder."""
    return (folder / ODOMETRY).is_file() and (folder / "depth").is_dir()


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(n, 3, 3) rotations from (n, 4) unit quaternions ``(qx, qy, qz, qw)`` (scalar last)."""
    x, y, z, w = (q[:, i] for i in range(4))
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def read_odometry(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times (n,) s, frame numbers (n,) int64, poses (n, 4, 4) camera-to-world) from odometry.csv."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputFormatError(f"{path}: cannot read ({e})") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise InputFormatError(f"{path}: empty (expected a header and one row per frame)")
    header = [h.strip().lower() for h in lines[0].split(",")]
    missing = [c for c in ODOMETRY_COLUMNS if c not in header]
    if missing:
        raise InputFormatError(
            f"{path}: header lacks {', '.join(missing)} (expected {', '.join(ODOMETRY_COLUMNS)})"
        )
    cols = [header.index(c) for c in ODOMETRY_COLUMNS]
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        try:
            rows.append([float(cells[c]) for c in cols])
        except (ValueError, IndexError):
            raise InputFormatError(
                f"{path}: line {lineno} is not {len(header)} numbers ({line[:60]!r})"
            ) from None
    if not rows:
        raise InputFormatError(f"{path}: no pose rows after the header")
    table = np.asarray(rows)
    if not np.isfinite(table).all():
        bad = int(np.flatnonzero(~np.isfinite(table).all(axis=1))[0]) + 2
        raise InputFormatError(f"{path}: line {bad} holds NaN or infinite values")
    q = table[:, 5:9]
    norm = np.linalg.norm(q, axis=1)
    bad = np.flatnonzero(np.abs(norm - 1.0) > QUATERNION_TOL)
    if len(bad):
        raise InputFormatError(
            f"{path}: line {bad[0] + 2}: pose is not a rotation (quaternion norm {norm[bad[0]]:.4g})"
        )
    frames = table[:, 1]
    if (frames != np.round(frames)).any() or (frames < 0).any():
        raise InputFormatError(f"{path}: the frame column must hold whole numbers >= 0")
    poses = np.tile(np.eye(4), (len(table), 1, 1))
    poses[:, :3, :3] = quaternion_to_matrix(q / norm[:, None])
    poses[:, :3, 3] = table[:, 2:5]
    return table[:, 0], frames.astype(np.int64), poses


def read_camera_matrix(path: Path) -> np.ndarray:
    """(3, 3) float64 intrinsics from camera_matrix.csv (three rows of three numbers)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        rows = [[float(v) for v in ln.split(",")] for ln in text.splitlines() if ln.strip()]
        k = np.asarray(rows, dtype=np.float64)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputFormatError(f"{path}: not a 3x3 matrix of numbers ({type(e).__name__})") from None
    if k.shape != (3, 3) or not np.isfinite(k).all():
        raise InputFormatError(f"{path}: expected 3 rows of 3 numbers, found shape {k.shape}")
    check_intrinsics(k, path)
    return k


def _depth_file(folder: Path, number: int) -> Path:
    for suffix in (".png", ".npy"):
        p = folder / "depth" / f"{number:06d}{suffix}"
        if p.is_file():
            return p
    raise InputFormatError(
        f"{folder / 'depth' / f'{number:06d}.png'}: missing (odometry.csv lists frame {number})"
    )


def read_depth(path: Path) -> np.ndarray:
    """(h, w) uint16 millimetres from a depth PNG or ``.npy`` (uint16 mm or float metres)."""
    if path.suffix.lower() != ".npy":
        return read_png(path, np.uint16, "16-bit millimetre depth")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InputFormatError(f"{path}: not a readable .npy depth map ({e})") from None
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise InputFormatError(f"{path}: expected a 2-D depth map, found shape {arr.shape}")
    if arr.dtype == np.uint16:
        return arr
    if arr.dtype.kind == "f":
        mm = np.nan_to_num(arr.astype(np.float64) * 1000.0, nan=0.0, posinf=0.0, neginf=0.0)
        return np.clip(np.rint(mm), 0, 65535).astype(np.uint16)
    raise InputFormatError(f"{path}: depth .npy must be uint16 mm or float metres, found {arr.dtype}")


class StrayFrames(LazyFrames):
    """A Stray Scanner capture's frames; the video is decoded in order and reopened to go back."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.times, self.numbers, self.poses = read_odometry(folder / ODOMETRY)
        super().__init__(len(self.numbers))
        self.k = read_camera_matrix(folder / CAMERA_MATRIX)
        self.video = folder / VIDEO if (folder / VIDEO).is_file() else None
        self._cap: cv2.VideoCapture | None = None
        self._next = 0
        self.color_size: tuple[int, int] | None = None
        self.video_frames = 0
        if self.video is not None:
            cap = self._open()
            self.color_size = (
                int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            )
            self.video_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            cap.release()

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.video))
        if not cap.isOpened():
            raise InputFormatError(f"{self.video}: video does not decode (OpenCV cannot open it)")
        return cap

    def _where(self, i: int) -> str:
        return str(_depth_file(self.folder, int(self.numbers[i])))

    def _frame_image(self, number: int) -> np.ndarray:
        if self._cap is None or number < self._next:
            if self._cap is not None:
                self._cap.release()
            self._cap = self._open()
            self._next = 0
        while self._next < number:
            if not self._cap.grab():
                break
            self._next += 1
        ok, bgr = self._cap.read() if self._next == number else (False, None)
        if not ok or bgr is None:
            raise InputFormatError(
                f"{self.video}: video does not decode at frame {number} "
                f"({self._next} frames read; odometry.csv lists {len(self.numbers)})"
            )
        self._next += 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _read(self, i: int) -> CaptureFrame:
        number = int(self.numbers[i])
        depth_path = _depth_file(self.folder, number)
        depth = read_depth(depth_path)
        conf_path = self.folder / "confidence" / f"{number:06d}.png"
        conf = read_confidence(conf_path if conf_path.is_file() else None, depth.shape)
        rgb = None if self.video is None else self._frame_image(number)
        return CaptureFrame(
            depth_mm=depth,
            confidence=conf,
            rgb=rgb,
            pose=self.poses[i],
            intrinsics=self.k,
            color_size=self.color_size,
            time=float(self.times[i]),
        )


def open_stray(folder: Path):
    """A :class:`~voxforge.io.captures.Capture` of a Stray Scanner folder."""
    from voxforge.io.captures import Capture

    frames = StrayFrames(folder)
    h, w = read_depth(_depth_file(folder, int(frames.numbers[0]))).shape
    return Capture(
        app="Stray Scanner",
        layout="stray-scanner",
        root=folder,
        frames=frames,
        color_frames=min(frames.video_frames, len(frames)) if frames.video else 0,
        depth_size=(w, h),
        time_span_s=float(frames.times[-1] - frames.times[0]),
    )


def write_stray(
    frames: list[CaptureFrame], folder: Path, *, fps: float = 60.0, npy: bool = False
) -> Path:
    """Write frames in Stray Scanner's layout (for tests and tools): depth PNGs (or ``.npy``),
    confidence PNGs, ``rgb.mp4`` (MPEG-4 part 2 through OpenCV, when the frames have images),
    ``odometry.csv`` with the app's header and CRLF line ends, ``camera_matrix.csv``."""
    from voxforge.io.arkit import write_image

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "depth").mkdir(exist_ok=True)
    (folder / "confidence").mkdir(exist_ok=True)
    rows = [", ".join(ODOMETRY_COLUMNS)]
    writer = None
    for i, f in enumerate(frames):
        if npy:
            np.save(folder / "depth" / f"{i:06d}.npy", f.depth_mm)
        else:
            write_image(folder / "depth" / f"{i:06d}.png", f.depth_mm, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        write_image(
            folder / "confidence" / f"{i:06d}.png", f.confidence, [cv2.IMWRITE_PNG_COMPRESSION, 1]
        )
        q = matrix_to_quaternion(f.pose[:3, :3])
        if i % 2:  # exports flip the quaternion's hemisphere; q and -q are one rotation
            q = -q
        t = f.pose[:3, 3]
        rows.append(", ".join(f"{v:.9g}" for v in (i / fps, i, *t, *q)))
        if f.rgb is not None:
            if writer is None:
                h, w = f.rgb.shape[:2]
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                writer = cv2.VideoWriter(str(folder / VIDEO), fourcc, fps, (w, h))
            writer.write(cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR))
    if writer is not None:
        writer.release()
    (folder / ODOMETRY).write_bytes(("\r\n".join(rows) + "\r\n").encode())
    k = frames[0].intrinsics
    (folder / CAMERA_MATRIX).write_text("\n".join(",".join(f"{v:.9g}" for v in r) for r in k) + "\n")
    return folder


def matrix_to_quaternion(r: np.ndarray) -> np.ndarray:
    """(4,) unit quaternion (qx, qy, qz, qw) of a (3, 3) rotation (Shepperd's method)."""
    m = np.asarray(r, dtype=np.float64)
    tr = np.trace(m)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i] = 0.25 * s
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
    v = np.asarray(q)
    return v / np.linalg.norm(v)


# --- the Stray toolkit's dataset layout (Open3D files) -------------------------------------------

INTRINSICS_JSON = "camera_intrinsics.json"
TRAJECTORY = Path("scene") / "trajectory.log"
OPENCV_TO_ARKIT_CAMERA = np.diag([1.0, -1.0, -1.0, 1.0])
"""Right-multiplying an OpenCV-camera pose (looks down +z, y down) by this gives ARKit's (looks
down -z, y up); the matrix is its own inverse."""


def is_stray_dataset(folder: Path) -> bool:
    """A folder with ``camera_intrinsics.json``, ``scene/trajectory.log`` and ``depth/``."""
    return (
        (folder / INTRINSICS_JSON).is_file()
        and (folder / TRAJECTORY).is_file()
        and (folder / "depth").is_dir()
    )


def read_open3d_intrinsics(path: Path) -> tuple[np.ndarray, tuple[int, int], float]:
    """((3, 3) intrinsics, (width, height) they refer to, depth_scale) from Open3D's
    PinholeCameraIntrinsic JSON (``intrinsic_matrix`` stored column-major)."""
    import json

    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        k = np.asarray(meta["intrinsic_matrix"], dtype=np.float64)
        size = (int(meta["width"]), int(meta["height"]))
        scale = float(meta.get("depth_scale", 1000.0))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputFormatError(f"{path}: not valid JSON ({type(e).__name__})") from None
    except KeyError as e:
        raise InputFormatError(f"{path}: no {e.args[0]!r} entry") from None
    except (TypeError, ValueError):
        raise InputFormatError(f"{path}: intrinsic_matrix, width or height is not numeric") from None
    if k.size != 9 or not np.isfinite(k).all():
        raise InputFormatError(f"{path}: intrinsic_matrix must hold 9 finite numbers")
    k = k.reshape(3, 3).T
    check_intrinsics(k, path)
    if min(size) < 2 or not (np.isfinite(scale) and scale > 0):
        raise InputFormatError(f"{path}: width/height must be >= 2 and depth_scale positive")
    return k, size, scale


def read_trajectory_log(path: Path) -> np.ndarray:
    """(n, 4, 4) camera-to-world poses in OpenCV camera convention from an Open3D ``.log``:
    each record is a line of three integers, then four rows of four numbers."""
    try:
        lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise InputFormatError(f"{path}: cannot read ({e})") from None
    if not lines or len(lines) % 5:
        raise InputFormatError(f"{path}: {len(lines)} lines; an Open3D trajectory is records of 5 lines")
    try:
        table = np.array([[float(v) for v in row] for row in lines if len(row) == 4])
    except ValueError:
        raise InputFormatError(f"{path}: a matrix row is not four numbers") from None
    if table.shape != (4 * len(lines) // 5, 4):
        raise InputFormatError(f"{path}: every record must be a header line and 4 rows of 4 numbers")
    return table.reshape(-1, 4, 4)


class StrayDatasetFrames(LazyFrames):
    """Frames of a Stray toolkit dataset: depth/ and color/ images, Open3D poses and intrinsics."""

    def __init__(self, folder: Path) -> None:
        from voxforge.io.arkit import check_pose

        self.folder = folder
        self.k, self.size, self.depth_scale = read_open3d_intrinsics(folder / INTRINSICS_JSON)
        poses = read_trajectory_log(folder / TRAJECTORY)
        for i, pose in enumerate(poses):
            check_pose(pose, folder / TRAJECTORY, f"pose {i}")
        self.poses = poses @ OPENCV_TO_ARKIT_CAMERA
        self.depths = sorted(
            p for p in (folder / "depth").iterdir() if p.suffix.lower() in (".png", ".npy")
        )
        if not self.depths:
            raise InputFormatError(f"{folder / 'depth'}: no depth images")
        if len(self.depths) > len(poses):
            raise InputFormatError(
                f"{self.depths[len(poses)]}: frame {len(poses)} has no pose in {TRAJECTORY} "
                f"({len(poses)} poses)"
            )
        super().__init__(len(self.depths))
        colors = folder / "color"
        self.colors = {
            p.stem: p
            for p in (sorted(colors.iterdir()) if colors.is_dir() else [])
            if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        }

    @property
    def color_frames(self) -> int:
        return sum(p.stem in self.colors for p in self.depths)

    def _where(self, i: int) -> str:
        return str(self.depths[i])

    def _read(self, i: int) -> CaptureFrame:
        from voxforge.io.arkit import _read_rgb

        path = self.depths[i]
        depth = read_depth(path)
        if self.depth_scale != 1000.0:
            mm = np.rint(depth.astype(np.float64) * (1000.0 / self.depth_scale))
            depth = np.clip(mm, 0, 65535).astype(np.uint16)
        conf_path = self.folder / "confidence" / f"{path.stem}.png"
        conf = read_confidence(conf_path if conf_path.is_file() else None, depth.shape)
        color = self.colors.get(path.stem)
        rgb = None if color is None else _read_rgb(color)
        k = self.k.copy()
        if rgb is not None:  # the JSON's intrinsics are for its width x height: scale to the image
            k[0] *= rgb.shape[1] / self.size[0]
            k[1] *= rgb.shape[0] / self.size[1]
            k[2] = (0.0, 0.0, 1.0)
        return CaptureFrame(
            depth_mm=depth,
            confidence=conf,
            rgb=rgb,
            pose=self.poses[i],
            intrinsics=k,
            color_size=self.size,
        )


def open_stray_dataset(folder: Path):
    """A :class:`~voxforge.io.captures.Capture` of a Stray toolkit dataset folder."""
    from voxforge.io.captures import Capture

    frames = StrayDatasetFrames(folder)
    h, w = read_depth(frames.depths[0]).shape
    return Capture(
        app="Stray toolkit dataset (Open3D files)",
        layout="stray-dataset",
        root=folder,
        frames=frames,
        color_frames=frames.color_frames,
        depth_size=(w, h),
    )


def write_stray_dataset(frames: list[CaptureFrame], folder: Path) -> Path:
    """Write frames in the Stray toolkit's dataset layout (for tests): ``color/`` JPEGs,
    ``depth/`` PNGs, ``camera_intrinsics.json`` (column-major, for the depth size) and
    ``scene/trajectory.log`` (OpenCV-camera poses)."""
    import json

    from voxforge.io.arkit import write_image

    for sub in ("color", "depth", "scene"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    h, w = frames[0].depth_mm.shape
    k = frames[0].depth_intrinsics()
    meta = {
        "depth_format": "Z16",
        "depth_scale": 1000.0,
        "fps": 60.0,
        "height": h,
        "width": w,
        "intrinsic_matrix": [float(v) for v in k.T.reshape(-1)],
    }
    (folder / INTRINSICS_JSON).write_text(json.dumps(meta, indent=4))
    records = []
    for i, f in enumerate(frames):
        write_image(folder / "depth" / f"{i:06d}.png", f.depth_mm, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if f.rgb is not None:
            bgr = cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR)
            write_image(folder / "color" / f"{i:06d}.jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
        pose = f.pose @ OPENCV_TO_ARKIT_CAMERA
        rows = "\n".join(" ".join(f"{v:.8f}" for v in row) for row in pose)
        records.append(f"{i} {i} {i + 1}\n{rows}")
    (folder / TRAJECTORY).write_text("\n".join(records) + "\n")
    return folder
