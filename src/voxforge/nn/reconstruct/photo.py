"""Photos and sketches in, model-ready 128 x 128 images out.

The reconstruction models were trained on renders: one object, centred, filling a fixed share of
the frame, on a plain light background (:mod:`voxforge.nn.reconstruct.renderset`). A user's photo
has clutter,
the object anywhere, any size and orientation; a user's sketch has paper texture, uneven lighting
and pencil lines of any width. :func:`prepare_image` closes that gap:

1. read (content sniffed, never trusted by extension; a pixel cap checked on the header before
   decoding; EXIF orientation applied; 16-bit, greyscale, palette and alpha images normalised);
2. cut the object out: the alpha channel when the image has one, a colour-distance threshold when
   the background is plain (renders, product shots), else OpenCV GrabCut initialised from a
   saliency guess: colours rare on the image border, or unlike the border at the same height
   (a room's wall and floor change colour with height, not across), are probably object;
3. crop to the object's box, centre it, scale it to the render set's framing and composite it on
   the render set's background.

Sketches take a separate path: dark strokes are found against the paper's own local brightness
(so shadows and uneven lighting do not become lines), specks are dropped, and the drawing is
framed like the render set's sketches, dark lines on white.

Everything that cannot give a usable object raises a one-line :mod:`voxforge.core.errors` error
that names the input: not an image, unreadable or truncated, too large, animated, blank, or no
object found (instead of returning noise for the model to hallucinate from).
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from voxforge.core.errors import (
    GeometryError,
    InputFormatError,
    SizeLimitError,
    UnsupportedInputError,
)

log = logging.getLogger(__name__)

ImageSource = np.ndarray | Path | str | bytes

MAX_PIXELS = 100_000_000
"""Largest image accepted (width x height, read from the header before decoding): 100 MP covers
phone cameras; larger files are refused instead of exhausting memory."""

WORK_SIDE = 768
"""Longest side (pixels) the cut-out works at; the output is 128 px, so more detail is wasted."""

GRABCUT_SIDE = 256
"""Longest side GrabCut runs at (its cost grows with the pixel count times iterations)."""

GRABCUT_OPEN_HOLES = 0.01
"""Holes in a GrabCut cut-out larger than this share of the object stay open: GrabCut judged
them background by colour (floor between legs), unlike a plain-background threshold's specks."""

FILL = 0.84
"""Share of the output side the object's longer bounding-box side spans: the render set frames
the object tightly less a margin of 8% per side (``RenderSetConfig.margin``), so 1 - 2 x 0.08."""

BACKGROUND = (255, 255, 255)
"""The plain background cut-outs are composited on, sRGB uint8: the render set's most common
background (plain white, 0.96..1.0) and the evaluation contract of the reconstruction models."""

MIN_OBJECT_SHARE = 0.01
"""A GrabCut cut-out covering less than this share of the image is no object (noise, a speck);
exact cut-outs (alpha, plain background) need only a fifth of it: a thin object seen edge-on."""

MAX_OBJECT_SHARE = 0.9
"""A cut-out covering more than this share means the object could not be told from its
background (or fills the frame with no background left to tell it from)."""

Method = Literal["alpha", "plain", "grabcut", "sketch"]

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"WEBP", 8, "WEBP"),
)
_UNSUPPORTED_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"ftypheic", 4, "HEIC"),
    (b"ftypheix", 4, "HEIC"),
    (b"ftypmif1", 4, "HEIF"),
    (b"ftypavif", 4, "AVIF"),
    (b"%PDF", 0, "PDF"),
    (b"<svg", 0, "SVG"),
    (b"<?xml", 0, "XML/SVG"),
)


@dataclass
class PreparedImage:
    """One input made ready for :meth:`voxforge.nn.reconstruct.inference.Reconstructor.predict`.

    Attributes:
        image: (S, S, 3) uint8 sRGB: the object centred on the plain light background, or for a
            sketch the strokes dark on white (all three channels equal).
        mask: (S, S) bool, the object's silhouette in ``image`` (for a sketch: the region the
            strokes enclose).
        bbox: (x0, y0, x1, y1) int, the object's box in the source image's pixels (after EXIF
            rotation), half-open.
        method: how the object was found: ``alpha`` (transparency), ``plain`` (plain background),
            ``grabcut`` (cluttered photo) or ``sketch``.
        source_size: (width, height) of the source image in pixels.
    """

    image: np.ndarray
    mask: np.ndarray
    bbox: tuple[int, int, int, int]
    method: Method
    source_size: tuple[int, int]


def prepare_image(
    image: ImageSource,
    sketch: bool = False,
    size: int = 128,
    *,
    max_pixels: int = MAX_PIXELS,
    name: str | None = None,
) -> PreparedImage:
    """Cut the object out of a photo (or the drawing out of a sketch) and frame it like the renders.

    Args:
        image: a file path, encoded file bytes, or an (H, W), (H, W, 3) or (H, W, 4) array (uint8,
            uint16 or floats in [0, 1]; RGB channel order).
        sketch: treat the input as a line drawing.
        size: output side in pixels.
        max_pixels: refuse images with more pixels than this (checked before decoding).
        name: how error messages name the input (default: the path, or ``image``).

    Raises:
        InputFormatError: missing, empty, truncated or corrupt file.
        UnsupportedInputError: not an image (content sniffed), or an animated/multi-page image.
        SizeLimitError: more than ``max_pixels`` pixels.
        GeometryError: a blank image, or no object (or no strokes) found in it.
    """
    label = name or (str(image) if isinstance(image, str | Path) else "image")
    rgb, alpha, source_size = read_image(image, max_pixels=max_pixels, name=label)
    rgb, alpha, factor = _work_size(rgb, alpha)
    _check_not_blank(rgb, label)
    if sketch:
        strokes = find_strokes(rgb, label)
        out, mask, box = frame_sketch(strokes, size)
        method: Method = "sketch"
    else:
        obj, method = cut_out(rgb, alpha, name=label)
        out, mask, box = frame_object(rgb, obj, size)
    w, h = source_size
    x0, y0, x1, y1 = (round(v * factor) for v in box)
    bbox = (min(x0, w), min(y0, h), min(x1, w), min(y1, h))
    return PreparedImage(image=out, mask=mask, bbox=bbox, method=method, source_size=source_size)


# --------------------------------------------------------------------------------------- reading


def read_image(
    source: ImageSource, *, max_pixels: int = MAX_PIXELS, name: str = "image"
) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    """Decode any supported image into (H, W, 3) uint8 sRGB and an optional (H, W) uint8 alpha.

    Files are reduced while decoding where the format allows (JPEG DCT scaling) so a 50 MP photo
    does not cost 150 MB. The alpha is ``None`` when the image has none or it is fully opaque.

    Returns:
        rgb, alpha, (width, height) of the full-size image.
    """
    if isinstance(source, np.ndarray):
        rgb, alpha = _from_array(source, name)
        h, w = rgb.shape[:2]
        if h * w > max_pixels:
            raise SizeLimitError(f"{name}: {w} x {h} pixels is over the {max_pixels:,}-pixel cap")
        return rgb, alpha, (w, h)
    data = _read_bytes(source, name)
    _sniff(data, name)
    return _decode(data, name, max_pixels)


def _read_bytes(source: Path | str | bytes, name: str) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        if path.is_dir():
            raise InputFormatError(f"{name}: is a folder, expected an image file")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputFormatError(f"{name}: no such file") from None
        except OSError as err:
            raise InputFormatError(f"{name}: cannot read ({err.strerror})") from None
    if not data:
        raise InputFormatError(f"{name}: empty file, expected an image")
    return data


def _sniff(data: bytes, name: str) -> str:
    """The image format named by the file's first bytes; refuse anything else with what it is."""
    for magic, offset, fmt in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if fmt == "WEBP" and data[:4] != b"RIFF":
                continue
            return fmt
    head = data[:64]
    for magic, offset, fmt in _UNSUPPORTED_MAGIC:
        if head[offset : offset + len(magic)] == magic or (fmt.endswith("SVG") and magic in head):
            raise UnsupportedInputError(
                f"{name}: is a {fmt} file; give a PNG, JPEG, WEBP, BMP, TIFF or GIF image"
            )
    what = "text" if _looks_like_text(head) else f"unknown content starting {head[:8]!r}"
    raise UnsupportedInputError(
        f"{name}: not an image ({what}); expected PNG, JPEG, WEBP, BMP, TIFF or GIF"
    )


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def _decode(
    data: bytes, name: str, max_pixels: int
) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w * h > max_pixels:
                raise SizeLimitError(
                    f"{name}: {w} x {h} pixels is over the {max_pixels:,}-pixel cap; "
                    "scale the photo down first"
                )
            _refuse_animation(im, name)
            if im.format == "JPEG" and max(w, h) > 2 * WORK_SIDE:
                im.draft("RGB", (WORK_SIDE, WORK_SIDE))  # decode at 1/2..1/8 scale directly
            im.load()
            quarter_turn = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF orientation
            im = ImageOps.exif_transpose(im)
    except Image.DecompressionBombError:
        raise SizeLimitError(
            f"{name}: image header declares too many pixels (decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        raise InputFormatError(f"{name}: corrupt image (the decoder does not recognise it)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise InputFormatError(f"{name}: truncated or corrupt image ({err})") from None
    rgb, alpha = _from_pil(im)
    return rgb, alpha, ((h, w) if quarter_turn else (w, h))


def _refuse_animation(im: object, name: str) -> None:
    frames = int(getattr(im, "n_frames", 1))
    fmt = getattr(im, "format", "")
    # phone JPEGs (MPO) carry a second frame (depth, preview): their first frame is the photo
    if frames > 1 and fmt != "MPO":
        kind = "multi-page" if fmt == "TIFF" else "animated"
        raise UnsupportedInputError(
            f"{name}: {kind} {fmt} with {frames} frames; give a single still image"
        )


def _from_pil(im: object) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, 3) uint8 RGB and an optional alpha from any Pillow mode (16-bit, float, palette...)."""
    mode = im.mode  # type: ignore[attr-defined]
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _from_array(np.asarray(im), "image")
    if im.has_transparency_data:  # type: ignore[attr-defined]  # RGBA, LA, PA, tRNS palettes
        arr = np.asarray(im.convert("RGBA"))  # type: ignore[attr-defined]
        return _opaque(arr[..., :3].copy(), arr[..., 3].copy())
    return np.ascontiguousarray(np.asarray(im.convert("RGB"))), None  # type: ignore[attr-defined]


def _from_array(arr: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or min(a.shape[:2]) < 1:
        raise InputFormatError(
            f"{name}: expected an (H, W), (H, W, 3) or (H, W, 4) image, got {a.shape}"
        )
    a8 = _to_uint8(a, name)
    if a8.ndim == 2:
        return np.repeat(a8[..., None], 3, axis=2), None
    if a8.shape[2] == 4:
        return _opaque(np.ascontiguousarray(a8[..., :3]), np.ascontiguousarray(a8[..., 3]))
    return np.ascontiguousarray(a8), None


def _to_uint8(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise InputFormatError(f"{name}: image has NaN or infinite values")
        hi = float(a.max()) if a.size else 1.0
        scale = 255.0 if hi <= 1.0 else 255.0 / hi
        return np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)
    if a.dtype.kind in "ui":
        hi = int(a.max()) if a.size else 0
        if hi <= 255 and a.dtype.itemsize == 1:
            return a.astype(np.uint8)
        # 16-bit (and 32-bit 'I' from 16-bit PNGs): full range is 65535 unless the data is 8-bit
        top = 65535 if hi > 255 else 255
        return np.clip(np.rint(a.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)
    raise InputFormatError(f"{name}: unsupported pixel type {a.dtype}")


def _opaque(rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Drop an alpha channel that hides nothing (fully opaque images are plain photos)."""
    return (rgb, None) if int(alpha.min()) >= 250 else (rgb, alpha)


def _work_size(rgb: np.ndarray, alpha: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Reduce to at most :data:`WORK_SIDE` pixels; returns the factor back to source pixels."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    if side <= WORK_SIDE:
        return rgb, alpha, 1.0
    f = WORK_SIDE / side
    dsize = (max(1, round(w * f)), max(1, round(h * f)))
    small = cv2.resize(rgb, dsize, interpolation=cv2.INTER_AREA)
    a = None if alpha is None else cv2.resize(alpha, dsize, interpolation=cv2.INTER_AREA)
    return small, a, side / WORK_SIDE


def _check_not_blank(rgb: np.ndarray, name: str) -> None:
    lo, hi = np.percentile(rgb.reshape(-1, 3), [1, 99], axis=0)
    if float((hi - lo).max()) < 10.0:
        colour = ", ".join(str(int(v)) for v in np.median(rgb.reshape(-1, 3), axis=0))
        raise GeometryError(
            f"{name}: the image is blank (a single colour, rgb {colour}); no object in it"
        )


# --------------------------------------------------------------------------------------- cut-out


def cut_out(
    rgb: np.ndarray, alpha: np.ndarray | None = None, *, name: str = "image", seed: int = 0
) -> tuple[np.ndarray, Method]:
    """The object's mask: (H, W) bool, and which method found it.

    Transparency wins when present; a plain background is thresholded by colour distance (fast
    and exact for renders); anything else goes to GrabCut. The mask is checked: it must cover
    between 1% and 90% of the image and differ in colour from its surroundings, else there is no
    object to reconstruct and :class:`GeometryError` says so.
    """
    if alpha is not None:
        mask, method = alpha >= 128, "alpha"
    else:
        bg = plain_background(rgb)
        if bg is not None:
            mask, method = _plain_mask(rgb, bg), "plain"
        else:
            mask, method = _grabcut_mask(rgb, name, seed), "grabcut"
    mask = _pick_object(mask)
    _check_mask(rgb, mask, name, method)
    return mask, method  # type: ignore[return-value]


def _ring(h: int, w: int, frac: float = 0.03) -> np.ndarray:
    """(H, W) bool: the image border, ``frac`` of the shorter side wide (at least 2 px)."""
    r = max(2, round(min(h, w) * frac))
    ring = np.ones((h, w), dtype=bool)
    ring[r:-r, r:-r] = False
    return ring


def plain_background(
    rgb: np.ndarray, tol: float = 18.0, share: float = 0.75, side_share: float = 0.5
) -> np.ndarray | None:
    """The background colour ((3,) float) if the image border is one plain colour, else ``None``.

    Plain means ``share`` of the border pixels, and ``side_share`` of each of the four sides, lie
    within ``tol`` (max channel difference, 0..255) of the border's median colour: renders and
    product shots pass even when the object touches an edge; a room (wall above, floor below)
    does not.
    """
    h, w = rgb.shape[:2]
    r = max(2, round(min(h, w) * 0.03))
    bg = np.median(rgb[_ring(h, w)].astype(np.float32), axis=0)
    close = np.abs(rgb.astype(np.float32) - bg).max(axis=2) <= tol
    sides = (close[:r].mean(), close[-r:].mean(), close[:, :r].mean(), close[:, -r:].mean())
    ok = float(close[_ring(h, w)].mean()) >= share and min(sides) >= side_share
    return bg if ok else None


def _plain_mask(rgb: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Pixels that differ from the background colour, speckle removed and holes filled."""
    diff = np.abs(rgb.astype(np.float32) - bg).max(axis=2)
    border = diff[_ring(*rgb.shape[:2])]
    noise = border[border <= 18.0]  # the background's own spread (the object may touch the ring)
    tol = max(14.0, float(np.percentile(noise, 99)) + 6.0)
    mask = (diff > tol).astype(np.uint8)
    k = _disk(1 + min(rgb.shape[:2]) // 256)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, k)
    return fill_holes(mask > 0)


def _grabcut_mask(rgb: np.ndarray, name: str, seed: int) -> np.ndarray:
    """GrabCut at :data:`GRABCUT_SIDE`, initialised from a border-colour saliency guess.

    Two passes: the first separates everything salient from the background; the object is then
    picked among its components (:func:`_pick_object`) and a second pass, with the other
    components marked probable background, refines its outline without their colours.
    """
    h, w = rgb.shape[:2]
    f = min(1.0, GRABCUT_SIDE / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    guess = saliency_guess(small) | row_contrast_guess(small)
    if guess.sum() < MIN_OBJECT_SHARE * sh * sw:
        raise GeometryError(
            f"{name}: no object found (nothing stands out from the background); "
            "photograph the object against a plainer background"
        )
    bgr = np.ascontiguousarray(small[..., ::-1])
    ring = _ring(sh, sw, 0.01)
    gc = np.where(guess, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    gc[ring] = cv2.GC_BGD
    fg = _run_grabcut(bgr, gc, seed)
    obj = _pick_object(fg)
    if obj.any():
        gc = np.where(fg & ~obj, cv2.GC_BGD, cv2.GC_PR_BGD).astype(np.uint8)
        gc[cv2.dilate(obj.astype(np.uint8), _disk(max(1, min(sh, sw) // 50))) > 0] = cv2.GC_PR_BGD
        gc[obj] = cv2.GC_PR_FGD
        gc[cv2.erode(obj.astype(np.uint8), _disk(max(1, min(sh, sw) // 50))) > 0] = cv2.GC_FGD
        gc[ring] = cv2.GC_BGD
        obj = _pick_object(_run_grabcut(bgr, gc, seed))
    full = cv2.resize(obj.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    return fill_holes(full, keep_share=GRABCUT_OPEN_HOLES)


def _run_grabcut(bgr: np.ndarray, gc: np.ndarray, seed: int, iterations: int = 4) -> np.ndarray:
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(seed)  # GrabCut's GMM initialisation draws from OpenCV's RNG
    cv2.grabCut(bgr, gc, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    fg = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    k = _disk(max(1, min(bgr.shape[:2]) // 100))
    return cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, k) > 0


def saliency_guess(rgb: np.ndarray, bins: int = 16) -> np.ndarray:
    """(H, W) bool: pixels whose colour is rare on the image border (probably the object).

    The border's colour histogram (``bins`` per channel of CIELAB) is back-projected onto the
    image: a pixel whose colour bin holds less than a small share of the border pixels is salient.
    Smoothing and an opening drop isolated pixels, so texture and noise do not count.
    """
    lab = cv2.cvtColor(np.ascontiguousarray(rgb[..., ::-1]), cv2.COLOR_BGR2LAB)
    q = (lab.astype(np.int32) * bins) // 256
    code = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    ring = _ring(*rgb.shape[:2])
    hist = np.bincount(code[ring], minlength=bins**3).astype(np.float32)
    # spread each bin to its neighbours: JPEG and lighting shift colours by a bin
    hist = _blur_hist(hist.reshape(bins, bins, bins)).ravel()
    density = hist[code] / max(float(hist.max()), 1.0)
    rare = cv2.GaussianBlur(
        (density < 0.02).astype(np.float32), (0, 0), max(1.0, min(rgb.shape[:2]) / 80)
    )
    guess = (rare > 0.6).astype(np.uint8)
    guess = cv2.morphologyEx(guess, cv2.MORPH_OPEN, _disk(max(1, min(rgb.shape[:2]) // 60)))
    return guess > 0


def row_contrast_guess(rgb: np.ndarray, band: float = 0.05, strip: float = 0.04) -> np.ndarray:
    """(H, W) bool: pixels unlike the image's left and right borders at about the same height.

    A room seen in a photo changes with height (wall, skirting, floor; light falling off), much
    less across, so the border strips at a pixel's own rows are its best background sample. A
    pixel whose CIELAB colour lies farther from every such sample than the background's own
    spread is probably object. This finds objects whose colours do occur on the border, only at
    other heights (a brown chair in a room with a brown wall), where :func:`saliency_guess`
    sees nothing rare.

    Args:
        rgb: (H, W, 3) uint8.
        band: height of a row band, a share of the image height; samples come from the band and
            one band above and below.
        strip: width of each border strip, a share of the image width.
    """
    h, w = rgb.shape[:2]
    lab = cv2.cvtColor(np.ascontiguousarray(rgb[..., ::-1]), cv2.COLOR_BGR2LAB).astype(np.float32)
    lab = cv2.GaussianBlur(lab, (0, 0), max(1.0, min(h, w) / 160))
    s = max(2, round(w * strip))
    sides = np.concatenate([lab[:, :s], lab[:, -s:]], axis=1)
    r = max(2, round(h * band))
    dist = np.empty((h, w), dtype=np.float32)
    for y0 in range(0, h, r):
        samples = sides[max(0, y0 - r) : min(h, y0 + 2 * r)].reshape(-1, 3)[::3]
        px = lab[y0 : y0 + r].reshape(-1, 3)
        # |p - q|^2 = |p|^2 + |q|^2 - 2 p.q: one matrix product instead of a (pixels, samples,
        # 3) difference array
        d2 = (px * px).sum(1)[:, None] + (samples * samples).sum(1)[None, :] - 2.0 * px @ samples.T
        d2 = np.maximum(d2.min(axis=1), 0.0)
        dist[y0 : y0 + r] = np.sqrt(d2).reshape(-1, w)
    spread = float(np.percentile(dist[:, :s], 95))  # how far the border is from itself
    guess = (dist > max(12.0, 2.5 * spread)).astype(np.uint8)
    guess = cv2.morphologyEx(guess, cv2.MORPH_OPEN, _disk(max(1, min(h, w) // 60)))
    return guess > 0


def _blur_hist(h: np.ndarray) -> np.ndarray:
    out = h.copy()
    for axis in range(3):
        out = out + np.roll(out, 1, axis) * 0.5 + np.roll(out, -1, axis) * 0.5
    return out


def _pick_object(mask: np.ndarray) -> np.ndarray:
    """The component most likely to be the photographed object, with the parts it lost.

    Score: area times a mild centre prior (people frame what they photograph, not always in the
    middle); then any other component at least 10% of its size whose box lies within the chosen
    one's box grown by a quarter is kept too (chair legs and handles the cut separated).
    """
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(mask.shape, dtype=bool)
    h, w = mask.shape
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    off = (centroids[1:] - [w / 2.0, h / 2.0]) / [w, h]
    score = areas * np.exp(-(off**2).sum(axis=1) / (2 * 0.3**2))
    best = int(np.argmax(score)) + 1
    x, y, bw, bh = (int(v) for v in stats[best, :4])
    lo_x, hi_x = x - bw // 4, x + bw + bw // 4
    lo_y, hi_y = y - bh // 4, y + bh + bh // 4
    cx, cy, cw, ch = (stats[1:, i] for i in range(4))
    inside = (cx >= lo_x) & (cx + cw <= hi_x) & (cy >= lo_y) & (cy + ch <= hi_y)
    keep = np.zeros(n, dtype=bool)
    keep[1:] = inside & (areas >= 0.1 * areas[best - 1])
    keep[best] = True
    return keep[labels]


def _check_mask(rgb: np.ndarray, mask: np.ndarray, name: str, method: str) -> None:
    share = float(mask.mean())
    if share < (MIN_OBJECT_SHARE if method == "grabcut" else MIN_OBJECT_SHARE / 5):
        raise GeometryError(
            f"{name}: no object found (the cut-out covers {share:.1%} of the image); "
            "give a photo where the object is clearly visible"
        )
    if share > MAX_OBJECT_SHARE:
        raise GeometryError(
            f"{name}: no object found apart from its background (the cut-out covers {share:.0%}); "
            "give a photo with some background around the object"
        )
    if method == "grabcut" and _colour_overlap(rgb, mask) > 0.75:
        raise GeometryError(
            f"{name}: no object found (the cut-out looks like its surroundings: texture or noise); "
            "photograph the object against a plainer background"
        )


def _colour_overlap(rgb: np.ndarray, mask: np.ndarray, bins: int = 8) -> float:
    """Histogram intersection (0..1) of the object's colours and those in a band around it.

    A real object differs from what surrounds it; a cut-out of texture or noise does not.
    """
    m8 = mask.astype(np.uint8)
    band = cv2.dilate(m8, _disk(max(3, min(mask.shape) // 20))) > 0
    band &= ~mask
    if not band.any():
        return 0.0
    q = (rgb.astype(np.int32) * bins) // 256
    code = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    a = np.bincount(code[mask], minlength=bins**3) / max(int(mask.sum()), 1)
    b = np.bincount(code[band], minlength=bins**3) / max(int(band.sum()), 1)
    return float(np.minimum(a, b).sum())


def fill_holes(mask: np.ndarray, keep_share: float | None = None) -> np.ndarray:
    """(H, W) bool with the regions the mask encloses filled (flood fill of the outside).

    ``keep_share``: holes larger than this share of the filled object's area stay open (the
    floor seen between a chair's legs and rungs is background, a speck inside the seat is not).
    """
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = mask
    cv2.floodFill(padded, np.zeros((h + 4, w + 4), dtype=np.uint8), (0, 0), 2)
    filled = padded[1:-1, 1:-1] != 2
    if keep_share is None:
        return filled
    holes = (filled & ~mask).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    big = np.zeros(n, dtype=bool)
    big[1:] = stats[1:, cv2.CC_STAT_AREA] > keep_share * float(filled.sum())
    return filled & ~big[labels]


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


# --------------------------------------------------------------------------------------- framing


def object_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) half-open bounding box of a non-empty (H, W) bool mask."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _square_crop(box: tuple[int, int, int, int], fill: float) -> tuple[float, float, float]:
    """Centre (cx, cy) and side of the square window that makes the box's long side ``fill``."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) / fill
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, side


def _warp(src: np.ndarray, cx: float, cy: float, side: float, size: int, border: object) -> np.ndarray:
    """Resample the square window (centre, side in source pixels) to ``size`` x ``size``.

    An affine warp handles windows reaching past the image edge (filled with ``border``); area
    averaging first when shrinking a lot keeps thin lines and edges from aliasing.
    """
    s = size / side
    k = int(1.0 / s) if s < 0.5 else 1
    if k > 1:
        h, w = src.shape[:2]
        src = cv2.resize(src, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
        cx, cy, s = cx * (src.shape[1] / w), cy * (src.shape[0] / h), s * (w / src.shape[1])
    m = np.array([[s, 0.0, size / 2.0 - s * cx], [0.0, s, size / 2.0 - s * cy]], dtype=np.float64)
    return cv2.warpAffine(
        src, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border
    )


def frame_object(
    rgb: np.ndarray, mask: np.ndarray, size: int = 128, *, fill: float = FILL
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """Composite the masked object on :data:`BACKGROUND`, centred, its long side ``fill`` of ``size``.

    Returns:
        (size, size, 3) uint8 image, (size, size) bool mask, the object's box in ``rgb`` pixels.
    """
    box = object_box(mask)
    cx, cy, side = _square_crop(box, fill)
    # soften the cut by half a pixel so the composite has no jagged halo
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)
    bg = np.array(BACKGROUND, dtype=np.float32)
    comp = rgb.astype(np.float32) * soft[..., None] + bg * (1.0 - soft[..., None])
    img = _warp(comp, cx, cy, side, size, tuple(float(v) for v in bg))
    alpha = _warp(mask.astype(np.float32), cx, cy, side, size, 0.0)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), alpha >= 0.5, box


# --------------------------------------------------------------------------------------- sketches


def find_strokes(rgb: np.ndarray, name: str = "image") -> np.ndarray:
    """(H, W) bool: the dark strokes of a drawing, found against the paper's local brightness.

    The paper is estimated by a morphological closing wide enough to erase strokes (so uneven
    lighting and shadows divide out); a pixel is ink when it is clearly darker than its paper.
    Light-on-dark drawings (chalk, white pen) are inverted first. Specks smaller than a short
    stroke are dropped.
    """
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if float(np.median(grey[_ring(*grey.shape)])) < 110:
        grey = 255 - grey
    k = _disk(max(3, min(grey.shape) // 40))
    paper = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, k).astype(np.float32)
    ratio = grey.astype(np.float32) / np.maximum(paper, 1.0)
    ink = ratio < 0.8
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    min_area = max(4, (min(grey.shape) // 100) ** 2)
    keep = np.zeros(n, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    ink = keep[labels]
    share = float(ink.mean())
    if share < 0.0005:
        raise GeometryError(f"{name}: no strokes found in the sketch (the page looks empty)")
    if share > 0.5:
        raise GeometryError(
            f"{name}: no line drawing found ({share:.0%} of the page is dark); "
            "give dark lines on light paper"
        )
    return ink


def stroke_width(strokes: np.ndarray) -> float:
    """Typical stroke width in pixels, from the distance-to-paper along the strokes' ridge.

    A ridge pixel of a ``w``-wide stroke lies about ``(w + 1) / 2`` pixel steps from the paper,
    so the width is ``2 d - 1`` for the median ridge distance ``d`` (at least 1).
    """
    dist = cv2.distanceTransform(strokes.astype(np.uint8), cv2.DIST_L2, 3)
    ridge = (dist > 0) & (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8)) - 1e-6)
    return max(1.0, 2.0 * float(np.median(dist[ridge])) - 1.0) if ridge.any() else 1.0


SKETCH_LINE_PX = (1.2, 2.6)
"""Stroke width range (pixels at the output size) sketches are normalised into: the render set's
pens are 1.0-2.6 px (``SketchConfig.line_width``); a photo of a pencil drawing shrunk to 128 px
would otherwise lose its lines, and a marker drawing would become blobs."""


def frame_sketch(
    strokes: np.ndarray,
    size: int = 128,
    *,
    fill: float = FILL,
    line_px: tuple[float, float] = SKETCH_LINE_PX,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """Frame the strokes like the render set's sketches: dark lines on white, centred.

    Stroke width is brought into ``line_px`` at the output size by dilating or eroding the
    strokes at the working resolution.

    Returns:
        (size, size, 3) uint8 (grey: all channels equal), (size, size) bool region the strokes
        enclose, the strokes' box in source pixels.
    """
    box = object_box(strokes)
    cx, cy, side = _square_crop(box, fill)
    scale = size / side
    width = stroke_width(strokes)
    ink = strokes.astype(np.uint8)
    lo, hi = line_px[0] / scale, line_px[1] / scale  # wanted width range, source pixels
    if width < lo:
        ink = cv2.dilate(ink, _disk(int(np.ceil((lo - width) / 2.0))))
    elif width > hi and int((width - hi) / 2.0) >= 1:
        thinned = cv2.erode(ink, _disk(int((width - hi) / 2.0)))
        ink = thinned if thinned.any() else ink
    cover = _warp(ink.astype(np.float32), cx, cy, side, size, 0.0)
    grey = np.clip(np.rint(255.0 * (1.0 - np.clip(cover * 1.5, 0.0, 1.0))), 0, 255).astype(np.uint8)
    closed = cv2.morphologyEx(
        (cover > 0.25).astype(np.uint8), cv2.MORPH_CLOSE, _disk(max(1, size // 64))
    )
    return np.repeat(grey[..., None], 3, axis=2), fill_holes(closed > 0), box


# --------------------------------------------------------------------------------------- stand-ins


def synthetic_photo(
    rgba: np.ndarray,
    rng: np.random.Generator,
    size: tuple[int, int] = (640, 480),
    *,
    object_share: tuple[float, float] = (0.4, 0.7),
    clutter: int = 3,
    noise: float = 5.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A stand-in photo of an object (tests and benchmarks of the cut-out; no photos ship).

    The object render is placed off-centre on the floor of a synthetic room: a wall lit from one
    side above a wood-grain floor, a few smaller things about (kept clear of the object), sensor
    noise. Save it as JPEG to add compression artefacts.

    Args:
        rgba: (s, s, 4) uint8 render of the object with a coverage alpha (``render_mesh`` with
            ``background=None``).
        rng: draws the room, its colours, the placement and the noise.
        size: (width, height) of the photo, pixels.
        object_share: range of the object's square render side, as a share of the height.
        clutter: number of other things in the room.
        noise: sensor noise standard deviation, 0..255 units.

    Returns:
        (H, W, 3) uint8 photo, (H, W) bool true object mask.
    """
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    horizon = rng.uniform(0.3, 0.5) * h
    light = 1.0 - 0.25 * np.hypot(xx - rng.uniform(0, w), yy) / max(h, w)
    wall, floor = rng.uniform(120, 230, 3), rng.uniform(60, 200, 3)
    room = np.where((yy < horizon)[..., None], wall, floor) * light[..., None]
    grain = np.sin(xx / rng.uniform(5, 15) + 3 * np.sin(yy / 40)) * 10
    room += np.where(yy >= horizon, grain, 0)[..., None]
    side = int(rng.uniform(*object_share) * h)
    obj = cv2.resize(rgba, (side, side), interpolation=cv2.INTER_AREA)
    x0 = int(rng.integers(5, w - side - 5))
    y0 = int(rng.integers(max(5, h - side - 5 - h // 5), h - side - 4))
    for _ in range(clutter):
        r = int(rng.integers(h // 20, h // 10))
        for _try in range(20):  # keep clear of the object: clutter in front would hide it
            cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, h - r))
            if not (x0 - r < cx < x0 + side + r and y0 - r < cy < y0 + side + r):
                colour = tuple(float(v) for v in rng.uniform(30, 230, 3))
                if rng.random() < 0.5:
                    cv2.circle(room, (cx, cy), r, colour, -1)
                else:
                    cv2.rectangle(room, (cx - r, cy - r), (cx + r, cy + r // 2), colour, -1)
                break
    a = obj[..., 3:].astype(np.float32) / 255.0
    patch = room[y0 : y0 + side, x0 : x0 + side]
    room[y0 : y0 + side, x0 : x0 + side] = patch * (1.0 - a) + obj[..., :3] * a
    room += rng.normal(0.0, noise, room.shape)
    truth = np.zeros((h, w), dtype=bool)
    truth[y0 : y0 + side, x0 : x0 + side] = obj[..., 3] >= 128
    return np.clip(np.rint(room), 0, 255).astype(np.uint8), truth
