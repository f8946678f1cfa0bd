"""LZF (liblzf) compression as PCL's ``binary_compressed`` PCD files use it, compiled with numba.

LZF is a byte-oriented LZ77 variant: a control byte below 32 starts a run of ``ctrl + 1``
literal bytes; otherwise its top three bits are a match length (7 means "add the next byte") and
its low five bits plus the next byte a back-reference distance (up to 8 KiB). Decoding is a
byte loop with overlapping copies, which numpy cannot vectorise, hence numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit

HASH_BITS = 14
MAX_OFFSET = 1 << 13
MAX_MATCH = 7 + 255 + 2


@njit(cache=True, nogil=True)
def _decompress(src: np.ndarray, dst: np.ndarray) -> int:  # pragma: no cover - compiled
    """Decode ``src`` into ``dst``; returns bytes written, or -1 when the stream is malformed."""
    ip = 0
    op = 0
    n_in = src.shape[0]
    n_out = dst.shape[0]
    while ip < n_in:
        ctrl = np.int64(src[ip])
        ip += 1
        if ctrl < 32:
            length = ctrl + 1
            if op + length > n_out or ip + length > n_in:
                return -1
            for k in range(length):
                dst[op + k] = src[ip + k]
            op += length
            ip += length
        else:
            length = ctrl >> 5
            if length == 7:
                if ip >= n_in:
                    return -1
                length += np.int64(src[ip])
                ip += 1
            if ip >= n_in:
                return -1
            ref = op - ((ctrl & 0x1F) << 8) - 1 - np.int64(src[ip])
            ip += 1
            length += 2
            if ref < 0 or op + length > n_out:
                return -1
            for k in range(length):
                dst[op + k] = dst[ref + k]
            op += length
    return op


@njit(cache=True, nogil=True)
def _compress(src: np.ndarray, dst: np.ndarray) -> int:  # pragma: no cover - compiled
    """Encode ``src`` into ``dst`` (sized ``n + n // 32 + 16``); returns bytes written."""
    n = src.shape[0]
    table = np.full(1 << HASH_BITS, -1, dtype=np.int64)
    ip = 0
    op = 1  # dst[op - lit - 1] is the pending literal run's control byte
    lit = 0
    while ip + 2 < n:
        v = (np.int64(src[ip]) << 16) | (np.int64(src[ip + 1]) << 8) | np.int64(src[ip + 2])
        h = ((v * 2654435761) >> 16) & ((1 << HASH_BITS) - 1)
        ref = table[h]
        table[h] = ip
        off = ip - ref - 1
        if (
            ref >= 0
            and off < MAX_OFFSET
            and src[ref] == src[ip]
            and src[ref + 1] == src[ip + 1]
            and src[ref + 2] == src[ip + 2]
        ):
            max_len = min(n - ip, MAX_MATCH)
            length = 3
            while length < max_len and src[ref + length] == src[ip + length]:
                length += 1
            if lit > 0:
                dst[op - lit - 1] = lit - 1
            else:
                op -= 1
            code = length - 2
            if code < 7:
                dst[op] = (off >> 8) + (code << 5)
                op += 1
            else:
                dst[op] = (off >> 8) + (7 << 5)
                dst[op + 1] = code - 7
                op += 2
            dst[op] = off & 0xFF
            op += 2  # one byte for the distance, one reserved for the next literal run
            lit = 0
            ip += length
        else:
            dst[op] = src[ip]
            op += 1
            ip += 1
            lit += 1
            if lit == 32:
                dst[op - lit - 1] = 31
                lit = 0
                op += 1
    while ip < n:
        dst[op] = src[ip]
        op += 1
        ip += 1
        lit += 1
        if lit == 32:
            dst[op - lit - 1] = 31
            lit = 0
            op += 1
    if lit > 0:
        dst[op - lit - 1] = lit - 1
    else:
        op -= 1
    return op


def lzf_decompress(data: bytes, size: int) -> bytes | None:
    """Decompress an LZF stream that should expand to exactly ``size`` bytes; None if it does not."""
    src = np.frombuffer(data, dtype=np.uint8)
    dst = np.empty(size, dtype=np.uint8)
    written = _decompress(src, dst)
    if written != size:
        return None
    return dst.tobytes()


def lzf_compress(data: bytes) -> bytes:
    """Compress ``data`` with LZF (liblzf-compatible stream, decodable by PCL)."""
    src = np.frombuffer(data, dtype=np.uint8)
    dst = np.empty(len(src) + len(src) // 32 + 16, dtype=np.uint8)
    written = _compress(src, dst)
    return dst[:written].tobytes()
