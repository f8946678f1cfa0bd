"""Exports: the fraction of exports their real clients accept, and the write time of each format.

Validation: every format of :func:`voxforge.io.mesh_export.export_mesh` (OBJ, STL, PLY, GLB,
glTF, 3MF, USD, USDA, USDZ, FBX) for the shared meshes (teapot, spot, fuze, Duck, featuretype), every
``--every``-th robustness mesh, and brick models (spot and teapot brickified at 10 studs, and a
hand-made one) through :func:`~voxforge.bricks.export.export_brick_model`; each file is checked by
every client installed (:func:`voxforge.io.export_checks.verify_exports`: the Khronos glTF
validator, usdchecker's validators with ``--arkit`` for USDZ, Blender and assimp re-imports with
the same triangle count and bounds). A file passes when every client that reads it passes; the
clients found are listed with the figures.

Timing, for a 100k-triangle mesh: ``teapot.obj`` subdivided to 101,120 triangles with vertex
colours, each format written (best of ``--repeat``; FBX includes starting Blender).

    python benchmarks/bench_exports.py [--every 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED = ["teapot.obj", "spot.obj", "fuze.obj", "Duck.glb", "featuretype.STL"]

QUICK = {"exports": ["--every", "16", "--repeat", "1"]}
TARGETS = {
    "exports": {
        "pass_fraction": "1.0 of the shared meshes' and brick models' exports pass (seed: > 0.98)",
        "max_write_s": "< 5 s for each format, 100k-triangle mesh",
    }
}


def _sources(every: int) -> list[tuple[str, object]]:
    """(label, core Mesh or BrickModel) of everything exported."""
    import voxforge
    from voxforge.core.brickmodel import BrickModel, Placement
    from voxforge.io import load_mesh

    out: list[tuple[str, object]] = [(n, load_mesh(DATA / "meshes" / n)) for n in SHARED]
    robust = sorted((DATA / "meshes" / "robustness").glob("*/*.stl"))[::every]
    out += [(f"robustness/{p.parent.name}/{p.name}", load_mesh(p)) for p in robust]
    for name in ("spot.obj", "teapot.obj"):
        bricks = voxforge.brickify(DATA / "meshes" / name, width_studs=10, seed=0)
        out.append((f"bricks:{name}", bricks.model))
    P = Placement
    hand = BrickModel(
        [
            P("3001", 0, 0, 0, 4, 2, 3, 4),
            P("3001", 0, 2, 0, 4, 2, 3, 1),
            P("3039", 2, 0, 3, 2, 2, 3, 15),
        ],
        (4, 4, 6),
    )
    out.append(("bricks:hand-made", hand))
    return out


def validate(every: int) -> dict:
    from voxforge.bricks.export import SURFACE_FORMATS, brick_model_export_mesh, export_brick_model
    from voxforge.core.brickmodel import BrickModel
    from voxforge.io._base import UNIT_SCALES
    from voxforge.io.export_checks import Expected, verify_exports
    from voxforge.io.mesh_export import EXPORT_FORMATS, export_mesh, fbx_tool

    suffixes = [f.suffixes[0] for f in EXPORT_FORMATS if f.name != "fbx" or fbx_tool()]
    files = passed = 0
    by_format: dict[str, list[int]] = {}
    by_client: dict[str, list[int]] = {}
    failures: list[str] = []
    kinds = {"meshes": [0, 0], "brick_models": [0, 0]}
    sources = 0
    for label, source in _sources(every):
        sources += 1
        with tempfile.TemporaryDirectory(prefix="vf-exports-") as tmp:
            expected = {}
            for suffix in suffixes:
                path = Path(tmp) / f"model{suffix}"
                if isinstance(source, BrickModel):
                    export_brick_model(source, path)
                    tm = brick_model_export_mesh(source, surface=suffix.lstrip(".") in SURFACE_FORMATS)
                else:
                    export_mesh(source, path)
                    tm = source.tm
                expected[str(path)] = Expected.of(tm.vertices, tm.faces, UNIT_SCALES["mm"])
            reports = verify_exports(expected)
        kind = kinds["brick_models" if isinstance(source, BrickModel) else "meshes"]
        for f, rs in reports.items():
            suffix = Path(f).suffix
            ok = bool(rs) and all(r.ok for r in rs)
            files += 1
            passed += ok
            kind[0] += ok
            kind[1] += 1
            stats = by_format.setdefault(suffix.lstrip("."), [0, 0])
            stats[0] += ok
            stats[1] += 1
            for r in rs:
                c = by_client.setdefault(r.client, [0, 0])
                c[0] += r.ok
                c[1] += 1
            if not ok:
                why = "; ".join(r.summary() for r in rs if not r.ok) or "no client reads it"
                failures.append(f"{label} {suffix}: {why}")
        good = sum(bool(rs) and all(r.ok for r in rs) for rs in reports.values())
        print(f"{label}: {good}/{len(reports)} files pass")
    return {
        "sources": sources,
        "files": files,
        "passed": passed,
        "pass_fraction": round(passed / max(files, 1), 4),
        "meshes_pass": f"{kinds['meshes'][0]}/{kinds['meshes'][1]}",
        "brick_models_pass": f"{kinds['brick_models'][0]}/{kinds['brick_models'][1]}",
        "by_format": {k: f"{a}/{n}" for k, (a, n) in by_format.items()},
        "by_client": {k: f"{a}/{n}" for k, (a, n) in sorted(by_client.items())},
        "failures": failures,
        "clients": {t: bool(shutil.which(t)) for t in ("node", "blender", "assimp", "usdchecker")},
    }


def timing(repeat: int) -> dict:
    from voxforge.core.mesh import Mesh
    from voxforge.io import load_mesh
    from voxforge.io.mesh_export import EXPORT_FORMATS, export_mesh, fbx_tool

    tm = load_mesh(DATA / "meshes" / "teapot.obj").tm
    while len(tm.faces) < 100_000:
        tm = tm.subdivide()
    c = ((tm.vertices - tm.vertices.min(0)) / np.ptp(tm.vertices, 0) * 255).astype(np.uint8)
    tm.visual.vertex_colors = np.hstack([c, np.full((len(c), 1), 255, np.uint8)])
    mesh = Mesh(tm)
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="vf-exports-") as tmp:
        for f in EXPORT_FORMATS:
            if f.name == "fbx" and fbx_tool() is None:
                continue
            best = float("inf")
            for _ in range(repeat):
                t = time.perf_counter()
                export_mesh(mesh, Path(tmp) / f"big{f.suffixes[0]}")
                best = min(best, time.perf_counter() - t)
            seconds[f.name] = round(best, 3)
            print(f"{f.name}: {best:.3f} s")
    return {"faces": len(tm.faces), "write_s": seconds, "max_write_s": max(seconds.values())}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=4, help="Use every n-th robustness mesh.")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    out = validate(args.every)
    out.update(timing(args.repeat))
    for key in ("files", "pass_fraction", "by_client", "max_write_s"):
        print(f"{key}: {out[key]}")
    return out


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
