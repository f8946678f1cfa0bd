import pytest
from typer.testing import CliRunner

from voxforge.cli import app


@pytest.mark.parametrize("prompt", ["", "a" * 10_000, "一把很高的椅子"])
def test_cli_refuses_bad_prompts_with_one_line(prompt, tmp_path):
    r = CliRunner().invoke(app, ["generate", prompt, "-o", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "it makes: bathtub, bed, chair" in r.output
    assert not (tmp_path / "o").exists()
