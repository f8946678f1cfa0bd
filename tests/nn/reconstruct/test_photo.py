"""voxforge.nn.reconstruct.photo: reading, cut-out, framing, sketches and the bad-input corpus."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from voxforge.core.errors import (
    GeometryError,
    InputFormatError,
    SizeLimitError,
    UnsupportedInputError,
)
from voxforge.nn.reconstruct import photo
from voxforge.nn.reconstruct.photo import prepare_image


def chair_voxels() -> np.ndarray:
    """(30, 30, 30) uint8 chair: seat, back and four legs (z up)."""
    v = np.zeros((30, 30, 30), np.uint8)
    v[7:23, 7:23, 12:15] = 1  # seat
    v[7:10, 7:23, 15:27] = 1  # back
    for x, y in ((7, 7), (7, 20), (20, 7), (20, 20)):
        v[x : x + 3, y : y + 3, 3:12] = 1
    return v


def render_rgba(size: int, rgb: tuple[float, float, float], azimuth: float = 30.0) -> np.ndarray:
    """(size, size, 4) uint8 render of the chair with a coverage alpha, framed like the render set."""
    from voxforge.nn.reconstruct.renderset import smooth_mesh
    from voxforge.render.camera import framing_camera
    from voxforge.render.raster import RenderOptions, render_mesh

    verts, faces = smooth_mesh(chair_voxels())
    cam = framing_camera(verts, size, azimuth, 20.0, 0.02, perspective=True)
    colours = np.broadcast_to(np.asarray(rgb, np.float32), (len(faces), 3))
    return render_mesh(verts, faces, colours, cam, options=RenderOptions(background=None, edges=False))


@pytest.fixture(scope="module")
def chair_rgba() -> np.ndarray:
    return render_rgba(320, (0.75, 0.2, 0.15))


def jpeg(rgb: np.ndarray, quality: int = 80) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def png(arr: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", **kw)
    return buf.getvalue()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def on_white(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:].astype(np.float32) / 255.0
    return np.rint(rgba[..., :3] * a + 255.0 * (1.0 - a)).astype(np.uint8)


# ------------------------------------------------------------------------------------ cut-out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grabcut_finds_the_object_in_a_cluttered_jpeg(chair_rgba: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    img, truth = photo.synthetic_photo(chair_rgba, rng)
    rgb, alpha, size = photo.read_image(jpeg(img))
    assert size == (640, 480) and alpha is None
    mask, method = photo.cut_out(rgb, alpha)
    assert method == "grabcut"
    assert iou(mask, truth) >= 0.85


def test_object_coloured_like_the_wall_is_found_against_the_floor() -> None:
    # a room: a wall above, a floor below; the object stands on the floor in the wall's colour, so
    # its colour is common on the border (colour rarity misses it) but not at its own height
    h, w = 240, 320
    img = np.empty((h, w, 3), np.uint8)
    img[: h // 2] = (200, 170, 120)
    img[h // 2 :] = (90, 110, 100)
    truth = np.zeros((h, w), bool)
    truth[140:220, 120:200] = True
    img[truth] = (200, 170, 120)
    img = np.clip(img + np.random.default_rng(0).normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    assert iou(photo.saliency_guess(img), truth) < 0.2
    assert iou(photo.row_contrast_guess(img), truth) > 0.8


def test_large_holes_in_a_grabcut_cut_out_stay_open() -> None:
    frame = np.zeros((100, 100), bool)
    frame[10:90, 10:90] = True
    frame[30:70, 30:70] = False  # the floor seen through a chair's frame: 1600 of 6400 pixels
    frame[15, 15] = False  # a speck
    assert photo.fill_holes(frame)[10:90, 10:90].all()
    kept = photo.fill_holes(frame, keep_share=0.01)
    assert kept[15, 15] and not kept[30:70, 30:70].any()
    assert kept.sum() == frame.sum() + 1


def test_prepared_photo_is_centred_and_framed_like_the_render_set(chair_rgba: np.ndarray) -> None:
    img, truth = photo.synthetic_photo(chair_rgba, np.random.default_rng(0))
    p = prepare_image(jpeg(img))
    assert p.image.shape == (128, 128, 3) and p.image.dtype == np.uint8
    assert p.method == "grabcut" and p.source_size == (640, 480)
    x0, y0, x1, y1 = photo.object_box(p.mask)
    assert max(x1 - x0, y1 - y0) == pytest.approx(photo.FILL * 128, abs=3)
    assert (x0 + x1) / 2 == pytest.approx(64, abs=2) and (y0 + y1) / 2 == pytest.approx(64, abs=2)
    tx0, ty0, tx1, ty1 = photo.object_box(truth)
    assert np.allclose(p.bbox, (tx0, ty0, tx1, ty1), atol=0.04 * 640)
    # the room is gone: outside the object the image is the plain background
    outside = ~cv2.dilate(p.mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert (p.image[outside] == photo.BACKGROUND).all()


def test_framing_matches_the_render_set_margin() -> None:
    from voxforge.nn.reconstruct.renderset import RenderSetConfig

    assert photo.FILL == pytest.approx(1.0 - 2.0 * RenderSetConfig().margin)


def test_plain_background_render_skips_grabcut(chair_rgba: np.ndarray) -> None:
    rgb = on_white(chair_rgba)
    mask, method = photo.cut_out(rgb)
    assert method == "plain"
    assert iou(mask, chair_rgba[..., 3] >= 128) >= 0.97


def test_transparent_png_uses_its_alpha(chair_rgba: np.ndarray, tmp_path: Path) -> None:
    f = tmp_path / "chair.png"
    f.write_bytes(png(chair_rgba))
    p = prepare_image(f)
    assert p.method == "alpha"
    ys, xs = np.nonzero(chair_rgba[..., 3] >= 128)
    assert p.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_a_render_passes_through_nearly_unchanged() -> None:
    """A render-set view is already framed: preparing it again keeps the object where it was."""
    from voxforge.nn.reconstruct.renderset import smooth_mesh
    from voxforge.render.camera import framing_camera
    from voxforge.render.raster import RenderOptions, render_mesh

    verts, faces = smooth_mesh(chair_voxels())
    cam = framing_camera(verts, 128, 30.0, 20.0, 0.08, perspective=True)
    colours = np.full((len(faces), 3), 0.5, np.float32)
    rgba = render_mesh(verts, faces, colours, cam, options=RenderOptions(background=None, edges=False))
    p = prepare_image(on_white(rgba))
    assert p.method == "plain"
    assert iou(p.mask, rgba[..., 3] >= 128) >= 0.9


def test_cut_out_is_deterministic(chair_rgba: np.ndarray) -> None:
    img, _ = photo.synthetic_photo(chair_rgba, np.random.default_rng(5))
    a, b = prepare_image(img), prepare_image(img)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


# ------------------------------------------------------------------------------- pixel formats


def test_sixteen_bit_grey_png(chair_rgba: np.ndarray, tmp_path: Path) -> None:
    grey = cv2.cvtColor(on_white(chair_rgba), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    f = tmp_path / "grey16.png"
    Image.fromarray(grey).save(f)
    assert Image.open(f).mode.startswith("I")
    rgb, alpha, _ = photo.read_image(f)
    assert rgb.dtype == np.uint8 and alpha is None
    assert np.array_equal(rgb[..., 0], (grey // 257).astype(np.uint8))
    assert prepare_image(f).method == "plain"


def test_palette_png_with_transparency(chair_rgba: np.ndarray) -> None:
    im = Image.fromarray(chair_rgba[..., :3]).quantize(63)
    idx = np.asarray(im).copy()
    idx[chair_rgba[..., 3] < 128] = 63  # one more palette entry, the transparent one
    out = Image.fromarray(idx)
    out.putpalette([*im.getpalette()[: 63 * 3], 0, 0, 0])
    buf = io.BytesIO()
    out.save(buf, format="PNG", transparency=63)
    _, alpha, _ = photo.read_image(buf.getvalue())
    assert alpha is not None
    assert np.array_equal(alpha >= 128, chair_rgba[..., 3] >= 128)


def test_array_inputs_float_and_uint16(chair_rgba: np.ndarray) -> None:
    rgb8 = on_white(chair_rgba)
    a = prepare_image(rgb8.astype(np.float32) / 255.0)
    b = prepare_image(rgb8.astype(np.uint16) * 257)
    c = prepare_image(rgb8)
    assert np.array_equal(a.image, c.image) and np.array_equal(b.image, c.image)


def test_exif_rotation_is_applied(chair_rgba: np.ndarray) -> None:
    img, _ = photo.synthetic_photo(chair_rgba, np.random.default_rng(3))
    upright = prepare_image(jpeg(img))
    # store the photo turned a quarter clockwise, with orientation 8 (turn back to view)
    turned = Image.fromarray(np.ascontiguousarray(np.rot90(img, -1)))
    exif = Image.Exif()
    exif[0x0112] = 8
    buf = io.BytesIO()
    turned.save(buf, format="JPEG", quality=80, exif=exif)
    p = prepare_image(buf.getvalue())
    assert p.source_size == (640, 480)
    assert np.allclose(p.bbox, upright.bbox, atol=6)


# ------------------------------------------------------------------------------------- sketches


def pencil_sketch(width_px: int, side: int = 900) -> tuple[np.ndarray, np.ndarray]:
    """A box drawn in thin dark lines on unevenly lit grey paper; returns image and line mask."""
    ink = np.zeros((side, side), np.uint8)
    s = side // 900
    top = np.array([[200, 300], [600, 300], [700, 200], [300, 200]]) * max(s, 1)
    bottom = top + np.array([0, 400])
    cv2.polylines(ink, [top, bottom], True, 1, width_px)
    for a, b in zip(top, bottom, strict=True):
        cv2.line(ink, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, width_px)
    yy, xx = np.mgrid[0:side, 0:side]
    paper = 235 - 60 * xx / side - 20 * yy / side  # lit from the top left, a shadow to the right
    img = np.where(ink > 0, paper * 0.45, paper)
    img = img + np.random.default_rng(0).normal(0, 3, img.shape)
    grey = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2), ink > 0


@pytest.mark.parametrize("width_px", [2, 14])
def test_sketch_lines_are_normalised(width_px: int) -> None:
    img, _ = pencil_sketch(width_px)
    p = prepare_image(jpeg(img), sketch=True)
    assert p.method == "sketch" and p.image.shape == (128, 128, 3)
    assert (p.image[..., 0] == p.image[..., 1]).all()
    dark = p.image[..., 0] < 128
    assert dark.any() and p.image[~dark].min() > 128
    # the uneven paper became white: no shadow survives as ink
    assert (p.image[..., 0] >= 250).mean() > 0.7
    width = photo.stroke_width(dark)
    assert photo.SKETCH_LINE_PX[0] - 0.6 <= width <= photo.SKETCH_LINE_PX[1] + 0.8
    x0, y0, x1, y1 = photo.object_box(dark)
    assert max(x1 - x0, y1 - y0) == pytest.approx(photo.FILL * 128, abs=3)
    # the enclosed region is the drawn box's silhouette
    assert p.mask.mean() > 0.3


def test_blank_paper_has_no_strokes() -> None:
    img, _ = pencil_sketch(2)
    paper = np.full_like(img, 0)
    paper[:] = np.linspace(180, 240, img.shape[1]).astype(np.uint8)[None, :, None]
    with pytest.raises(GeometryError, match="no strokes"):
        prepare_image(paper, sketch=True, name="paper.jpg")


# --------------------------------------------------------------------------------- bad inputs


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (the pixel data is a stub)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    out = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
    out += struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 64)
    chunk = b"IDAT" + idat
    return out + struct.pack(">I", len(idat)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buf.getvalue()


def truncated_png(chair_rgba: np.ndarray) -> bytes:
    data = png(on_white(chair_rgba))
    return data[: len(data) // 2]


BAD = {
    "text.png": (lambda _: b"hello, this is not a picture\n", UnsupportedInputError, "not an image"),
    "empty.png": (lambda _: b"", InputFormatError, "empty file"),
    "half.png": (truncated_png, InputFormatError, "truncated or corrupt"),
    "huge.png": (lambda _: png_header(30000, 30000), SizeLimitError, "pixel"),
    "photo.heic": (lambda _: b"\x00\x00\x00\x18ftypheic" + b"\x00" * 32, UnsupportedInputError, "HEIC"),
    "anim.gif": (lambda _: animated_gif(), UnsupportedInputError, "animated GIF with 2 frames"),
    "blank.png": (lambda _: png(np.full((200, 300, 3), 200, np.uint8)), GeometryError, "blank"),
    "noise.png": (
        lambda _: png(np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)),
        GeometryError,
        "no object found",
    ),
    "wall.png": (
        lambda _: png(
            np.full((240, 320, 3), 200, np.uint8) - np.arange(320, dtype=np.uint8)[None, :, None] // 8
        ),
        GeometryError,
        "no object found",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_inputs_get_one_line_errors(name: str, chair_rgba: np.ndarray, tmp_path: Path) -> None:
    make, err, text = BAD[name]
    f = tmp_path / name
    f.write_bytes(make(chair_rgba))
    with pytest.raises(err, match=text) as info:
        prepare_image(f)
    msg = str(info.value)
    assert str(f) in msg and "\n" not in msg


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="no such file"):
        prepare_image(tmp_path / "nope.jpg")
    with pytest.raises(InputFormatError, match="is a folder"):
        prepare_image(tmp_path)


def test_pixel_cap_is_checked_before_decoding(chair_rgba: np.ndarray) -> None:
    data = png(on_white(chair_rgba))
    with pytest.raises(SizeLimitError, match="320 x 320 pixels is over the 100,000-pixel cap"):
        prepare_image(data, max_pixels=100_000, name="big.png")


def test_object_filling_the_frame_is_refused() -> None:
    img = np.full((200, 200, 3), 255, np.uint8)
    img[2:198, 2:198] = (200, 40, 40)
    img[0:2] = 255
    with pytest.raises(GeometryError, match="no object found"):
        prepare_image(img, name="closeup.png")
