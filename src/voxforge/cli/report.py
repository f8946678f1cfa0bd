"""What commands print about a finished job: sizes, the physics verdict, problems, the pick."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

PHYSICS_WORDS = {
    "STABLE": "stands",
    "UNSTABLE": "does not stand (some studs would pull apart)",
    "FLOATING": "some parts have nothing under them",
    "UNKNOWN": "not decided",
}
"""The physics verdicts in a builder's words."""


def margin_text(margin: float | None) -> str:
    """``margin 0.42``, or why there is none (an UNKNOWN verdict has no margin)."""
    if margin is None or margin != margin:
        return "margin not determined"
    return f"margin {margin:.2f}"


def physics_text(stab: dict[str, Any]) -> str:
    """``stands; the most loaded stud uses 58% of its clutch (margin 0.42)``."""
    from voxforge.bricks.verdict import grip_text

    verdict = stab.get("verdict", "UNKNOWN")
    words = PHYSICS_WORDS.get(verdict, verdict)
    margin = stab.get("margin")
    if verdict in ("STABLE", "UNSTABLE") and margin is not None:
        return f"{words}; {grip_text(margin)} ({margin_text(margin)})"
    return f"{words} ({stab.get('status', '')})" if verdict == "UNKNOWN" else words


def problem_lines(problems: list[dict[str, Any]], show: int = 3) -> list[str]:
    """Warning lines for a plan's problems (``summary.json``: ``problems``), the first ``show``
    spelled out: the output is written, but the builder needs to know."""
    if not problems:
        return []
    out = [f"warning: {len(problems)} build problem(s), noted on their pages and in summary.json:"]
    for p in problems[:show]:
        step = p.get("step")
        out.append(f"  {'step ' + str(step) + ': ' if step is not None else ''}{p['reason']}")
    if len(problems) > show:
        out.append(f"  ... and {len(problems) - show} more")
    return out


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


def echo_input_notes(info: dict[str, Any]) -> None:
    """The reader's guesses a user may want to override (``up axis: z (guessed ...)``), and a
    width chosen to fit the part budget."""
    for key in ("up_note", "width_note"):
        if info.get(key):
            typer.echo(info[key])


def steps_text(summary: dict[str, Any]) -> str:
    """``median 6 parts per step, 2 sub-assemblies``."""
    per = summary.get("parts_per_step") or {}
    text = f"median {per.get('median', 0):g} parts per step"
    subs = summary.get("submodels") or []
    return text + (f", {len(subs)} sub-assemblies" if subs else "")


def top_level_outputs(folder: Path) -> list[str]:
    """Output names from the manifest, with a folder of many files (steps/) shown once."""
    manifest = json.loads((folder / "manifest.json").read_text())
    names: list[str] = []
    for item in manifest["outputs"]:
        top = item["name"].split("/", 1)[0] + ("/" if "/" in item["name"] else "")
        if top not in names:
            names.append(top)
    return [*names, "manifest.json"]
