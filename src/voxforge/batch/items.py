"""A batch's items: inputs (files, folders, globs, CSV/JSONL manifests) -> validated jobs.

Every item is checked before anything runs: its input exists (or a ``generate`` item has a
prompt) and its options validate into the pipeline's config, so a typo on line 57 of a manifest
is one error naming the file and line, not a failure an hour into the batch.

Options merge in this order, later winning: the pipeline config's defaults, ``--config`` YAML, the
batch's ``--set`` / flag values, the item's own manifest columns. An option key is a flat user
option of :mod:`voxforge.pipelines.options` (``width_studs``, ``hollow``, ``strategy`` ...), a
dotted config path (``layout.strategy``) or a top-level config field (``classify``, ``meshes``).
Text values (CSV cells, ``--set`` values) are read as the flat option's type, else as YAML
scalars or flow lists (``12`` reads as 12, ``true`` as True, ``[glb, stl]`` as a list).
"""

from __future__ import annotations

import csv
import glob
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from voxforge.batch.pipelines import BatchPipeline
from voxforge.core.config import _deep_merge, build_config
from voxforge.core.errors import ConfigError, UnsupportedInputError, VoxforgeError
from voxforge.pipelines.options import UserOption

MANIFEST_SUFFIXES = (".csv", ".jsonl")
"""Inputs with these suffixes are manifests: one item per line (CSV: per row after the header)."""
RESERVED_COLUMNS = ("input", "name", "prompt")
"""Manifest columns that are not options: the input path, the item's folder name, the prompt."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
SKIPPED_NAMES = ("batch.jsonl", "manifest.json", "config.yaml")


@dataclass(frozen=True)
class BatchItem:
    """One job of a batch, validated.

    Attributes:
        name: the item's output folder under the batch's OUT (unique within the batch).
        input: the input file or folder (None for a prompt-only ``generate`` item).
        config: the pipeline config, validated.
        options: the options the item set itself (for the report).
        source: where the item came from (``manifest.csv:3`` or the path given).
    """

    name: str
    input: Path | None
    config: BaseModel
    options: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class _Raw:
    input: Path | None
    options: dict[str, Any]
    source: str
    name: str | None = None
    prompt: str | None = None
    text: bool = False  # option values are text (CSV cells)


# --------------------------------------------------------------------------- options


def parse_text_value(option: UserOption | None, text: str) -> Any:
    """A text value (CSV cell, ``--set`` value) as the option's type, else as a YAML scalar or
    flow list."""
    text = text.strip()
    if option is not None and option.type is bool:
        low = text.lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"{option.name}: expected true or false, got {text!r}")
    if option is not None and option.type in (int, float):
        try:
            return option.type(text)
        except ValueError:
            if option.convert is not None:  # hollow: true/false/K
                return parse_text_value(None, text)
            raise ConfigError(f"{option.name}: expected a number, got {text!r}") from None
    if option is not None:
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (str, int, float, bool, list)) or value is None else text


def option_overrides(
    pipeline: BatchPipeline, values: Mapping[str, Any], *, text: bool = False
) -> dict[str, Any]:
    """Nested config data from option keys (flat names, dotted paths, top-level fields).

    Raises:
        ConfigError: a value outside a flat option's choices, or unreadable text.
    """
    flat = {o.name: o for o in pipeline.options}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or (text and isinstance(value, str) and value.strip() == ""):
            continue
        option = None if isinstance(value, dict) else flat.get(key)  # a dict is a config group
        if text and isinstance(value, str):
            value = parse_text_value(option, value)
        if option is not None:
            if not option.paths:  # ``shell`` reaches the config through ``hollow``
                continue
            converted = option.to_config(value)
            paths: Iterable[str] = option.paths
        else:
            converted, paths = value, (key,)
        for path in paths:
            *parents, leaf = path.split(".")
            node = out
            for p in parents:
                node = node.setdefault(p, {})
                if not isinstance(node, dict):
                    raise ConfigError(f"{key}: {p} is not a group of options")
            node[leaf] = converted
    return out


def parse_set(pairs: Sequence[str]) -> dict[str, str]:
    """``--set KEY=VALUE`` pairs -> a mapping (values stay text).

    Raises:
        ConfigError: a pair without ``=``.
    """
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--set needs KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


# --------------------------------------------------------------------------- inputs


def _is_manifest(path: Path) -> bool:
    return path.suffix.lower() in MANIFEST_SUFFIXES and path.is_file()


def _accepts(pipeline: BatchPipeline, path: Path) -> bool:
    """Whether a file found in a folder is an input of ``pipeline`` (by suffix)."""
    name = path.name
    if name.startswith(".") or name in SKIPPED_NAMES:
        return False
    suffix = path.suffix.lower()
    if pipeline.input == "image":
        return suffix in IMAGE_SUFFIXES
    if pipeline.input == "prompt":
        return suffix == ".txt"
    from voxforge.io.formats import EXTENSIONS

    return suffix in EXTENSIONS and suffix not in MANIFEST_SUFFIXES


def _raw_items(pipeline: BatchPipeline, inputs: Sequence[str | Path]) -> list[_Raw]:
    raws: list[_Raw] = []
    for given in inputs:
        text = str(given)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _accepts(pipeline, p))
            if not found:
                raise UnsupportedInputError(f"{text}: no {pipeline.name} inputs in this folder")
            raws.extend(_Raw(p, {}, str(p)) for p in found)
        elif _is_manifest(path):
            raws.extend(read_manifest(path))
        elif path.exists():
            raws.append(_Raw(path, {}, text))
        elif glob.has_magic(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not found:
                raise UnsupportedInputError(f"{text}: the pattern matches no file")
            raws.extend(_Raw(p, {}, str(p)) for p in found)
        else:
            raise UnsupportedInputError(f"{text}: no such file or folder")
    return raws


def read_manifest(path: Path) -> list[_Raw]:
    """The items of a CSV (header row; an ``input`` or ``prompt`` column) or JSONL manifest.

    Relative inputs are relative to the manifest's folder.

    Raises:
        ConfigError: unreadable lines, a line with neither input nor prompt (naming file and line).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the manifest ({err})") from None
    rows: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or not {"input", "prompt"} & set(reader.fieldnames):
            raise ConfigError(f"{path}:1: a manifest's header needs an 'input' or 'prompt' column")
        for row in reader:
            if None in row:
                raise ConfigError(f"{path}:{reader.line_num}: more cells than the header names")
            if any((v or "").strip() for v in row.values()):
                rows.append((reader.line_num, dict(row)))
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                obj = json.loads(line)
            except ValueError as err:
                raise ConfigError(f"{path}:{n}: not a JSON object ({err})") from None
            if not isinstance(obj, dict):
                raise ConfigError(f"{path}:{n}: expected a JSON object, found {type(obj).__name__}")
            rows.append((n, obj))
    return [_row_item(path, n, row) for n, row in rows]


def _row_item(manifest: Path, line: int, row: dict[str, Any]) -> _Raw:
    where = f"{manifest}:{line}"
    options = {k: v for k, v in row.items() if k not in RESERVED_COLUMNS}
    nested = options.pop("options", None)
    if nested is not None:
        if not isinstance(nested, dict):
            raise ConfigError(f"{where}: 'options' must be a JSON object")
        options.update(nested)
    given = row.get("input")
    prompt = row.get("prompt")
    if not given and not prompt:
        raise ConfigError(f"{where}: no input (and no prompt)")
    path = None
    if given:
        if not isinstance(given, str):
            raise ConfigError(f"{where}: input must be a path, got {given!r}")
        path = Path(given)
        if not path.is_absolute():
            path = manifest.parent / path
    name = row.get("name") or None
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{where}: name must be text, got {name!r}")
    text = manifest.suffix.lower() == ".csv"
    return _Raw(path, options, where, name=name, prompt=prompt or None, text=text)


# --------------------------------------------------------------------------- items


def safe_name(text: str) -> str:
    """A folder name from ``text``: letters, digits, ``-``, ``_``, ``.``; never hidden or empty."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "item"
    return name[:100]


def expand_items(
    pipeline: BatchPipeline,
    inputs: Sequence[str | Path],
    base: Mapping[str, Any] | None = None,
) -> list[BatchItem]:
    """Every item of ``inputs``, validated into ``pipeline``'s config over ``base`` (nested
    config data: ``--config`` YAML merged with the batch's options).

    Raises:
        ConfigError: a bad option or manifest line (one line naming where); no inputs.
        UnsupportedInputError: an input that does not exist or a folder with no inputs.
    """
    if not inputs:
        raise ConfigError("give at least one input (file, folder, glob or manifest)")
    raws = _raw_items(pipeline, inputs)
    if not raws:
        raise ConfigError("the inputs name no items")
    items: list[BatchItem] = []
    used: dict[str, int] = {}
    for raw in raws:
        item = _validate(pipeline, raw, dict(base or {}))
        name = raw.name or _default_name(raw)
        name = safe_name(name)
        if name in used:
            if raw.name:
                raise ConfigError(f"{raw.source}: name {name!r} is used twice")
            used[name] += 1
            name = f"{name}-{used[name]}"
        used.setdefault(name, 1)
        items.append(BatchItem(name, raw.input, item, {**raw.options, **_prompt(raw)}, raw.source))
    return items


def _prompt(raw: _Raw) -> dict[str, Any]:
    return {"prompt": raw.prompt} if raw.prompt else {}


def _default_name(raw: _Raw) -> str:
    if raw.input is not None:
        return raw.input.stem if raw.input.is_file() else raw.input.name
    return " ".join((raw.prompt or "item").split()[:6])


def _validate(pipeline: BatchPipeline, raw: _Raw, base: dict[str, Any]) -> BaseModel:
    where = raw.source
    if raw.input is not None and not raw.input.exists():
        raise UnsupportedInputError(f"{where}: {raw.input}: no such file or folder")
    try:
        data = _deep_merge(base, option_overrides(pipeline, raw.options, text=raw.text))
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    if pipeline.input == "prompt":
        prompt = raw.prompt
        if prompt is None and raw.input is not None:
            if not raw.input.is_file():
                raise ConfigError(f"{where}: a generate item needs a prompt or a .txt file")
            prompt = raw.input.read_text(encoding="utf-8").strip()
        if prompt is None and "prompt" not in data:
            raise ConfigError(f"{where}: a generate item needs a prompt")
        if prompt is not None:
            data["prompt"] = prompt
    elif raw.input is None:
        raise ConfigError(f"{where}: no input")
    try:
        return build_config(pipeline.config, data, where=where)
    except VoxforgeError as err:  # also a validator's own error (a prompt it cannot make)
        if str(err).startswith(where):
            raise
        raise type(err)(f"{where}: {str(err).splitlines()[0]}") from None
