"""Shared plumbing of the readers: input sources, the format table entry, units and up axes.

Every format module ends with a ``FORMATS`` tuple of :class:`FormatSpec`; ``voxforge.io.formats``
merges them into one registry. A reader takes a :class:`Source` (a path or bytes with a name) and
returns a core type; it raises only the ``voxforge.core.errors`` family, with messages that start
with the source name.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from voxforge.core.errors import ConfigError, InputFormatError

UNIT_SCALES: dict[str, float] = {
    "m": 1.0,
    "cm": 0.01,
    "mm": 0.001,
    "um": 1e-6,
    "in": 0.0254,
    "ft": 0.3048,
    "us-ft": 1200.0 / 3937.0,
}
"""Metres per unit for the ``units=`` argument of the loaders."""

UNIT_ALIASES: dict[str, str] = {
    "meter": "m",
    "meters": "m",
    "metre": "m",
    "metres": "m",
    "centimeter": "cm",
    "centimeters": "cm",
    "millimeter": "mm",
    "millimeters": "mm",
    "micron": "um",
    "inch": "in",
    "inches": "in",
    "foot": "ft",
    "feet": "ft",
}

Y_UP_TO_Z_UP = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)
"""Rotation taking a Y-up frame to our Z-up one: (x, y, z) -> (x, -z, y), right-handed."""

HEAD_BYTES = 4096
"""How many leading bytes the sniffers look at."""


def normalize_units(units: str | None) -> str | None:
    """Canonical unit name (``"m"``, ``"mm"``, ...) or None; unknown names raise ConfigError."""
    if units is None:
        return None
    key = str(units).strip().lower()
    key = UNIT_ALIASES.get(key, key)
    if key not in UNIT_SCALES:
        raise ConfigError(f"unknown units {units!r} (known: {', '.join(UNIT_SCALES)})")
    return key


UNIT_WORD = re.compile(rb"\bunits?\s*[:=]\s*([A-Za-z]+)", re.I)
"""``units: mm`` (or ``unit=cm``) inside a header comment."""


def unit_tag(unit: str) -> str:
    """The tag that :func:`declared_unit` reads back: ``units: mm``."""
    return f"units: {unit}"


def declared_unit(head: bytes, *, stl: bool = False) -> str | None:
    """The unit a file's header declares with a ``units: <name>`` tag (:func:`unit_tag`),
    canonical; None when there is none or it names no known unit.

    Only comments are read: OBJ and OFF ``#`` lines and PLY ``comment`` lines among the first
    64, or (``stl``) the free text of an STL's 80-byte header, never geometry.
    """
    lines = [head[:80]] if stl else [ln.strip() for ln in head.splitlines()[:64]]
    for line in lines:
        if not stl and not line.startswith((b"#", b"comment")):
            continue
        m = UNIT_WORD.search(line)
        if m is None:
            continue
        try:
            return normalize_units(m.group(1).decode("ascii"))
        except ConfigError:
            continue
    return None


def normalize_up(up: str | None) -> str | None:
    """``"y"``, ``"z"`` or None; anything else raises ConfigError."""
    if up is None:
        return None
    key = str(up).strip().lower()
    if key not in ("y", "z"):
        raise ConfigError(f"up axis must be 'y' or 'z', got {up!r}")
    return key


@dataclass
class Source:
    """One input: a file on disk or bytes in memory, with a name to put in messages.

    Attributes:
        name: what messages call it (the path as given, or the ``filename`` hint for bytes).
        path: the file on disk, or None for bytes (readers that need sibling files, such as an
            OBJ's MTL and textures, only find them when this is set).
    """

    name: str
    path: Path | None = None
    _data: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_input(cls, source: str | os.PathLike[str] | bytes, filename: str | None = None) -> Source:
        """Wrap a path or bytes. Paths are checked lazily (see :meth:`data`)."""
        if isinstance(source, bytes | bytearray | memoryview):
            return cls(name=filename or "<bytes>", path=None, _data=bytes(source))
        if isinstance(source, str | os.PathLike):
            p = Path(os.fspath(source))
            return cls(name=filename or str(p), path=p)
        raise ConfigError(f"expected a path or bytes, got {type(source).__name__}")

    @property
    def suffix(self) -> str:
        """Lower-case extension including the dot (``".ply"``), from the name or path."""
        return Path(self.name).suffix.lower() if self.name else ""

    def data(self) -> bytes:
        """The whole content; a missing/unreadable path raises InputFormatError naming it."""
        if self._data is None:
            assert self.path is not None
            with self._reading():
                self._data = self.path.read_bytes()
        return self._data

    def head(self, n: int = HEAD_BYTES) -> bytes:
        """The first ``n`` bytes, read without loading the whole file (sniffing looks here)."""
        if self._data is not None:
            return self._data[:n]
        assert self.path is not None
        with self._reading(), self.path.open("rb") as f:
            return f.read(n)

    @property
    def size(self) -> int:
        """The content's length in bytes (from the file system for a path not yet read)."""
        if self._data is not None:
            return len(self._data)
        assert self.path is not None
        with self._reading():
            if self.path.is_dir():
                raise IsADirectoryError
            return self.path.stat().st_size

    def stream(self) -> BinaryIO:
        """A seekable binary stream over the content (the open file for a path not yet read)."""
        if self._data is not None:
            return io.BytesIO(self._data)
        assert self.path is not None
        with self._reading():
            return self.path.open("rb")

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Turn the file system's errors into one InputFormatError naming the source."""
        try:
            yield
        except FileNotFoundError:
            raise InputFormatError(f"{self.name}: file not found") from None
        except IsADirectoryError:
            raise InputFormatError(f"{self.name}: is a directory, expected a file") from None
        except PermissionError:
            raise InputFormatError(f"{self.name}: permission denied") from None
        except OSError as e:
            raise InputFormatError(f"{self.name}: cannot read ({e.strerror or e})") from None

    def error(self, message: str) -> InputFormatError:
        """An InputFormatError whose message starts with this source's name."""
        return InputFormatError(f"{self.name}: {message}")


Reader = Callable[..., Any]
Writer = Callable[..., None]
Sniffer = Callable[[bytes, int], bool]


@dataclass(frozen=True)
class FormatSpec:
    """One row of a format module's table.

    Attributes:
        name: short format name (``"ply"``), what :func:`voxforge.io.sniff` returns.
        kinds: what it can hold, in preference order (``("mesh", "points")`` for a PLY).
        extensions: lower-case extensions with dot.
        description: one line for the README table and ``voxforge info``.
        readers: kind -> ``reader(source, **options)`` returning that core type.
        writer: ``writer(obj, path, **options)``, or None when voxforge cannot write it.
        sniff: ``sniff(head, size) -> bool``: does this content look like the format?
        strong: True when ``sniff`` checks a magic number (trusted over the extension); weak
            sniffers (text heuristics) are tried after every strong one.
    """

    name: str
    kinds: tuple[str, ...]
    extensions: tuple[str, ...]
    description: str
    readers: dict[str, Reader]
    writer: Writer | None = None
    sniff: Sniffer | None = None
    strong: bool = True


def text_head(head: bytes) -> str | None:
    """The head decoded as text, or None when it holds NUL bytes or is not UTF-8/latin-1 text."""
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the end of the head is still text
        try:
            return head[:-4].decode("utf-8") if len(head) > 4 else None
        except UnicodeDecodeError:
            return None


def colors_to_unit(values: np.ndarray) -> np.ndarray:
    """(n, 3) colours in any of 0..1 floats, 0..255 or 0..65535 -> float32 in [0, 1].

    Integer dtypes are scaled by their own range (uint8 /255, uint16 /65535); float data is
    judged by its maximum because text formats write 0..255 as floats.
    """
    v = np.asarray(values)
    if v.dtype == np.uint8:
        return v.astype(np.float32) / np.float32(255.0)
    if v.dtype == np.uint16:
        return v.astype(np.float32) / np.float32(65535.0)
    f = v.astype(np.float64)
    finite = f[np.isfinite(f)]
    top = float(finite.max()) if finite.size else 0.0
    if top > 255.0:
        f = f / 65535.0
    elif top > 1.0:
        f = f / 255.0
    return np.clip(np.nan_to_num(f, nan=0.0), 0.0, 1.0).astype(np.float32)


def check_count(src: Source, what: str, count: int, limit: int = 2_000_000_000) -> None:
    """Refuse negative or absurd element counts from a header before allocating anything."""
    if count < 0 or count > limit:
        raise src.error(f"header says {count} {what}, which is not a plausible count")


def text_table_problem(error: ValueError, row: str) -> str:
    """numpy's ``loadtxt`` complaint in our words; ``row`` names a row ("vertex line", "row").

    numpy counts the first "columns changed" row from 1 and a "could not convert" row from 0;
    both come out counted from 1.
    """
    text = str(error)
    m = re.search(r"number of columns changed from (\d+) to (\d+) at row (\d+)", text)
    if m:
        return (
            f"{row} {m[3]} has {m[2]} values where the ones before have {m[1]} "
            "(the file is cut off or its rows are ragged)"
        )
    m = re.search(r"could not convert string '(.*)' to \w+ at row (\d+), column (\d+)", text)
    if m:
        return f"{row} {int(m[2]) + 1}, value {m[3]}: {m[1][:20]!r} is not a number"
    return f"some {row}s are not plain numbers"
