"""``voxforge instructions MODEL.mpd -o OUT``: building instructions for an existing LDraw model.

Parses the flags into an :class:`~voxforge.instructions.booklet.InstructionsConfig`, calls
:func:`~voxforge.pipelines.instructions.run_instructions`, says what was written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from voxforge.cli.app import command
from voxforge.cli.progress import progress_bar
from voxforge.cli.report import problem_lines


@command
def instructions(
    model: Annotated[Path, typer.Argument(help="LDraw model (.mpd or .ldr) made of catalogue parts.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder (written atomically).")],
    formats: Annotated[
        str | None, typer.Option("--formats", help="Comma-separated: pdf, html, steps (default all).")
    ] = None,
    size: Annotated[
        int | None, typer.Option("--size", help="Step image side in pixels (default 1024).")
    ] = None,
    steps_per_page: Annotated[
        int | None, typer.Option("--steps-per-page", help="Most steps per PDF page: 1, 2, 4 or 6.")
    ] = None,
    page: Annotated[str | None, typer.Option("--page", help="PDF page size: A4 or letter.")] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="Booklet title (default: the file's).")
    ] = (None),
    config: Annotated[Path | None, typer.Option("--config", help="YAML config (flags win).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Building instructions (PDF, offline HTML, step images) for an LDraw model."""
    from voxforge.core.config import build_config, load_config
    from voxforge.instructions.booklet import InstructionsConfig
    from voxforge.pipelines.instructions import run_instructions

    flags: dict[str, Any] = {
        k: v
        for k, v in {
            "formats": formats,
            "image_size": size,
            "steps_per_page": steps_per_page,
            "page_size": page,
        }.items()
        if v is not None
    }
    if config is not None:
        cfg = load_config(InstructionsConfig, config, flags)
    else:
        cfg = build_config(InstructionsConfig, flags)
    with progress_bar(not quiet) as cb:
        result = run_instructions(model, output, cfg, progress=cb, title=title)
    s = result.summary
    info = s.get("instructions", {})
    plan = s["plan"]
    typer.echo(
        f"{s['input']['parts']:,} parts in {plan['steps']} steps"
        + (f" and {len(plan['submodels'])} sub-assemblies" if plan["submodels"] else "")
        + f" ({'the file' if s['input']['plan'] == 'file' else 'build-order search'}), "
        f"{info.get('rotated_views', 0)} turned views"
        + (f", {info['pages']} PDF pages" if "pages" in info else "")
    )
    for line in problem_lines(plan.get("problems") or []):
        typer.echo(line, err=True)
    written = ["model.mpd"]
    written += [n for f, n in _FILES.items() if f in cfg.formats]
    typer.echo(f"wrote {output}/ ({', '.join(written)}, summary.json, manifest.json)")


_FILES = {
    "pdf": "instructions.pdf",
    "html": "instructions.html",
    "steps": "steps/ + instructions.json",
}
