"""Hypothesis fuzzing of every reader: random bytes, truncations and byte flips of valid files.

Only voxforge errors may come out, each naming the input; whatever loads must be valid.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from io_samples import filename, samples

from voxforge.core import Mesh, PointCloud, VoxelGrid, VoxforgeError
from voxforge.io import load_any
from voxforge.io.lzf import lzf_compress, lzf_decompress

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


def check(data: bytes, name: str) -> None:
    try:
        obj = load_any(data, filename=name)
    except VoxforgeError as e:
        assert name in str(e), str(e)
        assert "\n" not in str(e)
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
@given(
    blob=st.binary(max_size=2000), name=st.sampled_from(["a.ply", "a.bin", "a.stl", "a.npz", "a.xyz"])
)
def test_random_bytes_any_name(blob, name):
    check(blob, name)


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
