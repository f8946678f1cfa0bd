"""The root typer app, the exit codes and :func:`command`, the wrapper every command runs in.

Commands are thin: parse flags into a config (preset < ``--config`` YAML < flags), call one
pipeline, print where the results are. Every :class:`~voxforge.core.errors.VoxforgeError` becomes
one line on stderr and the exit code of its family; set ``VOXFORGE_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from voxforge.core.errors import VoxforgeError

EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "other voxforge error",
    2: "input unreadable or of an unknown kind",
    3: "geometry unusable (empty, NaN, no faces, too flat)",
    4: "too large (the message names a size that fits)",
    5: "invalid option or config",
    70: "internal error (a bug: rerun with VOXFORGE_DEBUG=1)",
    130: "interrupted (SIGINT)",
    143: "stopped (SIGTERM)",
}
"""Exit codes of every command (``core/errors.py`` gives each error family its code); README
"Exit codes" spells them out."""
EXIT_EPILOG = "Exit codes: " + ", ".join(f"{code} {what}" for code, what in EXIT_CODES.items()) + "."

app = typer.Typer(
    help="voxforge: scans, meshes and voxels in; clean 3D models and buildable LEGO models out.",
    epilog=EXIT_EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

P = ParamSpec("P")
T = TypeVar("T")
INTERNAL_ERROR_EXIT = 70


@app.callback()
def main_options(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (-v info, -vv debug).")
    ] = 0,
) -> None:
    """Route library logging to stderr: warnings by default, one line each."""
    import logging

    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("voxforge: %(levelname)s: %(message)s"))
    root = logging.getLogger("voxforge")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    for noisy in ("trimesh", "numba", "PIL"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def fail(message: str, code: int) -> None:
    """Print ``voxforge: error: MESSAGE`` on stderr and exit with ``code``."""
    typer.echo(f"voxforge: error: {message}", err=True)
    raise typer.Exit(code)


class Terminated(BaseException):
    """SIGTERM (or SIGINT) arrived: unwinds like KeyboardInterrupt, so every ``OutputDir`` on the
    way out removes its staging folder, and :func:`guarded` exits with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def exit_cleanly_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT raise :class:`Terminated` (once; a repeat during
    the clean-up is ignored); the previous handlers come back afterwards. Signals someone set to
    be ignored stay ignored, nothing changes outside the main thread, and a process forked
    meanwhile (a worker pool) still dies of the signal as by default."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}
    owner = os.getpid()

    def handler(signum: int, frame: Any) -> None:
        if os.getpid() != owner:  # a forked helper process: die as it would have
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        raise Terminated(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def guarded(func: Callable[[], T]) -> T:
    """Run ``func``; turn voxforge errors (and anything unexpected) into one line and an exit code.

    SIGTERM and SIGINT stop the run cleanly (staging folders removed, exit 143 or 130).
    """
    try:
        with exit_cleanly_on_signals():
            return func()
    except typer.Exit:
        raise
    except Terminated as stop:
        name = "SIGINT" if stop.signum == 2 else "SIGTERM" if stop.signum == 15 else str(stop.signum)
        fail(f"stopped by {name}; no output was written", 128 + stop.signum)
    except VoxforgeError as err:
        if os.environ.get("VOXFORGE_DEBUG"):
            raise
        fail(str(err).splitlines()[0] if str(err) else type(err).__name__, err.exit_code)
    except KeyboardInterrupt:
        fail("interrupted; no output was written", 130)
    except MemoryError:
        fail("out of memory; try a smaller --width-studs", 4)
    except Exception as err:  # a bug: still one line, never a traceback for users
        if os.environ.get("VOXFORGE_DEBUG"):
            raise
        first = str(err).splitlines()[0] if str(err) else ""
        fail(
            f"internal error ({type(err).__name__}: {first}); rerun with VOXFORGE_DEBUG=1 and report it",
            INTERNAL_ERROR_EXIT,
        )
    raise AssertionError("unreachable")


def command(func: Callable[P, T]) -> Callable[P, T]:
    """Make ``func`` a command body: it runs under :func:`guarded` (one-line errors, exit codes,
    clean stops on SIGTERM/SIGINT). Typer reads the options from ``func``'s own signature and
    its help from its docstring; register the result with ``app.command(NAME)``."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return guarded(lambda: func(*args, **kwargs))

    return run
