"""Texture colours through UVs on meshes of known colour, written as OBJ+MTL+PNG and as GLB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image, ImageDraw

from voxforge.bricks.colors.assign import ColorConfig, assign_colors_report
from voxforge.core.color import ciede2000, srgb_to_lab
from voxforge.io import load_mesh
from voxforge.mesh.sample import sample_surface
from voxforge.voxel import VoxelizeConfig, mean_srgb, voxelize

BANANA = (194, 165, 18)  # the mean of a YCB banana's texture
YELLOW = 14


def _tube(n: int = 24, m: int = 4, r: float = 0.02, h: float = 0.15) -> tuple[np.ndarray, ...]:
    """A closed, slightly bent tube along z; UVs: u = angle, v in [0.3, 0.7] (caps at 0.31/0.69)."""
    verts, uvs, faces = [], [], []
    for j in range(m + 1):
        z = h * j / m
        for i in range(n + 1):
            t = 2 * np.pi * i / n
            verts.append((r * np.cos(t) + 0.04 * (z / h - 0.5) ** 2, r * np.sin(t), z))
            uvs.append((i / n, 0.3 + 0.4 * j / m))
    w = n + 1
    for j in range(m):
        for i in range(n):
            a = j * w + i
            faces += [(a, a + 1, a + w + 1), (a, a + w + 1, a + w)]
    for j, v, flip in ((0, 0.31, True), (m, 0.69, False)):
        z = h * j / m
        for i in range(n):
            c = len(verts)
            verts += [(0.04 * (z / h - 0.5) ** 2, 0.0, z), verts[j * w + i], verts[j * w + i + 1]]
            uvs += [((i + 0.5) / n, v), (i / n, v), ((i + 1) / n, v)]
            faces.append((c, c + 2, c + 1) if flip else (c, c + 1, c + 2))
    return np.array(verts), np.array(faces), np.array(uvs)


def _stripes(colours: list[tuple[int, int, int]], size: int = 64) -> np.ndarray:
    """Vertical stripes over u for v in [0.3, 0.7] (plus margin), black elsewhere."""
    img = np.zeros((size, size, 3), np.uint8)
    for i, c in enumerate(colours):
        img[:, i * size // len(colours) : (i + 1) * size // len(colours)] = c
    img[: int(0.3 * size) - 2] = 0
    img[int(0.7 * size) + 2 :] = 0
    return img


def _write_obj(
    path: Path, v: np.ndarray, f: np.ndarray, uv: np.ndarray, img: np.ndarray | None, kd: str | None
) -> Path:
    """OBJ + MTL (+ PNG unless ``img`` is None, a texture named but missing)."""
    lines = [f"mtllib {path.stem}.mtl", "usemtl mat"]
    lines += [f"v {a:.6f} {b:.6f} {c:.6f}" for a, b, c in v]
    lines += [f"vt {a:.6f} {b:.6f}" for a, b in uv]
    lines += [f"f {a + 1}/{a + 1} {b + 1}/{b + 1} {c + 1}/{c + 1}" for a, b, c in f]
    path.write_text("\n".join(lines) + "\n")
    mtl = ["newmtl mat", "Ka 0.2 0.2 0.2", *([f"Kd {kd}"] if kd else []), f"map_Kd {path.stem}.png"]
    path.with_suffix(".mtl").write_text("\n".join(mtl) + "\n")
    if img is not None:
        Image.fromarray(img).save(path.with_suffix(".png"))
    return path


def _write_glb(path: Path, v: np.ndarray, f: np.ndarray, uv: np.ndarray, img: np.ndarray) -> Path:
    mat = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(img))
    y_up = v[:, [0, 2, 1]] * np.array([1.0, 1.0, -1.0])
    tm = trimesh.Trimesh(
        y_up, f, visual=trimesh.visual.TextureVisuals(uv=uv, material=mat), process=False
    )
    path.write_bytes(tm.export(file_type="glb"))
    return path


def _de(a: np.ndarray, b: np.ndarray) -> float:
    return float(ciede2000(srgb_to_lab(np.asarray(a, float)), srgb_to_lab(np.asarray(b, float))))


def _voxel_mean_and_codes(path: Path) -> tuple[np.ndarray, list[int]]:
    grid = voxelize(load_mesh(path), VoxelizeConfig(width_studs=12))
    _, report = assign_colors_report(grid, ColorConfig())
    return mean_srgb(grid.colors[grid.occupancy]), report.codes


@pytest.mark.parametrize("kd", ["1 1 1", "0.8 0.8 0.8", None])
def test_banana_texture_gives_its_own_colour_and_yellow_bricks(tmp_path: Path, kd: str | None) -> None:
    """Kd beside a texture (0.8, or none: trimesh fills 0.4 grey) does not darken it."""
    v, f, uv = _tube()
    path = _write_obj(tmp_path / "banana.obj", v, f, uv, _stripes([BANANA]), kd)
    target = np.array(BANANA) / 255.0
    samples = sample_surface(load_mesh(path), 20000, seed=0)
    assert _de(mean_srgb(samples.rgb), target) <= 1.0
    mean, codes = _voxel_mean_and_codes(path)
    assert _de(mean, target) <= 3.0
    assert codes == [YELLOW]


def test_glb_and_obj_stripes_average_in_linear_light(tmp_path: Path) -> None:
    stripes = [(200, 30, 30), (30, 160, 40), (240, 240, 240), (20, 20, 120)]
    target = mean_srgb(np.array(stripes) / 255.0)
    v, f, uv = _tube()
    for path in (
        _write_obj(tmp_path / "s.obj", v, f, uv, _stripes(stripes), "0.8 0.8 0.8"),
        _write_glb(tmp_path / "s.glb", v, f, uv, _stripes(stripes)),
    ):
        samples = sample_surface(load_mesh(path), 40000, seed=0)
        assert _de(mean_srgb(samples.rgb), target) <= 1.0, path.name
        mean, codes = _voxel_mean_and_codes(path)
        assert _de(mean, target) <= 3.0, path.name
        assert len(codes) >= 3  # the stripes survive as separate colours


def test_small_atlas_charts_do_not_bleed_their_background(tmp_path: Path) -> None:
    """Every face its own 6-texel chart on black: bilinear lookups must not blend the black in."""
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    cell = 8
    k = int(np.ceil(np.sqrt(len(sphere.faces))))
    size = k * cell
    img = Image.new("RGB", (size, size), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    verts, uvs = [], []
    for i, face in enumerate(sphere.faces):
        x, y = (i % k) * cell, (i // k) * cell
        tri = [(x + 1, y + 1), (x + cell - 1, y + 1), (x + 1, y + cell - 1)]
        draw.polygon([(a - 0.5, b - 0.5) for a, b in tri], fill=BANANA)  # texel centres inside
        verts += [sphere.vertices[c] for c in face]
        uvs += [(a / size, 1.0 - b / size) for a, b in tri]
    faces = np.arange(len(verts)).reshape(-1, 3)
    path = _write_obj(
        tmp_path / "atlas.obj", np.array(verts), faces, np.array(uvs), np.asarray(img), "1 1 1"
    )
    samples = sample_surface(load_mesh(path), 20000, seed=0)
    assert _de(mean_srgb(samples.rgb), np.array(BANANA) / 255.0) <= 1.0


def test_shared_textured_meshes(shared_data: Path) -> None:
    _, duck = _voxel_mean_and_codes(shared_data / "meshes" / "Duck.glb")
    assert duck[0] == YELLOW
    fuze = load_mesh(shared_data / "meshes" / "fuze.obj")
    rgb = sample_surface(fuze, 20000, seed=0).rgb
    assert rgb is not None and rgb.std(axis=0).max() > 0.1  # the label's colours, not a flat Kd


def test_uv_coverage_marks_texel_centres_inside_and_wraps() -> None:
    from voxforge.mesh.sample import uv_coverage

    # a right triangle over the lower-left 4 x 4 texels of an 8 x 8 image (v up, rows down)
    tri = np.array([[[0.0, 0.0], [0.5, 0.0], [0.0, 0.5]]])
    got = uv_coverage(tri, (8, 8))
    centres = (np.arange(8) + 0.5) / 8
    u, v = np.meshgrid(centres, 1.0 - centres)  # row 0 is v near 1
    inside = u + v < 0.5
    near = u + v < 0.5 + 1.5 / 8  # PIL rounds the outline: at most a texel's slack
    assert got[inside].all() and not got[~near].any()
    # across u = 1 and v = 1 (wrapped): the texels near all four corners
    wrap = uv_coverage(np.array([[[0.9, 0.9], [1.1, 0.9], [0.9, 1.1]]]), (10, 10))
    assert wrap[0, 9] and wrap[0, 0] and wrap[9, 9] and wrap.sum() < 10
    assert uv_coverage(np.array([[[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]]]), (4, 4)).all()  # tiled
