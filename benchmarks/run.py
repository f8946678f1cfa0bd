"""Run every benchmark (``benchmarks/bench_*.py``) and print their results.

Usage: ``make bench`` or ``.venv/bin/python benchmarks/run.py [NAME ...]`` where NAME selects
benchmarks by substring (``run.py layout physics``). Each benchmark is a standalone script that
generates its own seeded inputs and prints its result; this runner adds the machine and date so the
numbers can go into ``docs/benchmarks.md``.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.stem for a in argv)]
    print(f"# voxforge benchmarks, {dt.date.today().isoformat()}, {machine()}\n")
    failed = 0
    for script in scripts:
        print(f"## {script.stem}\n")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        print(proc.stdout.rstrip())
        if proc.returncode != 0:
            failed += 1
            print(f"\nFAILED (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        print(f"\n({time.perf_counter() - t0:.1f} s wall)\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
