"""A corpus of bad inputs: each gives the expected voxforge error, one line, naming the file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from io_samples import OFF, samples

from voxforge.core import GeometryError, InputFormatError, UnsupportedInputError
from voxforge.io import load_any, load_mesh, load_points, load_voxels

SAMPLES = samples()
PLY_HEAD = (
    b"ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\n"
)


def _truncate(key: str, keep: float) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        data = SAMPLES[key]
        name = f"cut-{key}" if "." in key else f"cut.{key}"
        p = folder / name
        p.write_bytes(data[: int(len(data) * keep)])
        return p

    return make


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        p = folder / name
        p.write_bytes(data)
        return p

    return make


def _folder(folder: Path) -> Path:
    p = folder / "a_folder.ply"
    p.mkdir()
    return p


CORPUS = [
    # (id, maker, loader, error type, words the message must hold)
    ("missing", lambda d: d / "nope.ply", load_points, InputFormatError, "file not found"),
    ("missing-mesh", lambda d: d / "nope.obj", load_mesh, InputFormatError, "file not found"),
    ("folder-for-mesh", _folder, load_mesh, InputFormatError, "is a directory"),
    ("folder-for-voxels", _folder, load_voxels, InputFormatError, "is a directory"),
    ("empty", _write("empty.pcd", b""), load_points, InputFormatError, "file is empty"),
    ("empty-any", _write("empty.glb", b""), load_any, InputFormatError, "file is empty"),
    (
        "unknown",
        _write("thing.qqq", b"\x00\x01garbage"),
        load_any,
        UnsupportedInputError,
        "unknown format",
    ),
    (
        "lying-ply",
        _write("fake.ply", b"\x00\x01\x02binary junk"),
        load_points,
        InputFormatError,
        "not a PLY",
    ),
    ("lying-las", _write("fake.las", b"hello world"), load_points, InputFormatError, "LAS"),
    ("lying-npz", _write("fake.npz", b"\x00" * 40), load_voxels, InputFormatError, ".npz"),
    ("ply-truncated", _truncate("ply", 0.7), load_points, InputFormatError, "header says 12 vertices"),
    (
        "ply-ascii-short",
        _write("s.ply", PLY_HEAD + b"end_header\n1 2 3\n"),
        load_points,
        InputFormatError,
        "header says 2 vertices, file holds 1",
    ),
    (
        "ply-ascii-ragged",
        _write("r.ply", PLY_HEAD + b"end_header\n1 2 3\n4 5\n"),
        load_points,
        InputFormatError,
        "values",
    ),
    ("ply-no-end-header", _write("h.ply", PLY_HEAD), load_points, InputFormatError, "end_header"),
    (
        "ply-nan",
        _write("nan.ply", PLY_HEAD + b"end_header\n1 2 3\nnan 5 6\n"),
        load_points,
        GeometryError,
        "NaN",
    ),
    ("ply-points-as-mesh", _write("pts.ply", SAMPLES["ply"]), load_mesh, GeometryError, "no faces"),
    ("ply-mesh-truncated", _truncate("mesh.ply", 0.6), load_mesh, InputFormatError, "PLY"),
    ("pcd-truncated", _truncate("pcd", 0.8), load_points, InputFormatError, "header says 12 points"),
    ("pcd-lzf-truncated", _truncate("lzf.pcd", 0.8), load_points, InputFormatError, "compressed"),
    ("pcd-ascii-truncated", _truncate("ascii.pcd", 0.6), load_points, InputFormatError, "values"),
    (
        "pcd-size-mismatch",
        _write(
            "m.pcd",
            b"VERSION 0.7\nFIELDS x y z\nSIZE 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 1\nHEIGHT 1\n"
            b"POINTS 1\nDATA ascii\n1 2 3\n",
        ),
        load_points,
        InputFormatError,
        "3 FIELDS but 2 SIZE",
    ),
    (
        "pcd-width-height",
        _write(
            "w.pcd",
            b"VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 2\nHEIGHT 2\n"
            b"POINTS 3\nDATA ascii\n1 2 3\n",
        ),
        load_points,
        InputFormatError,
        "WIDTH 2 x HEIGHT 2 but POINTS 3",
    ),
    (
        "pcd-all-nan",
        _write(
            "n.pcd",
            b"FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nWIDTH 1\nHEIGHT 1\nPOINTS 1\nDATA ascii\n"
            b"nan nan nan\n",
        ),
        load_points,
        GeometryError,
        "no points",
    ),
    ("las-truncated", _truncate("las", 0.5), load_points, InputFormatError, "LAS"),
    ("xyz-inf", _write("inf.xyz", b"0 0 0\n1 inf 2\n"), load_points, GeometryError, "NaN/inf"),
    ("xyz-ragged", _write("rag.xyz", b"0 0 0\n1 2\n3 4 5\n"), load_points, InputFormatError, "numeric"),
    ("xyz-two-columns", _write("two.csv", b"1,2\n3,4\n"), load_points, InputFormatError, "x y z"),
    ("xyz-header-only", _write("h.csv", b"x,y,z\n"), load_points, InputFormatError, "no data"),
    (
        "stl-truncated",
        _truncate("stl", 0.5),
        load_mesh,
        InputFormatError,
        "binary STL header says 12 faces",
    ),
    ("stl-tiny", _write("tiny.stl", b"\x01\x02\x03"), load_mesh, InputFormatError, "84-byte header"),
    ("glb-truncated", _truncate("glb", 0.5), load_mesh, InputFormatError, "GLB"),
    ("3mf-truncated", _truncate("3mf", 0.5), load_mesh, InputFormatError, "3MF"),
    (
        "off-no-faces",
        _write("nf.off", b"OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n"),
        load_mesh,
        GeometryError,
        "no faces",
    ),
    (
        "off-nan",
        _write("nan.off", OFF.replace(b"1 0 0\n", b"nan 0 0\n", 1)),
        load_mesh,
        GeometryError,
        "NaN",
    ),
    (
        "obj-points-only",
        _write("p.obj", b"v 0 0 0\nv 1 1 1\nv 2 0 0\n"),
        load_mesh,
        GeometryError,
        "no faces",
    ),
    ("mesh-as-points", _write("t.off", OFF), load_points, UnsupportedInputError, "load_mesh"),
    (
        "points-as-voxels",
        _write("c.pcd", SAMPLES["pcd"]),
        load_voxels,
        UnsupportedInputError,
        "load_points",
    ),
    ("npz-truncated", _truncate("npz", 0.5), load_voxels, InputFormatError, ".npz"),
    ("binvox-truncated", _truncate("binvox", 0.9), load_voxels, InputFormatError, "binvox"),
    (
        "binvox-no-dim",
        _write("d.binvox", b"#binvox 1\ndata\n\x00\x01"),
        load_voxels,
        InputFormatError,
        "'dim'",
    ),
    ("vox-truncated", _truncate("vox", 0.5), load_voxels, InputFormatError, "VOX"),
    (
        "npy-2d",
        lambda d: (np.save(d / "flat.npy", np.ones((3, 3))), d / "flat.npy")[1],
        load_voxels,
        InputFormatError,
        "3-D",
    ),
    (
        "npy-empty-grid",
        lambda d: (np.save(d / "z.npy", np.zeros((2, 2, 2))), d / "z.npy")[1],
        load_voxels,
        GeometryError,
        "no filled cells",
    ),
]


@pytest.mark.parametrize(
    ("maker", "loader", "error", "words"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS]
)
def test_bad_input(tmp_path, maker, loader, error, words):
    path = maker(tmp_path)
    with pytest.raises(error) as info:
        loader(path)
    message = str(info.value)
    assert str(path) in message, message
    assert words in message, message
    assert "\n" not in message


def test_bad_input_as_bytes_names_the_upload():
    with pytest.raises(InputFormatError, match=r"^upload\.ply: PLY header says 12 vertices"):
        load_any(SAMPLES["ply"][:-50], filename="upload.ply")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    p = tmp_path / "locked.ply"
    p.write_bytes(SAMPLES["ply"])
    p.chmod(0)
    with pytest.raises(InputFormatError, match="permission denied"):
        load_points(p)


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def _npy() -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.ones((4, 4, 4), np.uint8))
    return buf.getvalue()


ASCII_PLY = (
    b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
    b"property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    b"0 0 0 255 0 0\n1 0 0 0 255 0\n0 1"
)

WORDS = [
    # (id, file name, content, loader, error, words the message must hold)
    (
        "png-as-obj",
        "photo.obj",
        _png(),
        load_mesh,
        UnsupportedInputError,
        "is a PNG image, not an OBJ mesh",
    ),
    ("png-as-ply", "photo.ply", _png(), load_any, UnsupportedInputError, "is a PNG image, not a PLY"),
    ("png-unknown", "photo.png", _png(), load_any, UnsupportedInputError, "voxforge reconstruct"),
    ("pdf-as-stl", "doc.stl", b"%PDF-1.4\n" + bytes(200), load_mesh, UnsupportedInputError, "PDF"),
    ("ply-ascii-cut", "cut.ply", ASCII_PLY, load_points, InputFormatError, "vertex line 3 has 2 values"),
    ("xyz-word", "w.xyz", b"0 0 0\n1 two 3\n", load_points, InputFormatError, "'two' is not a number"),
    ("text-as-stl", "t.stl", b"hello world\n" * 20, load_mesh, InputFormatError, "'solid'"),
    ("text-as-glb", "t.glb", b"hello world\n", load_mesh, InputFormatError, "expected b'glTF'"),
    ("text-as-off", "t.off", b"hello\n", load_mesh, InputFormatError, "expected 'OFF'"),
    ("zeros-as-obj", "z.obj", bytes(100), load_mesh, InputFormatError, "OBJ is text"),
    ("obj-no-faces", "n.obj", b"# nothing\n", load_mesh, GeometryError, "OBJ file holds no faces"),
    ("npy-cut", "c.npy", _npy()[:-5], load_voxels, InputFormatError, "(cut off)"),
    ("npz-cut", "c.npz", SAMPLES["npz"][:-40], load_voxels, InputFormatError, "not a complete zip"),
    ("glb-cut", "c.glb", SAMPLES["glb"][:-40], load_mesh, InputFormatError, "GLB file"),
]
LEAKS = ("usecols", "NoneType", "JSONDecodeError", "BadZipFile", "pickle", "Traceback", "float64")


@pytest.mark.parametrize(
    ("name", "data", "loader", "error", "words"), [w[1:] for w in WORDS], ids=[w[0] for w in WORDS]
)
def test_messages_name_the_problem_in_our_words(tmp_path, name, data, loader, error, words):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(error) as info:
        loader(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert words in message, message
    assert not any(leak in message for leak in LEAKS), message
    assert "\n" not in message
