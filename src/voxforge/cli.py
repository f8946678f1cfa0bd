"""The ``voxforge`` command line (typer).

Commands are thin: parse flags into a config (preset < ``--config`` YAML < flags), call one
pipeline, print where the results are. Every :class:`~voxforge.core.errors.VoxforgeError` becomes
one line on stderr and a non-zero exit code; set ``VOXFORGE_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from voxforge.core.errors import ConfigError, VoxforgeError

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


def _fail(message: str, code: int) -> None:
    typer.echo(f"voxforge: error: {message}", err=True)
    raise typer.Exit(code)


class Terminated(BaseException):
    """SIGTERM (or SIGINT) arrived: unwinds like KeyboardInterrupt, so every ``OutputDir`` on the
    way out removes its staging folder, and ``guarded`` exits with 128 + the signal number."""

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
        _fail(f"stopped by {name}; no output was written", 128 + stop.signum)
    except VoxforgeError as err:
        if os.environ.get("VOXFORGE_DEBUG"):
            raise
        _fail(str(err).splitlines()[0] if str(err) else type(err).__name__, err.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted; no output was written", 130)
    except MemoryError:
        _fail("out of memory; try a smaller --width-studs", 4)
    except Exception as err:  # a bug: still one line, never a traceback for users
        if os.environ.get("VOXFORGE_DEBUG"):
            raise
        first = str(err).splitlines()[0] if str(err) else ""
        _fail(
            f"internal error ({type(err).__name__}: {first}); rerun with VOXFORGE_DEBUG=1 and report it",
            INTERNAL_ERROR_EXIT,
        )
    raise AssertionError("unreachable")


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, float], None]]:
    """A rich progress bar driven by a pipeline's ``progress(stage, fraction)`` callback; without
    a terminal (stderr redirected to a file or pipe), one stderr line as each stage starts."""
    if not enabled:
        yield lambda stage, fraction: None
        return
    if not sys.stderr.isatty():
        yield stage_lines()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=1.0)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, completed=fraction, description=stage)

        yield update


def stage_lines() -> Callable[[str, float], None]:
    """A progress callback that writes ``voxforge: STAGE (N%, T s)`` when a new stage starts."""
    import time

    start = time.perf_counter()
    last: list[str] = []

    def report(stage: str, fraction: float) -> None:
        if last and last[-1] == stage:
            return
        last.append(stage)
        elapsed = time.perf_counter() - start
        sys.stderr.write(f"voxforge: {stage} ({fraction:.0%} done, {elapsed:.1f} s)\n")
        sys.stderr.flush()

    return report


def _overrides(**flags: Any) -> dict[str, Any]:
    """Nested config overrides from flags given as ``section__field=value`` (None = not given)."""
    out: dict[str, Any] = {}
    for key, value in flags.items():
        if value is None:
            continue
        section, _, field = key.partition("__")
        out.setdefault(section, {})[field] = value
    return out


def _config(cls: type[T], path: Path | None, overrides: dict[str, Any]) -> T:
    from voxforge.core.config import build_config, load_config

    if path is not None:
        return load_config(cls, path, overrides)  # type: ignore[arg-type, return-value]
    return build_config(cls, overrides)  # type: ignore[arg-type, return-value]


def _size_flags(width_studs: int | None, scale: str | None) -> dict[str, Any]:
    if scale is not None and scale not in ("real", "fit"):
        raise ConfigError(f"--scale must be 'real' or 'fit', got {scale!r}")
    if scale == "real" and width_studs is not None:
        raise ConfigError("give either --width-studs or --scale real, not both")
    flags: dict[str, Any] = {}
    if scale is not None:
        flags["voxel__scale"] = scale
    if width_studs is not None:
        flags["voxel__width_studs"] = width_studs
    return flags


InputArg = Annotated[Path, typer.Argument(help="Scan, mesh, voxel grid or capture folder.")]
OutOpt = Annotated[Path, typer.Option("-o", "--output", help="Output folder (written atomically).")]
WidthOpt = Annotated[
    int | None,
    typer.Option("--width-studs", help="Longest horizontal side in studs.", min=1, show_default="32"),
]
ScaleOpt = Annotated[
    str | None,
    typer.Option(
        "--scale", help="'real' for 1:1 size (needs units), 'fit' to --width-studs.", show_default="fit"
    ),
]
UpOpt = Annotated[
    str | None,
    typer.Option(
        "--up",
        help="Up axis of a mesh: y or z.",
        show_default="guessed for OBJ/STL/PLY, y for glTF, z otherwise",
    ),
]
UnitsOpt = Annotated[
    str | None,
    typer.Option(
        "--units", help="Input units: m, cm, mm or in.", show_default="m for scans, guessed for meshes"
    ),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML config (flags win).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
AppMeshOpt = Annotated[
    bool | None,
    typer.Option(
        "--use-app-mesh",
        help="For a capture export that holds the app's own mesh (export.obj, "
        "textured_output.obj): use that mesh instead of fusing the frames.",
    ),
]
CleanOpt = Annotated[
    bool | None,
    typer.Option(
        "--clean/--no-clean", help="Clean up point clouds.", show_default="on for point clouds"
    ),
]
PlaneOpt = Annotated[
    bool | None,
    typer.Option(
        "--plane/--no-plane", help="Find and remove the table/ground plane.", show_default="on"
    ),
]
PlaneMarginOpt = Annotated[
    float | None,
    typer.Option("--plane-margin", help="Also remove this much above the plane, metres.", min=0),
]
ClusterRadiusOpt = Annotated[
    float | None,
    typer.Option("--cluster-radius", help="Gap that separates objects, metres.", min=0.0001),
]
PickPointOpt = Annotated[
    str | None, typer.Option("--pick-point", help="Keep the object nearest X,Y,Z (input units).")
]
PickBoxOpt = Annotated[
    str | None,
    typer.Option("--pick-box", help="Keep the object inside X0,Y0,Z0,X1,Y1,Z1 (input units)."),
]
PickOpt = Annotated[
    int | None,
    typer.Option("--pick", help="Keep candidate N as `voxforge scene` lists it.", min=1),
]
BottomOpt = Annotated[
    bool | None,
    typer.Option("--extend-bottom", help="Extend a partial scan's open bottom down to the base."),
]


def _margin_text(margin: float | None) -> str:
    """``margin 0.42``, or why there is none (an UNKNOWN verdict has no margin)."""
    if margin is None or margin != margin:
        return "margin not determined"
    return f"margin {margin:.2f}"


PHYSICS_WORDS = {
    "STABLE": "stands",
    "UNSTABLE": "does not stand (some studs would pull apart)",
    "FLOATING": "some parts have nothing under them",
    "UNKNOWN": "not decided",
}
"""The physics verdicts in a builder's words."""


def _physics_text(stab: dict[str, Any]) -> str:
    """``stands; the most loaded stud uses 58% of its clutch (margin 0.42)``."""
    from voxforge.bricks.verdict import grip_text

    verdict = stab.get("verdict", "UNKNOWN")
    words = PHYSICS_WORDS.get(verdict, verdict)
    margin = stab.get("margin")
    if verdict in ("STABLE", "UNSTABLE") and margin is not None:
        return f"{words}; {grip_text(margin)} ({_margin_text(margin)})"
    return f"{words} ({stab.get('status', '')})" if verdict == "UNKNOWN" else words


def _floats(text: str | None, n: int, flag: str) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        raise ConfigError(f"{flag} needs {n} comma-separated numbers, got {text!r}") from None
    if len(values) != n:
        raise ConfigError(f"{flag} needs {n} comma-separated numbers, got {len(values)}")
    return values


def _scan_flags(
    plane: bool | None,
    plane_margin: float | None,
    cluster_radius: float | None,
    pick_point: str | None,
    pick_box: str | None,
    extend_bottom: bool | None,
    pick: int | None = None,
) -> dict[str, Any]:
    return {
        "clean__pick": pick,
        "clean__plane": plane,
        "clean__plane_margin": plane_margin,
        "clean__cluster_radius": cluster_radius,
        "clean__pick_point": _floats(pick_point, 3, "--pick-point"),
        "clean__pick_box": _floats(pick_box, 6, "--pick-box"),
        "voxel__extend_bottom": extend_bottom,
    }


@app.command()
def version() -> None:
    """Print the voxforge version."""
    from voxforge import __version__

    typer.echo(__version__)


@app.command()
def formats() -> None:
    """List the file formats voxforge reads and writes."""

    def run() -> None:
        from rich.console import Console
        from rich.table import Table

        from voxforge.io import available_formats

        table = Table("format", "kind", "extensions", "read", "write")
        for f in available_formats():
            table.add_row(
                str(f["name"]),
                str(f["kind"]),
                " ".join(f["extensions"]),
                "yes" if f.get("read", True) else "",
                "yes" if f.get("write") else "",
            )
        Console().print(table)

    guarded(run)


@app.command()
def info(
    path: InputArg,
    up: UpOpt = None,
    units: UnitsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Say what was read from FILE: points, colours, bounds, units."""

    def run() -> None:
        from voxforge.core.config import build_config
        from voxforge.pipelines.common import InputConfig, describe, read_input

        cfg = build_config(InputConfig, _overrides(x__up=up, x__units=units).get("x", {}))
        data = {"path": str(path), **describe(read_input(path, cfg))}
        if as_json:
            typer.echo(json.dumps(data, indent=2))
            return
        for key, value in data.items():
            if isinstance(value, dict):  # a capture: what the app wrote
                for sub, v in value.items():
                    shown = ", ".join(v) if isinstance(v, list) else v
                    typer.echo(f"{sub:>14}: {shown if shown not in (None, '') else '-'}")
                if value.get("app_meshes"):
                    typer.echo(f"{'':>14}  (the app's own mesh: read it with --use-app-mesh)")
                continue
            typer.echo(f"{key:>14}: {value}")

    guarded(run)


@app.command(epilog=EXIT_EPILOG)
def voxelize(
    input: InputArg,
    output: OutOpt,
    width_studs: WidthOpt = None,
    scale: ScaleOpt = None,
    hollow: Annotated[
        int | None, typer.Option("--hollow", help="Hollow to a shell K cells thick.", min=1)
    ] = None,
    up: UpOpt = None,
    units: UnitsOpt = None,
    clean: CleanOpt = None,
    use_app_mesh: AppMeshOpt = None,
    plane: PlaneOpt = None,
    plane_margin: PlaneMarginOpt = None,
    cluster_radius: ClusterRadiusOpt = None,
    pick_point: PickPointOpt = None,
    pick_box: PickBoxOpt = None,
    pick: PickOpt = None,
    extend_bottom: BottomOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Voxelize INPUT onto the LEGO lattice: grid.npz, preview.png, summary.json, manifest.json."""

    def run() -> None:
        from voxforge.pipelines.voxelize import VoxelizeJobConfig, run_voxelize

        flags = _overrides(
            input__up=up,
            input__units=units,
            input__clean=clean,
            input__use_app_mesh=use_app_mesh,
            voxel__hollow=hollow,
            **_size_flags(width_studs, scale),
            **_scan_flags(
                plane, plane_margin, cluster_radius, pick_point, pick_box, extend_bottom, pick
            ),
        )
        cfg = _config(VoxelizeJobConfig, config, flags)
        with progress_bar(not quiet) as cb:
            result = run_voxelize(input, output, cfg, progress=cb)
        g = result.summary["grid"]
        size = (
            f"{g['studs'][0]} x {g['studs'][1]} studs x {g['plates']} plates"
            if "studs" in g
            else (" x ".join(str(c) for c in g["cells"]) + " cells")
        )
        _echo_input_notes(result.summary.get("input") or {})
        for line in pick_lines(result.summary.get("clean")):
            typer.echo(line)
        typer.echo(f"{g['filled']:,} cells, {size} ({' x '.join(str(c) for c in g['size_cm'])} cm)")
        typer.echo(f"wrote {output}/ (grid.npz, preview.png, summary.json, manifest.json)")

    guarded(run)


@app.command(epilog=EXIT_EPILOG)
def brickify(
    input: InputArg,
    output: OutOpt,
    width_studs: WidthOpt = None,
    scale: ScaleOpt = None,
    colors: Annotated[
        str | None,
        typer.Option("--colors", help="auto | K (number of colours) | single:CODE", show_default="auto"),
    ] = None,
    hollow: Annotated[
        bool | None,
        typer.Option("--hollow/--solid", help="Hollow shell or solid model.", show_default="solid"),
    ] = None,
    shell: Annotated[
        int, typer.Option("--shell", help="Shell thickness in cells when --hollow.", min=1)
    ] = 2,
    parts: Annotated[
        str | None, typer.Option("--parts", help="bricks | plates | mixed", show_default="bricks")
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy", help="Layout strategy (greedy, optimal, highs).", show_default="greedy"
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.", show_default="0")] = None,
    time_budget: Annotated[
        float | None,
        typer.Option("--time-budget", help="Layout time budget, seconds.", min=0.1, show_default="10"),
    ] = None,
    up: UpOpt = None,
    units: UnitsOpt = None,
    clean: CleanOpt = None,
    use_app_mesh: AppMeshOpt = None,
    plane: PlaneOpt = None,
    plane_margin: PlaneMarginOpt = None,
    cluster_radius: ClusterRadiusOpt = None,
    pick_point: PickPointOpt = None,
    pick_box: PickBoxOpt = None,
    pick: PickOpt = None,
    extend_bottom: BottomOpt = None,
    instructions: Annotated[
        str | None,
        typer.Option(
            "--instructions",
            help="Building instructions to write: any of pdf,html,steps, or none.",
            show_default="pdf,html,steps",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Build even past the part budget (max_parts, 8,000).")
    ] = False,
    meshes: Annotated[
        str | None,
        typer.Option("--meshes", help="Brick-model meshes: any of glb,obj,stl (default glb), or none."),
    ] = None,
    build_order: Annotated[
        bool | None,
        typer.Option(
            "--build-order/--no-build-order",
            help="Plan a build order for model.mpd (default: only with instructions).",
        ),
    ] = None,
    classify: Annotated[
        bool | None,
        typer.Option("--classify/--no-classify", help="Name the object (summary.json); default off."),
    ] = None,
    complete: Annotated[
        str | None,
        typer.Option(
            "--complete",
            help="Fill a scan's unseen side with the completion network: auto (one-sided scans "
            "only) | on | off (default).",
        ),
    ] = None,
    safety_margin: Annotated[
        float | None,
        typer.Option(
            "--safety-margin",
            help="Share of every stud's clutch that must stay unused for the model to be called "
            "buildable (default 0.2); the repair props and re-lays towards it.",
            min=0.0,
            max=0.99,
        ),
    ] = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Turn INPUT into a buildable LEGO model: steps, booklets, parts lists, preview, GLB."""

    def run() -> None:
        from voxforge.pipelines.brickify import BrickifyConfig, run_brickify

        hollow_cells = None if hollow is None else (shell if hollow else None)
        flags = _overrides(
            input__up=up,
            input__units=units,
            input__clean=clean,
            input__use_app_mesh=use_app_mesh,
            colors__mode=colors,
            layout__parts=parts,
            layout__strategy=strategy,
            layout__time_budget=time_budget,
            instructions__formats=instructions,
            physics__safety_margin=safety_margin,
            **_size_flags(width_studs, scale),
            **_scan_flags(
                plane, plane_margin, cluster_radius, pick_point, pick_box, extend_bottom, pick
            ),
        )
        top = {"meshes": meshes, "build_order": build_order, "classify": classify,
               "complete": complete}  # fmt: skip
        flags.update({k: v for k, v in top.items() if v is not None})
        if hollow is not None:
            flags.setdefault("voxel", {})["hollow"] = hollow_cells
        if seed is not None:
            for section in ("clean", "voxel", "colors", "layout"):
                flags.setdefault(section, {})["seed"] = seed
        if force:
            flags["max_parts"] = None
        cfg = _config(BrickifyConfig, config, flags)
        with progress_bar(not quiet) as cb:
            result = run_brickify(input, output, cfg, progress=cb)
        s = result.summary
        for line in pick_lines(s.get("clean")):
            typer.echo(line)
        size = s["size"]
        stab = s["stability"] or {}
        _echo_input_notes(s.get("input") or {})
        typer.echo(
            f"{s['parts']['total']:,} parts ({s['parts']['distinct']} kinds, "
            f"{len(s['colors'])} colours), "
            f"{size['studs'][0]} x {size['studs'][1]} studs x {size['plates']} plates "
            f"({' x '.join(str(c) for c in size['cm'])} cm), {s['mass_g']} g"
        )
        typer.echo(f"physics: {_physics_text(stab)}")
        if s.get("completion"):
            c = s["completion"]
            done = f"added {c.get('added_cells', 0):,} cells" if c["applied"] else "not applied"
            typer.echo(f"completion: {done} ({c['reason']})")
        steps = s.get("instructions") or {}
        if steps.get("steps"):
            typer.echo(f"instructions: {steps['steps']} steps ({_steps_text(steps)})")
        for line in problem_lines(steps.get("problems") or []):
            typer.echo(line, err=True)
        typer.echo(f"wrote {output}/ ({', '.join(_top_level_outputs(output))})")
        typer.echo(s["verdict"]["headline"])

    guarded(run)


def _echo_input_notes(info: dict[str, Any]) -> None:
    """The reader's guesses a user may want to override (``up axis: z (guessed ...)``)."""
    if info.get("up_note"):
        typer.echo(info["up_note"])


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


def _steps_text(summary: dict[str, Any]) -> str:
    per = summary.get("parts_per_step") or {}
    text = f"median {per.get('median', 0):g} parts per step"
    subs = summary.get("submodels") or []
    return text + (f", {len(subs)} sub-assemblies" if subs else "")


def _top_level_outputs(folder: Path) -> list[str]:
    """Output names from the manifest, with a folder of many files (steps/) shown once."""
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    names: list[str] = []
    for item in manifest["outputs"]:
        top = item["name"].split("/", 1)[0] + ("/" if "/" in item["name"] else "")
        if top not in names:
            names.append(top)
    return [*names, "manifest.json"]


# Commands of the other stages, each defined beside its code (imports inside the commands).
from voxforge.bricks.order_commands import order  # noqa: E402
from voxforge.instructions.commands import instructions as instructions_cmd  # noqa: E402
from voxforge.nn.commands import classify, data_app, evaluate_app, train_app  # noqa: E402
from voxforge.nn.completion import commands as completion_cmds  # noqa: E402
from voxforge.nn.recon_commands import evaluate_reconstruction_cmd, render_set_cmd  # noqa: E402
from voxforge.nn.recon_train_commands import (  # noqa: E402
    ship_reconstruction_cmd,
    train_reconstruction_cmd,
)
from voxforge.nn.recon_use_commands import reconstruct  # noqa: E402
from voxforge.scan.scene_commands import pick_lines, scene  # noqa: E402
from voxforge.service.commands import admin_app, serve, users_app  # noqa: E402

train_app.command("reconstruction")(train_reconstruction_cmd)
train_app.command("ship-reconstruction")(ship_reconstruction_cmd)
evaluate_app.command("reconstruction")(evaluate_reconstruction_cmd)
train_app.command("completion")(completion_cmds.train_completion_cmd)
train_app.command("ship-completion")(completion_cmds.ship_completion_cmd)
evaluate_app.command("completion")(completion_cmds.evaluate_completion_cmd)
app.command("complete")(completion_cmds.complete_cmd)
data_app.command("render-set")(render_set_cmd)
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(data_app, name="data")
app.command("classify")(classify)
app.command("order")(order)
app.command("instructions")(instructions_cmd)
app.command("reconstruct", epilog=EXIT_EPILOG)(reconstruct)
app.command("scene")(scene)
app.command("serve")(serve)
app.add_typer(users_app, name="users")
app.add_typer(admin_app, name="admin")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
