"""CLI commands of the reconstruction data and benchmark: ``evaluate reconstruction`` and
``data render-set``. Thin: parse flags, call one library function, print the result.

``voxforge.cli`` registers them on its ``evaluate`` and ``data`` apps; the CLI helpers
(``guarded``, ``progress_bar``) are imported inside the commands so importing this module never
imports the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def _load_reconstructor(kind: str, weights: Path | None) -> Any:
    """The shipped (or ``weights``) reconstructor of ``kind``; a seam the tests replace."""
    from voxforge.nn.reconstruct.inference import load_reconstructor

    return load_reconstructor(kind, weights=weights)  # type: ignore[arg-type]


def evaluate_reconstruction_cmd(
    data: Annotated[Path, typer.Option("--data", help="npz with voxels, labels, classes.")],
    views: Annotated[int, typer.Option("--views", help="Views per object, fused (1 or 5).")] = 1,
    sketch: Annotated[bool, typer.Option("--sketch", help="Feed sketches of the views.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the views.")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", help="Only N objects (seeded).")] = None,
    weights: Annotated[Path | None, typer.Option("--weights", help="Weights file to test.")] = None,
    baselines: Annotated[
        Path | None,
        typer.Option("--baselines", help="Render set folder: also score both baselines."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """IoU, Dice, Chamfer and F-score of the image (or sketch) reconstructor on rendered views."""
    from voxforge.cli import guarded, progress_bar

    def run() -> None:
        import json

        from voxforge.core.errors import ConfigError
        from voxforge.nn.reconstruct.eval import baselines_from_render_set, evaluate_reconstruction

        if not 1 <= views <= 24:
            raise ConfigError(f"--views must be 1..24, got {views}")
        if not data.is_file():
            raise ConfigError(f"--data {data}: no such file")
        model = _load_reconstructor("sketch" if sketch else "image", weights)
        base = baselines_from_render_set(baselines, sketch=sketch) if baselines else None
        with progress_bar(not quiet and not as_json) as cb:
            m = evaluate_reconstruction(
                data, model, views=views, sketch=sketch, seed=seed, limit=limit, progress=cb,
                baselines=base,
            )  # fmt: skip
        if as_json:
            typer.echo(json.dumps(m, indent=2))
            return
        typer.echo(
            f"{m['input']} x{m['views']} on {m['data']}: mean IoU {m['mean_iou']:.4f} (t=0.4) over "
            f"{m['objects']} objects, Dice {m['dice']:.4f}, Chamfer-L1 {m['chamfer_l1']:.4f}, "
            f"F@1/32 {m['fscore']:.4f}, {m['latency_ms_per_image']['median']:.1f} ms/image"
        )
        for name, b in m.get("baselines", {}).items():
            typer.echo(f"  baseline {name:<10} mean IoU {b['mean_iou']:.4f}  ({b['note']})")
        for name, r in m["per_class"].items():
            typer.echo(f"  {name:<12} IoU {r['mean_iou']:.3f}  n={r['objects']}")

    guarded(run)


def render_set_cmd(
    data: Annotated[Path, typer.Option("--data", help="npz with voxels, labels, classes.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Render set folder.")],
    views: Annotated[int, typer.Option("--views", help="Views per object.")] = 6,
    size: Annotated[int, typer.Option("--size", help="Image side, pixels.")] = 128,
    seed: Annotated[int, typer.Option("--seed", help="Seeds every view.")] = 0,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML RenderSetConfig (flags win).")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Render processes.")] = 2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Render views and sketches of every object for the image/sketch-to-3D models (cached)."""
    from voxforge.cli import guarded, progress_bar

    def run() -> None:
        from voxforge.core.config import build_config, load_config
        from voxforge.nn.reconstruct.renderset import RenderSetConfig, build_render_set

        flags = {"views": views, "size": size, "seed": seed}
        cfg = (
            load_config(RenderSetConfig, config, flags)
            if config
            else build_config(RenderSetConfig, flags)
        )
        with progress_bar(not quiet) as cb:
            folder = build_render_set(data, out, cfg, progress=cb, workers=workers)
        typer.echo(f"wrote {folder}/ (index.json, objects.npz, shard_*.npz)")

    guarded(run)
