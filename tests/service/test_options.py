"""The service's flat options mean what the CLI's flags mean; choices are checked on submission."""

from __future__ import annotations

import pytest

from voxforge.core.errors import ConfigError
from voxforge.service.pipelines import default_pipelines

from .conftest import submit


@pytest.mark.parametrize(("hollow", "cells"), [(True, 2), (False, None), (0, None), (3, 3)])
def test_hollow_is_a_shell_in_cells_and_true_takes_the_clis_default(hollow, cells):
    cfg = default_pipelines()["brickify"].build_options({"hollow": hollow})
    assert cfg.voxel.hollow == cells


def test_an_unknown_strategy_is_refused_before_the_job_is_made():
    with pytest.raises(ConfigError, match=r"layout\.strategy.*'simulated-annealing'"):
        default_pipelines()["brickify"].build_options({"layout": {"strategy": "simulated-annealing"}})


def test_an_unknown_strategy_is_422_and_no_job(client, alice, box_stl):
    params = {"pipeline": "brickify", "layout": {"strategy": "simulated-annealing"}}
    r = submit(client, alice, params, box_stl)
    assert r.status_code == 422 and "simulated-annealing" in r.json()["detail"]
    assert list((client.app.state.voxforge.settings.data_dir / "jobs").iterdir()) == []
