"""The reconstruction CLI commands on a local typer app: bad configs and runs fail in one line."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from voxforge.cli.train import ship_reconstruction_cmd, train_reconstruction_cmd

app = typer.Typer()
app.command("train")(train_reconstruction_cmd)
app.command("ship")(ship_reconstruction_cmd)


def test_unknown_config_key_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("name: x\nepochz: 3\n")
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "-q"])
    assert res.exit_code == 5
    assert "epochz: Extra inputs are not permitted" in res.output
    assert "Traceback" not in res.output


def test_missing_render_set_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(f"name: x\ndata:\n  path: {tmp_path / 'none'}\noutput_dir: {tmp_path / 'runs'}\n")
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "-q"])
    assert res.exit_code == 2
    assert "not a finished render set (no index.json)" in res.output


def test_ship_needs_a_finished_run(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["ship", str(tmp_path), "-o", str(tmp_path / "m"), "-q"])
    assert res.exit_code == 5
    assert f"{tmp_path}: no best.pt" in res.output


def test_ship_keeps_the_shipped_cards_provenance(tmp_path: Path) -> None:
    import json

    import pytest

    from voxforge.core.errors import ConfigError
    from voxforge.nn.classify.export import ship_provenance

    run, stem = tmp_path / "run", tmp_path / "models" / "m"
    with pytest.raises(ConfigError, match=r"no best\.pt \(not a finished reconstruction run\)"):
        ship_provenance(run, stem, "reconstruction")
    run.mkdir()
    (run / "best.pt").write_bytes(b"")
    assert ship_provenance(run, stem, "reconstruction") == (
        f"voxforge train reconstruction --config {run / 'config.yaml'}",
        "CPU",
    )
    stem.parent.mkdir()
    card = {
        "training": {
            "command": "voxforge train reconstruction --config a.yaml",
            "trained_on": "H100, 20 min",
        }
    }
    stem.with_suffix(".json").write_text(json.dumps(card))
    assert ship_provenance(run, stem, "reconstruction") == (
        "voxforge train reconstruction --config a.yaml",
        "H100, 20 min",
    )
    assert ship_provenance(run, stem, "reconstruction", trained_on="CPU, 2 h")[1] == "CPU, 2 h"
