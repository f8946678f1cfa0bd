"""Render written MPD files with LeoCAD (headless, through xvfb) and check the picture.

Needs ``apt-get install -y leocad xvfb``; skipped when ``leocad`` is not on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from voxforge.bricks.catalogue import catalogue
from voxforge.bricks.ldraw import write_mpd
from voxforge.core.brickmodel import BrickModel, Placement

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("leocad") is None, reason="leocad is not installed"),
]


def _place(key: str, x: int, y: int, z: int, color: int, rotation: int = 0) -> Placement:
    part = catalogue()[key]
    sx, sy = (part.length, part.width) if rotation % 2 == 0 else (part.width, part.length)
    return Placement(key, x, y, z, sx, sy, part.height, color, rotation)


def _render(shared_data: Path, model: BrickModel, tmp_path: Path) -> np.ndarray:
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed")
    mpd, png = tmp_path / "model.mpd", tmp_path / "out.png"
    write_mpd(model, mpd, title="leocad check")
    cmd = [
        "xvfb-run", "-a", "leocad", "-l", str(shared_data / "ldraw" / "library"),
        "-i", str(png), "-w", "400", "-h", "300", "--camera-angles", "30", "45", str(mpd),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    from PIL import Image

    return np.asarray(Image.open(png).convert("RGB")).astype(np.int32)


def _share(img: np.ndarray, mask: np.ndarray) -> float:
    return float(mask.sum()) / mask.size


def _hues(img: np.ndarray) -> dict[str, np.ndarray]:
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return {
        "red": (r > 110) & (g < 60) & (b < 60),
        "blue": (b > 110) & (r < 90) & (b - r > 60) & (b - g > 30),
        "yellow": (r > 170) & (g > 130) & (b < 80),
        "green": (g > 90) & (r < 60) & (b < 90) & (g - r > 50),
    }


def test_leocad_renders_red_on_blue(shared_data: Path, tmp_path: Path) -> None:
    model = BrickModel([_place("3001", 0, 0, 0, 1), _place("3001", 0, 0, 3, 4)], (4, 2, 6))
    img = _render(shared_data, model, tmp_path)
    assert img.shape == (300, 400, 3)
    background = img[0, 0]
    fg = np.abs(img - background).sum(axis=-1) > 30
    assert 0.02 < _share(img, fg) < 0.9  # a model is drawn, not an empty or broken frame
    hues = _hues(img)
    assert _share(img, hues["red"]) > 0.005 and _share(img, hues["blue"]) > 0.005
    assert hues["yellow"].sum() == 0 and hues["green"].sum() == 0
    # red is on top: the red pixels' centre lies above the blue pixels' centre on screen
    red_rows = np.nonzero(hues["red"])[0].mean()
    blue_rows = np.nonzero(hues["blue"])[0].mean()
    assert red_rows < blue_rows


def test_leocad_renders_slopes(shared_data: Path, tmp_path: Path) -> None:
    """Four 2x2 slopes, one per rotation and colour: LeoCAD finds and draws every one. (Which way
    they face is checked exactly against the part geometry in test_ldraw.py; the rendered picture
    was inspected by eye: rotation 0 has its studs at x-min and falls toward +x.)"""
    ps = [
        _place("3039", 0, 0, 0, 14, 0),
        _place("3039", 3, 0, 0, 2, 1),
        _place("3039", 6, 0, 0, 4, 2),
        _place("3039", 9, 0, 0, 1, 3),
    ]
    img = _render(shared_data, BrickModel(ps, (11, 2, 3)), tmp_path)
    hues = _hues(img)
    for name in ("yellow", "green", "red", "blue"):
        assert hues[name].sum() > 150, name


def test_leocad_renders_a_brickify_output(shared_data: Path, tmp_path: Path) -> None:
    """The whole pipeline's model.mpd (not a hand-made one) opens and shows its colours."""
    import trimesh

    from voxforge.pipelines.brickify import BrickifyConfig, run_brickify

    body = trimesh.creation.box(extents=[0.06, 0.04, 0.04])
    body.visual.vertex_colors = np.tile([200, 30, 30, 255], (len(body.vertices), 1))
    body.export(tmp_path / "red.ply")
    out = tmp_path / "out"
    run_brickify(
        tmp_path / "red.ply", out, BrickifyConfig.model_validate({"voxel": {"width_studs": 12}})
    )
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed")
    png = tmp_path / "pipeline.png"
    cmd = [
        "xvfb-run", "-a", "leocad", "-l", str(shared_data / "ldraw" / "library"),
        "-i", str(png), "-w", "400", "-h", "300", "--camera-angles", "30", "45",
        str(out / "model.mpd"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, check=True, capture_output=True, timeout=120, text=True)
    assert "missing" not in (proc.stdout + proc.stderr).lower()
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB")).astype(np.int32)
    assert _share(img, _hues(img)["red"]) > 0.05


def test_leocad_renders_a_sub_assembly_mpd(shared_data: Path, tmp_path: Path) -> None:
    """A planned MPD whose overhang is a ``0 FILE`` sub-assembly: LeoCAD resolves the sub-file
    (no missing parts) and draws its parts where the flat model has them."""
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed")
    from PIL import Image

    from voxforge.bricks.order.planner import OrderConfig, plan_build

    ps = [
        _place("3003", 0, 0, 0, 1),
        _place("3003", 0, 0, 3, 1),
        _place("3007", 0, 0, 6, 4, rotation=1),  # red beam along y
        _place("3003", 0, 6, 3, 14),  # yellow, hangs under the beam: in the sub-assembly
        _place("3003", 0, 6, 9, 2),
    ]
    model = BrickModel(ps, (2, 8, 12))
    plan = plan_build(model, OrderConfig(min_parts=1, target_parts=2, max_parts=3, sub_min_parts=1))
    assert len(plan.submodels) == 1 and 3 in plan.submodels[0].parts
    images = {}
    for name, kwargs in (("planned", {"plan": plan}), ("flat", {})):
        mpd, png = tmp_path / f"{name}.mpd", tmp_path / f"{name}.png"
        write_mpd(model, mpd, title=name, **kwargs)
        cmd = [
            "xvfb-run", "-a", "leocad", "-l", str(shared_data / "ldraw" / "library"),
            "-i", str(png), "-w", "400", "-h", "300", "--camera-angles", "30", "45", str(mpd),
        ]  # fmt: skip
        proc = subprocess.run(cmd, check=True, capture_output=True, timeout=120, text=True)
        assert "missing" not in (proc.stdout + proc.stderr).lower()
        images[name] = np.asarray(Image.open(png).convert("RGB")).astype(np.int32)
    for name, img in images.items():
        hues = _hues(img)
        assert hues["yellow"].sum() > 100 and hues["red"].sum() > 100, name
    # the sub-file puts its parts exactly where the flat file does: the same picture
    assert np.abs(images["planned"] - images["flat"]).max(axis=-1).mean() < 2.0


def test_leocad_shows_every_chapter_of_a_long_build(shared_data: Path, tmp_path: Path) -> None:
    """A 600-step build (LeoCAD shows a model only up to its step 255) is written as three
    chapters of 200 steps (two layers each): LeoCAD's main-model step k shows the layers of
    chapters 1..k, and its last step the whole model, as the model written in one step."""
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed")
    from PIL import Image

    from voxforge.bricks.order.plan import BuildPlan, BuildStep

    # 10x10 1x1 plates per layer, six layers: two blue, two red, two yellow; one part a step
    ps = [
        _place("3024", x, y, z, (1, 4, 14)[z // 2])
        for z in range(6)
        for y in range(10)
        for x in range(10)
    ]
    model = BrickModel(ps, (10, 10, 6))
    plan = BuildPlan(tuple(BuildStep((i,)) for i in range(600)))
    write_mpd(model, tmp_path / "long.mpd", title="long", plan=plan)
    write_mpd(model, tmp_path / "whole.mpd", title="whole", steps="none")

    def render(name: str, step: int | None) -> np.ndarray:
        png = tmp_path / f"{name}-{step}.png"
        cmd = [
            "xvfb-run", "-a", "leocad", "-l", str(shared_data / "ldraw" / "library"),
            "-i", str(png), "-w", "200", "-h", "300", "--camera-angles", "10", "45",
        ]  # fmt: skip
        cmd += [] if step is None else ["-f", str(step), "-t", str(step)]
        subprocess.run([*cmd, str(tmp_path / name)], check=True, capture_output=True, timeout=300)
        return np.asarray(Image.open(png).convert("RGB")).astype(np.int32)

    whole = render("whole.mpd", None)
    shown = [_hues(render("long.mpd", k)) for k in (1, 2, 3)]
    assert [bool(h["yellow"].any()) for h in shown] == [False, False, True]
    assert [bool(h["red"].any()) for h in shown] == [False, True, True]
    assert all(h["blue"].any() for h in shown)
    last = render("long.mpd", 3)
    assert np.abs(last - whole).max() <= 8
