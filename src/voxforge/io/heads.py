"""Judging a file by its first bytes, before anything reads it whole.

Two questions are answered from the head (the first :data:`~voxforge.io._base.HEAD_BYTES` bytes)
and the file size alone, so a large file of the wrong kind is refused without loading it:

* :func:`foreign_content`: is this something voxforge never reads (an image, a PDF, an
  archive, a program)? The message then names what it is ("is a PNG image, not an OBJ mesh").
* :func:`head_refusal`: does the head rule out the format the extension names? Each check is
  as strict as the format's reader, never stricter: a file it lets through may still fail in
  the reader, but a file it refuses could not have been read.
"""

from __future__ import annotations

import re
import struct
import zipfile
from collections.abc import Callable

from voxforge.io._base import text_head

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x00\x00\x01\x00", "an icon (ICO) image"),
)
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def foreign_content(head: bytes) -> str | None:
    """What the head shows, when it is a well-known kind of file voxforge does not read."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
            return "a HEIC/AVIF image"
        return "a video (MP4/MOV)"
    if head[:512].lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    return None


def describe_head(head: bytes, n: int = 12) -> str:
    """The first ``n`` bytes for a message, as Python writes bytes."""
    return repr(head[:n])


def _magic(
    name: str, magic: bytes | tuple[bytes, ...], shown: str
) -> Callable[[bytes, int], str | None]:
    magics = magic if isinstance(magic, tuple) else (magic,)

    def check(head: bytes, size: int) -> str | None:
        if head.startswith(magics):
            return None
        if any(len(head) < len(m) and m.startswith(head) for m in magics):
            return f"{name} file is cut off: {size} bytes, shorter than its signature {shown}"
        return f"not {article(name)} {name} file (starts with {describe_head(head)}, expected {shown})"

    return check


def _text(name: str, what: str) -> Callable[[bytes, int], str | None]:
    def check(head: bytes, size: int) -> str | None:
        if text_head(head) is not None:
            return None
        return (
            f"not {article(name)} {name} file ({what} is text; this starts with {describe_head(head)})"
        )

    return check


def _stl(head: bytes, size: int) -> str | None:
    text = text_head(head)
    start = text.lstrip().lower()[:5] if text is not None else ""
    if text is not None and start and "solid".startswith(start):
        return None  # ASCII STL (or a binary one whose header says "solid"): the reader decides
    if text is not None and size < 84:
        return (
            f"not an STL file: {size} bytes of text that do not start with 'solid' (ASCII STL), "
            "shorter than a binary STL's 84-byte header"
        )
    if text is not None and not _binary_stl_size(head, size):
        return f"not an STL file (text that does not start with 'solid': {describe_head(head)})"
    if size < 84:
        return f"binary STL is {size} bytes, shorter than its 84-byte header"
    (n,) = struct.unpack("<I", head[80:84])
    if size != 84 + 50 * n:
        extra = (size - 84) % 50
        tail = f" and {extra} stray bytes" if extra else ""
        return f"binary STL header says {n} faces, file holds {(size - 84) // 50}{tail}"
    return None


def _binary_stl_size(head: bytes, size: int) -> bool:
    return size >= 84 and size == 84 + 50 * struct.unpack("<I", head[80:84])[0]


def _off(head: bytes, size: int) -> str | None:
    text = text_head(head)
    if text is None:
        return f"not an OFF file (OFF is text; this starts with {describe_head(head)})"
    for line in _whole_lines(text):
        token = line.strip().split("#", 1)[0].strip()
        if token:
            if re.match(r"^(ST)?C?N?4?n?OFF(\s|\d|$)", token):
                return None
            return f"not an OFF file (first line {token[:20]!r}, expected 'OFF')"
    return None


def _whole_lines(text: str) -> list[str]:
    """The lines of ``text`` that end in a newline (the last one may be cut by the head or file)."""
    return text[: text.rfind("\n") + 1].splitlines()


def _gltf(head: bytes, size: int) -> str | None:
    text = text_head(head)
    if text is None or not text.lstrip().startswith("{"):
        return f"not a glTF file (a .gltf is a JSON object; this starts with {describe_head(head)})"
    return None


def _pcd(head: bytes, size: int) -> str | None:
    from voxforge.io.pcd import HEADER_KEYS

    cut = head.find(b"DATA ")
    text = (head[:cut] if cut >= 0 else head).decode("latin-1")
    for line in _whole_lines(text):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key = line.split()[0]
        if key in HEADER_KEYS or key == "DATA":
            return None
        return f"not a PCD file (first header line {line[:20]!r}, expected VERSION or FIELDS)"
    return None


_CHECKS: dict[str, Callable[[bytes, int], str | None]] = {
    "ply": _magic("PLY", (b"ply\n", b"ply\r\n", b"ply\r"), "b'ply'"),
    "las": _magic("LAS", b"LASF", "b'LASF'"),
    "glb": _magic("GLB", b"glTF", "b'glTF'"),
    "npy": _magic("NPY", b"\x93NUMPY", "b'\\x93NUMPY'"),
    "npz": _magic("NPZ", ZIP_MAGIC, "a zip archive"),
    "3mf": _magic("3MF", ZIP_MAGIC, "a zip archive"),
    "capture": _magic("capture", ZIP_MAGIC, "a zip archive"),
    "binvox": _magic("binvox", b"#binvox", "b'#binvox'"),
    "vox": _magic("MagicaVoxel", b"VOX ", "b'VOX '"),
    "obj": _text("OBJ", "OBJ"),
    "xyz": _text("text point", "a point list"),
    "stl": _stl,
    "off": _off,
    "gltf": _gltf,
    "pcd": _pcd,
}


def head_refusal(fmt: str, head: bytes, size: int) -> str | None:
    """Why the first bytes cannot be format ``fmt`` (our words), or None when they might be."""
    check = _CHECKS.get(fmt)
    return None if check is None else check(head, size)


def article(name: str) -> str:
    """``a`` or ``an`` before a format name read letter by letter (an OBJ, a PLY, an STL)."""
    if name == "LAS" or not name.isupper():
        return "a"  # a word, not letters (binvox, MagicaVoxel, 3MF, LAS said "lass")
    return "an" if name[0] in "AEFHILMNORSX" else "a"


ZIP_UNREADABLE: tuple[type[BaseException], ...] = (NotImplementedError,)
"""What :mod:`zipfile` raises for an archive it cannot unpack (a compression method or zip
version it lacks): not a stub, an error of the file."""
ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    *ZIP_UNREADABLE,
)
"""Everything :mod:`zipfile` raises for a broken or unreadable archive (:func:`zip_problem` words it)."""


def zip_problem(error: BaseException) -> str:
    """A broken zip archive (3MF, npz, capture) in our words."""
    if isinstance(error, ZIP_UNREADABLE):
        return "uses a zip feature voxforge cannot unpack (compression or version)"
    return "is not a complete zip archive (cut off or corrupt)"
