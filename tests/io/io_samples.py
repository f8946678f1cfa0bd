"""Tiny valid files of every readable format, as bytes, for the bad-input corpus and the fuzzers."""

from __future__ import annotations

import io
import struct

import numpy as np
import trimesh

from voxforge.core import PointCloud, VoxelGrid
from voxforge.io.binvox import encode_binvox
from voxforge.io.pcd import encode_pcd
from voxforge.io.ply import encode_ply
from voxforge.io.vox import encode_vox
from voxforge.io.voxels import encode_npz
from voxforge.io.xyz import encode_xyz


def cloud(n: int = 12, seed: int = 0) -> PointCloud:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3))
    return PointCloud(
        xyz=rng.uniform(-1, 1, (n, 3)),
        rgb=rng.random((n, 3)),
        normals=v / np.linalg.norm(v, axis=1, keepdims=True),
    )


def grid() -> VoxelGrid:
    occ = np.zeros((4, 4, 4), dtype=bool)
    occ[1:3, 0:2, 1:4] = True
    colors = np.zeros((4, 4, 4, 3), dtype=np.float32)
    colors[occ] = [0.2, 0.4, 0.6]
    return VoxelGrid(occupancy=occ, pitch=0.5, origin=[1.0, 2.0, 3.0], colors=colors)


def _las() -> bytes:
    import laspy

    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales = np.array([0.001, 0.001, 0.001])
    las = laspy.LasData(header)
    xyz = cloud().xyz
    las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    las.red = las.green = las.blue = np.arange(len(xyz), dtype=np.uint16) * 20
    buf = io.BytesIO()
    las.write(buf)
    return buf.getvalue()


def _binary_stl() -> bytes:
    box = trimesh.creation.box(extents=(10, 20, 30))
    rec = np.zeros(len(box.faces), dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["v"] = box.vertices[box.faces]
    return b"binary".ljust(80, b" ") + struct.pack("<I", len(box.faces)) + rec.tobytes()


OFF = b"OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n"
OBJ = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"
ASCII_STL = (
    b"solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n"
    b"endloop\nendfacet\nendsolid t\n"
)


def samples() -> dict[str, bytes]:
    """Extension (without dot) -> valid file bytes."""
    box = trimesh.creation.box(extents=(1, 2, 3))
    ply_mesh = box.export(file_type="ply")
    return {
        "ply": encode_ply(cloud()),
        "ascii.ply": encode_ply(cloud(), ascii=True),
        "mesh.ply": ply_mesh,
        "pcd": encode_pcd(cloud(), encoding="binary"),
        "ascii.pcd": encode_pcd(cloud(), encoding="ascii"),
        "lzf.pcd": encode_pcd(cloud(40), encoding="binary_compressed"),
        "xyz": encode_xyz(cloud()),
        "las": _las(),
        "off": OFF,
        "obj": OBJ,
        "stl": _binary_stl(),
        "ascii.stl": ASCII_STL,
        "glb": box.export(file_type="glb"),
        "3mf": box.export(file_type="3mf"),
        "npz": encode_npz(grid()),
        "binvox": encode_binvox(grid()),
        "vox": encode_vox(grid()),
        "r3d": _r3d(),
        "zip": _capture_zip("app"),
        "stray.zip": _capture_zip("stray"),
        "plyseq.zip": ply_sequence_zip(),
        "usda": USDA,
    }


USDA = b"""#usda 1.0
(
    metersPerUnit = 1
    upAxis = "Z"
)

def Mesh "tri"
{
    int[] faceVertexCounts = [3, 3]
    int[] faceVertexIndices = [0, 1, 2, 0, 2, 3]
    point3f[] points = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)]
    color3f[] primvars:displayColor = [(1, 0, 0)]
}
"""


def _plane_frames(n: int = 2, colored: tuple[int, ...] = (0, 1)) -> list:
    """``n`` frames of a tilted plane seen head-on (16 x 12 depth maps, 32 x 24 images)."""
    from voxforge.io.arkit import CaptureFrame

    rows, cols = np.mgrid[0:12, 0:16]
    depth = (800 + 10 * rows + 5 * cols).astype(np.uint16)
    k = np.array([[24.0, 0, 16], [0, 24.0, 12], [0, 0, 1]])
    return [
        CaptureFrame(
            depth_mm=depth,
            confidence=np.full(depth.shape, 2, np.uint8),
            rgb=np.full((24, 32, 3), 90 + 60 * i, np.uint8) if i in colored else None,
            pose=np.eye(4),
            intrinsics=k,
            color_size=(32, 24),
            time=float(i),
        )
        for i in range(n)
    ]


def _capture_zip(layout: str) -> bytes:
    """A zipped two-frame capture: 3D Scanner App (image on frame 0 only, a thumbnail) or Stray
    Scanner (no video)."""
    import tempfile
    import zipfile
    from pathlib import Path

    from voxforge.io.arkit import write_capture
    from voxforge.io.stray import write_stray

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "scan"
        if layout == "app":
            write_capture(_plane_frames(colored=(0,)), root)
            (root / "thumb_00000.jpg").write_bytes((root / "frame_00000.jpg").read_bytes())
        else:
            write_stray(_plane_frames(colored=()), root)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for p in sorted(root.rglob("*")):
                if p.is_file():
                    z.write(p, f"scan/{p.relative_to(root)}")
        return buf.getvalue()


def ply_sequence_frames() -> dict[str, bytes]:
    """A two-frame Record3D PLY sequence (``0.ply``, ``1.ply``: coloured binary point clouds)."""
    return {f"{i}.ply": encode_ply(cloud(n=12, seed=i)) for i in range(2)}


def ply_sequence_zip() -> bytes:
    """The two-frame PLY sequence zipped in one top-level folder, as phones share it."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in ply_sequence_frames().items():
            z.writestr(f"seq/{name}", data)
    return buf.getvalue()


def _r3d() -> bytes:
    """A two-frame Record3D ``.r3d`` of a tilted plane (16 x 12 depth maps)."""
    import tempfile
    from pathlib import Path

    from voxforge.io.record3d import write_r3d

    frames = _plane_frames()
    with tempfile.TemporaryDirectory() as tmp:
        return write_r3d(frames, Path(tmp) / "s.r3d").read_bytes()


def filename(key: str) -> str:
    """A file name with the sample's real extension (``"ascii.ply"`` -> ``"fuzz-ascii.ply"``)."""
    return f"fuzz-{key}" if "." in key else f"fuzz.{key}"
