"""What ``--help`` tells a user: the defaults, the exit codes; progress without a terminal."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from voxforge.cli import EXIT_CODES, app
from voxforge.core import errors

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"


def help_text(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "300"}, terminal_width=300)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_brickify_help_shows_the_config_defaults():
    from voxforge.bricks.colors.assign import ColorConfig
    from voxforge.bricks.lay import LayoutConfig
    from voxforge.instructions.booklet import InstructionsConfig
    from voxforge.voxel import VoxelizeConfig

    text = help_text("brickify")
    layout, voxel = LayoutConfig(), VoxelizeConfig()
    assert voxel.hollow is None and voxel.scale == "fit"
    expected = {
        "--width-studs": str(voxel.width_studs),
        "--colors": str(ColorConfig().mode),
        "--hollow": "solid",
        "--parts": layout.parts,
        "--strategy": layout.strategy,
        "--seed": str(layout.seed),
        "--time-budget": f"{layout.time_budget:g}",
        "--instructions": ",".join(InstructionsConfig().formats),
        "--scale": voxel.scale,
        "--shell": "2",
    }
    for flag, default in expected.items():
        shown = re.search(re.escape(flag) + r"\b.*?\[default: \(?([^)\]]+)\)?\]", text)
        assert shown, f"{flag} shows no default"
        assert shown.group(1) == default, f"{flag}: help says {shown.group(1)}, config says {default}"


@pytest.mark.parametrize("command", [(), ("brickify",), ("voxelize",), ("reconstruct",)])
def test_help_lists_the_exit_codes(command):
    text = help_text(*command)
    assert "Exit codes:" in text
    for code in (2, 3, 4, 5, 70, 130, 143):
        assert f" {code} " in text


def test_every_error_family_has_a_documented_exit_code():
    families = [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.VoxforgeError)
    ]
    assert {c.exit_code for c in families} <= set(EXIT_CODES)
    table = re.findall(r"^\| (\d+) \|", README.read_text(), flags=re.M)
    assert set(map(int, table)) == set(EXIT_CODES), "README's exit-code table and the CLI disagree"


def test_progress_is_one_stderr_line_per_stage_without_a_terminal(tmp_path):
    occ = np.zeros((6, 5, 4), np.uint8)
    occ[1:5, 1:4, :] = 1
    np.save(tmp_path / "g.npy", occ)
    result = runner.invoke(app, ["voxelize", str(tmp_path / "g.npy"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("voxforge: ")]
    stages = [ln.split()[1] for ln in lines]
    assert stages[0] == "read" and "voxelize" in stages, result.stderr
    assert len(stages) == len(set(stages)), "one line per stage"
    assert all(re.search(r"\(\d+% done, \d+\.\d s\)$", ln) for ln in lines), lines
    quiet = runner.invoke(app, ["voxelize", str(tmp_path / "g.npy"), "-o", str(tmp_path / "q"), "-q"])
    assert quiet.exit_code == 0 and "% done" not in quiet.stderr


def test_part_budget_exits_4_and_force_builds(tmp_path):
    np.save(tmp_path / "slab.npy", np.ones((40, 30, 12), np.uint8))
    (tmp_path / "cfg.yaml").write_text("classify: false\nmax_parts: 30\n")
    args = ["brickify", str(tmp_path / "slab.npy"), "--width-studs", "10", "--instructions", "none"]
    args += ["--config", str(tmp_path / "cfg.yaml"), "-q"]
    refused = runner.invoke(app, [*args, "-o", str(tmp_path / "a")])
    assert refused.exit_code == 4, refused.output
    assert "part budget of 30" in refused.stderr and "--force" in refused.stderr
    assert not (tmp_path / "a").exists()
    forced = runner.invoke(app, [*args, "-o", str(tmp_path / "b"), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "b" / "model.mpd").is_file()
