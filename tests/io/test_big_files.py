"""A large file of the wrong kind is refused on its first bytes, without being read whole."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from voxforge.core import InputFormatError, UnsupportedInputError
from voxforge.io import _base, load_any, load_mesh, sniff

BIG = 2 * 1024**3


def sparse(path: Path, head: bytes, size: int = BIG) -> Path:
    """A file of ``size`` bytes that starts with ``head``; the rest is a hole (no disk, no time)."""
    with path.open("wb") as f:
        f.write(head)
        f.truncate(size)
    return path


@pytest.fixture
def no_whole_reads(monkeypatch):
    """Any attempt to read a path whole fails the test."""

    def refuse(self):
        raise AssertionError(f"{self.name} was read whole")

    monkeypatch.setattr(_base.Source, "data", refuse)


@pytest.mark.parametrize(
    ("name", "head", "loader", "error", "words"),
    [
        ("big.ply", b"\x00\x01not a ply at all", load_any, InputFormatError, "not a PLY file"),
        ("big.obj", b"\x89PNG\r\n\x1a\n\x00\x00", load_mesh, UnsupportedInputError, "is a PNG image"),
        ("big.las", b"LAZY header", load_any, InputFormatError, "not a LAS file"),
        ("big.npy", b"\x00" * 64, load_any, InputFormatError, "not an NPY file"),
        ("big.glb", b"GLTF", load_any, InputFormatError, "expected b'glTF'"),
        ("big.stl", b"x" * 80 + (7).to_bytes(4, "little"), load_mesh, InputFormatError, "7 faces"),
    ],
)
def test_refused_on_the_head(tmp_path, no_whole_reads, name, head, loader, error, words):
    path = sparse(tmp_path / name, head)
    with pytest.raises(error, match=words):
        loader(path)


def test_sniff_reads_only_the_head(tmp_path, no_whole_reads):
    assert sniff(sparse(tmp_path / "big.bin", b"ply\nformat binary_little_endian 1.0\n")) == "ply"


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_peak_memory_stays_small(tmp_path):
    """Measured in a fresh process: refusing a 2 GiB non-PLY costs megabytes, not gigabytes.

    The peak is the process's own VmHWM (ru_maxrss would carry the forking parent's peak
    across exec)."""
    path = sparse(tmp_path / "huge.ply", b"\x00garbage, not a PLY")
    code = textwrap.dedent(
        f"""
        import re
        from voxforge.core import VoxforgeError
        from voxforge.io import load_any
        try:
            load_any({str(path)!r})
        except VoxforgeError as e:
            print(e)
        status = open("/proc/self/status").read()
        print(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    message, peak_kib = out.stdout.strip().splitlines()
    assert "not a PLY file" in message
    assert int(peak_kib) < 400 * 1024, f"peak RSS {int(peak_kib) // 1024} MiB"
