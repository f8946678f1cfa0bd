"""A top view of a scan's scene: removed planes and ground grey, the candidate objects coloured,
outlined and numbered as ``voxforge scene`` lists them (the default pick red), cameras as
triangles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from voxforge.scan.clean import Scene


def draw_scene(scene: Scene, path: str | Path, *, max_points: int = 60_000, seed: int = 0) -> Path:
    """Write a top view of the scene: removed planes and ground grey, candidates coloured,
    each outlined by its box and numbered (the default pick red), cameras as triangles.

    Returns the file written: ``path``, with ``.png`` added when it has no suffix (the format
    follows the suffix, as matplotlib's ``savefig`` reads it).
    """
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
    title = f"{count_text(len(cands))}, seen from {scene.views.kind}"
    if top is not None:
        size = " x ".join(f"{v * 100:.0f}" for v in top.size_m)
        title += f"; pick #1: {size} cm, score {top.score:.2f}"
    ax.set_title(title, fontsize=10)
    ax.grid(True, linewidth=0.3, alpha=0.5)
    out = Path(path)
    if not out.suffix:
        out = out.with_suffix(".png")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def count_text(n: int) -> str:
    """``1 candidate``, ``3 candidates``."""
    return f"{n} candidate" + ("" if n == 1 else "s")
