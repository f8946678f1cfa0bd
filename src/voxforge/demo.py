"""``make demo``: brickify the project's own sample scan and say where the results are.

The sample is ``examples/mug_scan.ply``: a simulated phone-LiDAR capture of a mug standing on a
table, made by ``python -m voxforge.scan.examples`` (regenerated here if it is missing).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _demo_config():
    from voxforge.pipelines.brickify import BrickifyConfig

    # An 11 cm mug (with its handle) at 16 studs: about life size (a stud is 8 mm), ~800 parts,
    # so the whole job, instruction booklets included, runs in well under a minute.
    return BrickifyConfig.model_validate({"voxel": {"width_studs": 16}})


def main(argv: list[str] | None = None) -> int:
    from voxforge.cli.app import guarded
    from voxforge.cli.progress import progress_bar
    from voxforge.pipelines.brickify import run_brickify

    config = _demo_config()

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
            result = run_brickify(sample, out, config, progress=cb)
        s = result.summary
        print(
            f"{s['parts']['total']} parts, {s['size']['studs'][0]} x {s['size']['studs'][1]} studs "
            f"x {s['size']['plates']} plates, {time.perf_counter() - t0:.1f} s"
        )
        print(s["verdict"]["headline"])
        print("results:")
        for name in sorted(p.name for p in out.iterdir()):
            print(f"  {out / name}")

    import typer

    try:
        guarded(run)
    except typer.Exit as done:  # guarded() already printed the one-line error
        return int(done.exit_code or 0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
