"""The project's own sample scan: a red mug with a handle on a wooden table, scanned by the phone
LiDAR simulator.

``python -m voxforge.scan.examples [--out DIR]`` writes (deterministically, seed 0) into the
checkout's ``examples/`` folder by default:

* ``mug_scan/``: the ARKit-style capture folder (14 views from above the table),
* ``mug_scan.ply``: that capture fused by :func:`voxforge.scan.capture.load_capture` (z-up metres,
  binary PLY written by :func:`voxforge.io.save_points`),
* ``mug.glb``: the mug alone as a coloured mesh, y-up as glTF requires (metres).

The sizes are a real mug's: 8 cm across, 10 cm tall, a 4 mm wall and a ring handle.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import trimesh
from trimesh import boolean, creation

from voxforge.core.mesh import Mesh
from voxforge.io import save_points
from voxforge.io.arkit import write_capture
from voxforge.io.meshes import export_mesh
from voxforge.scan.capture import load_capture
from voxforge.scan.sim import SimConfig, orbit_poses, simulate_capture

log = logging.getLogger(__name__)

MUG_RADIUS = 0.04
MUG_HEIGHT = 0.10
MUG_WALL = 0.004
MUG_BOTTOM = 0.006
MUG_RED = (196, 30, 36, 255)
MUG_GLAZE = (238, 230, 212, 255)
"""Inside of the mug: a cream glaze."""
TABLE_EXTENTS = (0.60, 0.40, 0.03)
TABLE_WOOD = (150, 101, 62, 255)
SEED = 0


def make_mug() -> Mesh:
    """A watertight mug standing on z = 0, centred on the z axis, handle towards +x (metres).

    Face colours: red outside and on the handle, cream glaze inside.
    """
    outer = creation.cylinder(radius=MUG_RADIUS, height=MUG_HEIGHT, sections=64)
    outer.apply_translation([0.0, 0.0, MUG_HEIGHT / 2])
    cavity = creation.cylinder(radius=MUG_RADIUS - MUG_WALL, height=MUG_HEIGHT, sections=64)
    cavity.apply_translation([0.0, 0.0, MUG_BOTTOM + MUG_HEIGHT / 2])
    handle = creation.torus(major_radius=0.026, minor_radius=0.006, major_sections=48, minor_sections=16)
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1.0, 0.0, 0.0]))
    handle.apply_translation([MUG_RADIUS, 0.0, 0.055])
    solid = boolean.union([outer, handle], engine="manifold")
    mug = boolean.difference([solid, cavity], engine="manifold")
    centers = mug.triangles_center
    # The cavity wall and floor; the rim (top annulus) stays red.
    inside = (
        (np.hypot(centers[:, 0], centers[:, 1]) < MUG_RADIUS - MUG_WALL / 2)
        & (centers[:, 2] > MUG_BOTTOM / 2)
        & (centers[:, 2] < MUG_HEIGHT - 1e-4)
    )
    colors = np.tile(np.array(MUG_RED, dtype=np.uint8), (len(mug.faces), 1))
    colors[inside] = MUG_GLAZE
    mug.visual.face_colors = colors
    return Mesh(tm=mug, meta={"source": "voxforge.scan.examples.make_mug", "units": "m", "up": "z"})


def make_table() -> Mesh:
    """A wooden table top whose upper face is the plane z = 0, centred under the origin."""
    top = creation.box(extents=TABLE_EXTENTS)
    top.apply_translation([0.0, 0.0, -TABLE_EXTENTS[2] / 2])
    top.visual.face_colors = np.tile(np.array(TABLE_WOOD, dtype=np.uint8), (len(top.faces), 1))
    return Mesh(tm=top, meta={"source": "voxforge.scan.examples.make_table", "units": "m"})


def make_mug_scene() -> Mesh:
    """The mug standing on the table, one mesh with face colours (z-up metres)."""
    tm = trimesh.util.concatenate([make_mug().tm, make_table().tm])
    return Mesh(tm=tm, meta={"source": "voxforge.scan.examples.make_mug_scene", "units": "m"})


def mug_scan_poses() -> list[np.ndarray]:
    """14 ARKit poses: 8 views at 30° elevation from 40 cm and 6 at 60° from 35 cm, aimed at the
    mug's middle, the way one walks around a table holding a phone."""
    target = (0.01, 0.0, MUG_HEIGHT / 2)
    low = orbit_poses(target, 0.40, 30.0, 8)
    high = orbit_poses(target, 0.35, 60.0, 6, start_deg=30.0)
    return low + high


def write_examples(out: str | Path, *, seed: int = SEED) -> dict[str, Path]:
    """Write the sample files into ``out`` (replacing earlier ones) and return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames = simulate_capture(make_mug_scene(), poses=mug_scan_poses(), seed=seed, config=SimConfig())
    scan_dir = out / "mug_scan"
    if scan_dir.exists():
        shutil.rmtree(scan_dir)
    write_capture(frames, scan_dir)
    cloud = load_capture(scan_dir)
    ply = out / "mug_scan.ply"
    save_points(cloud, ply)
    glb = out / "mug.glb"
    glb.write_bytes(export_mesh(make_mug().tm, "glb"))  # y-up, linear vertex colours
    log.info("wrote %d frames, %d fused points, %s", len(frames), len(cloud), glb)
    return {"capture": scan_dir, "cloud": ply, "mesh": glb}


def default_out() -> Path:
    """The checkout's ``examples/`` when running from a source tree, else ``./examples``."""
    repo = Path(__file__).resolve().parents[3]
    if (repo / "pyproject.toml").is_file() and (repo / "src" / "voxforge").is_dir():
        return repo / "examples"
    return Path("examples")


def main(argv: list[str] | None = None) -> None:
    """Write the samples; ``argv`` are command-line options (none when called from code)."""
    parser = argparse.ArgumentParser(description="Write voxforge's sample mug scan and mesh.")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: examples/)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv or [])
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_examples(args.out or default_out(), seed=args.seed)


if __name__ == "__main__":
    main(sys.argv[1:])
