"""Simulated cluttered scans for testing object picking: a person scanning one thing in a room.

:func:`cluttered_scene` builds a seeded z-up scene (metres): a floor (flat or uneven, like a
patio), one or two tables, the object the person scans (on a table or on the floor), clutter
around it and a small speck close in front of it. The phone LiDAR simulator
(:mod:`voxforge.scan.sim`) scans it along part of an orbit around the object, as a person walking
round it would, and the frames are fused into one cloud whose ``meta["camera_poses"]`` holds the
capture's poses (the same key capture readers fill). The scene knows which box holds the object,
so a pick can be checked. :func:`furniture_scene` is the other kind of scan: one piece of
furniture on a floor, seen from one side and from across a room.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import trimesh
from trimesh import creation

from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.scan.fuse import ARKIT_TO_ZUP, fuse_frames
from voxforge.scan.scene import camera_poses_zup
from voxforge.scan.sim import SimConfig, look_at, orbit_poses, simulate_capture

SHAPES = ("box", "cylinder", "cone", "capsule", "bottle", "mug")


@dataclass
class SimScene:
    """A simulated scan and what is in it (z-up metres, the cloud's own frame).

    Attributes:
        cloud: the fused scan, ``meta["camera_poses"]`` set.
        target: (2, 3) float64 box of the scanned object.
        others: (k, 2, 3) boxes of everything else placed (clutter, speck, tables).
        facts: how the scene was drawn (for messages).
    """

    cloud: PointCloud
    target: np.ndarray
    others: np.ndarray
    facts: dict[str, object] = field(default_factory=dict)


def _coloured(tm: trimesh.Trimesh, rgb: np.ndarray) -> trimesh.Trimesh:
    tm.visual.face_colors = np.tile(np.append(rgb, 255).astype(np.uint8), (len(tm.faces), 1))
    return tm


def make_shape(kind: str, size: np.ndarray, rng: np.random.Generator) -> trimesh.Trimesh:
    """A primitive of footprint ``size[0] x size[1]`` and height ``size[2]`` standing on z = 0."""
    w, d, h = (float(v) for v in size)
    r = min(w, d) / 2
    if kind == "box":
        tm = creation.box(extents=(w, d, h))
    elif kind == "cylinder":
        tm = creation.cylinder(radius=r, height=h, sections=32)
    elif kind == "cone":
        tm = creation.cone(radius=r, height=h, sections=32)
        tm.apply_translation([0, 0, -h / 2])
    elif kind == "capsule":
        tm = creation.capsule(height=max(h - 2 * r, 1e-3), radius=r, count=[16, 16])
    elif kind == "bottle":
        body = creation.cylinder(radius=r, height=0.7 * h, sections=32)
        body.apply_translation([0, 0, -0.15 * h])
        neck = creation.cylinder(radius=0.35 * r, height=0.3 * h, sections=24)
        neck.apply_translation([0, 0, 0.35 * h])
        tm = trimesh.util.concatenate([body, neck])
    elif kind == "mug":
        cup = creation.cylinder(radius=r, height=h, sections=32)
        handle = creation.torus(major_radius=0.6 * r, minor_radius=0.12 * r)
        handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
        handle.apply_translation([r, 0, 0])
        tm = trimesh.util.concatenate([cup, handle])
    else:
        raise ValueError(f"unknown shape {kind!r}")
    tm.apply_transform(trimesh.transformations.rotation_matrix(rng.uniform(0, 2 * np.pi), [0, 0, 1]))
    tm.apply_translation([0, 0, -tm.bounds[0, 2]])
    return tm


def grid_shape(grid: np.ndarray, size: float) -> trimesh.Trimesh:
    """A mesh of an occupancy grid (z-up, e.g. a ModelNet shape) scaled so its largest side is
    ``size`` metres, standing on z = 0 and centred in x, y."""
    from skimage.measure import marching_cubes

    occ = np.pad(np.asarray(grid) > 0, 1).astype(np.float32)
    verts, faces, _, _ = marching_cubes(occ, 0.5)
    tm = trimesh.Trimesh(verts, faces[:, ::-1], process=True)
    lo, hi = tm.bounds
    tm.apply_translation([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    tm.apply_scale(size / max(float((hi - lo).max()), 1e-9))
    return tm


def table_mesh(size: tuple[float, float], height: float) -> trimesh.Trimesh:
    """A table: a 3 cm top whose upper face is at ``height`` and four 4 cm legs."""
    w, d = size
    top = creation.box(extents=(w, d, 0.03))
    top.apply_translation([0, 0, height - 0.015])
    parts = [top]
    for sx in (-1, 1):
        for sy in (-1, 1):
            leg = creation.box(extents=(0.04, 0.04, height - 0.03))
            leg.apply_translation([sx * (w / 2 - 0.04), sy * (d / 2 - 0.04), (height - 0.03) / 2])
            parts.append(leg)
    return trimesh.util.concatenate(parts)


def floor_mesh(
    half: float, bumps: float, rng: np.random.Generator, step: float = 0.05
) -> trimesh.Trimesh:
    """A square floor ``2 * half`` wide at z = 0; ``bumps`` > 0 makes it uneven by that much
    (a few smooth waves of random direction, like paving or a lawn)."""
    xs = np.arange(-half, half + 1e-9, step)
    gx, gy = np.meshgrid(xs, xs, indexing="ij")
    gz = np.zeros_like(gx)
    if bumps > 0:
        for _ in range(4):
            k = rng.uniform(2.0, 9.0) * rng.standard_normal(2) / np.sqrt(2)
            gz += np.sin(gx * k[0] + gy * k[1] + rng.uniform(0, 2 * np.pi))
        gz *= bumps / max(np.abs(gz).max(), 1e-9)
    n = len(xs)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    faces = np.concatenate(
        [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
    )
    verts = np.stack([gx.ravel(), gy.ravel(), gz.ravel()], axis=1)
    return trimesh.Trimesh(verts, faces, process=False)


def _floor_height(floor: trimesh.Trimesh, xy: np.ndarray) -> float:
    """Highest floor vertex under a footprint point (objects rest on the bumps' crests)."""
    v = floor.vertices
    near = np.hypot(v[:, 0] - xy[0], v[:, 1] - xy[1]) < 0.12
    return float(v[near, 2].max()) if near.any() else 0.0


def _place(
    rng: np.random.Generator,
    taken: list[tuple[np.ndarray, float]],
    area: tuple[float, float, float, float],
    radius: float,
    gap: float,
) -> np.ndarray | None:
    """An x, y in ``area`` (x0, y0, x1, y1) at least ``gap`` clear of the ``taken`` discs."""
    x0, y0, x1, y1 = area
    if x1 - x0 <= 2 * radius or y1 - y0 <= 2 * radius:
        return None
    for _ in range(60):
        p = rng.uniform([x0 + radius, y0 + radius], [x1 - radius, y1 - radius])
        if all(np.hypot(*(p - q)) > r + radius + gap for q, r in taken):
            return p
    return None


def _orbit_radius(box: np.ndarray) -> float:
    """Camera distance that frames an object's (2, 3) box, within the sensor's good range."""
    return float(np.clip(1.3 * np.linalg.norm(np.ptp(box, axis=0)) + 0.35, 0.5, 1.6))


def _orbit_scan(
    scene: Mesh,
    box: np.ndarray,
    radius: float,
    elev: float,
    span: float,
    start: float,
    n_views: int,
    rng: np.random.Generator,
    seed: int,
    sim: SimConfig,
) -> PointCloud:
    """Scan ``scene`` from ``n_views`` phone poses spread over ``span`` degrees of an orbit
    around ``box``'s centre (from ``start``, at ``elev`` degrees and ``radius`` metres), and fuse
    the frames; the cloud's ``meta["camera_poses"]`` holds the poses."""
    centre = box.mean(axis=0)
    total = max(round(n_views * 360.0 / span), n_views)
    eyes = [p[:3, 3] for p in orbit_poses(centre, radius, elev, total, start_deg=start)[:n_views]]
    # The aim wobbles as a hand-held phone's does: each view looks a few centimetres off centre.
    aims = ARKIT_TO_ZUP.T @ (centre + rng.normal(0.0, 0.03, (n_views, 3))).T
    poses = [look_at(eye, aim) for eye, aim in zip(eyes, aims.T, strict=True)]
    frames = simulate_capture(scene, poses=poses, seed=seed, config=sim)
    cloud = fuse_frames(frames, voxel_size=0.005, normals=False)
    cloud.meta["camera_poses"] = camera_poses_zup(f.pose for f in frames)
    return cloud


def cluttered_scene(
    seed: int,
    *,
    setting: str | None = None,
    uneven: float | None = None,
    second_table: bool | None = None,
    n_clutter: int | None = None,
    speck: bool = True,
    n_views: int | None = None,
    grids: np.ndarray | None = None,
    config: SimConfig | None = None,
) -> SimScene:
    """Simulate a person's scan of one object in a cluttered place (all draws from ``seed``).

    Args:
        seed: draws every unset choice and the sensor noise.
        setting: ``"table"`` (an object 8-35 cm tall on a table, clutter beside it) or
            ``"floor"`` (a 30-90 cm object standing on the floor); default drawn.
        uneven: floor bump height, metres (0 = flat); default drawn from 0-3 cm.
        second_table: another table of a different height nearby, with clutter of its own.
        n_clutter: other objects next to the scanned one (default 2-5).
        speck: a 1-2 cm cube a few centimetres in front of the object (what a centre rule
            wrongly picks).
        n_views: frames along the orbit (default 8-14); the orbit covers 150-360 degrees.
        grids: optional (m, X, Y, Z) z-up occupancy grids (e.g. ModelNet) used as object shapes
            beside the primitives.
        config: the sensor; default a real phone's with small colour images (colour is not
            needed for picking).
    """
    rng = np.random.default_rng(seed)
    setting = setting or ("table" if rng.random() < 0.6 else "floor")
    uneven = float(rng.choice([0.0, 0.01, 0.02, 0.03])) if uneven is None else float(uneven)
    second_table = bool(rng.random() < 0.5) if second_table is None else second_table
    n_clutter = int(rng.integers(2, 6)) if n_clutter is None else n_clutter
    n_views = int(rng.integers(8, 15)) if n_views is None else n_views
    sim = config or SimConfig(rgb_width=64, rgb_height=48)

    floor = floor_mesh(2.5, uneven, rng)
    parts = [_coloured(floor, np.array([120, 120, 110]))]
    others: list[np.ndarray] = []

    def shape(size_range: tuple[float, float]) -> trimesh.Trimesh:
        h = rng.uniform(*size_range)
        if grids is not None and rng.random() < 0.5:
            tm = grid_shape(grids[rng.integers(len(grids))], h)
            tm.apply_transform(
                trimesh.transformations.rotation_matrix(rng.uniform(0, 2 * np.pi), [0, 0, 1])
            )
            tm.apply_translation([0, 0, -tm.bounds[0, 2]])
            return tm
        kind = SHAPES[rng.integers(len(SHAPES))]
        w = h * rng.uniform(0.4, 1.2)
        return make_shape(kind, np.array([w, w * rng.uniform(0.6, 1.0), h]), rng)

    def put(tm: trimesh.Trimesh, xy: np.ndarray, z: float) -> np.ndarray:
        tm.apply_translation([xy[0] - tm.centroid[0], xy[1] - tm.centroid[1], z])
        parts.append(_coloured(tm, rng.integers(30, 230, 3)))
        return np.asarray(tm.bounds, dtype=np.float64)

    if setting == "table":
        t_size = (rng.uniform(0.7, 1.2), rng.uniform(0.5, 0.8))
        t_height = rng.uniform(0.45, 0.8)
        t_xy = np.zeros(2)
        table = table_mesh(t_size, t_height)
        parts.append(_coloured(table, np.array([150, 100, 60])))
        others.append(np.asarray(table.bounds))
        area = (-t_size[0] / 2, -t_size[1] / 2, t_size[0] / 2, t_size[1] / 2)
        base = t_height
        target_tm = shape((0.08, 0.35))
        clutter_range = (0.04, 0.3)
    else:
        t_xy = np.array([rng.uniform(0.9, 1.3), 0.0])
        area = (-0.9, -0.9, 0.9, 0.9)
        base = 0.0
        target_tm = shape((0.3, 0.9))
        clutter_range = (0.1, 0.5)
    r_t = 0.5 * float(np.hypot(*np.ptp(target_tm.bounds[:, :2], axis=0)))
    t_pos = _place(rng, [], (area[0] * 0.5, area[1] * 0.5, area[2] * 0.5, area[3] * 0.5), 0.0, 0.0)
    if t_pos is None:  # pragma: no cover - the central area always has room
        t_pos = np.zeros(2)
    z0 = base if setting == "table" else _floor_height(floor, t_pos)
    target = put(target_tm, t_pos, z0)
    taken: list[tuple[np.ndarray, float]] = [(t_pos, r_t)]
    if setting == "floor" and second_table is False:
        # A table stands near the floor object anyway in half of these scenes: furniture around.
        second_table = bool(rng.random() < 0.5)
    for _ in range(n_clutter):
        tm = shape(clutter_range)
        r = 0.5 * float(np.hypot(*np.ptp(tm.bounds[:, :2], axis=0)))
        p = _place(rng, taken, area, r, rng.uniform(0.03, 0.15))
        if p is None:
            continue
        z = base if setting == "table" else _floor_height(floor, p)
        others.append(put(tm, p, z))
        taken.append((p, r))
    if speck:
        s = rng.uniform(0.01, 0.02)
        cube = creation.box(extents=(s, s, s))
        cube.apply_translation([0, 0, s / 2])
        ang = rng.uniform(0, 2 * np.pi)
        p = t_pos + (r_t + rng.uniform(0.03, 0.06)) * np.array([np.cos(ang), np.sin(ang)])
        z = base if setting == "table" else _floor_height(floor, p)
        others.append(put(cube, p, z))
    if second_table:
        size2 = (rng.uniform(0.6, 1.0), rng.uniform(0.5, 0.7))
        h2 = rng.uniform(0.4, 0.9)
        off = t_xy if setting == "floor" else np.array([0.0, 0.0])
        centre2 = off + np.array([0.0, rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 1.3)])
        if setting == "table":
            centre2 = np.array([rng.choice([-1.0, 1.0]) * (t_size[0] / 2 + size2[0] / 2 + 0.1), 0.0])
        t2 = table_mesh(size2, h2)
        t2.apply_translation([centre2[0], centre2[1], 0.0])
        parts.append(_coloured(t2, np.array([100, 80, 60])))
        others.append(np.asarray(t2.bounds))
        for _ in range(int(rng.integers(1, 4))):
            tm = shape((0.05, 0.3))
            a2 = (
                centre2[0] - size2[0] / 2,
                centre2[1] - size2[1] / 2,
                centre2[0] + size2[0] / 2,
                centre2[1] + size2[1] / 2,
            )
            p = _place(rng, [], a2, 0.5 * float(np.hypot(*np.ptp(tm.bounds[:, :2], axis=0))), 0.0)
            if p is not None:
                others.append(put(tm, p, h2))

    scene = Mesh(tm=trimesh.util.concatenate(parts), meta={"units": "m", "up": "z"})
    span = rng.uniform(150.0, 360.0)
    start = rng.uniform(0.0, 360.0)
    elev = rng.uniform(20.0, 45.0)
    cloud = _orbit_scan(scene, target, _orbit_radius(target), elev, span, start, n_views, rng, seed, sim)
    cloud.meta["source"] = f"simulated scene {seed}"
    facts = {
        "seed": seed,
        "setting": setting,
        "uneven_m": uneven,
        "second_table": second_table,
        "clutter": n_clutter,
        "views": n_views,
        "orbit_deg": round(span),
    }
    return SimScene(cloud=cloud, target=target, others=np.asarray(others), facts=facts)


def furniture_scene(
    grid: np.ndarray,
    seed: int,
    *,
    size: float | None = None,
    span_deg: float | None = None,
    n_views: int | None = None,
    radius: float | None = None,
    config: SimConfig | None = None,
) -> SimScene:
    """Simulate a person's scan of a piece of furniture standing on a floor, from one side.

    The object (an occupancy grid, e.g. a ModelNet shape, turned to a random yaw) stands on a
    2.5 m floor; the phone walks part of an orbit around it at the distance that frames it, so a
    large object is seen from across a room, where a depth camera's points lie far apart. All
    unset choices are drawn from ``seed``.

    Args:
        grid: (X, Y, Z) z-up occupancy of the object.
        seed: draws the choices below and the sensor noise.
        size: the object's largest side, metres (default 0.5-1.0).
        span_deg: how far round the object the person walks (default 60-180 degrees: one side).
        n_views: frames along that arc (default 6-10).
        radius: camera distance, metres (default 1.3 x the object's diagonal + 0.35, 0.5-1.6).
        config: the sensor (default a real phone's, with small colour images).
    """
    rng = np.random.default_rng(seed)
    sim = config or SimConfig(rgb_width=64, rgb_height=48)
    obj = grid_shape(grid, rng.uniform(0.5, 1.0) if size is None else size)
    obj.apply_transform(trimesh.transformations.rotation_matrix(rng.uniform(0, 2 * np.pi), [0, 0, 1]))
    obj.apply_translation([0.0, 0.0, -obj.bounds[0, 2]])
    floor = floor_mesh(2.5, 0.0, rng)
    parts = [_coloured(floor, np.array([120, 120, 110])), _coloured(obj, np.array([150, 100, 60]))]
    scene = Mesh(tm=trimesh.util.concatenate(parts), meta={"units": "m", "up": "z"})
    box = np.asarray(obj.bounds, dtype=np.float64)
    radius = _orbit_radius(box) if radius is None else radius
    span = rng.uniform(60.0, 180.0) if span_deg is None else span_deg
    views = int(rng.integers(6, 11)) if n_views is None else n_views
    elev = rng.uniform(15.0, 45.0)
    start = rng.uniform(0.0, 360.0)
    cloud = _orbit_scan(scene, box, radius, elev, span, start, views, rng, seed, sim)
    cloud.meta["source"] = f"simulated furniture scan {seed}"
    facts = {"seed": seed, "size_m": round(float(np.ptp(box, axis=0).max()), 3),
             "views": views, "orbit_deg": round(span), "radius_m": round(radius, 2)}  # fmt: skip
    return SimScene(cloud=cloud, target=box, others=np.zeros((0, 2, 3)), facts=facts)
