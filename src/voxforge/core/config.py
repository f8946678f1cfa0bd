"""Configs: pydantic models loadable from YAML, with validation errors turned into one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from voxforge.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def format_validation_error(err: ValidationError, where: str = "") -> str:
    """One line naming each bad field and why: ``width_studs: Input should be greater than 0``."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(root)"
        parts.append(f"{loc}: {e['msg']}")
    prefix = f"{where}: " if where else ""
    return prefix + "; ".join(parts)


def build_config(cls: type[M], data: dict[str, Any] | None = None, where: str = "") -> M:
    """Validate ``data`` into ``cls``, raising :class:`ConfigError` with a one-line message."""
    try:
        return cls.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, where or cls.__name__)) from None


def load_config(cls: type[M], path: str | Path, overrides: dict[str, Any] | None = None) -> M:
    """Read a YAML file into ``cls``; ``overrides`` (e.g. CLI flags) win over the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config ({err.strerror})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of options, found {type(data).__name__}")
    merged = _deep_merge(data, overrides or {})
    return build_config(cls, merged, where=str(path))


def dump_config(config: BaseModel) -> str:
    """The resolved config as YAML (written next to every run's outputs)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out
