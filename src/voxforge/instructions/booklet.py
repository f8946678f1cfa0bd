"""Instruction booklets: step images, parts callouts and inventory, written as a PDF, an offline
HTML page and a ``steps/`` folder with ``instructions.json`` for the web viewer.

:func:`make_booklet` renders everything once (a :class:`Booklet`); the writers only lay it out,
so the PDF, the HTML file and the step folder show the same images and numbers.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from voxforge.bricks.order.plan import BuildPlan, BuildStep
from voxforge.core.brickmodel import BrickModel
from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.outputs import OutputDir
from voxforge.core.progress import Progress, ProgressCallback
from voxforge.instructions.callouts import PartEntry, Thumbnails, part_entries
from voxforge.instructions.steps import (
    Rotation,
    StepPainter,
    StepScene,
    ViewConfig,
    choose_views,
    walk_plan,
)

log = logging.getLogger(__name__)

Format = Literal["pdf", "html", "steps"]
FORMATS: tuple[str, ...] = ("pdf", "html", "steps")


class InstructionsConfig(BaseModel):
    """What the instruction booklet contains and how it looks."""

    model_config = ConfigDict(extra="forbid")

    formats: list[Format] = Field(
        default_factory=lambda: list(FORMATS),
        description="Booklets to write: pdf (instructions.pdf), html (instructions.html), steps "
        "(steps/step_NNN.png + instructions.json); [] or 'none' writes none. A comma-separated "
        "string is accepted.",
    )
    image_size: int = Field(
        768,
        ge=128,
        le=4096,
        description="Side of the rendered step images, pixels (each is cut to its page crop and "
        "stored at image_px); the cover and the finished model are drawn at least 1024 px.",
    )
    steps_per_page: Literal[1, 2, 4, 6] = Field(
        4, description="Most steps on one PDF page; steps with long parts lists get more room."
    )
    page_size: Literal["A4", "letter"] = Field("A4", description="PDF page size (portrait).")
    turn_hidden: bool = Field(
        True, description="Turn the model (LDraw ROTSTEP) when the default view hides new parts."
    )
    min_visible: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="A view shows a new part when this fraction of its pixels is unhidden.",
    )
    dim_previous: bool = Field(True, description="Fade parts of earlier steps toward light grey.")
    quantize: bool = Field(
        True, description="Store PNG pictures as 256-colour PNGs (about half the bytes)."
    )
    image_format: Literal["jpeg", "png"] = Field(
        "jpeg",
        description="Step pictures (steps/, the HTML page and the PDF share them): jpeg, or png "
        "(256 colours with quantize).",
    )
    image_px: int = Field(
        480,
        ge=64,
        le=4096,
        description="Longest side of a stored step picture, pixels: the crop around the model is "
        "scaled down to it (a step printed four to a page is about 3.4 inches wide: 480 px is "
        "140 dpi there; a 5,000-part model's 900 pictures stay near 20 MB).",
    )
    jpeg_quality: int = Field(65, ge=30, le=100, description="JPEG quality of step pictures.")

    @property
    def renders_views(self) -> bool:
        """The booklet's renderer chooses every step's view (``choose_views``), so a planner's
        own view guesses would be thrown away."""
        return bool(self.formats) and self.turn_hidden

    @field_validator("formats", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            items = [v.strip().lower() for v in value.split(",") if v.strip()]
            return [] if items in (["none"], ["off"]) else items
        return value

    @field_validator("formats")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return [f for f in FORMATS if f in value]

    def view_config(self) -> ViewConfig:
        return ViewConfig(min_visible=self.min_visible)


@dataclass(frozen=True)
class StepPage:
    """One rendered step, ready to lay out.

    Attributes:
        number: 1-based step number within its sequence.
        image: output path of the step picture (``steps/step_001.jpg``).
        picture: the picture's bytes (JPEG or PNG, see ``image``), cropped to the model and
            sized for the page.
        parts: callout lines (what this step adds).
        rotation: the view's LDraw ROTSTEP angles, or ``None`` for the default view.
        turned: the view differs from the previous step's in the same sequence (for a first
            step: from the default view), so the page tells the builder to turn the model; a
            run of steps seen from one side gets the note once.
        notes: what the plan's checks found wrong at this step (``BuildPlan.info["problems"]``:
            parts to hold by hand, a prefix that does not stand), printed on the page.
        within: name of the sub-assembly this step builds, ``None`` for main-model steps.
        attaches: name of the sub-assembly this (main) step attaches, or ``None``.
        attach_png: a small picture of that sub-assembly (PNG), for the callout.
        total: steps in this step's sequence.
        size: the picture's (width, height) in pixels.
    """

    number: int
    image: str
    picture: bytes
    parts: tuple[PartEntry, ...]
    rotation: Rotation | None
    turned: bool = False
    notes: tuple[str, ...] = ()
    within: str | None = None
    attaches: str | None = None
    attach_png: bytes | None = None
    total: int = 0
    size: tuple[int, int] = (0, 0)

    def as_dict(self) -> dict[str, Any]:
        """The step's entry in ``instructions.json``."""
        return {
            "number": self.number,
            "image": self.image,
            "submodel": self.attaches,
            "rotation": None if self.rotation is None else [float(a) for a in self.rotation],
            "turned": self.turned,
            "notes": list(self.notes),
            "parts": [p.as_dict() for p in self.parts],
        }


@dataclass
class Booklet:
    """Everything a booklet shows, rendered.

    Attributes:
        title: model title.
        steps: every step in reading order (a sub-assembly's steps right before the main step
            that attaches it).
        submodels: sub-assembly names in plan order.
        inventory: every part of the model, one line per (part, colour).
        cover_png: the finished model (default view).
        back_png: the finished model turned half way round.
        boxes: content boxes of the cover and back pictures (see :func:`content_box`).
        facts: size, part count, step count and build-time figures (JSON-safe).
        thumbs: part pictures (cached).
        plan: the plan the steps show (with the chosen views).
    """

    title: str
    steps: list[StepPage]
    submodels: list[str]
    inventory: list[PartEntry]
    cover_png: bytes
    back_png: bytes
    boxes: dict[str, tuple[int, int, int, int]]
    facts: dict[str, Any]
    thumbs: Thumbnails
    plan: BuildPlan
    timings: dict[str, float] = field(default_factory=dict)

    def main_steps(self) -> list[StepPage]:
        return [s for s in self.steps if s.within is None]

    def manifest(self) -> dict[str, Any]:
        """``instructions.json``: the contract of the web app's instruction viewer."""
        return {
            "title": self.title,
            "steps": [s.as_dict() for s in self.main_steps()],
            "submodels": [
                {"name": name, "steps": [s.as_dict() for s in self.steps if s.within == name]}
                for name in self.submodels
            ],
            "inventory": [p.as_dict() for p in self.inventory],
        }


def palette() -> dict[int, np.ndarray]:
    """LDraw code -> sRGB floats for every colour of the table."""
    from voxforge.bricks.colors.palette import load_colors

    return {code: c.srgb for code, c in load_colors().items()}


def make_scene(model: BrickModel, config: InstructionsConfig | None = None) -> StepScene:
    """The step renderer of ``model`` (geometry built once; share it between view choice and
    booklet writing)."""
    config = config or InstructionsConfig()
    from voxforge.instructions.steps import STEP_OPTIONS

    return StepScene(model, palette(), config.image_size, options=STEP_OPTIONS)


def build_minutes(parts: int, steps: int) -> int:
    """A rough time to build, minutes: 8 s to find and place a part, 15 s to read a step."""
    return max(1, round((8.0 * parts + 15.0 * steps) / 60.0))


def duration_text(minutes: int) -> str:
    """``"25 min"``, ``"2 h"``, ``"1 h 05 min"``."""
    if minutes < 60:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h {m:02d} min" if m else f"{h} h"


def model_facts(model: BrickModel, plan: BuildPlan) -> dict[str, Any]:
    """Size (studs, plates, cm), part and step counts, build time; JSON-safe."""
    a = model.arrays()
    lo = np.array([a["x"].min(), a["y"].min(), a["z"].min()])
    hi = np.array([(a["x"] + a["sx"]).max(), (a["y"] + a["sy"]).max(), (a["z"] + a["h"]).max()])
    cells = hi - lo
    sub_steps = sum(len(s.steps) for s in plan.submodels)
    return {
        "parts": len(model),
        "distinct": len({(p.part, p.color) for p in model.placements}),
        "steps": len(plan.steps),
        "submodel_steps": sub_steps,
        "studs": [int(cells[0]), int(cells[1])],
        "plates": int(cells[2]),
        "cm": [round(float(c), 1) for c in cells * np.asarray(model.pitch) * 100.0],
        "build_minutes": build_minutes(len(model), len(plan.steps) + sub_steps),
        # the builder's verdict (voxforge.bricks.verdict), printed on the cover
        "verdict": str(plan.info.get("verdict", "")),
    }


def png_bytes(image: np.ndarray, quantize: bool = False) -> bytes:
    """PNG bytes of an (H, W, 3|4) uint8 image; ``quantize`` stores 256 colours (RGB only)."""
    from PIL import Image

    im = Image.fromarray(image)
    if quantize and im.mode == "RGB":
        im = im.quantize(256, method=Image.Quantize.FASTOCTREE)
        # octree colours are cell means: snap near-white back to the page white
        pal = np.asarray(im.getpalette(), dtype=np.uint8).reshape(-1, 3)
        pal[(pal >= 248).all(axis=1)] = 255
        im.putpalette(pal.ravel().tolist())
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def encode_picture(
    image: np.ndarray, box: tuple[int, int, int, int], config: InstructionsConfig
) -> tuple[bytes, tuple[int, int]]:
    """``image`` (H, W, 3) uint8 cropped to ``box`` (x0, y0, x1, y1; white outside the image),
    scaled down to fit ``config.image_px`` and encoded as ``config.image_format``: the bytes
    and the (width, height)."""
    from PIL import Image

    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    crop = image[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    if (x0, y0, x1, y1) != (max(0, x0), max(0, y0), min(w, x1), min(h, y1)):
        canvas = np.full((max(1, y1 - y0), max(1, x1 - x0), 3), 255, dtype=np.uint8)
        canvas[
            max(0, y0) - y0 : max(0, y0) - y0 + crop.shape[0],
            max(0, x0) - x0 : max(0, x0) - x0 + crop.shape[1],
        ] = crop
        crop = canvas
    k = config.image_px / max(crop.shape[:2])
    if k < 1.0:
        import cv2

        size = (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    im = Image.fromarray(np.ascontiguousarray(crop))
    if config.image_format == "png":
        return png_bytes(np.asarray(im), config.quantize), im.size
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=config.jpeg_quality, optimize=True)
    return buf.getvalue(), im.size


def content_box(image: np.ndarray, pad: int | None = None) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` pixels around everything that is not white background (or
    transparent), padded by ``pad`` (default 1% of the width); the whole image when empty.
    Lets a page crop a fixed-framing step image to what the sequence draws."""
    h, w = image.shape[:2]
    # channel by channel: a reduce over a 3-long last axis is ~20x slower on big images
    ink = (image[..., 0] < 250) | (image[..., 1] < 250) | (image[..., 2] < 250)
    if image.shape[2] == 4:
        ink &= image[..., 3] > 0
    if not ink.any():
        return (0, 0, w, h)
    ys, xs = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    pad = max(4, w // 100) if pad is None else pad
    x0, y0 = max(0, int(xs[0]) - pad), max(0, int(ys[0]) - pad)
    return (x0, y0, min(w, int(xs[-1]) + 1 + pad), min(h, int(ys[-1]) + 1 + pad))


COVER_PX = 1024
"""Least side of the cover and finished-model pictures, pixels (printed a page wide)."""

SUB_CROP = 0.7
"""A sub-assembly's page crop keeps at least this fraction of the image side, so its few parts
are not blown up far beyond the scale of the main model's pictures."""


def _union(boxes: list[tuple[int, int, int, int]], min_side: float = 0) -> tuple[int, int, int, int]:
    """The box around ``boxes``, grown about its centre to at least ``min_side`` pixels a side
    (within the image, whose side is at least the boxes' extent)."""
    a = np.asarray(boxes, dtype=np.float64)
    lo, hi = a[:, :2].min(axis=0), a[:, 2:].max(axis=0)
    grow = np.maximum(min_side - (hi - lo), 0.0) * 0.5
    lo, hi = lo - grow, hi + grow
    return (int(lo[0]), int(lo[1]), int(np.ceil(hi[0])), int(np.ceil(hi[1])))


FOCUS = 0.6
"""A step's page crop is at least this share of its sequence's crop (per side): early steps of
a tall model are drawn larger, but never more than 1 / FOCUS times the final model's scale."""


def _focus(
    own: tuple[int, int, int, int], whole: tuple[int, int, int, int], share: float = FOCUS
) -> tuple[int, int, int, int]:
    """``own`` grown about its centre to at least ``share`` of ``whole``'s size, then shifted
    (not shrunk) to lie inside ``whole``."""
    lo, hi = np.asarray(own[:2], float), np.asarray(own[2:], float)
    wlo, whi = np.asarray(whole[:2], float), np.asarray(whole[2:], float)
    size = np.minimum(np.maximum(hi - lo, (whi - wlo) * share), whi - wlo)
    centre = np.clip((lo + hi) * 0.5, wlo + size * 0.5, whi - size * 0.5)
    a, b = centre - size * 0.5, centre + size * 0.5
    return (int(a[0]), int(a[1]), int(np.ceil(b[0])), int(np.ceil(b[1])))


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "sub"
    slug, k = base, 2
    while slug in taken:
        slug, k = f"{base}_{k}", k + 1
    taken.add(slug)
    return slug


def _step_notes(plan: BuildPlan, names: list[str]) -> dict[tuple[int | None, int], list[str]]:
    """The plan's problems by the step page they belong on: (sub-assembly index or None,
    1-based step number) -> reasons; a sub-assembly's own problems go on its step (its first
    when none is named), the others on the main step named."""
    out: dict[tuple[int | None, int], list[str]] = {}
    for p in plan.info.get("problems", []):
        sub = p.get("submodel")
        if sub in names:
            key: tuple[int | None, int] = (names.index(sub), int(p.get("submodel_step") or 1))
        elif p.get("step") is not None:
            key = (None, int(p["step"]))
        else:
            continue
        out.setdefault(key, []).append(str(p["reason"]))
    return out


def make_booklet(
    model: BrickModel,
    plan: BuildPlan,
    title: str,
    config: InstructionsConfig | None = None,
    progress: ProgressCallback | None = None,
    *,
    scene: StepScene | None = None,
) -> Booklet:
    """Render every step, the cover and the callout data of ``plan`` (validated against the model)."""
    config = config or InstructionsConfig()
    n = len(model.placements)
    if n == 0:
        raise GeometryError("brick model has no placements; nothing to build")
    plan.validate(n)
    prog = Progress(progress, {"views": 1, "images": 6})
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    scene = scene or make_scene(model, config)
    if config.turn_hidden:
        plan = choose_views(scene, plan, config.view_config(), prog.sub("views"))
    timings["views_s"] = round(time.perf_counter() - t0, 3)

    t0, c0 = time.perf_counter(), time.process_time()
    refs = walk_plan(plan, n)
    thumbs = Thumbnails(palette())
    names = [s.name for s in plan.submodels]
    taken: set[str] = set()
    prefixes = [f"steps/{_slug(name, taken)}_step_" for name in names]
    totals = {None: len(plan.steps), **{j: len(s.steps) for j, s in enumerate(plan.submodels)}}
    ext = "jpg" if config.image_format == "jpeg" else "png"
    # one crop per sequence and view, from the parts' boxes on screen (known before drawing),
    # so the model stays put from step to step on the page and each picture is cut at once
    pad = max(4, config.image_size // 100)
    boxes = [scene.view_box(r.present, r.step.rotation, r.frame, pad) for r in refs]
    crop: dict[tuple, list[tuple[int, int, int, int]]] = {}
    for ref, box in zip(refs, boxes, strict=True):
        crop.setdefault((ref.within, ref.step.rotation), []).append(box)
    side = config.image_size * SUB_CROP
    attach: dict[int, bytes] = {}
    pages = []
    view: dict[int | None, Rotation | None] = {}  # the last view of each sequence
    notes = _step_notes(plan, names)
    painter = StepPainter(scene, dim=config.dim_previous)
    for k, (ref, box) in enumerate(zip(refs, boxes, strict=True)):
        image = painter.render(ref.present, ref.new, ref.step.rotation, frame=ref.frame)
        whole = _union(crop[(ref.within, ref.step.rotation)], 0 if ref.within is None else side)
        picture, size = encode_picture(image, _focus(box, whole), config)
        sub = ref.step.submodel
        if sub is not None and sub not in attach:
            places = [model.placements[i] for i in sorted(plan.submodels[sub].parts)]
            attach[sub] = thumbs.render(replace(model, placements=places, meta={}))
        prefix = "steps/step_" if ref.within is None else prefixes[ref.within]
        pages.append(
            StepPage(
                number=ref.number,
                image=f"{prefix}{ref.number:03d}.{ext}",
                picture=picture,
                parts=tuple(part_entries(model, ref.new)),
                rotation=ref.step.rotation,
                turned=ref.step.rotation != view.get(ref.within),
                notes=tuple(notes.get((ref.within, ref.number), ())),
                within=None if ref.within is None else names[ref.within],
                attaches=None if sub is None else names[sub],
                attach_png=None if sub is None else attach[sub],
                total=totals[ref.within],
                size=size,
            )
        )
        view[ref.within] = ref.step.rotation
        prog("images", (k + 1) / (len(refs) + 2))
    everything = np.arange(n)
    cover = max(COVER_PX, config.image_size)
    front_image = scene.render(everything, camera=scene.camera(None, size=cover))
    turned: Rotation = (30.0, 225.0, 0.0)
    back_image = scene.render(everything, rotation=turned, camera=scene.camera(turned, size=cover))
    prog("images", 1.0)
    timings["images_s"] = round(time.perf_counter() - t0, 3)
    timings["images_cpu_s"] = round(time.process_time() - c0, 3)  # all threads
    return Booklet(
        title=title,
        steps=pages,
        submodels=names,
        inventory=part_entries(model),
        cover_png=png_bytes(front_image, config.quantize),
        back_png=png_bytes(back_image, config.quantize),
        boxes={"cover": content_box(front_image), "back": content_box(back_image)},
        facts=model_facts(model, plan),
        thumbs=thumbs,
        plan=plan,
        timings=timings,
    )


def write_instructions(
    model: BrickModel,
    plan: BuildPlan,
    od: OutputDir,
    title: str,
    config: InstructionsConfig | None = None,
    progress: ProgressCallback | None = None,
    *,
    scene: StepScene | None = None,
) -> dict[str, Any]:
    """Write the booklets ``config.formats`` asks for into an open :class:`OutputDir`.

    Outputs: ``instructions.pdf``, ``instructions.html``, ``steps/*.jpg`` (or ``.png``; written
    for the HTML page too, which shows them) and ``instructions.json`` (each added to the
    manifest). Steps whose rotation is ``None`` get a
    turned view when the default one hides their new parts (see :func:`choose_views`; call it
    first to write the same views into an LDraw file).

    Returns:
        JSON-safe figures: formats, step and page counts, turned views, inventory lines, build
        time estimate and timings. ``{"formats": []}`` when no format is asked for.
    """
    config = config or InstructionsConfig()
    if not config.formats:
        return {"formats": []}
    prog = Progress(progress, {"render": 6, "steps": 1, "pdf": 2, "html": 1})
    booklet = make_booklet(model, plan, title, config, prog.sub("render"), scene=scene)
    figures: dict[str, Any] = {
        "formats": list(config.formats),
        "images": len(booklet.steps),
        "rotated_views": sum(s.rotation is not None for s in booklet.steps),
        "inventory_lines": len(booklet.inventory),
        **{k: v for k, v in booklet.facts.items() if k in ("build_minutes", "submodel_steps")},
    }
    timings = dict(booklet.timings)
    if "steps" in config.formats or "html" in config.formats:
        # the HTML page shows the step pictures from steps/ (loaded as each page is shown)
        t0 = time.perf_counter()
        for k, step in enumerate(booklet.steps):
            od.path(step.image).write_bytes(step.picture)
            od.add(step.image, f"instructions step {step.number} picture")
            prog("steps", (k + 1) / len(booklet.steps))
        if "steps" in config.formats:
            text = json.dumps(booklet.manifest(), indent=1) + "\n"
            od.path("instructions.json").write_text(text, encoding="utf-8")
            od.add("instructions.json", "build steps, parts per step and inventory (web viewer)")
        timings["steps_s"] = round(time.perf_counter() - t0, 3)
    if "pdf" in config.formats:
        from voxforge.instructions.pdf import write_pdf

        t0, c0 = time.perf_counter(), time.process_time()
        figures["pages"] = write_pdf(booklet, od.path("instructions.pdf"), config, prog.sub("pdf"))
        od.add("instructions.pdf", "printable building instructions")
        timings["pdf_s"] = round(time.perf_counter() - t0, 3)
        timings["pdf_cpu_s"] = round(time.process_time() - c0, 3)
    if "html" in config.formats:
        from voxforge.instructions.html import html_text

        t0 = time.perf_counter()
        od.path("instructions.html").write_text(html_text(booklet), encoding="utf-8")
        od.add("instructions.html", "building instructions, one offline web page")
        timings["html_s"] = round(time.perf_counter() - t0, 3)
    prog("html", 1.0)
    figures["timings_s"] = timings
    return figures


def layer_plan(model: BrickModel, max_parts: int = 12) -> BuildPlan:
    """A simple plan: parts bottom layer first, each layer cut into steps of at most
    ``max_parts`` parts in reading order (y, then x). For tests and for when no build-order
    search is at hand."""
    if max_parts < 1:
        raise ConfigError(f"max_parts must be at least 1, got {max_parts}")
    a = model.arrays()
    order = np.lexsort((a["x"], a["y"], a["z"]))
    steps: list[BuildStep] = []
    for z in np.unique(a["z"]):
        layer = order[a["z"][order] == z]
        for start in range(0, len(layer), max_parts):
            steps.append(BuildStep(tuple(int(i) for i in layer[start : start + max_parts])))
    return BuildPlan(tuple(steps), info={"planner": "layers"})
