"""Hypothesis fuzzing of every reader: random bytes, truncations and byte flips of valid files.

Only voxforge errors may come out, each naming the input; whatever loads must be valid.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from io_samples import filename, ply_sequence_frames, samples

from voxforge.core import Mesh, PointCloud, VoxelGrid, VoxforgeError
from voxforge.io.lzf import lzf_compress, lzf_decompress
from voxforge.scan.capture import load_input as load_any  # captures fused, as users read them

SAMPLES = samples()
KEYS = sorted(SAMPLES)
# A fixed, modest run by default so the fast suite stays fast and reproducible; set
# VOXFORGE_FUZZ_EXAMPLES=500 for a longer, randomised hunt.
_EXAMPLES = os.environ.get("VOXFORGE_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_EXAMPLES or 60),
    derandomize=_EXAMPLES is None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


LEAKS = ("usecols", "NoneType", "JSONDecodeError", "BadZipFile", "pickle", "Traceback")
"""Library phrases that must never reach a user: the messages name the problem in our words."""


def check(data: bytes, name: str) -> None:
    try:
        obj = load_any(data, filename=name)
    except VoxforgeError as e:
        assert name in str(e), str(e)
        assert "\n" not in str(e)
        assert not any(leak in str(e) for leak in LEAKS), str(e)
        return
    if isinstance(obj, PointCloud):
        assert len(obj) > 0 and np.isfinite(obj.xyz).all()
    elif isinstance(obj, Mesh):
        assert len(obj.faces) > 0 and np.isfinite(obj.vertices).all()
    else:
        assert isinstance(obj, VoxelGrid) and obj.count > 0


def test_every_sample_loads():
    for key in KEYS:
        obj = load_any(SAMPLES[key], filename=filename(key))
        assert obj.meta["source"] == filename(key)


@pytest.mark.parametrize("key", KEYS)
@FUZZ
@given(data=st.data())
def test_truncations(key, data):
    raw = SAMPLES[key]
    cut = data.draw(st.integers(0, len(raw) - 1))
    check(raw[:cut], filename(key))


@pytest.mark.parametrize("key", KEYS)
@FUZZ
@given(data=st.data())
def test_byte_flips(key, data):
    raw = bytearray(SAMPLES[key])
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    check(bytes(raw), filename(key))


@pytest.mark.parametrize("key", KEYS)
@FUZZ
@given(tail=st.binary(max_size=400))
def test_magic_then_random_bytes(key, tail):
    raw = SAMPLES[key]
    check(raw[:16] + tail, filename(key))


@FUZZ
@given(data=st.data())
def test_ply_sequence_frame_damage_names_the_frame(data):
    """A truncated or corrupted frame of a PLY sequence folder is refused naming that file."""
    import tempfile
    from pathlib import Path

    frames = ply_sequence_frames()
    raw = bytearray(frames["1.ply"])
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "seq"
        folder.mkdir()
        (folder / "0.ply").write_bytes(frames["0.ply"])
        (folder / "1.ply").write_bytes(bytes(raw))
        try:
            obj = load_any(folder)
        except VoxforgeError as e:
            text = str(e)
            assert str(folder) in text and "\n" not in text, text
            assert not any(leak in text for leak in LEAKS), text
            return
        assert isinstance(obj, PointCloud) and len(obj) > 0 and np.isfinite(obj.xyz).all()


@FUZZ
@given(
    blob=st.binary(max_size=2000), name=st.sampled_from(["a.ply", "a.bin", "a.stl", "a.npz", "a.xyz"])
)
def test_random_bytes_any_name(blob, name):
    check(blob, name)


FOREIGN_HEADS = {
    "PNG image": b"\x89PNG\r\n\x1a\n",
    "JPEG image": b"\xff\xd8\xff\xe0",
    "PDF document": b"%PDF-1.7\n",
    "gzip archive": b"\x1f\x8b\x08",
    "HTML page": b"<!DOCTYPE html>\n",
}


@FUZZ
@given(
    kind=st.sampled_from(sorted(FOREIGN_HEADS)),
    tail=st.binary(max_size=300),
    ext=st.sampled_from(sorted({filename(k).rsplit(".", 1)[1] for k in KEYS} | {"npy", "gltf", "bin"})),
)
def test_foreign_files_are_named_for_what_they_are(kind, tail, ext):
    """An image, document or archive under any of our extensions is refused naming what it is."""
    with pytest.raises(VoxforgeError, match=f"is an? {kind}, not "):
        load_any(FOREIGN_HEADS[kind] + tail, filename=f"upload.{ext}")


@settings(max_examples=100, deadline=None)
@given(blob=st.binary(max_size=3000))
def test_lzf_round_trip(blob):
    assert lzf_decompress(lzf_compress(blob), len(blob)) == blob


@settings(max_examples=100, deadline=None)
@given(blob=st.binary(max_size=500), size=st.integers(0, 4000))
def test_lzf_decompress_never_overruns(blob, size):
    out = lzf_decompress(blob, size)
    assert out is None or len(out) == size


def test_lzf_repetitive_data_compresses():
    data = bytes(range(16)) * 1000
    packed = lzf_compress(data)
    assert len(packed) < len(data) // 20
    assert lzf_decompress(packed, len(data)) == data
    assert lzf_decompress(packed, len(data) + 1) is None
