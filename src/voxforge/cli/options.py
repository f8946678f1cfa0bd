"""Typer options built from the pipelines' option schema (:mod:`voxforge.pipelines.options`),
the options every command shares, and the config a command's flags make.

``WidthOpt`` and its kind are ``Annotated`` types: a command declares ``width_studs: WidthOpt =
None``; None means "not given", so the config's (or the ``--config`` YAML's) value stands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from voxforge.core.errors import ConfigError
from voxforge.pipelines import options as po

M = TypeVar("M")


def typer_option(option: po.UserOption, **override: Any) -> Any:
    """``Annotated[type | None, typer.Option(...)]`` for ``option`` (``override``: other help,
    show_default, flag ...)."""
    spec: dict[str, Any] = {
        "flag": option.flag,
        "help": option.help,
        "show_default": option.show_default,
        "min": option.minimum,
        "max": option.maximum,
    }
    spec.update(override)
    kwargs = {k: v for k, v in spec.items() if k != "flag" and v is not None}
    return Annotated[option.type | None, typer.Option(spec["flag"], **kwargs)]


InputArg = Annotated[Path, typer.Argument(help="Scan, mesh, voxel grid or capture folder.")]
OutOpt = Annotated[Path, typer.Option("-o", "--output", help="Output folder (written atomically).")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML config (flags win).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]

WidthOpt = typer_option(po.WIDTH_STUDS)
ScaleOpt = typer_option(po.SCALE)
UpOpt = typer_option(po.UP)
UnitsOpt = typer_option(po.UNITS)
CleanOpt = typer_option(po.CLEAN)
AppMeshOpt = typer_option(po.USE_APP_MESH)
PlaneOpt = typer_option(po.PLANE)
PlaneMarginOpt = typer_option(po.PLANE_MARGIN)
ClusterRadiusOpt = typer_option(po.CLUSTER_RADIUS)
PickPointOpt = typer_option(po.PICK_POINT)
PickBoxOpt = typer_option(po.PICK_BOX)
PickOpt = typer_option(po.PICK)
BottomOpt = typer_option(po.EXTEND_BOTTOM)


def check_size(width_studs: int | None, scale: str | None) -> None:
    """Refuse ``--scale`` outside its choices, and ``--width-studs`` with ``--scale real``."""
    po.SCALE.check(scale)
    if scale == "real" and width_studs is not None:
        raise ConfigError("give either --width-studs or --scale real, not both")


def job_config(cls: type[M], path: Path | None, overrides: dict[str, Any]) -> M:
    """``cls`` from its defaults, the ``--config`` YAML at ``path`` and the flags' overrides."""
    from voxforge.core.config import build_config, load_config

    if path is not None:
        return load_config(cls, path, overrides)  # type: ignore[arg-type, return-value]
    return build_config(cls, overrides)  # type: ignore[arg-type, return-value]
