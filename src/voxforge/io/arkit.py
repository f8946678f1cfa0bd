"""ARKit capture folders: the raw frames iPhone/iPad LiDAR scanner apps export.

Layout accepted (the one "3d Scanner App" writes; names matched by their frame number, so zero
padding and prefixes may vary)::

    capture/
      frame_00000.json    {"cameraPoseARFrame": [16 numbers, row-major 4x4 camera-to-world],
                           "intrinsics": [9 numbers, row-major 3x3, for the RGB image size], ...}
      depth_00000.png     (192, 256) uint16 depth in millimetres, 0 = no return
      conf_00000.png      (192, 256) uint8 ARKit confidence 0 (low), 1 (medium), 2 (high)
      frame_00000.jpg     (H, W, 3) colour image (.jpg, .jpeg or .png)
      ...

* A frame is defined by its numbered JSON; its depth, confidence and colour files are the files
  whose name carries the same number and contains ``depth`` / ``conf`` (PNG), or any other
  numbered JPEG/PNG for the colour image. Files may also sit in sub-folders one level down (e.g.
  ``depth/000000.png``, ``confidence/000000.png``, ``rgb/000000.jpg``); a sub-folder's name then
  counts as part of the file name. Un-numbered files (``info.json``, ``export.obj``, ...) are ignored.
* The pose is ARKit's: camera looks down -z, +y up, +x right, world y-up, metres. The depth is
  along the optical axis (z-depth). Pixel ``(col, row)`` has its centre at ``(col + 0.5, row + 0.5)``
  in the intrinsics' coordinates; the intrinsics are scaled from the colour image size to the depth
  size (the two images share the camera).
* Missing confidence PNG: every pixel counts as confidence 2 (some apps do not export it). Missing
  colour image: allowed only when no frame has one (the cloud then has no colours); without an image
  the colour size is taken as twice the principal point.

:func:`load_capture` fuses the frames into one coloured point cloud (see
:func:`voxforge.scan.fuse.fuse_frames`), :func:`load_capture_mesh` into a coloured mesh by TSDF
fusion (:func:`voxforge.scan.fuse.fuse_tsdf`), both in voxforge's **z-up** frame: ARKit
``(x, y, z)`` becomes ``(x, -z, y)``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from voxforge.core.errors import ConfigError, InputFormatError
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.core.progress import ProgressCallback

log = logging.getLogger(__name__)

DEPTH_SHAPE: tuple[int, int] = (192, 256)
"""(rows, cols) of an ARKit scene-depth map."""

POSE_KEY = "cameraPoseARFrame"
INTRINSICS_KEY = "intrinsics"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass
class CaptureFrame:
    """One ARKit frame in memory.

    Attributes:
        depth_mm: (192, 256) uint16 z-depth in millimetres, 0 where there is no return.
        confidence: (192, 256) uint8 ARKit confidence 0/1/2 (2 = high).
        rgb: (H, W, 3) uint8 sRGB colour image, or None when the capture has no images.
        pose: (4, 4) float64 camera-to-world, ARKit convention (camera looks down -z, +y up;
            world y-up), metres.
        intrinsics: (3, 3) float64 pinhole matrix for the colour image size (``rgb_size``).
    """

    depth_mm: np.ndarray
    confidence: np.ndarray
    rgb: np.ndarray | None
    pose: np.ndarray
    intrinsics: np.ndarray

    def __post_init__(self) -> None:
        """Check shapes and dtypes (frames built in code; files are checked when read)."""
        pose = np.asarray(self.pose, dtype=np.float64)
        intrinsics = np.asarray(self.intrinsics, dtype=np.float64)
        if pose.size != 16 or intrinsics.size != 9:
            raise InputFormatError(
                f"pose must be 4x4 and intrinsics 3x3, got {pose.shape} and {intrinsics.shape}"
            )
        self.pose, self.intrinsics = pose.reshape(4, 4), intrinsics.reshape(3, 3)
        if self.depth_mm.dtype != np.uint16 or self.depth_mm.shape != DEPTH_SHAPE:
            raise InputFormatError(
                f"depth_mm must be {DEPTH_SHAPE} uint16, got {self.depth_mm.shape} {self.depth_mm.dtype}"
            )
        if self.confidence.shape != DEPTH_SHAPE:
            raise InputFormatError(f"confidence must be {DEPTH_SHAPE}, got {self.confidence.shape}")
        self.confidence = np.asarray(self.confidence, dtype=np.uint8)
        if self.rgb is not None and (self.rgb.ndim != 3 or self.rgb.shape[2] != 3):
            raise InputFormatError(f"rgb must be (H, W, 3), got {self.rgb.shape}")

    @property
    def rgb_size(self) -> tuple[int, int]:
        """(width, height) of the image the intrinsics refer to."""
        if self.rgb is not None:
            return int(self.rgb.shape[1]), int(self.rgb.shape[0])
        k = self.intrinsics
        return round(2.0 * k[0, 2]), round(2.0 * k[1, 2])

    def depth_intrinsics(self) -> np.ndarray:
        """(3, 3) float64 intrinsics scaled from the colour size to the depth map size."""
        w, h = self.rgb_size
        k = self.intrinsics.copy()
        k[0, :] *= DEPTH_SHAPE[1] / w
        k[1, :] *= DEPTH_SHAPE[0] / h
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
        groups = _scan_folder(p)
    except (InputFormatError, OSError):
        return False
    return any(g.depth is not None for g in groups)


def load_capture(
    path: str | Path,
    *,
    min_confidence: int = 1,
    voxel_size: float = 0.005,
    max_depth: float = 5.0,
    normals: bool = True,
    progress: ProgressCallback | None = None,
) -> PointCloud:
    """Read an ARKit capture folder and fuse it into one coloured z-up point cloud (metres).

    Args:
        path: the capture folder (layout in the module docstring).
        min_confidence: keep depth pixels whose ARKit confidence is at least this (0, 1 or 2).
        voxel_size: edge of the merge grid in metres; points and colours are averaged per cell.
        max_depth: ignore depth beyond this many metres (far returns are noisy).
        normals: estimate normals from the depth maps, oriented towards the cameras.
        progress: ``callback("fuse", fraction)``.

    Raises:
        InputFormatError: no frames, a frame without depth or pose, a malformed file; the message
            names the file.
    """
    from voxforge.scan.fuse import fuse_frames

    folder = Path(path)
    groups = _frame_groups(folder)
    with_rgb = [g.rgb is not None for g in groups]
    if any(with_rgb) and not all(with_rgb):
        missing = groups[with_rgb.index(False)]
        raise InputFormatError(
            f"{missing.meta}: frame {missing.number} has no colour image while other frames do"
        )
    cloud = fuse_frames(
        _iter_frames(groups),
        min_confidence=min_confidence,
        voxel_size=voxel_size,
        max_depth=max_depth,
        normals=normals,
        progress=progress,
        total=len(groups),
    )
    cloud.meta.update({"source": str(folder), "format": "arkit"})
    return cloud


def load_capture_mesh(
    path: str | Path,
    *,
    voxel_size: float = 0.004,
    truncation: float | None = None,
    min_confidence: int = 1,
    max_depth: float = 5.0,
    progress: ProgressCallback | None = None,
) -> Mesh:
    """Read an ARKit capture folder and fuse it into a coloured z-up triangle mesh (metres) by
    TSDF integration and marching cubes (see :func:`voxforge.scan.fuse.fuse_tsdf`).

    Frames are re-read from disk for each pass rather than held in memory, so long captures with
    full-size colour images fit.
    """
    from voxforge.scan.fuse import fuse_tsdf

    folder = Path(path)
    groups = _frame_groups(folder)
    mesh = fuse_tsdf(
        _LazyFrames(groups),
        voxel_size=voxel_size,
        truncation=truncation,
        min_confidence=min_confidence,
        max_depth=max_depth,
        progress=progress,
    )
    mesh.meta.update({"source": str(folder), "format": "arkit"})
    return mesh


class _LazyFrames(Sequence[CaptureFrame]):
    """The frames of a capture, each read from disk when indexed."""

    def __init__(self, groups: list[_FrameFiles]) -> None:
        self._groups = groups

    def __len__(self) -> int:
        return len(self._groups)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return _read_frame(self._groups[i])


def _read_frame(files: _FrameFiles) -> CaptureFrame:
    """Read one frame's files, checking sizes and dtypes (errors name the file)."""
    pose, intrinsics = _read_meta(files.meta)
    if files.depth is None:
        raise InputFormatError(f"{files.meta}: frame {files.number} has no depth PNG beside it")
    depth = _read_png(files.depth, np.uint16, "16-bit millimetre depth")
    if files.confidence is None:
        conf = np.full(DEPTH_SHAPE, 2, dtype=np.uint8)
    else:
        conf = _read_png(files.confidence, np.uint8, "8-bit confidence")
        if int(conf.max(initial=0)) > 2:
            raise InputFormatError(
                f"{files.confidence}: confidence values must be 0, 1 or 2, found up to {conf.max()}"
            )
    rgb = None if files.rgb is None else _read_rgb(files.rgb)
    return CaptureFrame(depth_mm=depth, confidence=conf, rgb=rgb, pose=pose, intrinsics=intrinsics)


def read_frames(path: str | Path) -> list[CaptureFrame]:
    """All frames of a capture folder, in frame-number order (for tools and tests; loads every image)."""
    return list(_iter_frames(_frame_groups(Path(path))))


def write_capture(
    frames: Sequence[CaptureFrame], folder: str | Path, *, overwrite: bool = False
) -> Path:
    """Write frames as an ARKit-style capture folder (``frame_NNNNN.json``, ``depth_NNNNN.png``,
    ``conf_NNNNN.png``, ``frame_NNNNN.jpg`` at JPEG quality 85) and return the folder.

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
        (out / f"frame_{i:05d}.json").write_text(json.dumps(meta) + "\n")
        _write_image(out / f"depth_{i:05d}.png", f.depth_mm, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        _write_image(out / f"conf_{i:05d}.png", f.confidence, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if f.rgb is not None:
            bgr = cv2.cvtColor(np.ascontiguousarray(f.rgb, dtype=np.uint8), cv2.COLOR_RGB2BGR)
            _write_image(out / f"frame_{i:05d}.jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return out


# --- folder scanning -------------------------------------------------------------------------


def _kind(path: Path, parent_name: str = "") -> str | None:
    """'meta', 'depth', 'confidence', 'rgb' or None for a file that is not part of a frame."""
    if _NUMBER.search(path.stem) is None:
        return None
    name = (parent_name + "/" + path.stem).lower()
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "meta"
    if suffix == ".png" and "depth" in name:
        return "depth"
    if suffix == ".png" and "conf" in name:
        return "confidence"
    if suffix in _IMAGE_SUFFIXES and "depth" not in name and "conf" not in name:
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


def _scan_folder(folder: Path) -> list[_FrameFiles]:
    """Group the folder's files by frame number; frames are those with a JSON."""
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
    if orphans:
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


def _iter_frames(groups: Sequence[_FrameFiles]) -> Iterator[CaptureFrame]:
    for g in groups:
        yield _read_frame(g)


# --- single files ----------------------------------------------------------------------------


def _read_meta(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(pose (4, 4), intrinsics (3, 3)) float64 from a frame JSON."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputFormatError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputFormatError(f"{path}: cannot read frame JSON ({e})") from e
    if not isinstance(meta, dict):
        raise InputFormatError(f"{path}: expected a JSON object, found {type(meta).__name__}")
    pose = _matrix(meta, POSE_KEY, 4, path)
    if not np.allclose(pose[3], (0.0, 0.0, 0.0, 1.0), atol=1e-6):
        raise InputFormatError(f"{path}: {POSE_KEY} last row must be 0 0 0 1, found {pose[3].tolist()}")
    intrinsics = _matrix(meta, INTRINSICS_KEY, 3, path)
    if not (intrinsics[0, 0] > 0 and intrinsics[1, 1] > 0):
        raise InputFormatError(
            f"{path}: intrinsics focal lengths must be positive, found "
            f"fx={intrinsics[0, 0]}, fy={intrinsics[1, 1]}"
        )
    return pose, intrinsics


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


def _decode(path: Path, flags: int) -> np.ndarray:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise InputFormatError(f"{path}: cannot read image ({e})") from e
    img = cv2.imdecode(data, flags) if data.size else None
    if img is None:
        raise InputFormatError(f"{path}: not a readable image ({data.size} bytes)")
    return img


def _read_png(path: Path, dtype: type[np.generic], what: str) -> np.ndarray:
    img = _decode(path, cv2.IMREAD_UNCHANGED)
    if img.ndim != 2 or img.dtype != dtype:
        chans = 1 if img.ndim == 2 else img.shape[2]
        raise InputFormatError(
            f"{path}: expected single-channel {what}, found {chans} channel(s) of {img.dtype}"
        )
    if img.shape != DEPTH_SHAPE:
        raise InputFormatError(
            f"{path}: expected {DEPTH_SHAPE[1]}x{DEPTH_SHAPE[0]} pixels, "
            f"found {img.shape[1]}x{img.shape[0]}"
        )
    return img


def _read_rgb(path: Path) -> np.ndarray:
    bgr = _decode(path, cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _write_image(path: Path, img: np.ndarray, params: list[int]) -> None:
    ok, buf = cv2.imencode(path.suffix, img, params)
    if not ok:
        raise RuntimeError(f"{path}: OpenCV could not encode a {img.shape} {img.dtype} image")
    path.write_bytes(buf.tobytes())
