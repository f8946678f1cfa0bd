"""Point formats on tiny generated fixtures: PLY, PCD (three encodings), XYZ, LAS; round trips."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from voxforge.core import PointCloud
from voxforge.io import load_any, load_points, save_points, sniff
from voxforge.io.pcd import encode_pcd, unpack_rgb
from voxforge.io.ply import encode_ply


def make_cloud(n: int = 50, seed: int = 0, colors: bool = True, normals: bool = True) -> PointCloud:
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-1.0, 1.0, (n, 3))
    rgb = rng.integers(0, 256, (n, 3)).astype(np.float32) / 255.0 if colors else None
    nrm = None
    if normals:
        v = rng.normal(size=(n, 3))
        nrm = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    return PointCloud(xyz=xyz, rgb=rgb, normals=nrm)


def assert_same_cloud(a: PointCloud, b: PointCloud, xyz_tol: float = 1e-6) -> None:
    assert len(a) == len(b)
    np.testing.assert_allclose(a.xyz, b.xyz, atol=xyz_tol)
    if a.rgb is None:
        assert b.rgb is None
    else:
        np.testing.assert_array_equal(np.round(a.rgb * 255), np.round(b.rgb * 255))
    if a.normals is None:
        assert b.normals is None
    else:
        np.testing.assert_allclose(a.normals, b.normals, atol=1e-6)


# --- PLY --------------------------------------------------------------------------------------


@pytest.mark.parametrize("ascii", [False, True])
def test_ply_round_trip(tmp_path, ascii):
    cloud = make_cloud()
    path = save_points(cloud, tmp_path / "c.ply", ascii=ascii)
    back = load_points(path)
    assert back.meta["encoding"] == ("ascii" if ascii else "binary_little_endian")
    assert_same_cloud(cloud, back)


def test_ply_large_coordinates_written_as_double(tmp_path):
    cloud = PointCloud(xyz=np.array([[665187.522077, 5648349.895035, 241.767693]] * 3))
    back = load_points(save_points(cloud, tmp_path / "utm.ply"))
    np.testing.assert_array_equal(back.xyz, cloud.xyz)
    assert b"property double x" in (tmp_path / "utm.ply").read_bytes()[:300]


def _ply_bytes(fields: list[tuple[str, str]], rows: np.ndarray, encoding: str, extra: str = "") -> bytes:
    order = {"binary_little_endian": "<", "binary_big_endian": ">", "ascii": "<"}[encoding]
    names = {"f4": "float", "f8": "double", "u1": "uchar", "u2": "ushort", "i4": "int"}
    head = f"ply\nformat {encoding} 1.0\ncomment fixture\nelement vertex {len(rows)}\n"
    head += "".join(f"property {names[t]} {n}\n" for n, t in fields) + extra + "end_header\n"
    table = np.empty(len(rows), dtype=[(n, order + t) for n, t in fields])
    for i, (n, _) in enumerate(fields):
        table[n] = rows[:, i]
    if encoding == "ascii":
        body = "\n".join(" ".join(repr(float(v)) for v in r) for r in rows) + "\n"
        return head.encode() + body.encode()
    return head.encode() + table.tobytes()


@pytest.mark.parametrize("encoding", ["binary_little_endian", "binary_big_endian", "ascii"])
def test_ply_encodings_and_uint8_colour(tmp_path, encoding):
    rows = np.array([[0.0, 1.0, 2.0, 255, 0, 10], [3.0, 4.0, 5.0, 0, 128, 20]])
    fields = [("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
    p = tmp_path / "e.ply"
    p.write_bytes(_ply_bytes(fields, rows, encoding))
    cloud = load_points(p)
    np.testing.assert_array_equal(cloud.xyz, rows[:, :3])
    np.testing.assert_allclose(cloud.rgb, rows[:, 3:] / 255.0, rtol=1e-6)
    assert cloud.normals is None


def test_ply_float_colours_and_normals_and_extra_props(tmp_path):
    rows = np.array([[0, 0, 0, 0.5, 0.25, 1.0, 0, 0, 1, 7.0], [1, 1, 1, 0.0, 1.0, 0.5, 1, 0, 0, 8.0]])
    fields = [("x", "f8"), ("y", "f8"), ("z", "f8"), ("r", "f4"), ("g", "f4"), ("b", "f4")]
    fields += [("nx", "f4"), ("ny", "f4"), ("nz", "f4"), ("intensity", "f4")]
    p = tmp_path / "f.ply"
    p.write_bytes(_ply_bytes(fields, rows, "binary_little_endian"))
    cloud = load_points(p)
    np.testing.assert_allclose(cloud.rgb, rows[:, 3:6])
    np.testing.assert_array_equal(cloud.normals, rows[:, 6:9])


def test_ply_16bit_colour(tmp_path):
    rows = np.array([[0, 0, 0, 65535, 0, 32768]], dtype=np.float64)
    fields = [("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u2"), ("green", "u2"), ("blue", "u2")]
    p = tmp_path / "c16.ply"
    p.write_bytes(_ply_bytes(fields, rows, "binary_little_endian"))
    np.testing.assert_allclose(load_points(p).rgb, [[1.0, 0.0, 32768 / 65535]], rtol=1e-6)


def test_ply_with_faces_is_a_mesh_for_load_any(tmp_path):
    rows = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    faces = "element face 4\nproperty list uchar int vertex_indices\n"
    head = _ply_bytes([("x", "f4"), ("y", "f4"), ("z", "f4")], rows, "ascii", extra=faces)
    p = tmp_path / "tet.ply"
    p.write_bytes(head + b"3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n")
    mesh = load_any(p)
    assert mesh.__class__.__name__ == "Mesh"
    assert len(mesh.faces) == 4 and mesh.is_watertight
    assert mesh.meta["up"] == "z"
    np.testing.assert_allclose(mesh.bounds, [[0, 0, 0], [1, 1, 1]])
    cloud = load_points(p)  # the same file as points: its vertices
    assert len(cloud) == 4 and cloud.meta["faces_in_file"] == 4


def test_ply_vertices_after_fixed_element(tmp_path):
    cloud = make_cloud(5, colors=False, normals=False)
    data = encode_ply(cloud)
    head, body = data.split(b"end_header\n")
    head = head.replace(b"element vertex", b"element camera 2\nproperty int id\nelement vertex")
    p = tmp_path / "cam.ply"
    p.write_bytes(head + b"end_header\n" + struct.pack("<ii", 7, 8) + body)
    np.testing.assert_allclose(load_points(p).xyz, cloud.xyz, atol=1e-6)


# --- PCD --------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["ascii", "binary", "binary_compressed"])
def test_pcd_round_trip_all_encodings(tmp_path, encoding):
    cloud = make_cloud(300)
    path = save_points(cloud, tmp_path / "c.pcd", encoding=encoding)
    assert sniff(path) == "pcd"
    back = load_points(path)
    assert back.meta["encoding"] == encoding
    assert_same_cloud(cloud, back)


def test_pcd_packed_float_rgb_like_pcl(tmp_path):
    packed = np.array([(10 << 16) | (20 << 8) | 30, (255 << 16) | 255], dtype=np.uint32)
    rows = np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<f4")])
    rows["x"] = [1, 2]
    rows["rgb"] = packed.view(np.float32)
    head = (
        "VERSION .7\nFIELDS x y z rgb\nSIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\n"
        "WIDTH 2\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 2\nDATA binary\n"
    )
    p = tmp_path / "pcl.pcd"
    p.write_bytes(head.encode() + rows.tobytes())
    cloud = load_points(p)
    np.testing.assert_array_equal(np.round(cloud.rgb * 255), [[10, 20, 30], [255, 0, 255]])
    np.testing.assert_array_equal(cloud.xyz[:, 0], [1, 2])


def test_unpack_rgb_uint32():
    v = np.array([0x00FF8001], dtype=np.uint32)
    np.testing.assert_array_equal(np.round(unpack_rgb(v) * 255), [[255, 128, 1]])


def test_pcd_ascii_with_nan_rows_and_padding_field(tmp_path):
    text = (
        "# .PCD v0.7\nVERSION 0.7\nFIELDS x y z _ intensity\nSIZE 4 4 4 1 4\nTYPE F F F U F\n"
        "COUNT 1 1 1 4 1\nWIDTH 3\nHEIGHT 1\nPOINTS 3\nDATA ascii\n"
        "0 0 0 0 0 0 0 1.5\nnan nan nan 0 0 0 0 2\n1 2 3 0 0 0 0 3\n"
    )
    p = tmp_path / "a.pcd"
    p.write_text(text)
    cloud = load_points(p)
    np.testing.assert_array_equal(cloud.xyz, [[0, 0, 0], [1, 2, 3]])
    assert cloud.meta["dropped_nonfinite"] == 1 and cloud.rgb is None


def test_pcd_compressed_matches_binary_bytes():
    cloud = make_cloud(1000, seed=3)
    a = load_points(encode_pcd(cloud, encoding="binary"), filename="a.pcd")
    b = load_points(encode_pcd(cloud, encoding="binary_compressed"), filename="b.pcd")
    np.testing.assert_array_equal(a.xyz, b.xyz)
    np.testing.assert_array_equal(a.rgb, b.rgb)


# --- XYZ / TXT / CSV --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "rgb", "normals"),
    [
        ("0 0 0\n1 2 3\n", "p.xyz", None, None),
        ("x,y,z\n0,0,0\n1,2,3\n", "p.csv", None, None),
        ("0;0;0;255;0;0\n1;2;3;0;255;0\n", "p.txt", [[1, 0, 0], [0, 1, 0]], None),
        ("0\t0\t0\t1.0\t0.5\t0\n1\t2\t3\t0\t0\t0.25\n", "p.txt", [[1, 0.5, 0], [0, 0, 0.25]], None),
        ("0 0 0 255 0 0 255\n1 2 3 0 255 0 255\n", "p.xyz", [[1, 0, 0], [0, 1, 0]], None),
        ("0 0 0 0 0.6 -0.8\n1 2 3 1 0 0\n", "p.xyz", None, [[0, 0.6, -0.8], [1, 0, 0]]),
        (
            "0 0 0 10 20 30 0 0 -1\n1 2 3 40 50 60 0.6 0.8 0\n",
            "p.xyz",
            [[10 / 255, 20 / 255, 30 / 255], [40 / 255, 50 / 255, 60 / 255]],
            [[0, 0, -1], [0.6, 0.8, 0]],
        ),
        (
            "//X,Y,Z,Nx,Ny,Nz,R,G,B\n0,0,0,0,0,1,255,255,255\n1,2,3,1,0,0,0,0,0\n",
            "cc.csv",
            [[1, 1, 1], [0, 0, 0]],
            [[0, 0, 1], [1, 0, 0]],
        ),
        (
            "# comment\n2\n0 0 0 -300 10 20 30\n1 2 3 -12 40 50 60\n",
            "p.pts",
            [[10, 20, 30], [40, 50, 60]],
            None,
        ),
    ],
)
def test_xyz_variants(text, name, rgb, normals):
    cloud = load_points(text.encode(), filename=name)
    np.testing.assert_allclose(cloud.xyz, [[0, 0, 0], [1, 2, 3]])
    if rgb is None:
        assert cloud.rgb is None
    else:
        expected = np.array(rgb, dtype=np.float64)
        expected = expected / 255.0 if expected.max() > 1 else expected
        np.testing.assert_allclose(cloud.rgb, expected, rtol=1e-6)
    if normals is None:
        assert cloud.normals is None
    else:
        np.testing.assert_allclose(cloud.normals, normals, atol=1e-7)


def test_xyz_round_trip(tmp_path):
    cloud = make_cloud(40, seed=5)
    back = load_points(save_points(cloud, tmp_path / "c.xyz"))
    assert_same_cloud(cloud, back, xyz_tol=0)


# --- LAS --------------------------------------------------------------------------------------


def _write_las(path, xyz, rgb=None, scales=(0.001, 0.001, 0.001), offsets=(0, 0, 0), crs_wkt=None):
    import laspy

    header = laspy.LasHeader(point_format=3 if rgb is not None else 0, version="1.2")
    header.scales = np.array(scales)
    header.offsets = np.array(offsets)
    las = laspy.LasData(header)
    las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    if rgb is not None:
        las.red, las.green, las.blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    las.write(str(path))


def test_las_scale_offset_and_16bit_rgb(tmp_path):
    xyz = np.array([[1000.5, 2000.25, 10.125], [1001.0, 2001.0, 11.0]])
    rgb = np.array([[65535, 0, 256], [0, 65535, 1000]], dtype=np.uint16)
    _write_las(tmp_path / "a.las", xyz, rgb, offsets=(1000, 2000, 0))
    cloud = load_points(tmp_path / "a.las")
    np.testing.assert_allclose(cloud.xyz, xyz, atol=1e-9)
    assert cloud.meta["rgb_bits"] == 16
    np.testing.assert_allclose(cloud.rgb, rgb / 65535.0, rtol=1e-6)


def test_las_8bit_rgb_and_units_override(tmp_path):
    xyz = np.array([[0.0, 0.0, 0.0], [10.0, 20.0, 30.0]])
    _write_las(tmp_path / "b.las", xyz, np.array([[255, 0, 0], [0, 128, 0]], dtype=np.uint16))
    cloud = load_points(tmp_path / "b.las")
    assert cloud.meta["rgb_bits"] == 8
    np.testing.assert_allclose(cloud.rgb, [[1, 0, 0], [0, 128 / 255, 0]], rtol=1e-6)
    feet = load_points(tmp_path / "b.las", units="ft")
    np.testing.assert_allclose(feet.xyz[1], [3.048, 6.096, 9.144])
    assert feet.meta["units"] == "ft" and feet.meta["units_guessed"] is False


def test_las_degrees_without_crs_are_projected(tmp_path):
    lon0, lat0 = 8.5, 47.4
    xyz = np.array([[lon0 - 0.001, lat0, 400.0], [lon0 + 0.001, lat0 + 0.001, 410.0]])
    _write_las(tmp_path / "geo.las", xyz, scales=(1e-7, 1e-7, 0.01))
    cloud = load_points(tmp_path / "geo.las")
    assert cloud.meta["crs"] == "geographic"
    k = np.pi / 180 * 6_371_008.8
    dx = 0.002 * k * np.cos(np.radians(lat0 + 0.0005))
    np.testing.assert_allclose(cloud.extent, [dx, 0.001 * k, 10.0], rtol=1e-4)


def test_las_projected_feet_from_wkt():
    from voxforge.io.las import _wkt_info

    wkt = (
        'PROJCS["NAD83 / Oregon North (ft)",GEOGCS["NAD83",UNIT["degree",0.0174532925199433]],'
        'UNIT["US survey foot",0.304800609601219]]'
    )
    assert _wkt_info(wkt) == {"geographic": False, "linear_unit": "us-ft"}
    assert _wkt_info('GEOGCS["WGS 84",UNIT["degree",0.0174532925199433]]')["geographic"] is True


# --- units ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("units", "scale"), [("m", 1.0), ("cm", 0.01), ("mm", 0.001), ("in", 0.0254)])
def test_point_units_override(units, scale):
    cloud = load_points(b"0 0 0\n1 2 3\n", filename="p.xyz", units=units)
    np.testing.assert_allclose(cloud.xyz[1], np.array([1, 2, 3]) * scale)
    assert cloud.meta["units"] == units and cloud.meta["units_guessed"] is False


def test_points_default_to_metres():
    cloud = load_points(b"0 0 0\n1 2 3\n", filename="p.xyz")
    assert cloud.meta["units"] == "m" and cloud.meta["units_guessed"] is True
    assert cloud.meta["up"] == "z"
