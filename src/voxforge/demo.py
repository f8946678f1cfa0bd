"""``make demo``: brickify the project's own sample scan and say where the results are.

The sample is ``examples/mug_scan.ply``: a simulated phone-LiDAR capture of a mug standing on a
table, made by ``python -m voxforge.scan.examples`` (regenerated here if it is missing).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    from voxforge.cli import guarded, progress_bar
    from voxforge.pipelines.brickify import BrickifyConfig, run_brickify

    args = argv if argv is not None else sys.argv[1:]
    sample = REPO / "examples" / "mug_scan.ply"
    out = Path(args[0]) if args else REPO / "out" / "demo"
    if not sample.is_file():
        from voxforge.scan.examples import main as make_examples

        print(f"sample scan missing; generating it in {sample.parent}")
        make_examples()

    def run() -> None:
        t0 = time.perf_counter()
        print(f"brickify {sample.relative_to(REPO)} -> {out}")
        with progress_bar() as cb:
            result = run_brickify(sample, out, BrickifyConfig(), progress=cb)
        s = result.summary
        print(
            f"{s['parts']['total']} parts, {s['size']['studs'][0]} x {s['size']['studs'][1]} studs "
            f"x {s['size']['plates']} plates, stability {s['stability']['verdict']}, "
            f"{time.perf_counter() - t0:.1f} s"
        )
        print("results:")
        for name in sorted(p.name for p in out.iterdir()):
            print(f"  {out / name}")

    guarded(run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
