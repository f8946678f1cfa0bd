"""``@command``: every error family becomes one line and its documented exit code."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from voxforge.cli.app import EXIT_CODES, command
from voxforge.core import errors

runner = CliRunner()


def _app(exc: BaseException | None) -> typer.Typer:
    @command
    def boom(width: Annotated[int, typer.Option("--width", help="A width.")] = 3) -> None:
        """Raise the given error."""
        if exc is not None:
            raise exc
        typer.echo(f"width {width}")

    app = typer.Typer()
    app.command("boom")(boom)
    app.command("other")(lambda: None)
    return app


FAMILIES = [
    c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.VoxforgeError)
]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda c: c.__name__)
def test_each_error_family_exits_with_its_code_in_one_line(family):
    r = runner.invoke(_app(family("the first line\nand a second")), ["boom"])
    assert r.exit_code == family.exit_code and r.exit_code in EXIT_CODES
    assert r.output == "voxforge: error: the first line\n"


@pytest.mark.parametrize(
    ("exc", "code", "text"),
    [
        (ValueError("bad"), 70, "internal error (ValueError: bad); rerun with VOXFORGE_DEBUG=1"),
        (MemoryError(), 4, "out of memory; try a smaller --width-studs"),
        (KeyboardInterrupt(), 130, "interrupted; no output was written"),
        (typer.Exit(9), 9, ""),
    ],
)
def test_other_exceptions(exc, code, text):
    r = runner.invoke(_app(exc), ["boom"])
    assert r.exit_code == code
    assert text in r.output and len(r.output.splitlines()) <= 1


def test_the_command_keeps_its_options_and_help():
    app = _app(None)
    assert runner.invoke(app, ["boom", "--width", "7"]).output == "width 7\n"
    shown = runner.invoke(app, ["boom", "--help"], env={"COLUMNS": "200"}).output
    assert "Raise the given error." in shown and "--width" in shown and "A width." in shown
