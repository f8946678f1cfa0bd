"""The ``voxforge reconstruct`` command on a local typer app (voxforge.cli wires it at the end)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from voxforge.cli.reconstruct import reconstruct

app = typer.Typer()
app.command("reconstruct")(reconstruct)
app.command("unused")(lambda: None)  # two commands: typer keeps the command name
runner = CliRunner()


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised (seeded) network saved like a shipped one."""
    torch = pytest.importorskip("torch")
    from voxforge.nn.reconstruct.inference import save_reconstructor
    from voxforge.nn.reconstruct.models import create_recon_model

    torch.manual_seed(0)
    stem = tmp_path_factory.mktemp("w") / "reconstruction-test"
    save_reconstructor(create_recon_model("reconnet"), stem, kind="image")
    return stem


def block_png(tmp_path: Path) -> Path:
    img = np.full((240, 320, 3), 255, np.uint8)
    img[60:200, 100:220] = (190, 50, 40)
    path = tmp_path / "block.png"
    Image.fromarray(img).save(path)
    return path


def test_reconstruct_command_writes_the_folder(tmp_path: Path, weights: Path) -> None:
    out = tmp_path / "out"
    args = ["reconstruct", str(block_png(tmp_path)), "-o", str(out), "--weights", str(weights)]
    res = runner.invoke(app, [*args, "--threshold", "0.05", "--height-cm", "12", "-q"])
    assert res.exit_code == 0, res.output
    assert "height assumed 12 cm" in res.output and f"wrote {out}/" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scale"]["height_cm"] == 12.0
    assert summary["mesh"]["extent_cm"][2] == pytest.approx(12.0, abs=0.8)


@pytest.mark.parametrize(
    ("extra", "code", "text"),
    [
        (["--as", "cubes"], 5, "output: Input should be 'voxels', 'points' or 'mesh'"),
        (["--azimuths", "0,x"], 5, "--azimuths needs comma-separated degrees"),
        (["--azimuths", "0,90"], 5, "got 1 images but 2 azimuths"),
        (["--weights", "/nonexistent/model"], 5, "reconstruction model 'model' not found"),
    ],
)
def test_reconstruct_command_errors_are_one_line(
    tmp_path: Path, extra: list[str], code: int, text: str
) -> None:
    res = runner.invoke(
        app, ["reconstruct", str(block_png(tmp_path)), "-o", str(tmp_path / "o"), *extra]
    )
    assert res.exit_code == code, res.output
    progress = re.compile(r"^voxforge: \w+ \(\d+% done, [\d.]+ s\)$")  # stage lines, no terminal
    lines = [ln for ln in res.output.splitlines() if ln.strip() and not progress.match(ln)]
    assert len(lines) == 1 and text in lines[0]
    assert not (tmp_path / "o").exists()


def test_not_an_image_exits_2(tmp_path: Path, weights: Path) -> None:
    bad = tmp_path / "cat.jpg"
    bad.write_text("meow")
    res = runner.invoke(
        app, ["reconstruct", str(bad), "-o", str(tmp_path / "o"), "--weights", str(weights)]
    )
    assert res.exit_code == 2
    assert f"{bad}: not an image (text)" in res.output
