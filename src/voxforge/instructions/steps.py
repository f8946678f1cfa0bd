"""Step images: the model built so far, new parts highlighted, seen from a view that shows them.

Why a scene built once: a booklet renders one image per step of the same model, so the part
meshes (:func:`~voxforge.bricks.geometry.brick_model_geometry`, every face kept) are made once and
each step only picks its faces. Faces hidden by the parts present so far are left out (a solid
model then costs its surface, not its volume): every body face and stud knows the lattice cells
that cover it, and a face is dropped when all of those cells hold present parts. Hiding is decided
per render from a "present" mask, so sub-assemblies (built apart on the table) work the same way.

View choice: new parts must be seen. :meth:`StepScene.visibility` rasterizes a small id buffer
(triangle -> part) and compares each new part's visible pixels with its pixels drawn alone;
:func:`choose_views` turns the model (LDraw ``0 ROTSTEP rx ry rz ABS`` angles) when a part is
mostly hidden from the default view.

View convention (shared with :mod:`voxforge.bricks.order.planner`): ``BuildStep.rotation`` holds LDraw
``0 ROTSTEP rx ry rz ABS`` angles read as absolute camera angles: ``rx`` the elevation above the
horizon and ``ry`` the yaw, degrees; ``(30, 45, 0)`` is the default view, from the lattice's -x, -y
corner (the LDraw front-left), and a larger yaw turns the camera counter-clockwise seen from above.
So voxforge azimuth (from +x toward +y) = 180 + ``ry``; a negative ``rx`` looks from below;
``rz`` (roll) is not used.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np

from voxforge.bricks.catalogue import catalogue
from voxforge.bricks.geometry import ColorSource, brick_model_geometry
from voxforge.bricks.order.plan import BuildPlan, BuildStep
from voxforge.core.brickmodel import BrickModel
from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.progress import ProgressCallback
from voxforge.render.bricks import auto_stud_segments, model_corners, part_mask
from voxforge.render.camera import Camera, framing_camera
from voxforge.render.raster import (
    Canvas,
    FaceStyle,
    RenderOptions,
    face_colors,
    rasterize,
    render_mesh,
)

Rotation = tuple[float, float, float]

DEFAULT_ROTATION: Rotation = (30.0, 45.0, 0.0)
"""The default view as ROTSTEP angles (elevation 30, yaw 45: from the -x, -y corner)."""
AZIMUTH_DEG = 225.0
ELEVATION_DEG = 30.0

TURNS: tuple[Rotation, ...] = (
    (30.0, 135.0, 0.0),
    (30.0, 315.0, 0.0),
    (30.0, 225.0, 0.0),
    (-30.0, 45.0, 0.0),
    (-30.0, 135.0, 0.0),
    (-30.0, 315.0, 0.0),
    (-30.0, 225.0, 0.0),
)
"""Views tried, in order of preference, when the default view hides new parts: quarter and half
turns about the vertical, then views from below (for parts placed underneath)."""

STEP_OPTIONS = RenderOptions(dim_amount=0.45, highlight_width=2.5)
"""Step image style: earlier parts fade a little toward light grey, new parts get a ring."""


def view_angles(rotation: Rotation | None) -> tuple[float, float, bool]:
    """(azimuth, elevation, upside_down) of the camera for ROTSTEP angles (``None``: default view).

    An x angle beyond the vertical (``rx`` in (90, 270) after wrapping, e.g. ``30 + 180`` for a
    sub-assembly built upside down) is half a turn about the model's x axis plus a tilt of
    ``rx - 180``: the camera then looks at the turned model from above, i.e. from below in the
    model's own frame (mirrored azimuth, negated elevation), with the model's -z as screen up.
    """
    if rotation is None:
        return AZIMUTH_DEG, ELEVATION_DEG, False
    rx, ry, _ = (float(a) for a in rotation)
    rx = (rx + 90.0) % 360.0 - 90.0  # [-90, 270)
    azimuth = (180.0 + ry) % 360.0
    if rx <= 90.0:
        return azimuth, rx, False
    return (-azimuth) % 360.0, -(rx - 180.0), True


def turned_camera(
    points: np.ndarray, size: int, rotation: Rotation | None, margin: float = 0.04
) -> Camera:
    """An orthographic camera framing ``points`` ((n, 3) metres) from the view ``rotation``."""
    azimuth, elevation, upside_down = view_angles(rotation)
    up = np.array([0.0, 0.0, -1.0 if upside_down else 1.0])
    return framing_camera(points, size, azimuth, elevation, margin, up=up)


@dataclass(frozen=True)
class Visibility:
    """How much of each new part a view shows.

    Attributes:
        parts: (k,) int64 new placement indices that can be drawn at all (parts whose every face is
            covered by neighbours are left out: no view shows them).
        visible: (k,) int64 pixels of each part in the id buffer of the whole scene.
        alone: (k,) int64 pixels of each part drawn alone from the same view.
    """

    parts: np.ndarray
    visible: np.ndarray
    alone: np.ndarray

    @property
    def fractions(self) -> np.ndarray:
        """(k,) float64 visible / alone, in [0, 1]."""
        return self.visible / np.maximum(self.alone, 1)

    @property
    def score(self) -> tuple[float, float]:
        """(worst part's fraction, mean fraction); 1 when there is nothing to see."""
        f = self.fractions
        return (float(f.min()), float(f.mean())) if len(f) else (1.0, 1.0)


class StepScene:
    """A brick model's geometry, built once, rendered for any set of present and new parts.

    Args:
        model: the whole model.
        colors: LDraw code -> sRGB floats (mapping or callable).
        size: step image side, pixels.
        stud_segments: sides per stud; ``None`` picks them for the stud size at ``size``.
    """

    def __init__(
        self,
        model: BrickModel,
        colors: ColorSource | None,
        size: int = 1024,
        *,
        stud_segments: int | None = None,
        options: RenderOptions = STEP_OPTIONS,
    ) -> None:
        if len(model.placements) == 0:
            raise GeometryError("brick model has no placements")
        self.model = model
        self.size = int(size)
        self.options = options
        self.corners = model_corners(model)
        self._cameras: dict[tuple, Camera] = {}
        self._last: tuple[bytes, np.ndarray] | None = None
        segments = stud_segments or auto_stud_segments(self.camera(None), model)
        g = brick_model_geometry(model, colors, stud_segments=segments, cull_hidden=False)
        self.vertices = np.ascontiguousarray(g.vertices, dtype=np.float64)
        self.faces, self.face_rgb, self.face_part = g.faces, g.face_rgb, g.face_part
        self.face_group = g.face_group
        self._covers = _face_covers(model, self.vertices, g.faces, g.face_group, g.face_part)
        self._by_part: tuple[np.ndarray, np.ndarray] | None = None

    # -- cameras --------------------------------------------------------------------------

    def camera(
        self, rotation: Rotation | None, parts: np.ndarray | None = None, size: int | None = None
    ) -> Camera:
        """The fixed camera for a view: frames the whole model (or only placements ``parts``, for
        a sub-assembly) so the model stays put from step to step; cached."""
        size = size or self.size
        key = (rotation, None if parts is None else parts.tobytes(), size)
        if key not in self._cameras:
            pts = self.corners
            if parts is not None:
                pts = _at_least(self.corners.reshape(-1, 8, 3)[parts].reshape(-1, 3), self.corners)
            self._cameras[key] = turned_camera(pts, size, rotation)
        return self._cameras[key]

    def view_box(
        self,
        present: np.ndarray,
        rotation: Rotation | None = None,
        frame: np.ndarray | None = None,
        pad: int = 4,
    ) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` output pixels around the ``present`` parts' boxes (studs
        included) seen from the view, padded by ``pad`` and kept within the image: where a
        picture of them has ink, known before drawing it."""
        n = len(self.model.placements)
        idx = np.flatnonzero(part_mask(present, n, "present"))
        cam = self.camera(rotation, frame)
        if not len(idx):
            return (0, 0, cam.width, cam.height)
        p = cam.project(self.corners.reshape(-1, 8, 3)[idx].reshape(-1, 3))
        lo = np.floor(p[:, :2].min(axis=0)).astype(int) - pad
        hi = np.ceil(p[:, :2].max(axis=0)).astype(int) + pad
        return (
            max(0, int(lo[0])),
            max(0, int(lo[1])),
            min(cam.width, int(hi[0])),
            min(cam.height, int(hi[1])),
        )

    # -- faces ----------------------------------------------------------------------------

    def visible_faces(self, present: np.ndarray) -> np.ndarray:
        """(m,) bool: faces of present parts not covered by other present parts (the last
        answer is kept: a step asks for the same parts in several views)."""
        present = part_mask(present, len(self.model.placements), "present")
        key = np.packbits(present).tobytes()
        if self._last is None or self._last[0] != key:
            keep = present[self.face_part] & ~self._covers.hidden(present)[self._covers.face_key]
            keep.setflags(write=False)
            self._last = (key, keep)
        return self._last[1]

    def visible_faces_of(self, parts: np.ndarray, present: np.ndarray) -> np.ndarray:
        """(k,) int64 faces of the ``parts`` (n,) bool not covered by the ``present`` (n,) bool
        parts: what :meth:`visible_faces` keeps of those parts, at the cost of their faces."""
        if self._by_part is None:
            order = np.argsort(self.face_part, kind="stable")
            bounds = np.searchsorted(self.face_part[order], np.arange(len(self.model.placements) + 1))
            self._by_part = (order, bounds)
        order, bounds = self._by_part
        idx = np.flatnonzero(parts)
        if not len(idx):
            return np.zeros(0, dtype=np.int64)
        faces = order[_ranges(bounds[idx], bounds[idx + 1])]
        keys, inverse = np.unique(self._covers.face_key[faces], return_inverse=True)
        hidden = self._covers.hidden_keys(keys, present)
        return np.sort(faces[~hidden[inverse.ravel()]])

    def render(
        self,
        present: np.ndarray,
        new: np.ndarray | None = None,
        rotation: Rotation | None = None,
        *,
        frame: np.ndarray | None = None,
        camera: Camera | None = None,
        dim: bool = True,
        background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
    ) -> np.ndarray:
        """(H, W, 3) uint8 image (RGBA with ``background=None``) of the present parts.

        Args:
            present: (n,) bool or indices: parts built so far (new ones included).
            new: parts added in this step (highlighted); the other present parts are dimmed
                when ``dim``.
            rotation: LDraw ROTSTEP angles of the view (``None``: default view).
            frame: placement indices the camera frames (``None``: the whole model).
            camera: a camera to use instead of the framing one.
        """
        n = len(self.model.placements)
        present = part_mask(present, n, "present")
        keep = self.visible_faces(present)
        if not keep.any():
            raise GeometryError("nothing to draw: no present part has a visible face")
        style = None
        if new is not None:
            per_part = np.full(n, FaceStyle.DIM if dim else FaceStyle.NORMAL, dtype=np.int8)
            per_part[part_mask(new, n, "new")] = FaceStyle.HIGHLIGHT
            style = per_part[self.face_part[keep]]
        cam = camera or self.camera(rotation, frame)
        vertices, faces = self._mesh(keep)
        return render_mesh(
            vertices,
            faces,
            self.face_rgb[keep],
            cam,
            face_group=self.face_group[keep],
            face_style=style,
            options=replace(self.options, background=background),
        )

    def _mesh(self, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The vertices the faces ``keep`` (m,) bool use and those faces renumbered: the
        renderer then projects only what it draws (a step shows a fraction of all vertices)."""
        faces = self.faces[keep]
        used = np.zeros(len(self.vertices), dtype=bool)
        used[faces.ravel()] = True
        index = np.flatnonzero(used)
        remap = np.zeros(len(self.vertices), dtype=np.int32)
        remap[index] = np.arange(len(index), dtype=np.int32)
        return self.vertices[index], remap[faces]

    def _triangles(self, keep: np.ndarray, camera: Camera) -> np.ndarray:
        """(H, W) int32 index into the faces ``keep`` selects seen at each pixel, -1 where empty."""
        return rasterize(*self._mesh(keep), camera).triangle

    def part_buffer(self, present: np.ndarray, camera: Camera) -> np.ndarray:
        """(H, W) int64 placement index seen at each pixel (-1 for background), no supersampling."""
        keep = self.visible_faces(present)
        tri = self._triangles(keep, camera)
        parts = self.face_part[keep]
        return np.where(tri >= 0, parts[np.maximum(tri, 0)], -1).astype(np.int64)

    def visibility(
        self,
        present: np.ndarray,
        new: np.ndarray,
        rotation: Rotation | None = None,
        *,
        frame: np.ndarray | None = None,
        size: int = 192,
    ) -> Visibility:
        """Pixels of each new part seen among the present parts vs drawn alone, at ``size`` px."""
        n = len(self.model.placements)
        present = part_mask(present, n, "present")
        new_mask = part_mask(new, n, "new")
        cam = self.camera(rotation, frame, size)
        seen = np.bincount(self.part_buffer(present, cam).ravel() + 1, minlength=n + 1)[1:]
        # alone: the new parts' faces that the present parts leave uncovered (a face covered
        # by a neighbour is never visible, from any side)
        keep = self.visible_faces(present) & new_mask[self.face_part]
        tri = self._triangles(keep, cam)
        parts = self.face_part[keep]
        alone = np.bincount(parts[tri[tri >= 0]], minlength=n)
        idx = np.flatnonzero(new_mask & (alone > 0))
        return Visibility(idx, seen[idx], alone[idx])


class StepPainter:
    """Step images drawn incrementally: each view (rotation and framing) keeps a
    :class:`~voxforge.render.raster.Canvas` whose buffers hold the parts drawn so far, and a step
    draws only its new parts over them, re-highlighting and re-dimming around the changes.

    Works because a sequence of steps only adds parts: faces that new parts cover stay in the
    buffers but behind the new parts' faces, so a step gives the image :meth:`StepScene.render`
    gives (up to ties between coplanar faces). A step whose parts so far do not contain what a
    view's canvas holds (another sub-assembly's table) starts that view afresh.

    Args:
        scene: the model's geometry.
        dim: fade the parts of earlier steps toward light grey.
        keep: canvases kept at once (least recently used first out); about 35 MB each at
            1024 px with 2x supersampling.
    """

    def __init__(self, scene: StepScene, *, dim: bool = True, keep: int = 3) -> None:
        self.scene = scene
        self.base = FaceStyle.DIM if dim else FaceStyle.NORMAL
        self.keep = max(1, int(keep))
        self._canvases: OrderedDict[tuple, tuple[Canvas, np.ndarray]] = OrderedDict()
        self._colors: dict[Rotation | None, tuple[np.ndarray, np.ndarray]] = {}

    def render(
        self,
        present: np.ndarray,
        new: np.ndarray,
        rotation: Rotation | None = None,
        *,
        frame: np.ndarray | None = None,
    ) -> np.ndarray:
        """(H, W, 3) uint8 image of the ``present`` parts with the ``new`` ones highlighted, as
        :meth:`StepScene.render` draws it (white background)."""
        scene = self.scene
        n = len(scene.model.placements)
        present = part_mask(present, n, "present")
        new_mask = part_mask(new, n, "new") & present
        key = (rotation, None if frame is None else np.asarray(frame).tobytes())
        held = self._canvases.pop(key, None)
        if held is not None and (held[1] & ~(present & ~new_mask)).any():
            held = None  # the canvas holds parts this step does not show (or shows as new)
        if held is None:
            canvas, drawn = self._canvas(rotation, frame), np.zeros(n, dtype=bool)
        else:
            canvas, drawn = held
        # faces of the parts the canvas lacks; their neighbours' faces that these cover stay in
        # the buffers, behind them
        faces = scene.visible_faces_of(present & ~drawn, present)
        if held is None and not len(faces):
            raise GeometryError("nothing to draw: no present part has a visible face")
        parts = scene.face_part[faces]
        style = np.where(new_mask[parts], FaceStyle.HIGHLIGHT, self.base).astype(np.int8)
        image = canvas.draw(faces, style, restyle=self.base, groups=parts)
        self._canvases[key] = (canvas, present.copy())
        return image

    def _canvas(self, rotation: Rotation | None, frame: np.ndarray | None) -> Canvas:
        """An empty canvas for the view: the least recently used one reset when ``keep`` are
        held (its buffers are reused), else a new one."""
        scene = self.scene
        cam = scene.camera(rotation, frame)
        if rotation not in self._colors:
            self._colors[rotation] = face_colors(
                scene.vertices, scene.faces, scene.face_rgb, cam, scene.options
            )
        if len(self._canvases) >= self.keep:
            _, (canvas, _) = self._canvases.popitem(last=False)
            canvas.reset(cam, self._colors[rotation])
            return canvas
        return Canvas(
            scene.vertices,
            scene.faces,
            scene.face_rgb,
            cam,
            face_group=scene.face_group,
            options=replace(scene.options, background=(1.0, 1.0, 1.0)),
            colors=self._colors[rotation],
        )


SUB_SCALE = 0.4
"""A sub-assembly's camera frames at least this fraction of the whole model's extent, so a
two-part sub-assembly is not drawn ten times larger than the model it joins."""


def _at_least(points: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """``points`` plus the corners of a box around their centre that is ``SUB_SCALE`` times the
    size of ``whole``'s box (where that is larger): points to frame."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    half = np.maximum((hi - lo) * 0.5, (whole.max(axis=0) - whole.min(axis=0)) * 0.5 * SUB_SCALE)
    centre = (lo + hi) * 0.5
    ix = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)]) * 2 - 1
    return np.concatenate([points, centre + ix * half])


@dataclass
class _Covers:
    """Per feature face: the lattice cells that hide it when filled (see :func:`_face_covers`).

    Attributes:
        face_key: (m,) int64 feature-face index of each triangle.
        cell: (c,) int64 flat index into the padded lattice of each covering cell.
        owner: (c,) int64 feature face each covering cell belongs to.
        stud: (c,) bool: the cell hides a stud (any part's box hides it) rather than a body face
            (only a cell filled by a box-shaped part hides it).
        count: (k,) int64 covering cells per feature face (0: never hidden).
        label: (padded cells,) int64 placement filling each padded lattice cell, -1 where empty.
        boxy: (n,) bool: placement fills its box (not a slope).
    """

    face_key: np.ndarray
    cell: np.ndarray
    owner: np.ndarray
    stud: np.ndarray
    count: np.ndarray
    label: np.ndarray
    boxy: np.ndarray

    def hidden_keys(self, keys: np.ndarray, present: np.ndarray) -> np.ndarray:
        """(k,) bool: which feature faces ``keys`` (k,) the ``present`` (n,) bool parts cover
        (:meth:`hidden` for those faces only; the covering cells are grouped by face)."""
        start = np.cumsum(self.count) - self.count
        cells = _ranges(start[keys], start[keys] + self.count[keys])
        lab = self.label[self.cell[cells]]
        filled = (lab >= 0) & present[np.maximum(lab, 0)] & (self.stud[cells] | self.boxy[lab])
        owner = np.repeat(np.arange(len(keys)), self.count[keys])
        covered = np.bincount(owner, weights=filled, minlength=len(keys))
        return (self.count[keys] > 0) & (covered == self.count[keys])

    def hidden(self, present: np.ndarray) -> np.ndarray:
        """(k,) bool feature faces covered by the ``present`` (n,) bool parts."""
        lab = self.label[self.cell]
        filled = (lab >= 0) & present[lab] & (self.stud | self.boxy[lab])
        covered = np.bincount(self.owner, weights=filled, minlength=len(self.count))
        return (self.count > 0) & (covered == self.count)


def _face_covers(
    model: BrickModel,
    vertices: np.ndarray,
    faces: np.ndarray,
    face_group: np.ndarray,
    face_part: np.ndarray,
) -> _Covers:
    """The covering cells of every feature face (a box side, a top, a stud side or top).

    Works from the triangles alone, in lattice units: an axis-aligned body face is covered by the
    cells just across its plane over its extent; a stud (geometry above its part's top) by the
    cell above it; a sloped face by nothing.
    """
    a = model.arrays()
    pitch = np.asarray(model.pitch, dtype=np.float64)
    lat = (vertices - np.asarray(model.origin, dtype=np.float64)) / pitch
    keys, face_key = np.unique(face_group, return_inverse=True)
    face_key = face_key.ravel().astype(np.int64)
    k = len(keys)
    order = np.argsort(face_key, kind="stable")
    starts = np.searchsorted(face_key[order], np.arange(k))
    tri = lat[faces[order]]  # (m, 3, 3), grouped by feature face
    lo = np.minimum.reduceat(tri.min(axis=1), starts)
    hi = np.maximum.reduceat(tri.max(axis=1), starts)
    first = order[starts]
    w = vertices[faces[first]]  # one triangle per feature face, world metres
    normal = np.cross(w[:, 1] - w[:, 0], w[:, 2] - w[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-30)
    part = face_part[first].astype(np.int64)
    top = (a["z"] + a["h"])[part]
    eps = 1e-4
    stud = (lo[:, 2] >= top - eps) & (hi[:, 2] > top + eps)
    axis = np.argmax(np.abs(normal), axis=1)
    aligned = np.abs(normal).max(axis=1) > 1 - 1e-6
    sign = np.sign(normal[np.arange(k), axis])

    # cell boxes [c0, c1) per feature face; empty boxes mean "never hidden"
    c0 = np.floor(lo + eps).astype(np.int64)
    c1 = np.ceil(hi - eps).astype(np.int64)
    plane = np.rint(np.where(sign[:, None] > 0, hi, lo)[np.arange(k), axis]).astype(np.int64)
    across = np.where(sign > 0, plane, plane - 1)
    rows = np.arange(k)
    c0[rows, axis] = across
    c1[rows, axis] = across + 1
    centre = np.floor((lo + hi) * 0.5).astype(np.int64)
    c0[stud] = np.column_stack([centre[stud, :2], top[stud]])
    c1[stud] = c0[stud] + 1
    body_ok = aligned & ~stud
    c1[~(body_ok | stud)] = c0[~(body_ok | stud)]
    dims = np.maximum(c1 - c0, 0)
    count = dims.prod(axis=1)

    shape = np.array([(a["x"] + a["sx"]).max(), (a["y"] + a["sy"]).max(), (a["z"] + a["h"]).max()])
    padded = shape + 2
    owner, cells = _enumerate_boxes(c0 + 1, dims)
    cells = np.clip(cells, 0, padded - 1)  # out of the model: the always-empty padding
    flat = np.ravel_multi_index(cells.T, padded)
    label = np.full(padded, -1, dtype=np.int64)
    for i, (x, y, z, sx, sy, h) in enumerate(
        zip(*(a[c].tolist() for c in ("x", "y", "z", "sx", "sy", "h")), strict=True)
    ):
        label[x + 1 : x + sx + 1, y + 1 : y + sy + 1, z + 1 : z + h + 1] = i
    kinds = catalogue()
    boxy = np.array([kinds[p.part].kind != "slope" for p in model.placements], dtype=bool)
    return _Covers(face_key, flat, owner, stud[owner], count, label.ravel(), boxy)


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The integers of every [start, end) range, concatenated (int64)."""
    lengths = np.maximum(np.asarray(ends) - np.asarray(starts), 0)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.asarray(starts) - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def _enumerate_boxes(start: np.ndarray, dims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every cell of k integer boxes: ``(owner (c,) int64, cells (c, 3) int64)``."""
    count = dims.prod(axis=1)
    owner = np.repeat(np.arange(len(dims)), count)
    local = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    d = dims[owner]
    i = local // (d[:, 1] * d[:, 2])
    j = (local // d[:, 2]) % d[:, 1]
    m = local % d[:, 2]
    return owner, start[owner] + np.column_stack([i, j, m])


# ------------------------------------------------------------------------------------------
# view choice


@dataclass(frozen=True)
class ViewConfig:
    """When to turn the model.

    Attributes:
        min_visible: a view is good when every new part shows at least this fraction of the
            pixels it covers drawn alone.
        gain: a turned view replaces the default only when its worst part's fraction is higher by
            this much (turning the model costs the builder an effort).
        check_size: id-buffer size in pixels for the test.
    """

    min_visible: float = 0.3
    gain: float = 0.15
    check_size: int = 192

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_visible <= 1.0:
            raise ConfigError(f"min_visible must be in [0, 1], got {self.min_visible}")


def best_view(
    scene: StepScene,
    present: np.ndarray,
    new: np.ndarray,
    *,
    frame: np.ndarray | None = None,
    config: ViewConfig = ViewConfig(),
) -> Rotation | None:
    """``None`` when the default view shows the new parts, else the turn (from :data:`TURNS`)
    that shows them best, or ``None`` when no turn does clearly better."""
    check = dict(frame=frame, size=config.check_size)
    base = scene.visibility(present, new, None, **check).score
    if base[0] >= config.min_visible:
        return None
    best, best_score = None, base
    for turn in TURNS:
        score = scene.visibility(present, new, turn, **check).score
        if score > best_score:
            best, best_score = turn, score
        if score[0] >= config.min_visible:
            break
    if best is None or best_score[0] < base[0] + config.gain:
        return None
    return best


@dataclass(frozen=True)
class StepRef:
    """One step to draw: where it sits in the plan and which parts are built by then.

    Attributes:
        step: the plan's step.
        number: 1-based number within its sequence (the main model or one sub-assembly).
        present: placement indices built after this step (the new ones included).
        new: placement indices placed in this step.
        within: index of the sub-assembly this step builds, ``None`` for main-model steps.
        frame: placement indices the camera frames (the sub-assembly's parts), ``None``: all.
    """

    step: BuildStep
    number: int
    present: np.ndarray
    new: np.ndarray
    within: int | None = None
    frame: np.ndarray | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[int | None, int]:
        return (self.within, self.number)


def walk_plan(plan: BuildPlan, n: int) -> list[StepRef]:
    """Every step of ``plan`` in booklet order: each sub-assembly's own steps come right before
    the main step that attaches it. Checks the plan against ``n`` placements first."""
    plan.validate(n)
    out: list[StepRef] = []
    built = np.zeros(n, dtype=bool)
    for i, step in enumerate(plan.steps):
        if step.submodel is not None:
            sub = plan.submodels[step.submodel]
            frame = np.asarray(sorted(sub.parts), dtype=np.int64)
            on_table = np.zeros(n, dtype=bool)
            for j, sub_step in enumerate(sub.steps):
                new = np.asarray(sub_step.parts, dtype=np.int64)
                on_table[new] = True
                out.append(StepRef(sub_step, j + 1, np.flatnonzero(on_table), new, step.submodel, frame))
        new = np.asarray(step.parts, dtype=np.int64)
        built[new] = True
        out.append(StepRef(step, i + 1, np.flatnonzero(built), new))
    return out


def choose_views(
    scene: StepScene,
    plan: BuildPlan,
    config: ViewConfig = ViewConfig(),
    progress: ProgressCallback | None = None,
) -> BuildPlan:
    """The plan with ``rotation`` set on steps whose new parts the default view hides.

    Steps that already carry a rotation from a file keep it; the heightmap guesses of
    :func:`~voxforge.bricks.order.planner.plan_build` (``info["view_hints"] == "heightmap"``) are
    replaced by what the renderer sees. The returned plan's ``info["views_checked"]`` is True,
    so a second call returns it unchanged.
    """
    if plan.info.get("views_checked"):
        return plan
    guessed = plan.info.get("view_hints") == "heightmap"
    refs = walk_plan(plan, len(scene.model.placements))
    turns: dict[tuple[int | None, int], Rotation | None] = {}
    for k, ref in enumerate(refs):
        # the guesses are the main steps' (a sub-assembly's upside-down view is a decision)
        if ref.step.rotation is None or (guessed and ref.within is None):
            turns[ref.key] = best_view(scene, ref.present, ref.new, frame=ref.frame, config=config)
        if progress is not None:
            progress("views", (k + 1) / len(refs))

    def turned(steps: tuple[BuildStep, ...], within: int | None) -> tuple[BuildStep, ...]:
        return tuple(
            replace(s, rotation=turns[(within, i + 1)]) if (within, i + 1) in turns else s
            for i, s in enumerate(steps)
        )

    subs = tuple(replace(s, steps=turned(s.steps, j)) for j, s in enumerate(plan.submodels))
    info = {**plan.info, "views_checked": True}
    if turns:
        info["view_hints"] = "rendered"
    return BuildPlan(turned(plan.steps, None), subs, info)
