"""Voxel formats: voxforge npz, npy, binvox (axis order!), MagicaVoxel vox, dataset npz."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from voxforge.core import GeometryError, InputFormatError, UnsupportedInputError, VoxelGrid
from voxforge.io import load_any, load_voxel_dataset, load_voxels, save_voxels, sniff
from voxforge.io.binvox import encode_binvox, encode_rle
from voxforge.io.vox import default_palette, encode_vox, quantize_palette


def make_grid(shape=(5, 4, 3), seed: int = 0, colors: bool = True) -> VoxelGrid:
    rng = np.random.default_rng(seed)
    occ = rng.random(shape) < 0.4
    occ[0, 0, 0] = True
    col = rng.random((*shape, 3)).astype(np.float32) if colors else None
    return VoxelGrid(
        occupancy=occ,
        pitch=np.array([0.008, 0.008, 0.0032]),
        origin=np.array([0.1, -0.2, 0.3]),
        colors=col,
        interior=rng.random(shape) < 0.1,
        meta={"source": "unit test", "scale": 2.5},
    )


def test_npz_round_trip(tmp_path):
    grid = make_grid()
    path = save_voxels(grid, tmp_path / "g.npz")
    assert sniff(path) == "npz"
    back = load_voxels(path)
    np.testing.assert_array_equal(back.occupancy, grid.occupancy)
    np.testing.assert_array_equal(back.colors, grid.colors)
    np.testing.assert_array_equal(back.interior, grid.interior)
    np.testing.assert_array_equal(back.pitch, grid.pitch)
    np.testing.assert_array_equal(back.origin, grid.origin)
    assert back.meta["scale"] == 2.5 and back.meta["format"] == "npz"
    assert back.is_lego
    assert not list(tmp_path.glob(".g.npz.*"))  # no temporary file left behind


def test_npz_uint8_colours_and_minimal_keys():
    occ = np.zeros((2, 2, 2), dtype=np.uint8)
    occ[1, 1, 1] = 1
    colors = np.zeros((2, 2, 2, 3), dtype=np.uint8)
    colors[1, 1, 1] = [255, 51, 0]
    buf = io.BytesIO()
    np.savez(
        buf, occupancy=occ, pitch=np.array(0.01), colors=colors, meta=np.array(json.dumps({"a": 1}))
    )
    grid = load_voxels(buf.getvalue(), filename="m.npz")
    np.testing.assert_allclose(grid.colors[1, 1, 1], [1.0, 0.2, 0.0])
    np.testing.assert_array_equal(grid.pitch, [0.01] * 3)
    np.testing.assert_array_equal(grid.origin, [0, 0, 0])
    assert grid.count == 1 and grid.meta["a"] == 1


def test_npz_without_occupancy_and_dataset_refused():
    buf = io.BytesIO()
    np.savez(buf, foo=np.zeros(3))
    with pytest.raises(InputFormatError, match=r"x\.npz: npz lacks an 'occupancy' array \(has foo\)"):
        load_voxels(buf.getvalue(), filename="x.npz")
    buf = io.BytesIO()
    np.savez(
        buf,
        voxels=np.zeros((2, 3, 3, 3), np.uint8),
        labels=np.array([0, 1]),
        classes=np.array(["a", "b"]),
    )
    with pytest.raises(UnsupportedInputError, match="load_voxel_dataset"):
        load_voxels(buf.getvalue(), filename="d.npz")
    ds = load_voxel_dataset(buf.getvalue(), filename="d.npz")
    assert ds.voxels.shape == (2, 3, 3, 3) and ds.labels.tolist() == [0, 1] and ds.classes == ["a", "b"]


def test_dataset_label_range_checked():
    buf = io.BytesIO()
    np.savez(
        buf, voxels=np.zeros((2, 3, 3, 3), np.uint8), labels=np.array([0, 5]), classes=np.array(["a"])
    )
    with pytest.raises(InputFormatError, match=r"labels run 0\.\.5 but 1 classes"):
        load_voxel_dataset(buf.getvalue(), filename="d.npz")


def test_empty_grid_is_geometry_error(tmp_path):
    grid = VoxelGrid(occupancy=np.zeros((2, 2, 2), bool))
    with pytest.raises(GeometryError, match=r"empty\.npz: voxel grid has no filled cells"):
        load_voxels(save_voxels(grid, tmp_path / "empty.npz"))


def test_npy_is_unit_cubic(tmp_path):
    arr = np.zeros((3, 4, 5), dtype=np.float32)
    arr[2, 3, 4] = 0.7
    np.save(tmp_path / "a.npy", arr)
    grid = load_voxels(tmp_path / "a.npy")
    assert grid.shape == (3, 4, 5) and grid.count == 1 and grid.occupancy[2, 3, 4]
    np.testing.assert_array_equal(grid.pitch, [1, 1, 1])
    assert load_voxels(tmp_path / "a.npy", pitch=0.5).pitch.tolist() == [0.5] * 3


# --- binvox -----------------------------------------------------------------------------------


def handmade_binvox(
    dim: int, filled_xyz_binvox: list[tuple[int, int, int]], translate=(0, 0, 0), scale=1.0
) -> bytes:
    """Build a binvox file the way the format defines it: index = x*d*d + z*d + y."""
    flat = np.zeros(dim**3, dtype=bool)
    for x, y, z in filled_xyz_binvox:
        flat[x * dim * dim + z * dim + y] = True
    tx, ty, tz = translate
    head = f"#binvox 1\ndim {dim} {dim} {dim}\ntranslate {tx} {ty} {tz}\nscale {scale}\ndata\n"
    return head.encode() + encode_rle(flat)


def test_binvox_axis_order_and_y_up_conversion():
    # binvox voxel at (x=1, y=2 (up), z=0) in a 4-cube of scale 4 at translate (10, 20, 30)
    data = handmade_binvox(4, [(1, 2, 0)], translate=(10, 20, 30), scale=4.0)
    grid = load_voxels(data, filename="a.binvox")
    assert grid.shape == (4, 4, 4) and grid.count == 1
    # ours = (x, -z, y): index (1, 3 - 0, 2); up became z
    assert grid.occupancy[1, 3, 2]
    np.testing.assert_array_equal(grid.pitch, [1, 1, 1])
    # world centre: binvox (11.5, 22.5, 30.5) -> ours (11.5, -30.5, 22.5)
    np.testing.assert_allclose(grid.centers()[0], [11.5, -30.5, 22.5])
    kept = load_voxels(data, filename="a.binvox", up="z")
    assert kept.occupancy[1, 2, 0]
    np.testing.assert_allclose(kept.centers()[0], [11.5, 22.5, 30.5])


@pytest.mark.parametrize("up", ["y", "z"])
def test_binvox_round_trip(tmp_path, up):
    grid = make_grid((6, 6, 6), colors=False)
    grid = VoxelGrid(occupancy=grid.occupancy, pitch=0.25, origin=[1.0, 2.0, -3.0])
    path = tmp_path / "g.binvox"
    save_voxels(grid, path, up=up)
    back = load_voxels(path, up=up)
    np.testing.assert_array_equal(back.occupancy, grid.occupancy)
    np.testing.assert_allclose(back.origin, grid.origin)
    np.testing.assert_allclose(back.pitch, grid.pitch)


def test_rle_long_runs_split_at_255():
    flat = np.zeros(600, dtype=bool)
    flat[590:] = True
    pairs = np.frombuffer(encode_rle(flat), dtype=np.uint8).reshape(-1, 2)
    assert pairs.tolist() == [[0, 255], [0, 255], [0, 80], [1, 10]]


def test_binvox_count_mismatch():
    data = handmade_binvox(4, [(0, 0, 0)])
    with pytest.raises(InputFormatError, match="header says 64 voxels, run-length data holds 63"):
        load_voxels(data[:-2] + bytes([0, 62]), filename="t.binvox")


def test_binvox_needs_cubic_pitch(tmp_path):
    from voxforge.core import SizeLimitError

    with pytest.raises(SizeLimitError, match="equal pitch"):
        encode_binvox(make_grid())


# --- MagicaVoxel ------------------------------------------------------------------------------


def test_default_palette_known_entries():
    pal = default_palette().view("<u4").reshape(-1)  # 0xAABBGGRR as MagicaVoxel lists it
    assert pal[0] == 0 and pal[1] == 0xFFFFFFFF and pal[2] == 0xFFCCFFFF and pal[7] == 0xFFFFCCFF
    assert pal[215] == 0xFF330000 and pal[216] == 0xFF0000EE and pal[226] == 0xFF00EE00
    assert pal[236] == 0xFFEE0000 and pal[246] == 0xFFEEEEEE and pal[255] == 0xFF111111


def handmade_vox(size, voxels, rgba: bytes | None = None) -> bytes:
    def chunk(cid, content, children=b""):
        return cid + struct.pack("<ii", len(content), len(children)) + content + children

    kids = chunk(b"SIZE", struct.pack("<iii", *size))
    kids += chunk(b"XYZI", struct.pack("<i", len(voxels)) + bytes(b for v in voxels for b in v))
    if rgba is not None:
        kids += chunk(b"RGBA", rgba)
    return b"VOX " + struct.pack("<i", 150) + chunk(b"MAIN", b"", kids)


def test_vox_default_palette_and_z_up():
    data = handmade_vox((3, 4, 5), [(0, 1, 4, 1), (2, 3, 0, 216)])
    assert sniff(data, filename="x.bin") == "vox"
    grid = load_voxels(data, filename="m.vox")
    assert grid.shape == (3, 4, 5) and grid.count == 2
    assert grid.occupancy[0, 1, 4] and grid.occupancy[2, 3, 0]
    np.testing.assert_allclose(grid.colors[0, 1, 4], [1, 1, 1])
    np.testing.assert_allclose(grid.colors[2, 3, 0], [0xEE / 255, 0, 0])


def test_vox_palette_chunk_is_offset_by_one():
    rgba = bytearray(1024)
    rgba[0:4] = bytes([10, 20, 30, 255])  # colour index 1
    data = handmade_vox((2, 2, 2), [(1, 1, 1, 1)], bytes(rgba))
    grid = load_voxels(data, filename="p.vox")
    np.testing.assert_allclose(grid.colors[1, 1, 1] * 255, [10, 20, 30], atol=1e-4)


def test_vox_round_trip(tmp_path):
    grid = make_grid((7, 5, 6), seed=2)
    rng = np.random.default_rng(1)
    palette = rng.integers(0, 256, (20, 3)) / 255.0  # 20 colours of 8 bits: stored exactly
    colors = palette[rng.integers(0, 20, grid.shape)].astype(np.float32)
    grid = VoxelGrid(occupancy=grid.occupancy, pitch=1.0, colors=colors)
    back = load_voxels(save_voxels(grid, tmp_path / "g.vox"))
    np.testing.assert_array_equal(back.occupancy, grid.occupancy)
    np.testing.assert_allclose(back.colors[grid.occupancy], colors[grid.occupancy], atol=1e-6)


def test_vox_quantises_many_colours():
    rgb = np.random.default_rng(0).integers(0, 256, (5000, 3)).astype(np.uint8)
    palette, index = quantize_palette(rgb)
    assert len(palette) <= 255 and index.shape == (5000,)
    assert np.abs(palette[index].astype(int) - rgb).max() <= 32


def test_vox_truncated_chunk():
    data = handmade_vox((2, 2, 2), [(0, 0, 0, 1)])
    with pytest.raises(InputFormatError, match=r"t\.vox: VOX chunk"):
        load_voxels(data[:-3], filename="t.vox")


def test_load_any_gives_voxels():
    assert isinstance(load_any(handmade_vox((1, 1, 1), [(0, 0, 0, 5)]), filename="a.vox"), VoxelGrid)
    assert encode_vox(VoxelGrid(occupancy=np.ones((1, 1, 1), bool)))[:4] == b"VOX "
