"""Colours from the photos onto the reconstructed shape: the visible side, then mirrored.

The networks predict occupancy only. The colours come from the inputs themselves: every view's
camera is put back around the 32³ grid as the render set frames its objects (the first view
looks from +x toward -x, screen right +y, z up; view ``k`` is turned about z by its azimuth
relative to the first, like the fusion does; a photo's elevation and field of view are unknown
and assumed at the middle of the render set's ranges), the surface cells with a face turned
toward the camera and nothing on the way to it are the visible ones, and the projected shape's
box is stretched onto the object's box in the prepared image (the cut-out frames the object the
same way). A visible cell takes the mean colour of its image footprint; pixels outside the
cut-out take the nearest object pixel, so the background never bleeds in.

Cells no view saw: where the shape is mirror-symmetric across a plane through its centre
(x = centre: front/back, y = centre: left/right; the plane is used when the grid and its mirror
image overlap with IoU >= ``symmetry_iou``) a cell takes the colour of its mirror cell when that
one was seen; every other cell takes the colour of the nearest coloured cell
(:func:`voxforge.voxel.color.fill_missing_colors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from voxforge.core.errors import GeometryError, InputFormatError

DEFAULT_ELEVATION_DEG = 20.0
"""Assumed camera elevation of a photo (the middle of the render set's 0..45° range)."""
DEFAULT_FOV_DEG = 35.0
"""Assumed vertical field of view (the middle of the render set's 25..45° range)."""


@dataclass
class ShapeColours:
    """Colours of an occupancy grid.

    Attributes:
        colors: (n, n, n, 3) float32 sRGB in [0, 1], zeros outside the shape.
        seen: (n, n, n) bool cells coloured from a photo.
        mirrored: (n, n, n) bool cells coloured from their mirror cell.
        planes: symmetry planes used, ``"x"`` (front/back) and/or ``"y"`` (left/right).
    """

    colors: np.ndarray
    seen: np.ndarray
    mirrored: np.ndarray
    planes: list[str]

    def report(self) -> dict[str, object]:
        """Counts for a job summary."""
        return {
            "seen_cells": int(self.seen.sum()),
            "mirrored_cells": int(self.mirrored.sum()),
            "symmetry_planes": list(self.planes),
            "elevation_assumed_deg": DEFAULT_ELEVATION_DEG,
            "fov_assumed_deg": DEFAULT_FOV_DEG,
        }


def surface_cells(occupancy: np.ndarray) -> np.ndarray:
    """Occupied cells with at least one empty 6-neighbour (or on the grid's border)."""
    occ = np.asarray(occupancy, bool)
    inner = ndimage.binary_erosion(occ, structure=ndimage.generate_binary_structure(3, 1),
                                   border_value=0)  # fmt: skip
    return occ & ~inner


_CORNERS = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], np.float64)


def view_camera(
    occupancy: np.ndarray,
    azimuth_deg: float = 0.0,
    elevation_deg: float = DEFAULT_ELEVATION_DEG,
    fov_deg: float = DEFAULT_FOV_DEG,
    size: int = 128,
) -> Any:
    """The perspective camera framing the grid's cells as the render set frames its objects
    (:func:`voxforge.render.camera.framing_camera`), in the grid's unit cube."""
    from voxforge.render.camera import framing_camera

    occ = np.asarray(occupancy, bool)
    n = occ.shape[0]
    corners = (np.argwhere(surface_cells(occ))[:, None, :] + _CORNERS[None]).reshape(-1, 3) / n - 0.5
    return framing_camera(corners, size, azimuth_deg, elevation_deg, 0.0, perspective=True,
                          fov_deg=fov_deg)  # fmt: skip


def visible_cells(occupancy: np.ndarray, camera: Any) -> np.ndarray:
    """(M, 3) int indices of the surface cells ``camera`` (in the grid's unit cube) sees: a face
    turned toward the eye and no occupied cell on the way to it."""
    occ = np.asarray(occupancy, bool)
    n = occ.shape[0]
    surf = np.argwhere(surface_cells(occ))
    if len(surf) == 0:
        return surf
    eye = (np.asarray(camera.eye, np.float64) + 0.5) * n
    d = eye - (surf + 0.5)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12
    face = _facing(occ, surf, d)
    facing = face.any(axis=1)
    surf, d, face = surf[facing], d[facing], face[facing]
    return surf[~_blocked(occ, surf, d, face)]


_NEIGHBOURS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])


def _facing(occ: np.ndarray, cells: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(M, 3) the empty 6-neighbour step of each cell most turned toward its direction ``d`` to
    the eye, zeros where no empty neighbour faces the eye."""
    n = occ.shape[0]
    best = np.zeros(len(cells))
    out = np.zeros_like(cells)
    for step in _NEIGHBOURS:
        q = cells + step
        inside = ((q >= 0) & (q < n)).all(axis=1)
        empty = np.ones(len(cells), bool)
        empty[inside] = ~occ[q[inside, 0], q[inside, 1], q[inside, 2]]
        score = np.where(empty, d @ step, 0.0)
        better = score > best + 1e-9
        best[better] = score[better]
        out[better] = step
    return out


def _blocked(occ: np.ndarray, cells: np.ndarray, d: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Cells whose ray toward the eye meets an occupied cell, marched in half-cell steps from
    just outside the cell's ``face`` (so a surface seen at a grazing angle does not shade itself)."""
    n = occ.shape[0]
    blocked = np.zeros(len(cells), bool)
    start = cells + 0.5 + 0.55 * face
    for t in np.arange(0.0, 2.0 * n, 0.5):
        q = np.floor(start + t * d).astype(int)
        inside = ((q >= 0) & (q < n)).all(axis=1)
        if not inside.any():
            break
        blocked[inside] |= occ[q[inside, 0], q[inside, 1], q[inside, 2]]
    return blocked


def _object_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise InputFormatError("the prepared image has no object pixels to take colours from")
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def _object_pixels(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with every non-object pixel replaced by its nearest object pixel, float 0..1."""
    img = np.asarray(image, np.float32)[..., :3] / 255.0
    if mask.all():
        return img
    idx = ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
    return img[idx[0], idx[1]]


def project_colours(
    occupancy: np.ndarray,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    azimuths: Sequence[float] | None = None,
    *,
    elevation_deg: float = DEFAULT_ELEVATION_DEG,
    fov_deg: float = DEFAULT_FOV_DEG,
    symmetry_iou: float = 0.8,
) -> ShapeColours:
    """Colour the occupied cells of ``occupancy`` from the prepared views of the object.

    Args:
        occupancy: (n, n, n) bool grid in the first view's yaw frame (a reconstruction's).
        images: (S, S, 3) uint8 prepared images (``PreparedImage.image``), first view first.
        masks: (S, S) bool object masks of those images (``PreparedImage.mask``).
        azimuths: camera azimuths of the views in degrees (only differences matter); default
            every view at the first one's.
        elevation_deg: assumed camera elevation.
        fov_deg: assumed vertical field of view of the (perspective) camera.
        symmetry_iou: a mirror plane is used when the grid and its mirror overlap this much.

    Raises:
        GeometryError: an empty grid.
        InputFormatError: images and masks that do not match, or an image without object pixels.
    """
    occ = np.asarray(occupancy, bool)
    if not occ.any():
        raise GeometryError("no occupied cell to colour")
    if len(images) != len(masks) or not images:
        raise InputFormatError(f"got {len(images)} images and {len(masks)} masks; one mask per image")
    az = [0.0] * len(images) if azimuths is None else [float(a) for a in azimuths]
    sums = np.zeros((*occ.shape, 3), np.float64)
    counts = np.zeros(occ.shape, np.float64)
    for img, mask, a in zip(images, masks, az, strict=True):
        _add_view(sums, counts, occ, img, np.asarray(mask, bool), a - az[0], elevation_deg, fov_deg)
    seen = counts > 0
    colors = np.zeros((*occ.shape, 3), np.float32)
    colors[seen] = (sums[seen] / counts[seen][:, None]).astype(np.float32)
    mirrored = np.zeros_like(occ)
    planes: list[str] = []
    have = seen.copy()
    for axis, name in ((1, "y"), (0, "x")):
        flipped = mirror_cells(occ, axis)
        inter, union = (occ & flipped).sum(), (occ | flipped).sum()
        if union == 0 or inter / union < symmetry_iou:
            continue
        planes.append(name)
        src_have = mirror_cells(have, axis, occ)
        src_col = mirror_cells(colors, axis, occ)
        take = occ & ~have & src_have
        colors[take] = src_col[take]
        mirrored |= take
        have |= take
    if have.any():
        from voxforge.voxel.color import fill_missing_colors

        colors = fill_missing_colors(colors, have, occ, np.ones(3))
    return ShapeColours(colors, seen, mirrored, planes)


def mirror_cells(grid: np.ndarray, axis: int, reference: np.ndarray | None = None) -> np.ndarray:
    """``grid`` ((n, n, n) or (n, n, n, c)) mirrored along ``axis`` about the centre of the
    occupied box of ``reference`` (default: the grid's own non-zero cells); cells mirrored out of
    the grid are dropped."""
    g = np.asarray(grid)
    if reference is not None:
        occ = np.asarray(reference, bool)
    else:
        occ = g.any(axis=-1) if g.ndim == 4 else g.astype(bool)
    out = np.zeros_like(g)
    idx = np.flatnonzero(occ.any(axis=tuple(i for i in range(3) if i != axis)))
    if len(idx) == 0:
        return out
    lo, hi = int(idx.min()), int(idx.max())
    src = np.arange(g.shape[axis])
    dst = lo + hi - src
    ok = (dst >= 0) & (dst < g.shape[axis])
    sl_src = [slice(None)] * g.ndim
    sl_dst = [slice(None)] * g.ndim
    sl_src[axis], sl_dst[axis] = src[ok], dst[ok]
    out[tuple(sl_dst)] = g[tuple(sl_src)]
    return out


def _add_view(
    sums: np.ndarray,
    counts: np.ndarray,
    occ: np.ndarray,
    image: np.ndarray,
    mask: np.ndarray,
    azimuth_deg: float,
    elevation_deg: float,
    fov_deg: float,
) -> None:
    """Add one view's colours to the cells it sees (``sums``/``counts`` in place)."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.shape[:2] != mask.shape:
        raise InputFormatError(f"image {img.shape[:2]} and mask {mask.shape} differ in size")
    n = occ.shape[0]
    cam = view_camera(occ, azimuth_deg, elevation_deg, fov_deg, max(mask.shape))
    cells = visible_cells(occ, cam)
    if len(cells) == 0:
        return
    # the projected shape's box (every surface cell corner) is stretched onto the object's box
    corners = (np.argwhere(surface_cells(occ))[:, None, :] + _CORNERS[None]).reshape(-1, 3) / n - 0.5
    box = cam.project(corners)[:, :2]
    lo, hi = box.min(axis=0), box.max(axis=0)
    bx0, by0, bx1, by1 = _object_box(mask)
    px = cam.project((cells + 0.5) / n - 0.5)[:, :2]
    u = bx0 + (px[:, 0] - lo[0]) / max(hi[0] - lo[0], 1e-9) * (bx1 - bx0)
    v = by0 + (px[:, 1] - lo[1]) / max(hi[1] - lo[1], 1e-9) * (by1 - by0)
    pix = _object_pixels(img, mask)
    cell_px = (bx1 - bx0) / max(hi[0] - lo[0], 1e-9) * (hi[0] - lo[0]) / max(n, 1)
    radius = max(1, round(cell_px / 2))  # about half a cell's footprint
    smooth = ndimage.uniform_filter(pix, size=(2 * radius + 1, 2 * radius + 1, 1), mode="nearest")
    h, w = mask.shape
    ui = np.clip(np.floor(u).astype(int), 0, w - 1)
    vi = np.clip(np.floor(v).astype(int), 0, h - 1)
    i, j, k = cells.T
    np.add.at(sums, (i, j, k), smooth[vi, ui])
    np.add.at(counts, (i, j, k), 1.0)
