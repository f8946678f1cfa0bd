"""3D Scanner App captures (and any ARKit frame folder): the raw frames iPhone/iPad LiDAR apps export.

Layout accepted (the one the 3D Scanner App writes with "Export > All Data"; names matched by
their frame number, so zero padding and prefixes may vary)::

    capture/
      frame_00000.json    {"cameraPoseARFrame": [16 numbers, row-major 4x4 camera-to-world],
                           "intrinsics": [9 numbers, row-major 3x3, for the colour image size],
                           "time": seconds, ...}
      depth_00000.png     (h, w) uint16 depth in millimetres, 0 = no return (256x192 on iPhones)
      conf_00000.png      (h, w) uint8 ARKit confidence 0 (low), 1 (medium), 2 (high)
      frame_00000.jpg     (H, W, 3) colour image; the app keeps one for only some frames
      thumb_00000.jpg, info.json, export.obj, textured_output.obj/.mtl/.jpg, ...   (not frames)

* A frame is defined by its numbered JSON; its depth, confidence and colour files are the files
  whose name carries the same number and contains ``depth`` / ``conf`` (PNG), or a numbered
  JPEG/PNG named ``frame_N``, ``N``, ``rgb_N``, ``color_N`` or ``image_N`` for the colour image
  (thumbnails and the app's texture are not frames). Files may also sit in sub-folders one level
  down (``depth/000000.png``, ``confidence/000000.png``, ``rgb/000000.jpg``); a sub-folder's name
  then counts as part of the file name.
* The pose is ARKit's: camera looks down -z, +y up, +x right, world y-up, metres. The depth is
  along the optical axis (z-depth). Pixel ``(col, row)`` has its centre at ``(col + 0.5, row + 0.5)``
  in the intrinsics' coordinates; the intrinsics are scaled from the colour image size to the depth
  size (the two images share the camera).
* Missing confidence PNG: every pixel counts as confidence 2. A frame without a colour image is
  coloured from the nearest frame (by number) that has one (:class:`ColorView`). Without any image
  the colour size is taken as twice the principal point and the cloud has no colours.
* Every frame's depth map must have the same size, and every pose's rotation must be a rotation;
  the error names the file that breaks this.

:class:`ScannerAppFrames` reads the frames lazily (:func:`open_scanner_app` wraps them in a
:class:`~voxforge.io.captures.Capture`); io never fuses them: :mod:`voxforge.scan.capture`
merges them into a point cloud or a TSDF mesh in voxforge's **z-up** frame (ARKit
``(x, y, z)`` becomes ``(x, -z, y)``). Other apps' layouts (Stray Scanner, Record3D) are read by
:mod:`voxforge.io.stray` and :mod:`voxforge.io.record3d`; :mod:`voxforge.io.captures` chooses.
"""

from __future__ import annotations

import json
import logging
import re
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from voxforge.core.errors import ConfigError, InputFormatError

log = logging.getLogger(__name__)

DEPTH_SHAPE: tuple[int, int] = (192, 256)
"""(rows, cols) of an iPhone's ARKit scene-depth map (other sizes are read as well)."""

POSE_KEY = "cameraPoseARFrame"
INTRINSICS_KEY = "intrinsics"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_RGB_PREFIXES = frozenset({"", "frame", "rgb", "color", "colour", "image", "img"})
_RGB_FOLDERS = _RGB_PREFIXES | {"images", "frames", "colors", "colours"}
_META_PREFIXES = frozenset({"", "frame"})
MESH_SUFFIXES = (".obj", ".ply", ".glb", ".gltf", ".usdz", ".usd", ".stl")
APP_MESH_NAMES = ("textured_output", "export_refined", "export")
"""Stems of the 3D Scanner App's own meshes, best first."""
ROTATION_TOL = 1e-3
"""How far R^T R may stray from the identity (and det R from 1) in a pose read from a file."""
_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass
class ColorView:
    """A colour image taken from another pose than the depth frame it colours.

    Apps that keep a colour image for only some frames (the 3D Scanner App keeps every third)
    colour the other frames from the nearest frame with an image: its points are projected into
    that image through ``pose`` and ``intrinsics``.

    Attributes:
        rgb: (H, W, 3) uint8 sRGB image.
        pose: (4, 4) float64 camera-to-world of the camera that took it (ARKit convention).
        intrinsics: (3, 3) float64 pinhole matrix for the (W, H) image.
    """

    rgb: np.ndarray
    pose: np.ndarray
    intrinsics: np.ndarray


@dataclass
class CaptureFrame:
    """One depth frame in memory (ARKit conventions, whichever app wrote it).

    Attributes:
        depth_mm: (h, w) uint16 z-depth in millimetres, 0 where there is no return; any size
            (ARKit's scene depth is 256x192, Android ToF sensors and Record3D differ).
        confidence: (h, w) uint8 ARKit confidence 0 (low), 1 (medium), 2 (high).
        rgb: (H, W, 3) uint8 sRGB colour image, or None when this frame has no image.
        pose: (4, 4) float64 camera-to-world, ARKit convention (camera looks down -z, +y up;
            world y-up), metres.
        intrinsics: (3, 3) float64 pinhole matrix for the colour image size (``rgb_size``).
        color_size: (width, height) of the colour image the intrinsics refer to when ``rgb`` is
            None but the size is known (from another frame or the video); else None.
        color_view: the nearest frame's image, for a frame without one of its own.
        time: capture time in seconds (the app's clock), or None.
    """

    depth_mm: np.ndarray
    confidence: np.ndarray
    rgb: np.ndarray | None
    pose: np.ndarray
    intrinsics: np.ndarray
    color_size: tuple[int, int] | None = None
    color_view: ColorView | None = None
    time: float | None = None

    def __post_init__(self) -> None:
        """Check shapes and dtypes (frames built in code; files are checked when read)."""
        pose = np.asarray(self.pose, dtype=np.float64)
        intrinsics = np.asarray(self.intrinsics, dtype=np.float64)
        if pose.size != 16 or intrinsics.size != 9:
            raise InputFormatError(
                f"pose must be 4x4 and intrinsics 3x3, got {pose.shape} and {intrinsics.shape}"
            )
        self.pose, self.intrinsics = pose.reshape(4, 4), intrinsics.reshape(3, 3)
        d = self.depth_mm
        if d.dtype != np.uint16 or d.ndim != 2 or min(d.shape) < 2:
            raise InputFormatError(f"depth_mm must be (h, w) uint16, got {d.shape} {d.dtype}")
        if self.confidence.shape != d.shape:
            raise InputFormatError(
                f"confidence must be {d.shape} like the depth map, got {self.confidence.shape}"
            )
        self.confidence = np.asarray(self.confidence, dtype=np.uint8)
        if self.rgb is not None and (self.rgb.ndim != 3 or self.rgb.shape[2] != 3):
            raise InputFormatError(f"rgb must be (H, W, 3), got {self.rgb.shape}")

    @property
    def has_color(self) -> bool:
        """True when the frame has an image of its own or a neighbour's to colour from."""
        return self.rgb is not None or self.color_view is not None

    @property
    def rgb_size(self) -> tuple[int, int]:
        """(width, height) of the image the intrinsics refer to."""
        if self.rgb is not None:
            return int(self.rgb.shape[1]), int(self.rgb.shape[0])
        if self.color_size is not None:
            return int(self.color_size[0]), int(self.color_size[1])
        if self.color_view is not None:
            return int(self.color_view.rgb.shape[1]), int(self.color_view.rgb.shape[0])
        k = self.intrinsics
        return round(2.0 * k[0, 2]), round(2.0 * k[1, 2])

    def depth_intrinsics(self) -> np.ndarray:
        """(3, 3) float64 intrinsics scaled from the colour size to the depth map size."""
        w, h = self.rgb_size
        k = self.intrinsics.copy()
        k[0, :] *= self.depth_mm.shape[1] / w
        k[1, :] *= self.depth_mm.shape[0] / h
        k[2, :] = (0.0, 0.0, 1.0)
        return k


@dataclass
class _FrameFiles:
    """The files of one numbered frame."""

    number: int
    meta: Path
    depth: Path | None = None
    confidence: Path | None = None
    rgb: Path | None = None


def is_capture(path: str | Path) -> bool:
    """True for a folder holding at least one numbered frame JSON with a matching depth PNG."""
    p = Path(path)
    if not p.is_dir():
        return False
    try:
        groups = _scan_folder(p, warn=False)  # a probe: the reader warns when it opens the frames
    except (InputFormatError, OSError):
        return False
    return any(g.depth is not None for g in groups)


def has_poses_only(path: str | Path) -> bool:
    """True for a folder with frame JSONs (poses) but no depth map for any of them: an export
    without its depth frames."""
    p = Path(path)
    try:
        groups = _scan_folder(p, warn=False) if p.is_dir() else []
    except (InputFormatError, OSError):
        return False
    return bool(groups) and all(g.depth is None for g in groups)


def app_meshes(folder: str | Path) -> list[Path]:
    """The app's own meshes beside the frames (``textured_output.obj``, ``export.obj``, ...),
    best first: the app's names in :data:`APP_MESH_NAMES` order, then other un-numbered meshes."""
    root = Path(folder)
    found = [
        p
        for p in sorted(root.iterdir())
        if p.is_file() and p.suffix.lower() in MESH_SUFFIXES and _NUMBER.search(p.stem) is None
    ]

    def rank(p: Path) -> tuple[int, str]:
        stem = p.stem.lower()
        return (APP_MESH_NAMES.index(stem) if stem in APP_MESH_NAMES else len(APP_MESH_NAMES), p.name)

    return sorted(found, key=rank)


def open_scanner_app(folder: Path):
    """A :class:`~voxforge.io.captures.Capture` of a 3D Scanner App (or ARKit frame) folder."""
    from voxforge.io.captures import Capture

    frames = ScannerAppFrames(_frame_groups(folder))
    first = frames.groups[0].depth
    assert first is not None
    h, w = read_png(first, np.uint16, "16-bit millimetre depth").shape
    times = frames.times()
    return Capture(
        app="3D Scanner App",
        layout="3d-scanner-app",
        root=folder,
        frames=frames,
        color_frames=frames.color_frames,
        depth_size=(w, h),
        time_span_s=times[-1] - times[0] if len(times) == 2 else None,
        app_meshes=app_meshes(folder),
    )


class LazyFrames(Sequence[CaptureFrame]):
    """Frames read from disk when indexed, checked to share one depth-map size.

    Subclasses implement :meth:`_read` (frame ``i``, its files checked) and :meth:`_where`
    (the file to name when frame ``i``'s depth map has the wrong size).
    """

    def __init__(self, count: int) -> None:
        self._count = count
        self._depth_shape: tuple[tuple[int, int], str] | None = None

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -self._count <= i < self._count:
            raise IndexError(i)
        i %= self._count
        frame = self._read(i)
        shape = frame.depth_mm.shape
        if self._depth_shape is None:
            self._depth_shape = (shape, self._where(i))
        elif shape != self._depth_shape[0]:
            (h0, w0), first = self._depth_shape
            raise InputFormatError(
                f"{self._where(i)}: depth map is {shape[1]}x{shape[0]} but {first} is {w0}x{h0}; "
                "a capture's depth maps must all have one size"
            )
        return frame

    @abstractmethod
    def _read(self, i: int) -> CaptureFrame:
        """Frame ``i`` read from the layout's files."""

    @abstractmethod
    def _where(self, i: int) -> str:
        """Frame ``i``'s file, as error messages name it."""


class ScannerAppFrames(LazyFrames):
    """The frames of a 3D Scanner App folder; a frame without an image gets the nearest
    (by frame number) frame's image as its :class:`ColorView`."""

    def __init__(self, groups: list[_FrameFiles]) -> None:
        super().__init__(len(groups))
        self.groups = groups
        self._colored = np.array([g.number for g in groups if g.rgb is not None], dtype=np.int64)
        self._by_number = {g.number: g for g in groups}
        self._views: dict[int, ColorView] = {}

    @property
    def color_frames(self) -> int:
        return len(self._colored)

    def _where(self, i: int) -> str:
        return str(self.groups[i].depth)

    def _read(self, i: int) -> CaptureFrame:
        g = self.groups[i]
        frame = _read_frame(g)
        if frame.rgb is None and len(self._colored):
            nearest = int(self._colored[np.argmin(np.abs(self._colored - g.number))])
            view = self._view(nearest)
            frame.color_view = view
            frame.color_size = (int(view.rgb.shape[1]), int(view.rgb.shape[0]))
        return frame

    def _view(self, number: int) -> ColorView:
        if number not in self._views:
            g = self._by_number[number]
            pose, intrinsics, _ = _read_meta(g.meta)
            assert g.rgb is not None
            if len(self._views) >= 2:  # frames are read in order: keep the last two images
                self._views.pop(next(iter(self._views)))
            self._views[number] = ColorView(_read_rgb(g.rgb), pose, intrinsics)
        return self._views[number]

    def times(self) -> list[float]:
        """Capture times (s) of the first and last frames whose JSON has a ``time``."""
        out = []
        for g in (self.groups[0], self.groups[-1]):
            t = _read_meta(g.meta)[2]
            if t is not None:
                out.append(t)
        return out


def _read_frame(files: _FrameFiles) -> CaptureFrame:
    """Read one frame's files, checking sizes and dtypes (errors name the file)."""
    pose, intrinsics, time = _read_meta(files.meta)
    if files.depth is None:
        raise InputFormatError(f"{files.meta}: frame {files.number} has no depth PNG beside it")
    depth = read_png(files.depth, np.uint16, "16-bit millimetre depth")
    conf = read_confidence(files.confidence, depth.shape)
    rgb = None if files.rgb is None else _read_rgb(files.rgb)
    return CaptureFrame(
        depth_mm=depth, confidence=conf, rgb=rgb, pose=pose, intrinsics=intrinsics, time=time
    )


def read_confidence(path: Path | None, shape: tuple[int, ...]) -> np.ndarray:
    """(h, w) uint8 confidence from an 8-bit PNG of the depth map's size; all 2 when ``path`` is
    None (apps that do not export confidence)."""
    if path is None:
        return np.full(shape, 2, dtype=np.uint8)
    conf = read_png(path, np.uint8, "8-bit confidence")
    check_confidence(conf, shape, path)
    return conf


def check_confidence(conf: np.ndarray, shape: tuple[int, ...], path: Path | str) -> None:
    """Refuse a confidence map of another size than the depth map, or values above 2."""
    if conf.shape != tuple(shape):
        raise InputFormatError(
            f"{path}: confidence map is {conf.shape[1]}x{conf.shape[0]} pixels but the depth map "
            f"is {shape[1]}x{shape[0]}"
        )
    if int(conf.max(initial=0)) > 2:
        raise InputFormatError(f"{path}: confidence values must be 0, 1 or 2, found up to {conf.max()}")


def read_frames(path: str | Path) -> list[CaptureFrame]:
    """All frames of a capture folder, in frame-number order (for tools and tests; loads every image)."""
    return list(ScannerAppFrames(_frame_groups(Path(path))))


def write_capture(
    frames: Sequence[CaptureFrame],
    folder: str | Path,
    *,
    overwrite: bool = False,
    color_every: int = 1,
) -> Path:
    """Write frames as a 3D Scanner App-style folder (``frame_NNNNN.json``, ``depth_NNNNN.png``,
    ``conf_NNNNN.png``, ``frame_NNNNN.jpg`` at JPEG quality 85) and return the folder.

    ``color_every=3`` keeps an image for every third frame only, as the app does.

    Raises:
        ConfigError: the folder already holds capture frames and ``overwrite`` is False (mixing
            old and new frames would silently corrupt the capture).
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    old = [p for p in out.iterdir() if p.is_file() and _kind(p) is not None]
    if old and not overwrite:
        raise ConfigError(f"{out} already holds {len(old)} capture files; pass overwrite=True")
    for p in old:
        p.unlink()
    for i, f in enumerate(frames):
        meta = {
            POSE_KEY: [float(v) for v in f.pose.reshape(-1)],
            INTRINSICS_KEY: [float(v) for v in f.intrinsics.reshape(-1)],
            "frame_index": i,
        }
        if f.time is not None:
            meta["time"] = float(f.time)
        (out / f"frame_{i:05d}.json").write_text(json.dumps(meta) + "\n")
        write_image(out / f"depth_{i:05d}.png", f.depth_mm, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        write_image(out / f"conf_{i:05d}.png", f.confidence, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if f.rgb is not None and i % color_every == 0:
            bgr = cv2.cvtColor(np.ascontiguousarray(f.rgb, dtype=np.uint8), cv2.COLOR_RGB2BGR)
            write_image(out / f"frame_{i:05d}.jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return out


# --- folder scanning -------------------------------------------------------------------------


def _kind(path: Path, parent_name: str = "") -> str | None:
    """'meta', 'depth', 'confidence', 'rgb' or None for a file that is not part of a frame."""
    match = _NUMBER.search(path.stem)
    if match is None:
        return None
    name = (parent_name + "/" + path.stem).lower()
    suffix = path.suffix.lower()
    prefix = path.stem[: match.start()].strip("_-. ").lower()
    parent = parent_name.lower()
    if suffix == ".json":
        return "meta" if prefix in _META_PREFIXES and parent in ("", "frames", "json") else None
    if suffix == ".png" and "depth" in name:
        return "depth"
    if suffix == ".png" and "conf" in name:
        return "confidence"
    if suffix in _IMAGE_SUFFIXES and prefix in _RGB_PREFIXES and parent in _RGB_FOLDERS:
        return "rgb"
    return None


def _candidate_files(folder: Path) -> Iterator[tuple[Path, str]]:
    """(file, sub-folder name or '') for the folder's files and those one level down."""
    for p in sorted(folder.iterdir()):
        if p.is_file():
            yield p, ""
        elif p.is_dir() and not p.name.startswith("."):
            for q in sorted(p.iterdir()):
                if q.is_file():
                    yield q, p.name


def _scan_folder(folder: Path, warn: bool = True) -> list[_FrameFiles]:
    """Group the folder's files by frame number; frames are those with a JSON. ``warn`` names
    depth maps without a frame JSON (they are skipped)."""
    found: dict[str, dict[int, Path]] = {"meta": {}, "depth": {}, "confidence": {}, "rgb": {}}
    for p, parent in _candidate_files(folder):
        kind = _kind(p, parent)
        if kind is None:
            continue
        number = int(_NUMBER.search(p.stem).group(1))  # type: ignore[union-attr]
        table = found[kind]
        if number in table:
            raise InputFormatError(
                f"{folder}: frame {number} has two {kind} files: {table[number]}, {p}"
            )
        table[number] = p
    groups = [
        _FrameFiles(
            number=n,
            meta=meta,
            depth=found["depth"].get(n),
            confidence=found["confidence"].get(n),
            rgb=found["rgb"].get(n),
        )
        for n, meta in sorted(found["meta"].items())
    ]
    orphans = sorted(set(found["depth"]) - set(found["meta"]))
    if orphans and warn:
        log.warning("%s: %d depth maps have no frame JSON and are skipped", folder, len(orphans))
    return groups


def _frame_groups(folder: Path) -> list[_FrameFiles]:
    if not folder.is_dir():
        raise InputFormatError(f"{folder}: not a folder (an ARKit capture is a folder of frames)")
    groups = _scan_folder(folder)
    if not groups:
        raise InputFormatError(
            f"{folder}: no ARKit frames found (expected frame_NNNNN.json with depth_NNNNN.png)"
        )
    for g in groups:
        if g.depth is None:
            raise InputFormatError(f"{g.meta}: frame {g.number} has no depth PNG beside it")
    return groups


# --- single files ----------------------------------------------------------------------------


def _read_meta(path: Path) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(pose (4, 4), intrinsics (3, 3), time in seconds or None) from a frame JSON."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputFormatError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputFormatError(f"{path}: cannot read frame JSON ({e})") from e
    if not isinstance(meta, dict):
        raise InputFormatError(f"{path}: expected a JSON object, found {type(meta).__name__}")
    pose = _matrix(meta, POSE_KEY, 4, path)
    check_pose(pose, path, POSE_KEY)
    intrinsics = _matrix(meta, INTRINSICS_KEY, 3, path)
    check_intrinsics(intrinsics, path)
    time = meta.get("time", meta.get("timestamp"))
    time = float(time) if isinstance(time, int | float) and np.isfinite(time) else None
    return pose, intrinsics, time


def check_pose(pose: np.ndarray, where: Path | str, what: str = "pose") -> None:
    """Refuse a (4, 4) camera-to-world matrix whose last row is not 0 0 0 1 or whose upper-left
    3x3 is not a rotation (orthonormal within :data:`ROTATION_TOL`, determinant +1)."""
    if not np.isfinite(pose).all():
        raise InputFormatError(f"{where}: {what} contains NaN or infinite values")
    if not np.allclose(pose[3], (0.0, 0.0, 0.0, 1.0), atol=1e-6):
        raise InputFormatError(f"{where}: {what} last row must be 0 0 0 1, found {pose[3].tolist()}")
    r = pose[:3, :3]
    err = float(np.abs(r.T @ r - np.eye(3)).max())
    det = float(np.linalg.det(r))
    if err > ROTATION_TOL or abs(det - 1.0) > 3 * ROTATION_TOL:
        raise InputFormatError(
            f"{where}: {what} is not a rotation (|R^T R - I| = {err:.3g}, det R = {det:.4g})"
        )


def check_intrinsics(k: np.ndarray, where: Path | str) -> None:
    """Refuse intrinsics without positive focal lengths."""
    if not (k[0, 0] > 0 and k[1, 1] > 0):
        raise InputFormatError(
            f"{where}: intrinsics focal lengths must be positive, found fx={k[0, 0]}, fy={k[1, 1]}"
        )


def _matrix(meta: dict, key: str, n: int, path: Path) -> np.ndarray:
    if key not in meta:
        raise InputFormatError(f"{path}: no {key!r} entry (expected a {n}x{n} matrix)")
    try:
        m = np.asarray(meta[key], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputFormatError(f"{path}: {key!r} is not a numeric matrix") from e
    if m.size != n * n:
        raise InputFormatError(f"{path}: {key!r} must hold {n * n} numbers, found {m.size}")
    if not np.isfinite(m).all():
        raise InputFormatError(f"{path}: {key!r} contains NaN or infinite values")
    return m.reshape(n, n)


def decode_image(data: bytes | np.ndarray, flags: int, where: Path | str) -> np.ndarray:
    """OpenCV-decoded image from encoded bytes; an unreadable one names ``where``."""
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    img = cv2.imdecode(buf, flags) if buf.size else None
    if img is None:
        raise InputFormatError(f"{where}: not a readable image ({buf.size} bytes)")
    return img


def _decode(path: Path, flags: int) -> np.ndarray:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise InputFormatError(f"{path}: cannot read image ({e})") from e
    return decode_image(data, flags, path)


def read_png(path: Path, dtype: type[np.generic], what: str) -> np.ndarray:
    """A single-channel image of ``dtype`` (any size); anything else names the file."""
    img = _decode(path, cv2.IMREAD_UNCHANGED)
    if img.ndim != 2 or img.dtype != dtype:
        chans = 1 if img.ndim == 2 else img.shape[2]
        raise InputFormatError(
            f"{path}: expected single-channel {what}, found {chans} channel(s) of {img.dtype}"
        )
    if min(img.shape) < 2:
        raise InputFormatError(f"{path}: a {img.shape[1]}x{img.shape[0]} image is not a depth map")
    return img


def _read_rgb(path: Path) -> np.ndarray:
    bgr = _decode(path, cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_image(path: Path, img: np.ndarray, params: list[int]) -> None:
    """Encode ``img`` by the path's extension and write it."""
    ok, buf = cv2.imencode(path.suffix, img, params)
    if not ok:
        raise RuntimeError(f"{path}: OpenCV could not encode a {img.shape} {img.dtype} image")
    path.write_bytes(buf.tobytes())
