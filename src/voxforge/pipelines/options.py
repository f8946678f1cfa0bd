"""The user-facing options of the scan/mesh pipelines, declared once for the CLI and the service.

Each :class:`UserOption` names a value a person sets (``width_studs``, ``strategy``, ``hollow``
...), the config field(s) it lands on (dotted paths into :class:`BrickifyConfig` or
:class:`VoxelizeJobConfig`), its type, choices, help line and the default ``--help`` shows. The
CLI builds its typer options from these declarations (``voxforge.cli.options``); the service
builds its flat job options (the web page's form, ``params.width_studs`` ...) from the ones marked
``shortcut``; both turn given values into config overrides through :func:`config_overrides`, so a
value means the same thing on both.

``hollow`` is a shell thickness in cells: a positive K hollows the model to a shell K cells thick;
``0``, ``false`` or ``--solid`` keep it solid; ``true`` (the CLI's bare ``--hollow``) takes the
default shell of :data:`DEFAULT_SHELL` cells.

Choices are checked when a config is built, before any input is read: the CLI checks the flags it
was given (:meth:`UserOption.check`), and :func:`check_choices` runs in the job configs'
validators, so a YAML config or a service job naming an unknown layout strategy fails at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from voxforge.core.errors import ConfigError

DEFAULT_SHELL = 2
"""Shell thickness in cells of a hollow model when none is given (``--hollow``, ``hollow: true``)."""


def hollow_cells(value: bool | int | None) -> int | None:
    """The ``voxel.hollow`` value of a ``hollow`` option: K cells, ``None`` for solid.

    ``True`` means :data:`DEFAULT_SHELL`; ``False`` and ``0`` mean solid.
    """
    if value is None or value is False or (value == 0 and not isinstance(value, bool)):
        return None
    if value is True:
        return DEFAULT_SHELL
    return value


def _numbers(n: int, flag: str) -> Callable[[Any], Any]:
    """A converter of ``"X,Y,Z"`` text to ``n`` floats (lists pass as they are)."""

    def convert(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        try:
            values = [float(v) for v in text.replace(" ", "").split(",")]
        except ValueError:
            raise ConfigError(f"{flag} needs {n} comma-separated numbers, got {text!r}") from None
        if len(values) != n:
            raise ConfigError(f"{flag} needs {n} comma-separated numbers, got {len(values)}")
        return values

    return convert


def _layout_strategies() -> Sequence[str]:
    from voxforge.bricks.layout.strategies import LAYOUT_STRATEGIES

    return LAYOUT_STRATEGIES.names()


@dataclass(frozen=True)
class UserOption:
    """One option a user sets, and where it lands in the job config.

    Attributes:
        name: the flat name: the CLI's parameter and, with ``shortcut``, the service's job key.
        paths: dotted config fields the value is written to (``seed`` seeds four stages).
        type: the value's Python type on the command line (``int``, ``float``, ``str``, ``bool``).
        help: the ``--help`` line.
        flag: the command-line spelling (``--width-studs``, ``--plane/--no-plane``).
        show_default: the default ``--help`` shows (the config's default), or None.
        choices: the accepted values, or a function listing them (a registry's names).
        minimum, maximum: bounds the CLI enforces while parsing (the config enforces its own).
        convert: maps a given value to the config value (``hollow``: True -> 2 cells).
        shortcut: the service also accepts the option as a flat job key.
    """

    name: str
    paths: tuple[str, ...]
    type: type
    help: str
    flag: str = ""
    show_default: str | None = None
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None
    minimum: float | None = None
    maximum: float | None = None
    convert: Callable[[Any], Any] | None = None
    shortcut: bool = False

    @property
    def path(self) -> str:
        """The first config field (the one the service names)."""
        return self.paths[0]

    def allowed(self) -> Sequence[str] | None:
        """The accepted values, or None when any value of the type goes."""
        return self.choices() if callable(self.choices) else self.choices

    def check(self, value: Any, spelled: str | None = None) -> None:
        """Refuse a value outside the choices.

        Raises:
            ConfigError: one line naming the option as ``spelled`` (default: the flag), the value
                and the accepted values.
        """
        allowed = self.allowed()
        if allowed is None or value is None or value in allowed:
            return
        if callable(self.choices) and isinstance(value, str) and value.lower() in allowed:
            return  # registries take names in any case
        shown = [repr(c) for c in allowed]
        one_of = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
        raise ConfigError(f"{spelled or self.flag} must be {one_of}, got {value!r}")

    def to_config(self, value: Any) -> Any:
        """The config value of a given value (choices checked, then converted)."""
        self.check(value)
        return self.convert(value) if self.convert is not None else value


def _opt(name: str, paths: str | tuple[str, ...], type_: type, help: str, **kw: Any) -> UserOption:
    flag = kw.pop("flag", "--" + name.replace("_", "-"))
    return UserOption(name, (paths,) if isinstance(paths, str) else paths, type_, help, flag=flag, **kw)


WIDTH_STUDS = _opt(
    "width_studs", "voxel.width_studs", int, "Longest horizontal side in studs.",
    show_default="32", minimum=1, shortcut=True,
)  # fmt: skip
SCALE = _opt(
    "scale", "voxel.scale", str, "'real' for 1:1 size (needs units), 'fit' to --width-studs.",
    show_default="fit", choices=("real", "fit"),
)  # fmt: skip
HOLLOW = _opt(
    "hollow", "voxel.hollow", int, "Hollow to a shell K cells thick.", minimum=1,
    convert=hollow_cells, shortcut=True,
)  # fmt: skip
"""``hollow`` as a thickness (``voxelize --hollow K``, the service's ``hollow``)."""
HOLLOW_SWITCH = _opt(
    "hollow", "voxel.hollow", bool, "Hollow shell or solid model.", flag="--hollow/--solid",
    show_default="solid", convert=hollow_cells,
)  # fmt: skip
"""``hollow`` as a switch (``brickify --hollow/--solid``, with :data:`SHELL` for the thickness)."""
SHELL = _opt("shell", (), int, "Shell thickness in cells when --hollow.", minimum=1)
"""The thickness of ``brickify --hollow``; its value reaches the config through ``hollow``."""
COLORS = _opt(
    "colors", "colors.mode", str, "auto | K (number of colours) | single:CODE",
    show_default="auto", shortcut=True,
)  # fmt: skip
PARTS = _opt(
    "parts", "layout.parts", str, "bricks | plates | mixed", show_default="bricks",
    choices=("bricks", "plates", "mixed"),
)  # fmt: skip
STRATEGY = _opt(
    "strategy", "layout.strategy", str, "Layout strategy (greedy, optimal, highs).",
    show_default="greedy", choices=_layout_strategies,
)  # fmt: skip
SEED = _opt(
    "seed", ("clean.seed", "voxel.seed", "colors.seed", "layout.seed"), int, "Random seed.",
    show_default="0",
)  # fmt: skip
TIME_BUDGET = _opt(
    "time_budget", "layout.time_budget", float,
    "Wall-clock safety cap on the layout and its repairs, seconds; the work is bounded by counts, "
    "so the same input and seed give the same model unless this cap stops it (then summary.json "
    "and a warning say so).",
    minimum=0.1, show_default="300",
)  # fmt: skip
UP = _opt(
    "up", "input.up", str, "Up axis of a mesh: y or z.", choices=("y", "z"),
    show_default="guessed for OBJ/STL/PLY, y for glTF, z otherwise",
)  # fmt: skip
UNITS = _opt(
    "units", "input.units", str, "Input units: m, cm, mm or in.", choices=("m", "cm", "mm", "in"),
    show_default="m for scans, guessed for meshes",
)  # fmt: skip
CLEAN = _opt(
    "clean", "input.clean", bool, "Clean up point clouds.", flag="--clean/--no-clean",
    show_default="on for point clouds",
)  # fmt: skip
USE_APP_MESH = _opt(
    "use_app_mesh", "input.use_app_mesh", bool,
    "For a capture export that holds the app's own mesh (export.obj, textured_output.obj): use "
    "that mesh instead of fusing the frames.",
)  # fmt: skip
PLANE = _opt(
    "plane", "clean.plane", bool, "Find and remove the table/ground plane.",
    flag="--plane/--no-plane", show_default="on",
)  # fmt: skip
PLANE_MARGIN = _opt(
    "plane_margin", "clean.plane_margin", float, "Also remove this much above the plane, metres.",
    minimum=0,
)  # fmt: skip
CLUSTER_RADIUS = _opt(
    "cluster_radius", "clean.cluster_radius", float,
    "Gap that separates objects, metres (default: measured from the scan's point spacing, 1-3 cm).",
    minimum=0.0001,
)  # fmt: skip
PICK_POINT = _opt(
    "pick_point", "clean.pick_point", str, "Keep the object nearest X,Y,Z (input units).",
    convert=_numbers(3, "--pick-point"),
)  # fmt: skip
PICK_BOX = _opt(
    "pick_box", "clean.pick_box", str, "Keep the object inside X0,Y0,Z0,X1,Y1,Z1 (input units).",
    convert=_numbers(6, "--pick-box"),
)  # fmt: skip
PICK = _opt("pick", "clean.pick", int, "Keep candidate N as `voxforge scene` lists it.", minimum=1)
EXTEND_BOTTOM = _opt(
    "extend_bottom", "voxel.extend_bottom", bool,
    "Extend a partial scan's open bottom down to the base.",
)  # fmt: skip
INSTRUCTIONS = _opt(
    "instructions", "instructions.formats", str,
    "Building instructions to write: any of pdf,html,steps, or none.", show_default="pdf,html,steps",
)  # fmt: skip
MESHES = _opt(
    "meshes", "meshes", str,
    "Brick-model meshes: any of glb,obj,stl,ply,gltf,3mf,usda,usdz,fbx (default glb), or none.",
)  # fmt: skip
BUILD_ORDER = _opt(
    "build_order", "build_order", bool,
    "Plan a build order for model.mpd (default: only with instructions).",
    flag="--build-order/--no-build-order",
)  # fmt: skip
CLASSIFY = _opt(
    "classify", "classify", bool, "Name the object (summary.json); default off.",
    flag="--classify/--no-classify",
)  # fmt: skip
COMPLETE = _opt(
    "complete", "complete", str,
    "Fill a scan's unseen side with the completion network: auto (one-sided scans only) | on | "
    "off (default).",
    choices=("auto", "on", "off"),
)  # fmt: skip
SAFETY_MARGIN = _opt(
    "safety_margin", "physics.safety_margin", float,
    "Share of every stud's clutch that must stay unused for the model to be called buildable "
    "(default 0.2); the repair props and re-lays towards it.",
    minimum=0.0, maximum=0.99,
)  # fmt: skip

SCAN_OPTIONS = (
    UP, UNITS, CLEAN, USE_APP_MESH, PLANE, PLANE_MARGIN, CLUSTER_RADIUS, PICK_POINT, PICK_BOX,
    PICK, EXTEND_BOTTOM,
)  # fmt: skip
"""Reading and cleaning a scan, shared by voxelize and brickify."""
VOXELIZE_OPTIONS = (WIDTH_STUDS, SCALE, HOLLOW, *SCAN_OPTIONS)
"""The options of the voxelize pipeline (:class:`~voxforge.pipelines.voxelize.VoxelizeJobConfig`)."""
BRICKIFY_OPTIONS = (
    WIDTH_STUDS, SCALE, COLORS, HOLLOW, PARTS, STRATEGY, SEED, TIME_BUDGET, *SCAN_OPTIONS,
    INSTRUCTIONS, MESHES, BUILD_ORDER, CLASSIFY, COMPLETE, SAFETY_MARGIN,
)  # fmt: skip
"""The options of the brickify pipeline (:class:`~voxforge.pipelines.brickify.BrickifyConfig`)."""


def shortcuts(options: Iterable[UserOption]) -> dict[str, UserOption]:
    """The options the service takes as flat job keys, by name."""
    return {o.name: o for o in options if o.shortcut}


def config_overrides(options: Iterable[UserOption], values: Mapping[str, Any]) -> dict[str, Any]:
    """Nested config overrides from option values by name (None: not given).

    Raises:
        ConfigError: a value outside its option's choices (naming the flag).
    """
    out: dict[str, Any] = {}
    for option in options:
        value = values.get(option.name)
        if value is None:
            continue
        converted = option.to_config(value)
        for path in option.paths:
            *parents, leaf = path.split(".")
            node = out
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = converted
    return out


def check_choices(config: BaseModel, options: Iterable[UserOption]) -> None:
    """Refuse a built config whose option values are outside their choices (a registry's names).

    Raises:
        ConfigError: naming the config field, the value and the accepted values.
    """
    for option in options:
        if not callable(option.choices):  # fixed choices: the config's Literal types check them
            continue
        for path in option.paths:
            node: Any = config
            for part in path.split("."):
                node = getattr(node, part, None)
            option.check(node, spelled=path)
