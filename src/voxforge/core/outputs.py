"""Atomic output folders with a manifest.

Every pipeline writes into an :class:`OutputDir`: files go to a hidden temporary folder beside the
target, and only when the whole job succeeded is the folder renamed into place with a
``manifest.json`` listing each output. A failure leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

MEDIA_TYPES: dict[str, str] = {
    ".json": "application/json",
    ".npz": "application/x-npz",
    ".npy": "application/x-npy",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".ply": "application/x-ply",
    ".obj": "model/obj",
    ".stl": "model/stl",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".3mf": "model/3mf",
    ".usda": "model/vnd.usda",
    ".usdz": "model/vnd.usdz+zip",
    ".fbx": "application/octet-stream",
    ".mtl": "model/mtl",
    ".mpd": "application/x-ldraw",
    ".ldr": "application/x-ldraw",
    ".csv": "text/csv",
    ".xml": "application/xml",
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".yaml": "application/yaml",
    ".txt": "text/plain",
}

MANIFEST_NAME = "manifest.json"


def media_type_for(path: str | Path) -> str:
    return MEDIA_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


@dataclass
class Artifact:
    """One output file as the manifest lists it."""

    name: str
    path: str
    media_type: str
    size: int
    sha256: str
    description: str = ""


class OutputDir:
    """A folder that appears at ``final`` only when everything in it was written.

    Use as a context manager::

        with OutputDir(out) as od:
            np.savez(od.path("grid.npz"), ...)
            od.add("grid.npz", "voxel grid")
        # now `out` exists, with manifest.json

    If ``final`` exists it is replaced only at the very end (and only if it is a voxforge output
    folder or empty, so a typo cannot wipe a user's folder).
    """

    def __init__(self, final: str | Path, extra: dict[str, Any] | None = None) -> None:
        self.final = Path(final)
        self.extra = dict(extra or {})
        self.artifacts: dict[str, Artifact] = {}
        self.tmp: Path | None = None

    def __enter__(self) -> OutputDir:
        parent = self.final.resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        if self.final.exists() and not _replaceable(self.final):
            from voxforge.core.errors import ConfigError

            raise ConfigError(
                f"output folder {self.final} exists and is not a voxforge output; "
                "choose another -o or remove it"
            )
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.tmp-", dir=parent))
        os.chmod(self.tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; results are for sharing
        return self

    def path(self, name: str) -> Path:
        """Where to write output ``name`` (inside the temporary folder)."""
        if self.tmp is None:
            raise RuntimeError("OutputDir used outside its with-block")
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def add(self, name: str, description: str = "", media_type: str | None = None) -> Artifact:
        """Record an output already written at ``self.path(name)``."""
        p = self.path(name)
        if not p.is_file():
            raise FileNotFoundError(f"output {name} was not written")
        art = Artifact(
            name=name,
            path=name,
            media_type=media_type or media_type_for(name),
            size=p.stat().st_size,
            sha256=_sha256(p),
            description=description,
        )
        self.artifacts[name] = art
        return art

    def manifest(self) -> dict[str, Any]:
        return {**self.extra, "outputs": [asdict(a) for a in self.artifacts.values()]}

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        try:
            (self.tmp / MANIFEST_NAME).write_text(json.dumps(self.manifest(), indent=2) + "\n")
            backup = None
            if self.final.exists():
                backup = self.final.with_name(f".{self.final.name}.old-{os.getpid()}")
                os.replace(self.final, backup)
            os.replace(self.tmp, self.final)
            if backup is not None:
                shutil.rmtree(backup, ignore_errors=True)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise


def _replaceable(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    return (folder / MANIFEST_NAME).is_file() or not any(folder.iterdir())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write a single file atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
