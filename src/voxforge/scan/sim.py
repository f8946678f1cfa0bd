"""A simulated phone LiDAR: what an iPhone's ARKit depth + camera would record of a mesh.

The simulator ray-casts a z-up mesh (metres) from ARKit-convention poses and reproduces the
artefacts a scan pipeline must cope with: depth noise growing with the square of the distance,
drop-outs at grazing incidence, "flying pixels" that mix foreground and background depth at
silhouettes, and ARKit-style confidence maps. The colour image is rendered at a higher resolution
with Lambert shading from the mesh's texture, vertex or face colours. Everything is seeded.

Frames (and poses) are in ARKit's y-up world; the mesh is rotated into it with the inverse of
:data:`voxforge.scan.fuse.ARKIT_TO_ZUP`, so fusing the frames gives back the mesh's z-up frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import trimesh
from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.mesh import Mesh
from voxforge.io.arkit import DEPTH_SHAPE, CaptureFrame
from voxforge.scan.fuse import ARKIT_TO_ZUP, linear_to_srgb, rotate, srgb_to_linear

log = logging.getLogger(__name__)

_DEFAULT_COLOR = np.array([0.7, 0.7, 0.7], dtype=np.float32)


class SimConfig(BaseModel):
    """Sensor model of the simulated phone (defaults: an iPhone Pro's LiDAR depth + camera)."""

    model_config = ConfigDict(extra="forbid")

    focal_px: float = Field(193.0, gt=0, description="depth-image focal length, pixels (67°x53° FOV)")
    depth_width: int = Field(DEPTH_SHAPE[1], ge=2, description="depth map width, pixels")
    depth_height: int = Field(DEPTH_SHAPE[0], ge=2, description="depth map height, pixels")
    rgb_width: int = Field(512, gt=0, description="colour image width, pixels")
    rgb_height: int = Field(384, gt=0, description="colour image height, pixels")
    noise: bool = Field(True, description="add Gaussian depth noise")
    noise_at_1m: float = Field(
        0.01, ge=0, description="depth noise sigma at 1 m; sigma = k * d^2, metres"
    )
    dropouts: bool = Field(True, description="lose returns at grazing incidence")
    grazing_start_deg: float = Field(
        65.0, ge=0, lt=90, description="incidence angle where drop-out probability starts rising"
    )
    grazing_power: float = Field(2.0, gt=0, description="drop-out probability = ramp ** power")
    flying_pixels: bool = Field(True, description="mix fore- and background depth at silhouettes")
    flying_fraction: float = Field(0.5, ge=0, le=1, description="share of edge pixels that fly")
    edge_jump: float = Field(0.05, gt=0, description="relative depth step that counts as an edge")
    max_range: float = Field(5.0, gt=0, description="no return beyond this distance, metres")
    medium_angle_deg: float = Field(60.0, ge=0, le=90, description="confidence 1 above this incidence")
    medium_range: float = Field(1.5, gt=0, description="confidence 1 beyond this depth, metres")
    poor_range: float = Field(2.5, gt=0, description="confidence 0 beyond this depth, metres")
    ambient: float = Field(0.35, ge=0, le=1, description="ambient share of the Lambert shading")
    background_rgb: tuple[float, float, float] = Field(
        (0.62, 0.64, 0.66), description="sRGB colour where a colour ray hits nothing"
    )

    @classmethod
    def ideal(cls, **overrides: object) -> SimConfig:
        """A perfect sensor: no noise, drop-outs or flying pixels (for tests and references)."""
        return cls(**{"noise": False, "dropouts": False, "flying_pixels": False, **overrides})


def look_at(
    eye: Sequence[float] | np.ndarray,
    target: Sequence[float] | np.ndarray,
    up: Sequence[float] | np.ndarray = (0.0, 1.0, 0.0),
) -> np.ndarray:
    """(4, 4) float64 ARKit camera-to-world pose at ``eye`` looking at ``target``.

    The camera's -z axis points at the target, +y leans towards ``up``, +x is right; the result
    is in whatever world frame ``eye``/``target``/``up`` are given in (ARKit's is y-up).
    """
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    norm = np.linalg.norm(forward)
    if norm < 1e-12:
        raise GeometryError("look_at: eye and target coincide")
    forward /= norm
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    rn = np.linalg.norm(right)
    if rn < 1e-9:
        raise GeometryError("look_at: view direction is parallel to the up vector")
    right /= rn
    pose = np.eye(4)
    pose[:3, 0] = right
    pose[:3, 1] = np.cross(right, forward)
    pose[:3, 2] = -forward
    pose[:3, 3] = eye
    return pose


def orbit_poses(
    target_zup: Sequence[float] | np.ndarray,
    radius: float,
    elevation_deg: float,
    n_views: int,
    *,
    start_deg: float = 0.0,
) -> list[np.ndarray]:
    """ARKit poses on a circle around ``target_zup`` (z-up metres), all looking at it.

    Views are spread evenly in azimuth from ``start_deg`` at ``elevation_deg`` above the horizontal,
    at distance ``radius``.
    """
    if n_views < 1 or not radius > 0:
        raise ConfigError(f"orbit needs n_views >= 1 and radius > 0, got {n_views}, {radius}")
    target_a = ARKIT_TO_ZUP.T @ np.asarray(target_zup, dtype=np.float64)
    el = np.radians(elevation_deg)
    poses = []
    for az in np.radians(start_deg) + np.arange(n_views) * (2 * np.pi / n_views):
        offset_zup = radius * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        poses.append(look_at(target_a + ARKIT_TO_ZUP.T @ offset_zup, target_a))
    return poses


def simulate_capture(
    mesh: Mesh,
    *,
    n_views: int = 12,
    poses: Sequence[np.ndarray] | None = None,
    radius: float | None = None,
    elevation_deg: float = 30.0,
    target: Sequence[float] | None = None,
    seed: int = 0,
    config: SimConfig | None = None,
) -> list[CaptureFrame]:
    """Simulate an ARKit LiDAR capture of a z-up mesh (metres).

    Args:
        mesh: the scene; its texture, vertex or face colours give the image colours.
        n_views: number of orbit views (ignored when ``poses`` is given).
        poses: explicit (4, 4) ARKit camera-to-world poses in ARKit's y-up world.
        radius: orbit distance in metres; default frames the mesh's bounding sphere, kept
            between 0.3 m and ``config.medium_range`` (returns stay confident).
        elevation_deg: orbit elevation above the horizontal.
        target: z-up point the orbit looks at (default: the mesh's bounding-box centre).
        seed: makes noise, drop-outs and flying pixels reproducible (view i uses ``[seed, i]``).
        config: the sensor model.

    Returns:
        One :class:`CaptureFrame` per pose; intrinsics are for ``config.rgb_width x rgb_height``.
    """
    cfg = config or SimConfig()
    mesh.validate("simulation mesh")
    if poses is None:
        center = mesh.bounds.mean(axis=0) if target is None else np.asarray(target, dtype=np.float64)
        if radius is None:
            half_fov = np.arctan(cfg.depth_height / 2 / cfg.focal_px)
            sphere = 0.5 * float(np.linalg.norm(mesh.extent))
            # Within the sensor's good range: a large object is then covered piecewise, as a
            # person walking around it with a phone would.
            fit = 1.2 * sphere / np.sin(half_fov)
            radius = float(np.clip(fit, 0.3, min(cfg.medium_range, cfg.max_range)))
        poses = orbit_poses(center, radius, elevation_deg, n_views)
    scene = _Scene(mesh)
    frames = []
    for i, pose in enumerate(poses):
        rng = np.random.default_rng([seed, i])
        frames.append(_render_frame(scene, np.asarray(pose, dtype=np.float64), cfg, rng))
    return frames


# --- rendering -------------------------------------------------------------------------------


class _Scene:
    """The mesh in ARKit's world with a first-hit ray caster (embree when available)."""

    def __init__(self, mesh: Mesh) -> None:
        to_arkit = np.eye(4)
        to_arkit[:3, :3] = ARKIT_TO_ZUP.T
        self.tm: trimesh.Trimesh = mesh.tm.copy()
        self.tm.apply_transform(to_arkit)
        self.normals = np.asarray(self.tm.face_normals, dtype=np.float64)
        self.triangles = np.asarray(self.tm.triangles, dtype=np.float64)
        self.first_hits = _first_hit_caster(self.tm)
        self.colorer = _SurfaceColors(self.tm)

    def cast(self, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """First hits of rays from one origin.

        Returns ((n,) int64 triangle per ray, -1 on a miss; (n,) float64 distance along the unit
        ray, inf on a miss; (n, 3) unit directions).
        """
        dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
        tri = self.first_hits(origin, dirs)
        ray_idx = np.flatnonzero(tri >= 0)
        tri_idx = tri[ray_idx]
        t = np.full(len(dirs), np.inf)
        # Exact float64 plane intersection (embree works in float32).
        n = self.normals[tri_idx]
        denom = np.einsum("ij,ij->i", n, dirs[ray_idx])
        num = np.einsum("ij,ij->i", n, self.triangles[tri_idx, 0] - origin)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_hit = num / denom
        t[ray_idx] = np.where(np.isfinite(t_hit) & (t_hit > 0), t_hit, np.inf)
        tri[~np.isfinite(t)] = -1
        return tri, t, dirs


def _first_hit_caster(tm: trimesh.Trimesh) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``cast(origin (3,), unit_dirs (n, 3)) -> (n,) int64`` first triangle hit, -1 on a miss.

    Uses embree (``embreex``) directly when installed: trimesh's embree wrapper computes hit
    locations and ray offsets we do not need and is about 3x slower for first hits. Falls back to
    trimesh's pure-numpy intersector otherwise.
    """
    try:
        from embreex import rtcore_scene
        from embreex.mesh_construction import TriangleMesh
    except ImportError:
        log.info("embreex not installed; using trimesh's slower ray intersector")
        intersector = trimesh.ray.ray_triangle.RayMeshIntersector(tm)

        def cast_numpy(origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
            tri_idx, ray_idx = intersector.intersects_id(
                np.broadcast_to(origin, dirs.shape), dirs, multiple_hits=False
            )
            tri = np.full(len(dirs), -1, dtype=np.int64)
            tri[ray_idx] = tri_idx
            return tri

        return cast_numpy
    # Shift to the mesh's corner so float32 keeps sub-micrometre precision near the geometry.
    shift = np.asarray(tm.vertices, dtype=np.float64).min(axis=0)
    scene = rtcore_scene.EmbreeScene()
    TriangleMesh(
        scene=scene,
        vertices=(np.asarray(tm.vertices) - shift).astype(np.float32),
        indices=np.asarray(tm.faces, dtype=np.int32),
    )

    def cast_embree(origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        origins = np.broadcast_to((origin - shift).astype(np.float32), dirs.shape)
        hits = scene.run(np.ascontiguousarray(origins), np.ascontiguousarray(dirs, dtype=np.float32))
        return np.asarray(hits, dtype=np.int64)

    return cast_embree


def _pixel_rays(width: int, height: int, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """(height * width, 3) camera-space ray directions (z = -1), row-major pixel order."""
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    d = np.empty((height * width, 3))
    d[:, 0] = ((cols - cx) / fx).ravel()
    d[:, 1] = (-(rows - cy) / fy).ravel()
    d[:, 2] = -1.0
    return d


def _render_frame(
    scene: _Scene, pose: np.ndarray, cfg: SimConfig, rng: np.random.Generator
) -> CaptureFrame:
    h, w = cfg.depth_height, cfg.depth_width
    f = cfg.focal_px
    rays_cam = _pixel_rays(w, h, f, f, w / 2, h / 2)
    tri, t, dirs = scene.cast(pose[:3, 3], rotate(rays_cam, pose[:3, :3]))
    hit = tri >= 0
    # z-depth: distance along the optical axis = t * cos(angle to axis).
    axis = -pose[:3, 2]
    depth = np.where(
        hit, t * (dirs[:, 0] * axis[0] + dirs[:, 1] * axis[1] + dirs[:, 2] * axis[2]), np.inf
    ).reshape(h, w)
    cos_inc = np.ones(h * w)
    cos_inc[hit] = np.abs(np.einsum("ij,ij->i", scene.normals[tri[hit]], dirs[hit]))
    incidence = np.degrees(np.arccos(np.clip(cos_inc, 0.0, 1.0))).reshape(h, w)
    depth_mm, conf = _sensor(depth, incidence, cfg, rng)

    sx, sy = cfg.rgb_width / w, cfg.rgb_height / h
    k_rgb = np.array([[f * sx, 0.0, w / 2 * sx], [0.0, f * sy, h / 2 * sy], [0.0, 0.0, 1.0]])
    rgb = _render_rgb(scene, pose, k_rgb, cfg)
    return CaptureFrame(depth_mm=depth_mm, confidence=conf, rgb=rgb, pose=pose, intrinsics=k_rgb)


def _sensor(
    depth: np.ndarray, incidence_deg: np.ndarray, cfg: SimConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Turn ideal z-depth (h, w) metres (inf = miss) into ARKit's (uint16 mm depth, uint8 confidence).

    The random draws happen in a fixed order with full-image shapes, so each effect's pattern
    depends only on the seed, not on which other effects are enabled.
    """
    u_fly, a_fly, u_drop, z_noise = (
        rng.random(depth.shape),
        rng.random(depth.shape),
        rng.random(depth.shape),
        rng.standard_normal(depth.shape),
    )
    valid = np.isfinite(depth) & (depth <= cfg.max_range)
    d = np.where(valid, depth, np.inf)
    near, far = _neighbour_extremes(d)
    with np.errstate(invalid="ignore"):
        edge = valid & (far - near > cfg.edge_jump * d)
    conf = np.full(depth.shape, 2, dtype=np.uint8)
    conf[(incidence_deg > cfg.medium_angle_deg) | edge | (d > cfg.medium_range)] = 1
    out = np.where(valid, d, 0.0)
    if cfg.flying_pixels:
        # A pixel straddling a silhouette returns a blend of both surfaces' depths.
        fly = edge & np.isfinite(far) & (u_fly < cfg.flying_fraction)
        out[fly] = near[fly] + (0.15 + 0.7 * a_fly[fly]) * (far[fly] - near[fly])
        conf[fly] = 0
    if cfg.noise:
        out = out + z_noise * (cfg.noise_at_1m * out**2)
    conf[d > cfg.poor_range] = 0
    lost = ~valid
    if cfg.dropouts:
        ramp = np.clip((incidence_deg - cfg.grazing_start_deg) / (90.0 - cfg.grazing_start_deg), 0, 1)
        lost |= u_drop < ramp**cfg.grazing_power
    out[lost] = 0.0
    conf[lost] = 0
    depth_mm = np.clip(np.rint(out * 1000.0), 0, 65535).astype(np.uint16)
    conf[depth_mm == 0] = 0
    return depth_mm, conf


def _neighbour_extremes(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max finite depth over each pixel's 3x3 neighbourhood (inf/ -inf where none).

    A miss (inf) next to a hit also counts as a jump to infinity for ``far``.
    """
    pad_min = np.pad(d, 1, constant_values=np.inf)
    finite = np.where(np.isfinite(d), d, -np.inf)
    pad_max = np.pad(finite, 1, constant_values=-np.inf)
    miss = np.pad(~np.isfinite(d), 1, constant_values=False)
    h, w = d.shape
    near = np.full(d.shape, np.inf)
    far = np.full(d.shape, -np.inf)
    any_miss = np.zeros(d.shape, dtype=bool)
    for dr in range(3):
        for dc in range(3):
            near = np.minimum(near, pad_min[dr : dr + h, dc : dc + w])
            far = np.maximum(far, pad_max[dr : dr + h, dc : dc + w])
            any_miss |= miss[dr : dr + h, dc : dc + w]
    edge_far = np.where(any_miss, np.inf, far)
    return near, edge_far


def _render_rgb(scene: _Scene, pose: np.ndarray, k: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """(rgb_height, rgb_width, 3) uint8 sRGB image with Lambert shading (headlight + sky light)."""
    w, h = cfg.rgb_width, cfg.rgb_height
    rays_cam = _pixel_rays(w, h, k[0, 0], k[1, 1], k[0, 2], k[1, 2])
    tri, t, dirs = scene.cast(pose[:3, 3], rotate(rays_cam, pose[:3, :3]))
    hit = tri >= 0
    img = np.empty((h * w, 3), dtype=np.float32)
    img[:] = srgb_to_linear(np.asarray(cfg.background_rgb, dtype=np.float32))
    if hit.any():
        pts = pose[:3, 3] + dirs[hit] * t[hit, None]
        albedo = srgb_to_linear(scene.colorer(tri[hit], pts))
        n = scene.normals[tri[hit]]
        head = np.abs(np.einsum("ij,ij->i", n, dirs[hit]))
        sky = np.clip(n[:, 1], 0.0, 1.0)  # ARKit +y is up
        diffuse = 1.0 - cfg.ambient
        shade = cfg.ambient + diffuse * (0.75 * head + 0.25 * sky)
        img[hit] = albedo * shade[:, None].astype(np.float32)
    return np.rint(linear_to_srgb(img) * 255.0).astype(np.uint8).reshape(h, w, 3)


class _SurfaceColors:
    """sRGB albedo at surface points from a trimesh visual (texture, vertex or face colours)."""

    def __init__(self, tm: trimesh.Trimesh) -> None:
        self.tm = tm
        visual = tm.visual
        self.kind = getattr(visual, "kind", None)
        self.texture: np.ndarray | None = None
        self.factor = np.ones(3, dtype=np.float32)
        if self.kind == "texture":
            material = visual.material
            image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
            factor = getattr(material, "baseColorFactor", None)
            if factor is not None:
                self.factor = np.asarray(factor, dtype=np.float32)[:3] / (
                    255.0 if np.asarray(factor).dtype == np.uint8 else 1.0
                )
            if image is not None and visual.uv is not None:
                self.texture = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
                self.uv = np.asarray(visual.uv, dtype=np.float64)
            else:
                self.kind = "material"
        elif self.kind == "vertex":
            self.vertex_colors = np.asarray(visual.vertex_colors[:, :3], dtype=np.float32) / 255.0
        elif self.kind == "face":
            self.face_colors = np.asarray(visual.face_colors[:, :3], dtype=np.float32) / 255.0

    def __call__(self, tri: np.ndarray, points: np.ndarray) -> np.ndarray:
        """(n, 3) float32 sRGB in [0, 1] at (n, 3) points on triangles ``tri``."""
        if self.kind == "face":
            return self.face_colors[tri]
        if self.kind == "material":
            return np.broadcast_to(self.factor, (len(tri), 3)).astype(np.float32)
        if self.kind not in ("vertex", "texture"):
            return np.broadcast_to(_DEFAULT_COLOR, (len(tri), 3)).copy()
        bary = trimesh.triangles.points_to_barycentric(self.tm.triangles[tri], points)
        corners = self.tm.faces[tri]
        if self.kind == "vertex":
            return np.einsum("ij,ijk->ik", bary, self.vertex_colors[corners]).astype(np.float32)
        assert self.texture is not None
        uv = np.einsum("ij,ijk->ik", bary, self.uv[corners]) % 1.0
        th, tw = self.texture.shape[:2]
        col = np.minimum((uv[:, 0] * tw).astype(np.int64), tw - 1)
        row = np.minimum(((1.0 - uv[:, 1]) * th).astype(np.int64), th - 1)
        return self.texture[row, col] * self.factor
