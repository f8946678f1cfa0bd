import asyncio
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from voxforge.core.errors import InputFormatError, SizeLimitError, UnsupportedInputError
from voxforge.service.storage import (
    Storage,
    check_artifact_name,
    detect_input,
    receive_multipart,
    safe_filename,
)


@pytest.mark.parametrize(
    ("given", "expect"),
    [
        ("mug.ply", "mug.ply"),
        ("../../etc/passwd", "passwd"),
        ("C:\\scans\\my scan (1).PLY", "my_scan_1_.PLY"),
        ("..", "upload"),
        (None, "upload"),
        ("ünïcode.obj", "n_code.obj"),
    ],
)
def test_safe_filename_keeps_the_last_component_and_the_extension(given, expect):
    assert safe_filename(given) == expect


@pytest.mark.parametrize("name", ["preview.png", "steps/step_001.png"])
def test_plain_artifact_names_pass(tmp_path, name):
    check_artifact_name(name)
    assert Storage(tmp_path).artifact_path("j", name) == (tmp_path / "jobs/j/output" / name).resolve()


@pytest.mark.parametrize(
    "name", ["", "..", "../x", "a/../../b", "/etc/passwd", "a/b/c", "a\\b", "a//b", "./x", "a\0b"]
)
def test_names_that_could_leave_the_folder_are_refused(tmp_path, name):
    with pytest.raises(UnsupportedInputError, match="is not a plain name"):
        Storage(tmp_path).artifact_path("j", name)


def _image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "expect"),
    [
        ("a.stl", "stl", "stl"),
        ("a.bin", "stl", "stl"),  # the extension does not matter
        ("a.png", "png", "image:png"),
        ("a.stl", "jpeg", "image:jpeg"),
        ("a.ply", b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                  b"property float z\nend_header\n0 0 0\n", "ply"),
        ("shots.zip", "zip-images", "images"),
        ("capture.zip", "zip-capture", "capture"),
    ],
)  # fmt: skip
def test_detect_input_reads_content_not_extensions(tmp_path, box_stl, name, content, expect):
    data = {
        "stl": box_stl,
        "png": _image("PNG"),
        "jpeg": _image("JPEG"),
        "zip-images": _zip({"a/1.png": _image("PNG"), "a/2.jpg": _image("JPEG")}),
        "zip-capture": _zip({"frames/depth_0.bin": b"\0" * 8, "info.json": b"{}"}),
    }.get(content, content)
    path = tmp_path / name
    path.write_bytes(data)
    assert detect_input(path, name) == expect


def test_detect_input_refuses_junk_and_empty_files(tmp_path):
    junk = tmp_path / "model.stl"
    junk.write_bytes(b"\x00\x01\x02\x03 not a model" * 20)
    with pytest.raises(UnsupportedInputError, match=r"^model.stl: content is not a scan, mesh"):
        detect_input(junk, "model.stl")
    empty = tmp_path / "e.ply"
    empty.write_bytes(b"")
    with pytest.raises(InputFormatError, match=r"^e.ply: file is empty$"):
        detect_input(empty, "e.ply")


def _body(parts: list[tuple[str, str | None, bytes]], boundary: str = "BOUND") -> bytes:
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def _receive(body: bytes, dest, limit: int, chunk: int = 7):
    async def stream():
        for i in range(0, len(body), chunk):
            yield body[i : i + chunk]

    return asyncio.run(receive_multipart("multipart/form-data; boundary=BOUND", stream(), dest, limit))


def test_receive_multipart_streams_the_file_to_disk(tmp_path):
    payload = bytes(range(256)) * 4
    body = _body([("params", None, b'{"pipeline": "x"}'), ("file", "../scan.ply", payload)])
    up = _receive(body, tmp_path / "in", limit=len(payload))
    assert up.fields == {"params": '{"pipeline": "x"}'}
    assert up.filename == "../scan.ply" and up.size == len(payload)
    assert up.file_path == tmp_path / "in" / "scan.ply"
    assert up.file_path.read_bytes() == payload


def test_receive_multipart_stops_at_the_limit(tmp_path):
    body = _body([("file", "a.ply", b"x" * 1000)])
    with pytest.raises(SizeLimitError, match="upload is over the limit of 999 bytes"):
        _receive(body, tmp_path / "in", limit=999)


@pytest.mark.parametrize(
    ("body", "ctype", "expect"),
    [
        (_body([("file", "a", b"1"), ("file", "b", b"2")]), None, "unexpected file field 'file'"),
        (_body([("params", None, b"x" * 300_000)]), None, "form field 'params' is over"),
        (b"", "text/plain", "expected multipart/form-data with a boundary"),
    ],
)
def test_receive_multipart_refuses_bad_bodies(tmp_path, body, ctype, expect):
    async def stream():
        yield body

    ctype = ctype or "multipart/form-data; boundary=BOUND"
    with pytest.raises((InputFormatError, SizeLimitError), match=expect):
        asyncio.run(receive_multipart(ctype, stream(), tmp_path, 10_000))


def test_clear_partial_removes_temp_folders_and_stale_outputs(tmp_path):
    st = Storage(tmp_path)
    for d in (".output.tmp-abc", ".output.old-1", "output", "input"):
        (st.job_dir("j") / d).mkdir(parents=True)
    st.clear_partial("j")
    assert sorted(p.name for p in st.job_dir("j").iterdir()) == ["input"]
