"""The notebooks in ``notebooks/`` run top to bottom (their code cells as one script, no Jupyter)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.slow
def test_scan_to_lego_notebook_runs(monkeypatch, tmp_path):
    import tempfile

    import matplotlib

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the notebook's work folder

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: list[int] = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: (figures.append(1), plt.close("all")))
    nb = json.loads((NOTEBOOKS / "scan_to_lego.ipynb").read_text())
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    scope: dict = {"__name__": "__main__"}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"scan_to_lego:{cell['id']}", "exec"), scope)
    assert len(figures) == 4
    assert scope["bricks"].buildable
    assert (scope["book"] / "instructions.html").is_file()
