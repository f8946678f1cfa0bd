"""The printable booklet (reportlab): cover, parts inventory, numbered steps with parts callouts
(several per page when they fit), the finished model, page numbers.

Layout is planned first (which steps share a page, how big each callout is) and drawn second, so
every page can say "n / total". Lengths are PDF points (1/72 inch).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voxforge.core.outputs import atomic_write_bytes
from voxforge.core.progress import ProgressCallback
from voxforge.instructions.booklet import Booklet, InstructionsConfig, StepPage, duration_text
from voxforge.instructions.callouts import PartEntry

MARGIN = 36.0
FOOTER = 22.0
GAP = 10.0
THUMB_PT_PER_PX = 0.32
"""Thumbnails are drawn at this many points per pixel (26 px per stud -> about 8 pt, 3 mm)."""
PRINT_DPI = 200.0
"""Step pictures are embedded at up to this resolution for their printed size."""
CALLOUT_SHARE = 0.42
"""A step fits a cell when its callout takes at most this share of the cell's height."""
GRIDS = {1: (1, 1), 2: (1, 2), 4: (2, 2), 6: (2, 3)}
"""Steps per page -> (columns, rows)."""
INK = (0.13, 0.13, 0.13)
GREY = (0.45, 0.45, 0.45)
CALLOUT_FILL = (0.86, 0.92, 0.97)
SUB_FILL = (0.97, 0.93, 0.82)
SUB_INK = (0.5, 0.38, 0.1)
ACCENT = (0.95, 0.1, 0.55)
WARN = (0.7, 0.15, 0.12)
NOTE_SIZE = 7.5


def _text(s: str) -> str:
    """Text the standard Helvetica (WinAnsi) can show; other characters become '?'."""
    return s.encode("cp1252", errors="replace").decode("cp1252")


@dataclass(frozen=True)
class _Item:
    """One callout entry: a picture and its labels, laid out at the callout's scale."""

    png: bytes
    w: float  # picture size, points
    h: float
    count: str
    colour: str

    @property
    def box_w(self) -> float:
        """Width the item takes in its row: the picture or its colour label, the wider."""
        from reportlab.pdfbase.pdfmetrics import stringWidth

        return max(self.w, 22.0, stringWidth(_text(self.colour), "Helvetica", LABEL_PT) + 2.0)


@dataclass(frozen=True)
class _Flow:
    """Items in rows: positions (x, y of each picture's bottom-left, from the callout's top-left,
    y downward) and the callout's size."""

    places: list[tuple[float, float]]
    w: float
    h: float


PAD = 6.0
LABEL_H = 18.0
LABEL_PT = 5.5


def _flow(items: list[_Item], max_w: float) -> _Flow:
    places, x, y, row_h, width = [], PAD, PAD, 0.0, 0.0
    for it in items:
        box_w = it.box_w
        if x > PAD and x + box_w + PAD > max_w:
            x, y, row_h = PAD, y + row_h + GAP * 0.5, 0.0
        places.append((x + (box_w - it.w) * 0.5, y + it.h))
        row_h = max(row_h, it.h + LABEL_H)
        x += box_w + GAP
        width = max(width, x - GAP + PAD)
    return _Flow(places, width, y + row_h + PAD * 0.5)


class _Pages:
    """Draws onto a reportlab canvas; knows the page geometry."""

    def __init__(self, booklet: Booklet, config: InstructionsConfig) -> None:
        from reportlab.lib.pagesizes import A4, letter

        self.b = booklet
        self.config = config
        self.w, self.h = A4 if config.page_size == "A4" else letter
        self.body = (MARGIN, MARGIN + FOOTER, self.w - MARGIN, self.h - MARGIN)
        self._readers: dict[int, object] = {}
        self._jpegs: dict[tuple, bytes] = {}

    # -- pieces -----------------------------------------------------------------------------

    def items(self, step: StepPage, scale: float) -> list[_Item]:
        if step.attaches is not None and step.attach_png is not None:
            from PIL import Image

            w, h = Image.open(io.BytesIO(step.attach_png)).size
            k = THUMB_PT_PER_PX * scale * min(1.0, 150.0 / max(w, h))
            return [_Item(step.attach_png, w * k, h * k, "1x", step.attaches)]
        return [self.part_item(p, scale) for p in step.parts]

    def part_item(self, p: PartEntry, scale: float) -> _Item:
        w, h = self.b.thumbs.size(p.part, p.color)
        k = THUMB_PT_PER_PX * scale
        return _Item(self.b.thumbs.png(p.part, p.color), w * k, h * k, f"{p.count}x", p.color_name)

    def callout(self, step: StepPage, max_w: float, max_h: float) -> tuple[list[_Item], _Flow] | None:
        """The callout at the largest scale (1 down to 0.5) that fits ``max_w`` x ``max_h``."""
        for scale in (1.0, 0.85, 0.7, 0.6, 0.5):
            items = self.items(step, scale)
            flow = _flow(items, max_w)
            if flow.h <= max_h and flow.w <= max_w:
                return items, flow
        return None

    def image(self, c, data: bytes, x: float, y: float, w: float, h: float) -> None:
        """Draw a PNG or JPEG fitted (aspect kept) and centred in the rectangle (points)."""
        from reportlab.lib.utils import ImageReader

        key = id(data)
        if key not in self._readers:
            self._readers[key] = ImageReader(io.BytesIO(data))
        reader = self._readers[key]
        iw, ih = reader.getSize()
        k = min(w / iw, h / ih)
        dw, dh = iw * k, ih * k
        c.drawImage(reader, x + (w - dw) * 0.5, y + (h - dh) * 0.5, dw, dh, mask="auto")

    def picture(self, c, png: bytes, box, x: float, y: float, w: float, h: float) -> None:
        """A model picture, cropped to ``box``, at most ``PRINT_DPI`` for its size on the page,
        embedded as JPEG (see :func:`_crop_jpeg`)."""
        key = (id(png), box, round(w), round(h))
        if key not in self._jpegs:
            fit = (w * PRINT_DPI / 72.0, h * PRINT_DPI / 72.0)
            self._jpegs[key] = _crop_jpeg(png, box, fit)
        self.image(c, self._jpegs[key], x, y, w, h)

    def draw_callout(self, c, items: list[_Item], flow: _Flow, left: float, top: float) -> None:
        c.setFillColorRGB(*CALLOUT_FILL)
        c.setStrokeColorRGB(0.55, 0.68, 0.8)
        c.setLineWidth(0.8)
        c.roundRect(left, top - flow.h, flow.w, flow.h, 5, stroke=1, fill=1)
        for it, (px, py) in zip(items, flow.places, strict=True):
            x, y = left + px, top - py
            self.image(c, it.png, x, y, it.w, it.h)
            cx = x + it.w * 0.5
            c.setFillColorRGB(*INK)
            c.setFont("Helvetica-Bold", 9)
            c.drawCentredString(cx, y - 9, _text(it.count))
            c.setFillColorRGB(*GREY)
            c.setFont("Helvetica", LABEL_PT)
            c.drawCentredString(cx, y - 16, _text(it.colour))

    def notes(self, c, notes: tuple[str, ...], x: float, y: float, w: float) -> float:
        """The step's problem notes, wrapped to ``w``, upward from ``y``; the y above them."""
        from reportlab.lib.utils import simpleSplit

        font = "Helvetica-Bold"
        lines = [ln for n in notes for ln in simpleSplit(_text("! " + n), font, NOTE_SIZE, w)]
        c.setFillColorRGB(*WARN)
        c.setFont(font, NOTE_SIZE)
        for k, line in enumerate(reversed(lines)):
            c.drawString(x, y + k * (NOTE_SIZE + 1.5), line)
        return y + len(lines) * (NOTE_SIZE + 1.5) + 2

    def turn_badge(self, c, x: float, y: float) -> None:
        """A circular arrow and "turn the model" at (x, y) (top-right corner of the badge)."""
        r = 7.0
        cx, cy = x - 60, y - 10
        c.setStrokeColorRGB(*ACCENT)
        c.setLineWidth(1.6)
        c.arc(cx - r, cy - r, cx + r, cy + r, 30, 280)
        end = math.radians(310)
        ex, ey = cx + r * math.cos(end), cy + r * math.sin(end)
        c.setFillColorRGB(*ACCENT)
        head = c.beginPath()
        head.moveTo(ex + 4.5, ey + 1.5)
        head.lineTo(ex - 1.5, ey + 4.5)
        head.lineTo(ex - 0.5, ey - 3.5)
        head.close()
        c.drawPath(head, stroke=0, fill=1)
        c.setFont("Helvetica-Bold", 8)
        c.drawString(cx + r + 4, cy - 3, "turn the model")

    def footer(self, c, page: int, total: int) -> None:
        c.setFillColorRGB(*GREY)
        c.setFont("Helvetica", 8)
        c.drawString(MARGIN, MARGIN * 0.6, _text(self.b.title)[:80])
        c.setFont("Helvetica-Bold", 9)
        c.drawRightString(self.w - MARGIN, MARGIN * 0.6, f"{page} / {total}")

    # -- pages ------------------------------------------------------------------------------

    def cover(self, c) -> None:
        left, bottom, right, top = self.body
        f = self.b.facts
        c.setFillColorRGB(*INK)
        size = 30
        title = _text(self.b.title) or "voxforge model"
        while size > 14 and c.stringWidth(title, "Helvetica-Bold", size) > right - left:
            size -= 2
        c.setFont("Helvetica-Bold", size)
        c.drawCentredString(self.w * 0.5, top - size, title)
        c.setFont("Helvetica", 11)
        c.setFillColorRGB(*GREY)
        c.drawCentredString(self.w * 0.5, top - size - 18, "Building instructions")
        info_h = 70.0
        self.picture(
            c,
            self.b.cover_png,
            self.b.boxes["cover"],
            left,
            bottom + info_h,
            right - left,
            top - size - 34 - bottom - info_h,
        )
        lines = [
            f"{f['parts']:,} parts ({f['distinct']} kinds)  -  {f['studs'][0]} x {f['studs'][1]} studs, "
            f"{f['plates']} plates high ({f['cm'][0]} x {f['cm'][1]} x {f['cm'][2]} cm)",
            f"{f['steps']} steps"
            + (f" + {f['submodel_steps']} sub-assembly steps" if f["submodel_steps"] else "")
            + f"  -  about {duration_text(f['build_minutes'])} to build",
        ]
        if f.get("verdict"):
            lines.append(_fit(c, f["verdict"], right - left, "Helvetica", 12))
        c.setFillColorRGB(*INK)
        c.setFont("Helvetica", 12)
        for i, line in enumerate(lines):
            c.drawCentredString(self.w * 0.5, bottom + info_h - 24 - 18 * i, _text(line))

    def inventory_grid(self) -> tuple[int, int, float, float]:
        left, bottom, right, top = self.body
        cols = 5
        cell_w = (right - left) / cols
        cell_h = 104.0
        rows = int((top - bottom - 40) // cell_h)
        return cols, rows, cell_w, cell_h

    def inventory(self, c, entries: list[PartEntry], first: bool) -> None:
        left, _, right, top = self.body
        cols, _, cell_w, cell_h = self.inventory_grid()
        c.setFillColorRGB(*INK)
        c.setFont("Helvetica-Bold", 20)
        c.drawString(left, top - 20, "Parts" if first else "Parts (continued)")
        c.setFont("Helvetica", 9)
        c.setFillColorRGB(*GREY)
        total = sum(p.count for p in self.b.inventory)
        c.drawRightString(right, top - 18, f"{total:,} parts, {len(self.b.inventory)} kinds")
        for k, p in enumerate(entries):
            col, row = k % cols, k // cols
            x, y = left + col * cell_w, top - 40 - (row + 1) * cell_h
            c.setStrokeColorRGB(0.85, 0.85, 0.85)
            c.setLineWidth(0.5)
            c.roundRect(x + 3, y + 3, cell_w - 6, cell_h - 6, 4, stroke=1, fill=0)
            it = self.part_item(p, 1.0)
            self.image(c, it.png, x + 8, y + 42, cell_w - 16, cell_h - 50)
            cx = x + cell_w * 0.5
            c.setFillColorRGB(*INK)
            c.setFont("Helvetica-Bold", 11)
            c.drawCentredString(cx, y + 29, f"{p.count}x")
            c.setFont("Helvetica", 7)
            c.drawCentredString(cx, y + 18, _text(_fit(c, p.name, cell_w - 10, "Helvetica", 7)))
            c.setFillColorRGB(*GREY)
            c.drawCentredString(
                cx, y + 9, _text(_fit(c, f"{p.color_name} ({p.color})", cell_w - 10, "Helvetica", 7))
            )

    def cell_rect(self, grid: tuple[int, int], k: int) -> tuple[float, float, float, float]:
        left, bottom, right, top = self.body
        cols, rows = grid
        w = (right - left - GAP * (cols - 1)) / cols
        h = (top - bottom - GAP * (rows - 1)) / rows
        col, row = k % cols, k // cols
        x = left + col * (w + GAP)
        y = top - (row + 1) * h - row * GAP
        return x, y, w, h

    def step_fits(self, step: StepPage, grid: tuple[int, int]) -> bool:
        _, _, w, h = self.cell_rect(grid, 0)
        return self.callout(step, w - 60, h * CALLOUT_SHARE) is not None

    def step(self, c, step: StepPage, rect: tuple[float, float, float, float]) -> None:
        x, y, w, h = rect
        if step.within is not None:  # a framed box with a heading band
            c.setFillColorRGB(*SUB_FILL)
            c.setStrokeColorRGB(*SUB_FILL)
            c.setLineWidth(3)
            c.roundRect(x, y, w, h, 8, stroke=1, fill=0)
            c.roundRect(x, y + h - 20, w, 20, 8, stroke=0, fill=1)
            c.rect(x, y + h - 20, w, 10, stroke=0, fill=1)
            c.setFillColorRGB(*SUB_INK)
            c.setFont("Helvetica-Bold", 9)
            label = f"Sub-assembly {step.within}: step {step.number} of {step.total}"
            c.drawRightString(x + w - 10, y + h - 14, _text(label))
        else:
            c.setStrokeColorRGB(0.88, 0.88, 0.88)
            c.setLineWidth(0.6)
            c.roundRect(x, y, w, h, 8, stroke=1, fill=0)
        c.setFillColorRGB(*INK)
        c.setFont("Helvetica-Bold", 26)
        sub_label = 20.0 if step.within is not None else 0.0
        c.drawString(x + 8, y + h - 32 - sub_label, str(step.number))
        number_w = c.stringWidth(str(step.number), "Helvetica-Bold", 26) + 18
        fitted = self.callout(step, w - number_w - 8, max(h * 0.6, h - 160) - sub_label)
        top = y + h - 8 - sub_label
        call_h = 0.0
        if fitted is not None:
            items, flow = fitted
            self.draw_callout(c, items, flow, x + number_w, top)
            call_h = flow.h
        img_top = min(top - call_h - 4, y + h - 40 - sub_label)
        low = self.notes(c, step.notes, x + 10, y + 6, w - 20) if step.notes else y + 6
        self.image(c, step.picture, x + 6, low, w - 12, img_top - low)
        if step.turned:
            self.turn_badge(c, x + w - 30, img_top - 2)

    def final(self, c) -> None:
        left, bottom, right, top = self.body
        c.setFillColorRGB(*INK)
        c.setFont("Helvetica-Bold", 22)
        c.drawString(left, top - 22, "Finished!")
        c.setFont("Helvetica", 10)
        c.setFillColorRGB(*GREY)
        c.drawRightString(right, top - 20, "front and back")
        avail = top - 40 - bottom
        front_h = avail * 0.62
        self.picture(
            c, self.b.cover_png, self.b.boxes["cover"], left, top - 36 - front_h, right - left, front_h
        )
        back_h = avail - front_h - 10
        self.picture(c, self.b.back_png, self.b.boxes["back"], left, bottom, right - left, back_h)


def _fit(c, text: str, width: float, font: str, size: float) -> str:
    """``text`` cut with an ellipsis to ``width`` points."""
    if c.stringWidth(text, font, size) <= width:
        return text
    while text and c.stringWidth(text + "...", font, size) > width:
        text = text[:-1]
    return text + "..."


def _crop_jpeg(
    png: bytes,
    box: tuple[int, int, int, int] | None,
    fit: tuple[float, float] | None = None,
    quality: int = 88,
) -> bytes:
    """JPEG bytes of ``png`` cropped to ``box`` (x0, y0, x1, y1) pixels (white outside the image),
    scaled down (never up) to fit ``fit`` (width, height) pixels.

    Why JPEG: reportlab embeds JPEG as is, while it re-compresses every other picture's raw
    pixels (about 3x the time for a 1024 px step); at quality 90 without chroma subsampling the
    flat colours and dark outlines of step pictures stay clean in print.
    """
    from PIL import Image

    im = Image.open(io.BytesIO(png)).convert("RGB")
    if box is not None and tuple(box) != (0, 0, im.width, im.height):
        x0, y0, x1, y1 = box
        canvas = Image.new("RGB", (max(1, x1 - x0), max(1, y1 - y0)), (255, 255, 255))
        canvas.paste(im, (-x0, -y0))
        im = canvas
    if fit is not None:
        k = min(fit[0] / im.width, fit[1] / im.height)
        if k < 1.0:
            size = (max(1, round(im.width * k)), max(1, round(im.height * k)))
            im = im.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality, subsampling=0, optimize=False)
    return buf.getvalue()


def plan_pages(booklet: Booklet, config: InstructionsConfig) -> list[tuple[str, object]]:
    """The page sequence: ``("cover", None)``, ``("inventory", entries)``, ``("steps", (grid,
    steps))``, ``("final", None)``. A page holds up to ``config.steps_per_page`` steps, fewer
    when a step's callout needs a bigger cell."""
    pages = _Pages(booklet, config)
    out: list[tuple[str, object]] = [("cover", None)]
    cols, rows, _, _ = pages.inventory_grid()
    per = cols * rows
    inv = booklet.inventory
    out += [("inventory", inv[i : i + per]) for i in range(0, len(inv), per)]
    options = [k for k in sorted(GRIDS, reverse=True) if k <= config.steps_per_page]
    steps, i = booklet.steps, 0
    while i < len(steps):
        for k in options:
            take = steps[i : i + k]
            if k == 1 or all(pages.step_fits(s, GRIDS[k]) for s in take):
                out.append(("steps", (GRIDS[k], take)))
                i += len(take)
                break
    out.append(("final", None))
    return out


def write_pdf(
    booklet: Booklet,
    path: str | Path,
    config: InstructionsConfig | None = None,
    progress: ProgressCallback | None = None,
) -> int:
    """Write the booklet as a PDF (atomically); returns the page count."""
    from reportlab import rl_config
    from reportlab.pdfgen import canvas

    config = config or InstructionsConfig()
    pages = _Pages(booklet, config)
    plan = plan_pages(booklet, config)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(pages.w, pages.h), pageCompression=1, invariant=1)
    c.setTitle(_text(booklet.title))
    c.setAuthor("voxforge")
    c.setSubject("Building instructions")
    draw: dict[str, Callable] = {
        "cover": lambda arg: pages.cover(c),
        "inventory": lambda arg: pages.inventory(c, arg, arg is plan[1][1]),
        "final": lambda arg: pages.final(c),
        "steps": lambda arg: [
            pages.step(c, s, pages.cell_rect(arg[0], k)) for k, s in enumerate(arg[1])
        ],
    }
    # pictures go in as binary streams: ASCII85 (reportlab's default) adds a quarter to them
    a85, rl_config.useA85 = rl_config.useA85, 0
    try:
        for n, (kind, arg) in enumerate(plan, start=1):
            draw[kind](arg)
            pages.footer(c, n, len(plan))
            c.showPage()
            if progress is not None:
                progress("pdf", n / len(plan))
        c.save()
    finally:
        rl_config.useA85 = a85
    atomic_write_bytes(path, buf.getvalue())
    return len(plan)
