"""``voxforge scene SCAN``: the candidate objects of a scan as a table and a picture.

The table lists each candidate by the number ``--pick N`` takes, with its size, points, centre
(input coordinates, a ``--pick-point``) and score; the picture (``scene.png``) shows the scene
from above with each candidate outlined and numbered, the default pick in red.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer

if TYPE_CHECKING:
    from voxforge.scan.clean import Scene


def draw_scene(scene: Scene, path: str | Path, *, max_points: int = 60_000, seed: int = 0) -> Path:
    """Write a top view of the scene: removed planes and ground grey, candidates coloured,
    each outlined by its box and numbered (the default pick red), cameras as triangles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rng = np.random.default_rng(seed)
    work, labels = scene.work.xyz, scene.labels
    fig, ax = plt.subplots(figsize=(8, 8), dpi=110)
    if len(scene.removed):
        bg = scene.removed[rng.permutation(len(scene.removed))[:max_points]]
        ax.scatter(bg[:, 0], bg[:, 1], s=0.3, c="#c8c8c8", linewidths=0, rasterized=True)
    rest = labels < 0
    if rest.any():
        pts = work[rest][rng.permutation(int(rest.sum()))[:max_points]]
        ax.scatter(pts[:, 0], pts[:, 1], s=0.3, c="#999999", linewidths=0, rasterized=True)
    cmap = plt.get_cmap("tab20")
    cands = scene.report.candidates
    for c in sorted(cands, key=lambda c: -c.lo[2]):
        sel = labels == c.label
        pts = work[sel]
        pts = pts[rng.permutation(len(pts))[: max(2000, max_points // max(len(cands), 1))]]
        colour = cmap((c.number - 1) % 20)
        ax.scatter(pts[:, 0], pts[:, 1], s=0.8, color=colour, linewidths=0, rasterized=True)
    for c in cands:
        best = c.number == 1
        edge = "#d62728" if best else "#222222"
        ax.add_patch(
            Rectangle(
                (c.lo[0], c.lo[1]),
                c.hi[0] - c.lo[0],
                c.hi[1] - c.lo[1],
                fill=False,
                edgecolor=edge,
                linewidth=2.0 if best else 0.8,
            )
        )
        ax.annotate(
            str(c.number),
            (c.hi[0], c.hi[1]),
            fontsize=11 if best else 8,
            fontweight="bold" if best else "normal",
            color=edge,
            ha="left",
            va="bottom",
        )
    if len(scene.views.eyes):
        e, f = scene.views.eyes, scene.views.forward
        ax.scatter(e[:, 0], e[:, 1], marker="^", s=30, c="#1f77b4", zorder=5)
        ax.quiver(e[:, 0], e[:, 1], f[:, 0], f[:, 1], color="#1f77b4", width=0.003, zorder=5)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    top = cands[0] if cands else None
    title = f"{_count(len(cands))}, seen from {scene.views.kind}"
    if top is not None:
        size = " x ".join(f"{v * 100:.0f}" for v in top.size_m)
        title += f"; pick #1: {size} cm, score {top.score:.2f}"
    ax.set_title(title, fontsize=10)
    ax.grid(True, linewidth=0.3, alpha=0.5)
    out = Path(path)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def _count(n: int) -> str:
    return f"{n} candidate" + ("" if n == 1 else "s")


def candidates_table(scene: Scene, limit: int) -> Any:
    """A rich table of the first ``limit`` candidates."""
    from rich.table import Table

    table = Table("#", "size cm", "points", "centre (input)", "score", "view", "size", "pts", "ground")
    for column in table.columns:
        column.no_wrap = True
    for c in scene.report.candidates[:limit]:
        t = c.terms
        table.add_row(
            str(c.number),
            "x".join(f"{v * 100:.0f}" for v in c.size_m),
            f"{c.count:,}",
            ",".join(f"{v:.2f}" for v in c.centre_input),
            f"{c.score:.2f}",
            *(f"{t[k]:.2f}" for k in ("view", "size", "points", "ground")),
        )
    return table


def pick_lines(clean: dict[str, Any] | None) -> list[str]:
    """Lines telling which object a pipeline picked and the runner-up (from summary ``clean``)."""
    pick = (clean or {}).get("pick")
    if not pick:
        return []

    def text(c: dict[str, Any]) -> str:
        size = " x ".join(f"{v:g}" for v in c["size_cm"])
        return f"#{c['number']} ({size} cm, {c['points']:,} points, score {c['score']:.2f})"

    how = {
        "score": "best score",
        "pick": "--pick",
        "pick_point": "--pick-point",
        "pick_box": "--pick-box",
    }
    line = (
        f"object: {text(pick['chosen'])} of {pick['candidates']} by {how.get(pick['how'], pick['how'])}"
    )
    if pick.get("runner_up"):
        line += f"; runner-up {text(pick['runner_up'])}"
    return [line]


def scene(
    input: Annotated[Path, typer.Argument(help="Scan or capture folder.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Picture of the scene (PNG).")] = Path(
        "scene.png"
    ),
    limit: Annotated[int, typer.Option("--limit", help="Candidates to list.", min=1)] = 20,
    units: Annotated[str | None, typer.Option("--units", help="Input units: m, cm, mm or in.")] = None,
    plane: Annotated[
        bool | None, typer.Option("--plane/--no-plane", help="Remove the table/ground plane.")
    ] = None,
    plane_margin: Annotated[
        float | None,
        typer.Option(
            "--plane-margin", help="Cut this much above the plane, metres (default: measured).", min=0
        ),
    ] = None,
    cluster_radius: Annotated[
        float | None,
        typer.Option("--cluster-radius", help="Gap that separates objects, metres.", min=0.0001),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the candidates as JSON.")] = False,
) -> None:
    """List the candidate objects of SCAN (number, size, points, centre, score) and draw them.

    Pass a number to brickify/voxelize as ``--pick N`` to take that object.
    """
    from voxforge.cli import guarded

    def run() -> None:
        from rich.console import Console

        from voxforge.io import load_any
        from voxforge.scan.clean import CleanConfig, segment_scene

        flags = {"plane": plane, "plane_margin": plane_margin, "cluster_radius": cluster_radius}
        config = CleanConfig(**{k: v for k, v in flags.items() if v is not None})
        from voxforge.core.errors import ConfigError
        from voxforge.core.pointcloud import PointCloud

        if not output.parent.exists():
            raise ConfigError(f"{output.parent}: folder does not exist")
        cloud = load_any(input, units=units)
        if not isinstance(cloud, PointCloud):
            raise ConfigError(
                f"{input}: `voxforge scene` needs a scan (point cloud or capture), "
                f"got a {type(cloud).__name__}"
            )
        found = segment_scene(cloud, config)
        draw_scene(found, output)
        cands = found.report.candidates
        if as_json:
            data = {
                "path": str(input),
                "views": found.views.kind,
                "margin_m": found.report.margin,
                "candidates": [c.to_dict() for c in cands],
                "picture": str(output),
            }
            typer.echo(json.dumps(data, indent=2))
            return
        console = Console(width=max(Console().width, 100))
        console.print(candidates_table(found, limit))
        more = f" (first {limit} shown)" if len(cands) > limit else ""
        typer.echo(f"{_count(len(cands))}{more}, seen from {found.views.kind}; default pick #1")
        typer.echo(f"wrote {output}; take another with brickify/voxelize --pick N")

    guarded(run)
