"""Flags become the same config as the service's options, and bad choices stop a command before
it reads its input."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from voxforge.cli import app
from voxforge.core.errors import ConfigError
from voxforge.service.pipelines import default_pipelines

runner = CliRunner()


@pytest.fixture
def no_reading(monkeypatch):
    """Fail the test if any input is read."""

    def read(*args, **kwargs):
        raise AssertionError("the input was read")

    import voxforge.io
    import voxforge.pipelines.common
    import voxforge.scan.capture

    monkeypatch.setattr(voxforge.pipelines.common, "read_input", read)
    monkeypatch.setattr(voxforge.io, "load_any", read)
    monkeypatch.setattr(voxforge.scan.capture, "load_input", read)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--strategy", "simulated-annealing"], "'simulated-annealing'"),
        (["--parts", "logs"], "--parts"),
        (["--complete", "maybe"], "--complete"),
        (["--up", "x"], "--up"),
    ],
)
def test_a_bad_choice_exits_5_before_the_input_is_read(tmp_path, no_reading, args, named):
    huge = tmp_path / "huge.ply"
    with huge.open("wb") as f:  # 2 GB of nothing (sparse): reading it would take a while
        f.truncate(2 << 30)
    for source in (huge, tmp_path / "missing.ply"):
        r = runner.invoke(app, ["brickify", str(source), "-o", str(tmp_path / "out"), *args])
        assert r.exit_code == 5, r.output
        assert named in r.output and len(r.output.strip().splitlines()) == 1
        assert not (tmp_path / "out").exists()


def test_a_strategy_from_a_config_file_is_checked_before_reading(tmp_path, no_reading):
    cfg = tmp_path / "job.yaml"
    cfg.write_text("layout:\n  strategy: simulated-annealing\n")
    r = runner.invoke(
        app, ["brickify", str(tmp_path / "missing.ply"), "-o", str(tmp_path / "o"), "--config", str(cfg)]
    )
    assert r.exit_code == 5 and "layout.strategy" in r.output and "simulated-annealing" in r.output


@pytest.mark.parametrize(
    ("flags", "params"),
    [
        (
            ["--width-studs", "12", "--colors", "4", "--hollow"],
            {"width_studs": 12, "colors": "4", "hollow": True},
        ),
        (["--hollow", "--shell", "3"], {"hollow": 3}),
        (["--solid"], {"hollow": 0}),
        (["--solid"], {"hollow": False}),
    ],
)  # fmt: skip
def test_flags_and_service_options_make_the_same_config(tmp_path, monkeypatch, flags, params):
    import voxforge.pipelines.brickify as brickify

    seen = []

    def capture(input, output, cfg, progress=None):
        seen.append(cfg)
        raise ConfigError("stop here")

    monkeypatch.setattr(brickify, "run_brickify", capture)
    r = runner.invoke(app, ["brickify", str(tmp_path / "in.ply"), "-o", str(tmp_path / "o"), *flags])
    assert r.exit_code == 5 and "stop here" in r.output, r.output
    service = default_pipelines()["brickify"].build_options(params)
    assert seen[0] == service
