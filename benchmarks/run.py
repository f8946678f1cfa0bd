"""Run the benchmarks, write ``benchmarks/results/<name>.json``, regenerate ``docs/benchmarks.md``.

Usage::

    python benchmarks/run.py [NAME ...] [--quick]   # run benchmarks, write their results files
    python benchmarks/run.py --list                 # the benchmark names and what they run
    python benchmarks/run.py --docs                 # regenerate docs/benchmarks.md from results/
    python benchmarks/run.py --meta --docs          # the scripts' TARGETS and docstrings into results/

A benchmark is a ``benchmarks/bench_*.py`` script with a ``figures(argv) -> dict`` function: it
builds its own seeded inputs (or reads ``../shared/data``), prints what it measures and returns
the figures. A script may declare ``RUNS`` (result name -> arguments, for scripts with several
modes), ``QUICK`` (result name -> the arguments of a shorter run), ``TARGETS`` (result name
-> {figure key: the target an issue set}) and ``ABOUT`` (result name -> a title line and a
description, for a run that measures other things than the docstring says). NAME selects
result names: exact names, else substrings.

Each benchmark runs in its own process (numba caches, threads and memory do not carry over). Its
results file records the commit (and whether the tree had uncommitted changes), the machine (CPU,
cores, RAM, Python and library versions, the load average when it started), the UTC date, the
command, the wall time and the figures. ``docs/benchmarks.md`` is made from these files alone
(``benchmarks/docs.py``), so the page shows what the files hold and nothing else.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def load_module(path: Path) -> ModuleType:
    """Import a benchmark script by path (its ``__main__`` block does not run)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _literals(path: Path) -> dict[str, Any]:
    """The script's ``RUNS``, ``QUICK``, ``TARGETS`` and ``ABOUT`` without importing it (plain
    literals)."""
    import ast

    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and t.id in ("RUNS", "QUICK", "TARGETS", "ABOUT"):
                    found[t.id] = ast.literal_eval(node.value)
    return found


def catalogue() -> dict[str, tuple[Path, list[str], list[str] | None]]:
    """Result name -> (script, arguments, quick arguments or None)."""
    out: dict[str, tuple[Path, list[str], list[str] | None]] = {}
    for script in sorted(HERE.glob("bench_*.py")):
        found = _literals(script)
        runs = found.get("RUNS") or {script.stem.removeprefix("bench_"): []}
        for name, args in runs.items():
            out[name] = (script, list(args), found.get("QUICK", {}).get(name))
    return out


def refresh_meta() -> list[str]:
    """Copy each script's current ``TARGETS``, title and description into its results files
    (the issues' words and the docstring, not measurements, so they change without a rerun);
    returns the files changed."""
    changed = []
    for path in sorted(RESULTS.glob("*.json")):
        record = json.loads(path.read_text())
        script = HERE / record["script"]
        if not script.is_file():
            continue
        title, about = description(script, record["name"])
        meta = {
            "title": title,
            "about": about,
            "targets": _literals(script).get("TARGETS", {}).get(record["name"], {}),
        }
        if any(record.get(k) != v for k, v in meta.items()):
            record.update(meta)
            path.write_text(json.dumps(record, indent=1, default=str) + "\n")
            changed.append(path.name)
    return changed


def description(script: Path, name: str) -> tuple[str, str]:
    """(title, about) of result ``name``: its entry in the script's ``ABOUT``, else the
    script's docstring."""
    import ast

    text = _literals(script).get("ABOUT", {}).get(name)
    if text is None:
        text = ast.get_docstring(ast.parse(script.read_text()))
    return describe(text, script.stem)


def git_commit() -> dict[str, Any]:
    """The checked-out commit (hash and subject, which survives a rebase that changes the hash)
    and whether tracked files under ``src/`` or ``benchmarks/`` (results aside) differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    dirty = bool(
        git(
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "src",
            "benchmarks",
            ":!benchmarks/results",
        )
    )
    return {
        "hash": git("rev-parse", "HEAD") or None,
        "subject": git("log", "-1", "--format=%s", "HEAD")[:120] or None,
        "dirty": dirty,
    }


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, Python and library versions, load average now."""
    cpu = platform.processor() or platform.machine()
    ram_gb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for lib in ("numpy", "numba", "torch"):
        try:
            versions[lib] = __import__(lib).__version__
        except ImportError:
            versions[lib] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        **versions,
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def run_one(name: str, quick: bool) -> int:
    """Run one benchmark in a child process and write its results file; returns the exit code."""
    script, args, quick_args = catalogue()[name]
    argv = quick_args if quick and quick_args is not None else args
    command = " ".join(["python", f"benchmarks/{script.name}", *argv])
    record: dict[str, Any] = {
        "name": name,
        "script": script.name,
        "command": command,
        "quick": bool(quick and quick_args is not None),
        "commit": git_commit(),
        "machine": machine(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(script), str(out), "--", *argv], check=False
        )
        record["wall_s"] = round(time.perf_counter() - t0, 1)
        if proc.returncode != 0 or not out.is_file():
            print(f"\n{name}: FAILED (exit {proc.returncode}); no results file written\n")
            return proc.returncode or 1
        child = json.loads(out.read_text())
    record["title"], record["about"] = description(script, name)
    record["targets"] = child["targets"].get(name, {})
    record["figures"] = child["figures"]
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=1, sort_keys=False, default=str) + "\n")
    print(f"\n{name}: {record['wall_s']} s wall -> {path.relative_to(ROOT)}\n")
    return 0


def describe(doc: str | None, fallback: str) -> tuple[str, str]:
    """(title, about) from a script's docstring: its first line, and the paragraphs after it up
    to the first that ends a sentence (usage lines and code blocks left out)."""
    title, _, rest = (doc or fallback).strip().partition("\n")
    about: list[str] = []
    for para in rest.strip().split("\n\n"):
        text = " ".join(line.strip() for line in para.splitlines()).strip()
        if not text or text.lower().startswith(("usage", "run:", "run ")) or para.startswith("    "):
            continue
        about.append(text)
        if text.endswith(".") or len(about) == 3:
            break
    return title.strip().rstrip("."), " ".join(about)


def child(script: Path, out: Path, argv: list[str]) -> None:
    """In the child process: import the script, call ``figures(argv)``, write the figures."""
    module = load_module(script)
    figures = module.figures(argv)
    title, about = describe(module.__doc__, script.stem)
    payload = {
        "title": title,
        "about": about,
        "targets": getattr(module, "TARGETS", {}),
        "figures": figures,
    }
    out.write_text(json.dumps(payload, default=_plain))


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and arrays, paths and other leftovers."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        child(Path(argv[1]), Path(argv[2]), argv[4:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="result names to run (substring match)")
    ap.add_argument("--quick", action="store_true", help="use each benchmark's QUICK arguments")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--docs", action="store_true", help="regenerate docs/benchmarks.md and exit")
    ap.add_argument(
        "--meta",
        action="store_true",
        help="copy the scripts' TARGETS, titles and descriptions into the results files",
    )
    args = ap.parse_args(argv)
    if args.meta:
        print("updated:", ", ".join(refresh_meta()) or "none")
        if not args.docs:
            return 0
    if args.docs:
        sys.path.insert(0, str(HERE))
        from report import write_docs

        print(f"wrote {write_docs().relative_to(ROOT)}")
        return 0
    cat = catalogue()
    if args.list:
        for name, (script, run_args, quick_args) in cat.items():
            quick = "" if quick_args is None else f"  (--quick: {' '.join(quick_args) or 'same'})"
            print(f"{name:24} {script.name} {' '.join(run_args)}{quick}")
        return 0
    names = [n for n in cat if not args.names or n in args.names]
    if not names or len(names) < len(args.names):
        names = [n for n in cat if not args.names or any(a in n for a in args.names)]
    if not names:
        ap.error(f"no benchmark matches {args.names}; see --list")
    failed = [n for n in names if run_one(n, args.quick) != 0]
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
