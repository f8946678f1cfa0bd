"""``docs/benchmarks.md`` is what ``benchmarks/run.py --docs`` makes from the committed results.

No benchmark runs here: the page is rebuilt from ``benchmarks/results/*.json`` and compared.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _report() -> ModuleType:
    path = ROOT / "benchmarks" / "report.py"
    spec = importlib.util.spec_from_file_location("voxforge_bench_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_benchmarks_page_is_generated_from_the_committed_results():
    report = _report()
    expected = report.render(report.load_results(), report.catalogue_commands())
    actual = (ROOT / "docs" / "benchmarks.md").read_text()
    assert actual == expected, "docs/benchmarks.md is stale: run `python benchmarks/run.py --docs`"


def test_every_results_file_names_its_commit_machine_and_date():
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        result = json.loads(path.read_text())
        assert result["name"] == path.stem
        assert len(result["commit"]["hash"]) == 40, path.name
        assert {"cpu", "cores", "ram_gb", "python", "load_average"} <= set(result["machine"]), path.name
        assert result["date"].endswith("Z") and result["figures"], path.name


def _result(**figures: object) -> dict:
    return {
        "name": "demo",
        "title": "Benchmark: a demo",
        "about": "What ``demo`` measures.",
        "command": "python benchmarks/bench_demo.py",
        "quick": False,
        "commit": {"hash": "a" * 40, "dirty": True},
        "machine": {
            "cpu": "Some CPU",
            "cores": 2,
            "ram_gb": 24.0,
            "python": "3.11.7",
            "numpy": "2.0",
            "load_average": [3.5, 2.0, 1.0],
        },
        "date": "2026-12-07T02:00:00Z",
        "wall_s": 12.5,
        "targets": {"total_s": "< 2 s (#18)", "cases.median_s": "< 1 s"},
        "figures": figures,
    }


def test_a_section_shows_figures_targets_and_who_measured_them():
    report = _report()
    page = report.render(
        [
            _result(
                total_s=1.2346,
                parts=4866,
                cases={"a": {"median_s": 0.5, "n": 3}, "b": {"median_s": 0.75, "n": 4}},
                rows=[{"shape": "chair#1", "ok": True}, {"shape": "sofa#2", "ok": False}],
            )
        ],
        {"demo": "python benchmarks/bench_demo.py", "other": "python benchmarks/bench_other.py"},
    )
    assert "## A demo (`demo`)" in page
    assert "What `demo` measures." in page
    assert "commit `aaaaaaaaaa` plus uncommitted changes" in page
    assert "load average 3.5/2/1 (1/5/15 min)" in page
    assert "| total_s | 1.235 | < 2 s (#18) |" in page
    assert "| parts | 4,866 | |" in page
    assert "|  | median_s (target < 1 s) | n |" in page
    assert "| b | 0.75 | 4 |" in page
    assert "| chair#1 | yes |" in page and "| sofa#2 | no |" in page
    assert "| `demo` | total_s | 1.235 | < 2 s (#18) | 3.5 | `aaaaaaaaaa`, 2026-12-07 02:00 |" in page
    assert "| `demo` | cases.median_s | a: 0.5; b: 0.75 | < 1 s | 3.5 |" in page
    assert "- `other` (`python benchmarks/bench_other.py`)" in page
    assert "- `demo`" not in page


def test_no_results_means_no_sections():
    report = _report()
    page = report.render([], {"demo": "python benchmarks/bench_demo.py"})
    assert "## Targets" not in page and "Measured at" not in page
    assert "- `demo` (`python benchmarks/bench_demo.py`)" in page


def test_every_benchmark_script_returns_its_figures():
    """Each ``bench_*.py`` defines ``figures(argv)``, which ``run.py`` calls (read with ast: no
    benchmark is imported or run)."""
    import ast

    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        tree = ast.parse(path.read_text())
        names = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert "figures" in names, f"{path.name} has no figures(argv) function"
        assert [a.arg for a in names["figures"].args.args] == ["argv"], path.name
    spec = importlib.util.spec_from_file_location("voxforge_bench_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    catalogue = run.catalogue()
    assert {"pipeline", "pipeline_capture", "instructions_big", "voxelize"} <= set(catalogue)
    assert {s.name for s, _, _ in catalogue.values()} == {
        p.name for p in (ROOT / "benchmarks").glob("bench_*.py")
    }


def test_a_run_with_its_own_about_gets_its_own_title(tmp_path):
    spec = importlib.util.spec_from_file_location("voxforge_bench_run2", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    script = tmp_path / "bench_demo.py"
    script.write_text(
        '"""Benchmark: the plain run.\n\nWhat the plain run measures."""\n'
        'RUNS = {"demo": [], "demo_big": ["--big"]}\n'
        'ABOUT = {"demo_big": """The big run\n\n    What the big run measures."""}\n'
    )
    assert run.description(script, "demo") == (
        "Benchmark: the plain run",
        "What the plain run measures.",
    )
    assert run.description(script, "demo_big") == ("The big run", "What the big run measures.")
