"""The test suite's own rules: shared-data tests say so, and no file names one machine's folders."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SAMPLE_TESTS = """
def test_reads_the_data(shared_data):
    assert (shared_data / "x.txt").read_text() == "x"

def test_reads_it_too(shared_data):
    assert shared_data.is_dir()

def test_needs_nothing():
    assert True
"""


def run_sample(folder: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest over SAMPLE_TESTS with the repository's conftest (and the data paths it reads) and
    markers, data at ``data``."""
    for name in ("conftest.py", "data_paths.py"):
        shutil.copy(REPO / "tests" / name, folder / name)
    markers = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    lines = "\n".join(f"    {m}" for m in markers["markers"])
    (folder / "pytest.ini").write_text(f"[pytest]\naddopts = -ra --strict-markers\nmarkers =\n{lines}\n")
    (folder / "test_sample.py").write_text(SAMPLE_TESTS)
    env = {**os.environ, "VOXFORGE_SHARED_DATA": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_shared_data_is_counted_in_the_summary(tmp_path: Path) -> None:
    absent = tmp_path / "no-data"
    r = run_sample(tmp_path, absent)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"2 tests skipped: {absent} not found (they need the shared real data;" in r.stdout
    assert re.search(r"1 passed, 2 skipped", r.stdout), r.stdout


def test_present_shared_data_runs_and_the_marker_selects(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.txt").write_text("x")
    r = run_sample(tmp_path, data, "-m", "shared_data")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"2 passed, 1 deselected", r.stdout), r.stdout
    assert "skipped" not in r.stdout
    r = run_sample(tmp_path, data, "-m", "not shared_data")
    assert re.search(r"1 passed, 2 deselected", r.stdout), r.stdout


# A path that starts with one machine's top folder; ``jobs/<id>/tmp/`` (inside a path) is not one.
_START = r"(?:^|(?<=[\s\"'`(=:,\[]))"
MACHINE_PATH = re.compile(_START + r"/(?:work|home|root|tmp|Users|mnt)/")
# Tests write to tmp_path and may name in-file paths such as a USD prim ``/root/box``, so in tests
# only the home and work folders count.
MACHINE_PATH_IN_TESTS = re.compile(_START + r"/(?:work|home|Users)/")
TEXT = (".py", ".md", ".yaml", ".yml", ".toml", ".json", ".txt", ".cfg", ".ts", ".html", ".sh", ".ini")


def test_no_machine_paths_in_tracked_files() -> None:
    """No tracked source, config, doc or model card names a folder of one machine: paths in them
    are relative to the repository (``../shared/data``, ``runs/...``)."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout (the rule reads git ls-files)")
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    checked = [
        f
        for f in files
        if (f.endswith(TEXT) or Path(f).name in ("Makefile", "Dockerfile"))
        and f != "tests/test_hygiene.py"
        and (REPO / f).is_file()
    ]
    assert len(checked) > 100
    found = []
    for f in checked:
        rule = MACHINE_PATH_IN_TESTS if f.startswith("tests/") else MACHINE_PATH
        lines = (REPO / f).read_text(errors="replace").splitlines()
        found += [
            f"{f}:{n}: {line.strip()[:100]}" for n, line in enumerate(lines, 1) if rule.search(line)
        ]
    assert found == []


def test_only_the_entry_points_import_the_cli() -> None:
    """Every command lives in ``voxforge/cli/``; below it nothing imports ``voxforge.cli``, not even
    inside a function (``__main__.py`` and ``demo.py`` are entry points on top of it)."""
    import ast

    pkg = REPO / "src" / "voxforge"
    entry = {pkg / "__main__.py", pkg / "demo.py"}
    assert (pkg / "cli" / "__init__.py").is_file()
    found = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg)
        if rel.parts[0] == "cli" or path in entry:
            continue
        assert not path.name.endswith("commands.py"), f"{rel}: commands belong in voxforge/cli/"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            found += [
                f"{rel}:{node.lineno}: {n}" for n in names if n.split(".")[:2] == ["voxforge", "cli"]
            ]
    assert found == []
