"""Voxel grid previews: the exposed cell faces, shaded and outlined, in the cells' colours.

Only faces between a filled and an empty cell are meshed (found for all six directions with array
shifts), so a solid block costs its surface, not its volume. Cells keep the grid's own pitch, so a
LEGO-lattice grid (8 x 8 x 3.2 mm) shows flat plate-high cells.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from voxforge.core.errors import GeometryError
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.render.camera import Camera, framing_camera
from voxforge.render.raster import RGB, RenderOptions, render_mesh, save_png

DEFAULT_VOXEL_RGB: RGB = (0.72, 0.72, 0.74)
"""Colour of cells when the grid has no colours."""

DIRECTIONS = np.array(
    [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.int64
)
"""Outward normals of the six face directions, indexed by the ``direction`` codes below."""

_MIN_CELL_EDGE_PX = 5.0
"""Below this many pixels per cell, per-cell outlines turn a preview grey; outline features only."""


def _face_corners() -> np.ndarray:
    """(6, 4, 3) unit-cell corners of each direction's face, counter-clockwise seen from outside."""
    out = np.zeros((6, 4, 3))
    for d, normal in enumerate(DIRECTIONS):
        axis = int(np.flatnonzero(normal)[0])
        u, v = (axis + 1) % 3, (axis + 2) % 3
        quad = np.zeros((4, 3))
        quad[:, axis] = 1.0 if normal[axis] > 0 else 0.0
        quad[:, u] = [0, 1, 1, 0]
        quad[:, v] = [0, 0, 1, 1]
        n = np.cross(quad[1] - quad[0], quad[2] - quad[0])
        out[d] = quad if n @ normal > 0 else quad[::-1]
    return out


_FACE_CORNERS = _face_corners()
_UNIT_CORNERS = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], dtype=np.int64)


def exposed_faces(occupancy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces between filled and empty cells (the grid border counts as empty).

    Args:
        occupancy: (nx, ny, nz) bool.

    Returns:
        cells: (k, 3) int64 index of the filled cell owning each face;
        direction: (k,) int8 index into :data:`DIRECTIONS` (+x, -x, +y, -y, +z, -z).
    """
    occ = np.asarray(occupancy, dtype=bool)
    if occ.ndim != 3:
        raise GeometryError(f"occupancy must be 3-D, got shape {occ.shape}")
    padded = np.pad(occ, 1)
    core = (slice(1, -1),) * 3
    cells, dirs = [], []
    for d, (dx, dy, dz) in enumerate(DIRECTIONS.tolist()):
        neighbour = padded[1 + dx : padded.shape[0] - 1 + dx, 1 + dy : padded.shape[1] - 1 + dy]
        neighbour = neighbour[:, :, 1 + dz : padded.shape[2] - 1 + dz]
        idx = np.argwhere(padded[core] & ~neighbour)
        cells.append(idx)
        dirs.append(np.full(len(idx), d, dtype=np.int8))
    return np.concatenate(cells), np.concatenate(dirs)


def voxel_mesh(
    grid: VoxelGrid, *, color: RGB = DEFAULT_VOXEL_RGB, merge_groups: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Quads of the exposed faces as triangles.

    Args:
        grid: the voxel grid (its pitch and origin place the cells in metres).
        color: sRGB used when the grid has no colours.
        merge_groups: put all faces in one outline group (for small cells, where per-cell or
            per-direction outlines would cover the stepped surface with lines); otherwise every
            cell face is its own group.

    Returns:
        vertices (4k, 3) float32 metres, faces (2k, 3) int32, face_rgb (2k, 3) float32,
        face_group (2k,) int32, for k exposed faces.
    """
    cells, dirs = exposed_faces(grid.occupancy)
    return _face_mesh(grid, cells, dirs, color=color, merge_groups=merge_groups)


def _face_mesh(
    grid: VoxelGrid, cells: np.ndarray, dirs: np.ndarray, *, color: RGB, merge_groups: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    k = len(cells)
    corners = (cells[:, None, :] + _FACE_CORNERS[dirs]) * grid.pitch + grid.origin
    quads = np.arange(4 * k, dtype=np.int64).reshape(k, 4)
    faces = np.stack([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]], axis=1).reshape(-1, 3)
    if grid.colors is not None:
        rgb = grid.colors[cells[:, 0], cells[:, 1], cells[:, 2]]
    else:
        rgb = np.broadcast_to(np.asarray(color, dtype=np.float32), (k, 3))
    rgb = np.clip(np.nan_to_num(rgb, nan=0.5), 0.0, 1.0).astype(np.float32)
    if merge_groups:
        group = np.zeros(k, dtype=np.int64)
    else:
        group = np.arange(k)
    return (
        corners.reshape(-1, 3).astype(np.float32),
        faces.astype(np.int32),
        np.repeat(rgb, 2, axis=0),
        np.repeat(group, 2).astype(np.int32),
    )


def voxel_camera(
    grid: VoxelGrid,
    size: int | tuple[int, int] = 800,
    azimuth: float = 45.0,
    elevation: float = 30.0,
    *,
    margin: float = 0.04,
    perspective: bool = False,
) -> Camera:
    """A camera framing the filled cells of the grid (their outline in the view, not their box)."""
    cells, _ = exposed_faces(grid.occupancy)
    return _framing(grid, cells, size, azimuth, elevation, margin, perspective)


def _framing(
    grid: VoxelGrid,
    cells: np.ndarray,
    size: int | tuple[int, int],
    azimuth: float,
    elevation: float,
    margin: float,
    perspective: bool,
) -> Camera:
    if len(cells) == 0:
        raise GeometryError("voxel grid is empty: nothing to render")
    flat = np.unique(np.ravel_multi_index(cells.T, grid.shape))  # much faster than unique(axis=0)
    surface = np.column_stack(np.unravel_index(flat, grid.shape))
    if not perspective and len(surface) > 4096:
        # frame the cell centres first, then keep only cells near the outline in the view and
        # frame their corners: exact, and 8x fewer points than all the corners
        centres = (surface + 0.5) * grid.pitch + grid.origin
        rough = framing_camera(centres, size, azimuth, elevation, margin)
        rot = rough.rotation
        vx = centres @ rot[0]
        vy = centres @ rot[1]
        reach = np.abs(rot[:2]) @ grid.pitch  # a cell's full projected width and height
        near = (vx <= vx.min() + reach[0]) | (vx >= vx.max() - reach[0])
        near |= (vy <= vy.min() + reach[1]) | (vy >= vy.max() - reach[1])
        surface = surface[near]
    corners = (surface[:, None, :] + _UNIT_CORNERS[None]).reshape(-1, 3) * grid.pitch + grid.origin
    return framing_camera(corners, size, azimuth, elevation, margin, perspective=perspective)


def render_voxels(
    grid: VoxelGrid,
    size: int | tuple[int, int] = 800,
    azimuth: float = 45.0,
    elevation: float = 30.0,
    *,
    cell_edges: bool | None = None,
    background: RGB | None = (1.0, 1.0, 1.0),
    color: RGB = DEFAULT_VOXEL_RGB,
    camera: Camera | None = None,
    options: RenderOptions | None = None,
) -> np.ndarray:
    """Render the grid's exposed cell faces, isometric by default.

    Args:
        grid: the voxel grid; cell colours are used when present, else ``color``.
        size: image side in pixels, or (width, height); ignored when ``camera`` is given.
        azimuth, elevation: view direction in degrees.
        cell_edges: outline every cell face (True), only silhouettes and occluding contours
            (False), or pick by the cell size on screen (None: per-cell when cells are at least
            5 px).
        background: sRGB floats, or ``None`` for a transparent RGBA image.
        camera: a fixed camera instead of the framing one.
        options: drawing options (its ``background`` is replaced by ``background``).

    Returns:
        (H, W, 3) uint8 sRGB, or (H, W, 4) RGBA when ``background`` is ``None``.
    """
    cells, dirs = exposed_faces(grid.occupancy)
    cam = camera or _framing(grid, cells, size, azimuth, elevation, 0.04, False)
    if cell_edges is None:
        centre = grid.origin + np.asarray(grid.shape) * grid.pitch * 0.5
        cell_edges = float(grid.pitch.min()) * cam.pixels_per_metre(centre) >= _MIN_CELL_EDGE_PX
    vertices, faces, rgb, group = _face_mesh(grid, cells, dirs, color=color, merge_groups=not cell_edges)
    opt = options or RenderOptions()
    depth_edge = opt.depth_edge
    if not cell_edges and depth_edge is None:
        # outline occluding contours, not the one-cell terraces of a curved surface
        metres_per_px = 1.0 / (cam.pixels_per_metre(grid.origin) * opt.ssaa)
        depth_edge = max(2.5 * float(grid.pitch.max()), 4.0 * metres_per_px)
    opt = replace(opt, background=background, depth_edge=depth_edge)
    return render_mesh(vertices, faces, rgb, cam, face_group=group, options=opt)


def save_preview(image: np.ndarray, path: str | Path) -> Path:
    """Write a preview image (from :func:`render_voxels` or :func:`render_bricks`) as PNG."""
    return save_png(image, path)
