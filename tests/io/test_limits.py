"""Input caps read from headers (voxforge.io.limits): bombs are refused before they expand."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from voxforge.core.errors import SizeLimitError, VoxforgeError
from voxforge.io import load_points, load_voxels
from voxforge.io.limits import (
    ReadLimits,
    check_input_limits,
    extract_zip_capped,
    read_limits,
    use_limits,
)
from voxforge.scan.capture import fuse_capture

MIB = 1 << 20


def npy_bomb(shape: tuple[int, ...], dtype: str = "|u1") -> bytes:
    """A real .npy of zeros (header + data) for ``shape``; compresses to almost nothing."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def zip_of_zeros(path: Path, members: dict[str, tuple[bytes, int]]) -> None:
    """A deflated zip whose members are ``prefix`` followed by ``n`` zero bytes, streamed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (prefix, n) in members.items():
            with z.open(name, "w", force_zip64=True) as out:
                out.write(prefix)
                block = bytes(MIB)
                left = n
                while left > 0:
                    out.write(block[: min(left, MIB)])
                    left -= MIB


def test_npz_bomb_is_refused_from_the_header_before_loading(tmp_path: Path) -> None:
    shape = (400, 400, 400)  # 64 MB of uint8 in a ~64 kB file
    path = tmp_path / "bomb.npz"
    zip_of_zeros(
        path,
        {
            "occupancy.npy": (npy_bomb(shape), 400**3),
            "pitch.npy": (npy_bomb((3,), "<f8"), 24),
        },
    )
    assert path.stat().st_size < 1 * MIB
    limits = ReadLimits(max_array_bytes=8 * MIB)
    with pytest.raises(SizeLimitError, match="over the limit of 8,388,608 bytes"):
        check_input_limits(path, "npz", limits, "bomb.npz")
    tracemalloc.start()
    with use_limits(limits), pytest.raises(SizeLimitError, match="8,388,608"):
        load_voxels(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 * MIB  # the 64 MB array was never allocated
    assert read_limits() == ReadLimits()  # the cap applied only inside the block


def test_npy_header_cap_on_cells_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    path.write_bytes(npy_bomb((100_000, 100_000, 100_000)) + b"\0" * 64)  # declares 10^15 bytes
    with pytest.raises(SizeLimitError, match="bytes"):
        check_input_limits(path, "npy", ReadLimits())
    with pytest.raises(VoxforgeError):  # the cap, or the file being shorter than it says
        load_voxels(path)
    small = tmp_path / "small.npy"
    np.save(small, np.ones((4, 4, 4), np.uint8))
    check_input_limits(small, "npy", ReadLimits())
    with pytest.raises(SizeLimitError, match="cells"):
        check_input_limits(small, "npy", ReadLimits(max_cells=10))


def test_binvox_vox_and_point_count_headers(tmp_path: Path) -> None:
    limits = ReadLimits(max_cells=1000, max_points=1000)
    binvox = tmp_path / "a.binvox"
    binvox.write_bytes(b"#binvox 1\ndim 2048 2048 2048\ntranslate 0 0 0\nscale 1\ndata\n\x00\xff")
    with pytest.raises(SizeLimitError, match="1,000 cells"):
        check_input_limits(binvox, "binvox", limits)
    vox = tmp_path / "a.vox"
    size = b"SIZE" + struct.pack("<iiiii", 12, 0, 20, 20, 20)
    vox.write_bytes(b"VOX " + struct.pack("<ii", 150, 0) + b"MAIN" + struct.pack("<ii", 0, 24) + size)
    with pytest.raises(SizeLimitError, match="8,000"):
        check_input_limits(vox, "vox", limits)
    ply = tmp_path / "a.ply"
    ply.write_bytes(
        b"ply\nformat binary_little_endian 1.0\nelement vertex 2000000000\n"
        b"property float x\nproperty float y\nproperty float z\nend_header\n" + b"\0" * 24
    )
    with pytest.raises(SizeLimitError, match="2,000,000,000 points"):
        check_input_limits(ply, "ply", limits)
    with use_limits(limits), pytest.raises(SizeLimitError):
        check_input_limits(ply, "ply", read_limits())
    pcd = tmp_path / "a.pcd"
    pcd.write_bytes(
        b"VERSION .7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 5000\n"
        b"HEIGHT 1\nPOINTS 5000\nDATA binary\n"
    )
    with pytest.raises(SizeLimitError, match="5,000 points"):
        check_input_limits(pcd, "pcd", limits)
    las = tmp_path / "a.las"
    head = bytearray(227)
    head[:4] = b"LASF"
    head[24:26] = bytes([1, 2])
    struct.pack_into("<I", head, 107, 10**9)
    las.write_bytes(bytes(head))
    with pytest.raises(SizeLimitError, match="1,000,000,000 points"):
        check_input_limits(las, "las", limits)


def test_unzipping_counts_real_bytes_and_stops_at_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "cap.zip"
    zip_of_zeros(path, {"scan/a.bin": (b"", 6 * MIB), "scan/b.bin": (b"", 6 * MIB)})
    dest = tmp_path / "out"
    with zipfile.ZipFile(path) as z, pytest.raises(SizeLimitError, match="4,194,304"):
        extract_zip_capped(z, dest, z.infolist(), 4 * MIB, "cap.zip", chunk=MIB)
    written = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    assert written <= 4 * MIB


def test_capture_zip_bomb_is_refused_and_leaves_no_temp_folder(tmp_path: Path) -> None:
    path = tmp_path / "capture.zip"
    zip_of_zeros(path, {"cap/points.ply": (b"", 32 * MIB)})
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    import tempfile

    before = tempfile.tempdir
    tempfile.tempdir = str(tmp)
    try:
        with use_limits(ReadLimits(max_unzipped_bytes=4 * MIB)):
            with pytest.raises(SizeLimitError, match="4,194,304"):
                load_points(path, capture_reader=fuse_capture)
    finally:
        tempfile.tempdir = before
    assert list(tmp.iterdir()) == []
    assert path.stat().st_size < MIB  # the cap, not the upload size, refused it
