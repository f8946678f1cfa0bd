"""Job files on disk: uploads streamed in with a size cap, content checks, artifacts served safely.

Layout under the data dir::

    jobs/<job id>/input/<sanitised upload name>
    jobs/<job id>/output/            written by the pipeline through OutputDir (atomic)
    jobs/<job id>/output/manifest.json
    jobs/<job id>/tmp/               the worker's temporary folder (TMPDIR), removed on any exit

An upload is parsed from the request stream part by part and written to disk as it arrives, so
a 2 GB scan never sits in memory and a body past the cap is refused as soon as it crosses it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from voxforge.core.errors import (
    InputFormatError,
    SizeLimitError,
    UnsupportedInputError,
    VoxforgeError,
)
from voxforge.core.outputs import MANIFEST_NAME

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
MAX_FIELD_BYTES = 256 * 1024
"""Largest non-file form field (the ``params`` JSON)."""

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
SCRATCH = "tmp"
PARTIAL_PREFIXES = (".output.tmp-", ".output.old-")


class StorageUnavailableError(VoxforgeError):
    """The database or the data folder cannot be written (locked, read-only, full): 503."""

    http_status = 503


class Storage:
    """Where each job's input and outputs live under ``root``, and, with ``objects`` (an
    :class:`~voxforge.service.objects.ObjectStore`), the copies every server reads from."""

    def __init__(self, root: str | Path, objects: Any = None) -> None:
        self.root = Path(root).resolve()
        self.objects = objects
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def input_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "input"

    def output_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "output"

    def scratch_dir(self, job_id: str) -> Path:
        """The job's temporary folder: a worker's TMPDIR while it runs the job."""
        return self.job_dir(job_id) / SCRATCH

    def clear_scratch(self, job_id: str) -> None:
        """Remove the job's temporary folder and OutputDir leftovers (not a finished output)."""
        d = self.job_dir(job_id)
        if not d.is_dir():
            return
        for p in d.iterdir():
            if p.name == SCRATCH or p.name.startswith(PARTIAL_PREFIXES):
                shutil.rmtree(p, ignore_errors=True)

    def sweep(self, busy: Callable[[str], bool] = lambda _job_id: False) -> int:
        """Clear every job's scratch and partial outputs (server start: no worker of this server
        runs yet), except in the folders of jobs ``busy`` names (run by another live server on a
        shared data folder)."""
        jobs = self.root / "jobs"
        count = 0
        for d in jobs.iterdir() if jobs.is_dir() else ():
            leftovers = [
                p
                for p in (d.iterdir() if d.is_dir() else ())
                if p.name == SCRATCH or p.name.startswith(PARTIAL_PREFIXES)
            ]
            if leftovers and busy(d.name):
                continue
            for p in leftovers:
                shutil.rmtree(p, ignore_errors=True)
                count += 1
        return count

    def check_writable(self) -> None:
        """Create and remove a file under ``jobs/``.

        Raises:
            StorageUnavailableError: the data folder cannot be written.
        """
        probe = self.root / "jobs" / f".probe-{os.getpid()}-{threading.get_ident()}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            raise StorageUnavailableError(
                f"the data folder cannot be written ({err.strerror or type(err).__name__})"
            ) from None

    def input_path(self, job_id: str) -> Path | None:
        """The job's uploaded file, or None for jobs without one (text prompts)."""
        d = self.input_dir(job_id)
        files = sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []
        return files[0] if files else None

    def read_manifest(self, job_id: str) -> list[dict[str, Any]]:
        """The outputs a finished job's ``manifest.json`` lists (name, media_type, size, sha256)."""
        path = self.output_dir(job_id) / MANIFEST_NAME
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            why = err.strerror if isinstance(err, OSError) else str(err)
            raise InputFormatError(f"{MANIFEST_NAME}: not readable ({why})") from None
        return list(manifest.get("outputs", []))

    def artifact_path(self, job_id: str, name: str) -> Path:
        """The file of artifact ``name``; refuses names that could leave the output folder.

        Raises:
            UnsupportedInputError: absolute names, ``..``, backslashes or more than one ``/``.
        """
        check_artifact_name(name)
        out = self.output_dir(job_id).resolve()
        path = (out / name).resolve()
        if not path.is_relative_to(out):
            raise UnsupportedInputError(f"artifact name {name!r} leaves the job's folder")
        return path

    def clear_partial(self, job_id: str) -> None:
        """Remove what an interrupted run left: OutputDir temp folders and a stale output."""
        d = self.job_dir(job_id)
        if not d.is_dir():
            return
        self.clear_scratch(job_id)
        shutil.rmtree(self.output_dir(job_id), ignore_errors=True)

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        if self.objects is not None:
            try:
                self.objects.delete_prefix(f"jobs/{job_id}/")
            except VoxforgeError:  # the row is gone: left objects are garbage, not an error here
                log.warning("objects of job %s not deleted", job_id, exc_info=True)

    # ---- object storage (a no-op without ``objects``)

    def publish_input(self, job_id: str) -> None:
        """Copy the job's upload to the object store (another server may have to run the job)."""
        path = self.input_path(job_id)
        if self.objects is not None and path is not None:
            self.objects.put_file(f"jobs/{job_id}/input/{path.name}", path)

    def fetch_input(self, job_id: str) -> None:
        """Bring the job's upload from the object store when this server's folder lacks it."""
        if self.objects is None or self.input_path(job_id) is not None:
            return
        for name in self.objects.list(f"jobs/{job_id}/input/"):
            self.objects.get_file(name, self.input_dir(job_id) / PurePosixPath(name).name)

    def remove_input(self, job_id: str) -> None:
        """Remove the job's upload here and from the object store."""
        shutil.rmtree(self.input_dir(job_id), ignore_errors=True)
        if self.objects is not None:
            self.objects.delete_prefix(f"jobs/{job_id}/input/")

    def publish_outputs(self, job_id: str, outputs: list[dict[str, Any]]) -> None:
        """Copy a finished job's outputs and ``manifest.json`` to the object store."""
        if self.objects is None:
            return
        for o in [*outputs, {"name": MANIFEST_NAME, "media_type": "application/json"}]:
            path = self.artifact_path(job_id, o["name"])
            self.objects.put_file(f"jobs/{job_id}/output/{o['name']}", path, o.get("media_type"))

    def open_artifact(self, job_id: str, name: str) -> Any:
        """The artifact's :class:`~voxforge.service.objects.ObjectBody` from the object store,
        or None when missing."""
        check_artifact_name(name)
        return self.objects.open(f"jobs/{job_id}/output/{name}")


def check_artifact_name(name: str) -> None:
    """At most one ``/`` (``steps/step_001.png``), no empty, ``.`` or ``..`` parts, no ``\\``."""
    parts = name.split("/")
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or len(parts) > 2
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise UnsupportedInputError(f"artifact name {name!r} is not a plain name")


def safe_filename(name: str | None, default: str = "upload") -> str:
    """The last path component with anything but ``A-Za-z0-9._-`` replaced (keeps the extension)."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = _SAFE.sub("_", base).strip("._")[:120]
    return base or default


# --------------------------------------------------------------------------- uploads


@dataclass
class Upload:
    """A parsed multipart request: text fields and at most one file written to disk."""

    fields: dict[str, str] = field(default_factory=dict)
    file_path: Path | None = None
    filename: str | None = None
    size: int = 0


class _PartSink:
    """Callbacks for python-multipart: file parts go to disk, text fields to a capped buffer."""

    def __init__(self, dest_dir: Path, limit: int, file_field: str) -> None:
        self.dest_dir, self.limit, self.file_field = dest_dir, limit, file_field
        self.upload = Upload()
        self.error: Exception | None = None
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._buffer = bytearray()
        self._file: IO[bytes] | None = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._add("_header_field", d[s:e]),
            "on_header_value": lambda d, s, e: self._add("_header_value", d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _add(self, attr: str, data: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + data)

    def _part_begin(self) -> None:
        self._headers, self._buffer, self._name = {}, bytearray(), ""

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is None and self._name != self.file_field:
            return
        if filename is None:  # ``filename=""`` arrives without the parameter: still the file
            filename = b""
        if self._name != self.file_field or self.upload.file_path is not None:
            self._fail(
                InputFormatError(f"unexpected file field {self._name!r}; send one file as 'file'")
            )
            return
        self.upload.filename = filename.decode("utf-8", "replace")
        path = self.dest_dir / safe_filename(self.upload.filename)
        try:
            self.dest_dir.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "wb")
        except OSError as err:
            self._fail(_storage_error(err))
            return
        self.upload.file_path = path

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return
        chunk = data[start:end]
        if self._file is not None:
            self.upload.size += len(chunk)
            if self.upload.size > self.limit:
                self._fail(SizeLimitError(f"upload is over the limit of {self.limit:,} bytes"))
                return
            try:
                self._file.write(chunk)
            except OSError as err:
                self._fail(_storage_error(err))
            return
        self._buffer += chunk
        if len(self._buffer) > MAX_FIELD_BYTES:
            self._fail(SizeLimitError(f"form field {self._name!r} is over {MAX_FIELD_BYTES:,} bytes"))

    def _part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self._name and self.error is None:
            self.upload.fields[self._name] = self._buffer.decode("utf-8", "replace")

    def _fail(self, err: Exception) -> None:
        if self.error is None:
            self.error = err

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:  # the disk failed under the upload; the error is already set
                pass
            self._file = None


def _storage_error(err: OSError) -> StorageUnavailableError:
    return StorageUnavailableError(
        f"the upload cannot be stored ({err.strerror or type(err).__name__}); try again later"
    )


async def receive_multipart(
    content_type: str,
    stream: AsyncIterator[bytes],
    dest_dir: Path,
    limit: int,
    file_field: str = "file",
) -> Upload:
    """Parse a ``multipart/form-data`` body from ``stream``, writing the file part to ``dest_dir``.

    Raises:
        SizeLimitError: the file passed ``limit`` bytes (reading stops there).
        InputFormatError: not multipart, no boundary, a malformed body, or one that ends
            before its closing boundary (a truncated upload never becomes a job).
        StorageUnavailableError: the file cannot be written (read-only or full data folder).
    """
    from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise InputFormatError("expected multipart/form-data with a boundary")
    sink = _PartSink(dest_dir, limit, file_field)
    parser = MultipartParser(boundary, sink.callbacks())
    try:
        async for chunk in stream:
            try:
                parser.write(chunk)
            except Exception as err:  # python-multipart raises its own error types
                raise InputFormatError(f"malformed multipart body ({err})") from None
            if sink.error is not None:
                raise sink.error
        parser.finalize()
        if parser.state != MultipartState.END:
            raise InputFormatError(
                "multipart body ends before its closing boundary (the upload was cut short)"
            )
    finally:
        sink.close()
    return sink.upload


# --------------------------------------------------------------------------- content checks


def detect_input(path: Path, shown_name: str) -> str:
    """What an uploaded file holds, from its content only: ``image:<fmt>``, ``images`` (a zip of
    pictures) or the voxforge format name (``ply``, ``stl``, ``capture`` ...).

    The extension is deliberately ignored: the file is sniffed under a neutral name.

    Raises:
        UnsupportedInputError: nothing voxforge or Pillow reads.
        InputFormatError: an empty file.
    """
    from voxforge.io import sniff

    if path.stat().st_size == 0:
        raise InputFormatError(f"{shown_name}: file is empty")
    image = _image_format(path)
    if image is not None:
        return f"image:{image}"
    try:
        fmt = sniff(path, filename="upload")
    except UnsupportedInputError:
        raise UnsupportedInputError(
            f"{shown_name}: content is not a scan, mesh, voxel grid, capture or image voxforge reads"
        ) from None
    if fmt == "capture" and _zip_of_images(path):
        return "images"
    return fmt


def _image_format(path: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.verify()
            return (im.format or "image").lower()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None


def _zip_of_images(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError):
        return False
    return bool(names) and all(Path(n).suffix.lower() in IMAGE_SUFFIXES for n in names)
