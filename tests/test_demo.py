import json

import pytest

from voxforge.demo import _demo_config, main


@pytest.mark.slow
def test_demo_brickifies_the_sample_scan(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main([str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["connectivity"]["connected"] and summary["connectivity"]["grounded"]
    # the mug's longest side spans the demo's width (16 studs: about life size)
    assert max(summary["size"]["studs"]) == _demo_config().voxel.width_studs == 16
    assert str(out / "model.mpd") in capsys.readouterr().out


def test_demo_reports_errors_as_exit_codes(tmp_path, monkeypatch):
    import voxforge.demo as demo

    def broken(*args, **kwargs):
        from voxforge.core.errors import GeometryError

        raise GeometryError("no object left")

    monkeypatch.setattr("voxforge.pipelines.brickify.run_brickify", broken)
    assert demo.main([str(tmp_path / "o")]) == 3
