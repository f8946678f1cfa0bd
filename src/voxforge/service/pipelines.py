"""The pipelines the service offers: name -> (options model, runner function, accepted inputs).

A runner is a module-level function ``run(input_path, out_dir, config, progress)`` so that a job
spec can be pickled to a worker process (or, later, a distributed engine) by reference. Adding a
pipeline is one :class:`PipelineSpec` in :func:`default_pipelines`.

A job's options are the pipeline config's fields (nested: ``{"layout": {"strategy": "optimal"}}``)
and the flat shortcuts of the web page, which are the options marked ``shortcut`` in
:mod:`voxforge.pipelines.options` (the declarations the CLI's flags come from, so a shortcut means
what its flag means):

=============  ======================  ============================================
shortcut       config field            meaning
=============  ======================  ============================================
width_studs    ``voxel.width_studs``   longest horizontal side in studs
colors         ``colors.mode``         ``"auto"``, at most K colours, ``"single:CODE"``
hollow         ``voxel.hollow``        shell K cells thick; 0 or false: solid; true: 2 cells
=============  ======================  ============================================

Top-level brickify options pass as they are: ``classify`` (off unless asked), ``meshes``
(``"glb"`` by default; ``"glb,obj,stl"`` for all three), ``build_order`` (with the booklets).
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from voxforge.core.errors import ConfigError, SizeLimitError, UnsupportedInputError
from voxforge.core.progress import ProgressCallback
from voxforge.core.registry import Registry
from voxforge.pipelines.options import BRICKIFY_OPTIONS, UserOption, shortcuts

log = logging.getLogger(__name__)

Runner = Callable[[Path | None, Path, Any, ProgressCallback], Any]

INPUT_KINDS = {
    "model": "scans, meshes, voxel grids and capture folders",
    "image": "images and sketches",
    "images": "zips of images",
    "text": "a text prompt (JSON body)",
}


@dataclass(frozen=True)
class PipelineSpec:
    """One pipeline as the service offers it.

    Attributes:
        name: what ``params.pipeline`` says.
        options: the pipeline's pydantic config (``extra="forbid"``).
        run: module-level runner ``run(input_path, out_dir, config, progress)``.
        inputs: accepted input kinds, keys of :data:`INPUT_KINDS`.
        shortcuts: flat option name -> the option (its config field and conversion).
        description: one line for ``GET /v1/pipelines``.
    """

    name: str
    options: type[BaseModel]
    run: Runner
    inputs: frozenset[str]
    shortcuts: dict[str, UserOption] = field(default_factory=dict)
    description: str = ""

    def build_options(self, params: dict[str, Any]) -> BaseModel:
        """Validate ``params`` (without ``pipeline``) into the options model.

        Raises:
            ConfigError: one line naming each bad field, as the caller spelled it.
        """
        data, spelled = expand_shortcuts(params, self.shortcuts)
        try:  # strict on JSON: no true for 1, no "12" for 12; enums and tuples still parse
            return self.options.model_validate_json(json.dumps(data), strict=True)
        except ValidationError as err:
            parts = []
            for e in err.errors():
                loc = ".".join(str(x) for x in e["loc"])
                parts.append(f"{spelled.get(loc, loc) or '(root)'}: {e['msg']}")
            raise ConfigError(f"{self.name} options: " + "; ".join(parts)) from None

    def check_input(self, detected: str, shown_name: str) -> None:
        """Refuse inputs of a kind this pipeline does not take (415)."""
        kind = input_kind(detected)
        if kind not in self.inputs:
            takes = "; ".join(INPUT_KINDS[k] for k in sorted(self.inputs))
            raise UnsupportedInputError(
                f"{shown_name}: {describe_input(detected)}; the {self.name} pipeline takes {takes}"
            )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "inputs": sorted(self.inputs),
            "shortcuts": {k: s.path for k, s in self.shortcuts.items()},
            "options_schema": self.options.model_json_schema(),
        }


def input_kind(detected: str) -> str:
    """``image:png`` -> ``image``; ``images`` -> ``images``; any voxforge format -> ``model``."""
    if detected.startswith("image:"):
        return "image"
    return detected if detected in ("images", "text") else "model"


def describe_input(detected: str) -> str:
    """``image:png`` -> ``a PNG image``; ``images`` -> ``a zip of images``; ``ply`` -> ``a PLY file``."""
    if detected.startswith("image:"):
        return f"a {detected.split(':', 1)[1].upper()} image"
    return "a zip of images" if detected == "images" else f"a {detected.upper()} file"


def expand_shortcuts(
    params: dict[str, Any], shortcuts: dict[str, UserOption]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Nested config data from flat shortcuts, and config path -> the name the caller used.

    Raises:
        ConfigError: a shortcut and its nested field given together, or a value outside the
            shortcut's choices.
    """
    data: dict[str, Any] = {k: v for k, v in params.items() if k not in shortcuts}
    spelled: dict[str, str] = {}
    for name, option in shortcuts.items():
        if name not in params:
            continue
        option.check(params[name], spelled=name)
        value = option.convert(params[name]) if option.convert else params[name]
        for path in option.paths:
            *parents, leaf = path.split(".")
            node = data
            for p in parents:
                child = node.setdefault(p, {})
                if not isinstance(child, dict):
                    raise ConfigError(
                        f"{p}: expected an object of options, found {type(child).__name__}"
                    )
                node = child
            if leaf in node:
                raise ConfigError(f"{name} and {path} both given; use one")
            node[leaf] = value
            spelled[path] = name
    return data, spelled


BRICKIFY_SHORTCUTS = shortcuts(BRICKIFY_OPTIONS)
"""The brickify options the web page sends flat: ``width_studs``, ``colors``, ``hollow``."""


def run_reconstruct_upload(
    input_path: Path | None, out_dir: Path, config: Any, progress: ProgressCallback
) -> Any:
    """Adapter: one image, or a zip of images unpacked beside it, -> ``run_reconstruct(list, ...)``."""
    from voxforge.pipelines.reconstruct import run_reconstruct

    if input_path is None:
        raise UnsupportedInputError("reconstruct needs an image upload")
    inputs = [input_path]
    if zipfile.is_zipfile(input_path):
        inputs = unpack_images(input_path, input_path.parent / "images")
    return run_reconstruct(inputs, out_dir, config, progress)


def unpack_images(
    archive: Path, dest: Path, max_files: int = 500, max_bytes: int = 1 << 30
) -> list[Path]:
    """Extract the images of a zip (flattened, safe names) and return them sorted by name.

    Raises:
        SizeLimitError: more than ``max_files`` members or ``max_bytes`` uncompressed (declared,
            and counted while writing).
    """
    from voxforge.service.storage import IMAGE_SUFFIXES, safe_filename

    with zipfile.ZipFile(archive) as z:
        members = [i for i in z.infolist() if not i.is_dir()]
        if len(members) > max_files or sum(i.file_size for i in members) > max_bytes:
            raise SizeLimitError(
                f"{archive.name}: {len(members)} files; "
                f"the limit is {max_files} files, {max_bytes:,} bytes"
            )
        dest.mkdir(parents=True, exist_ok=True)
        out = []
        written = 0
        for i, info in enumerate(sorted(members, key=lambda m: m.filename)):
            if Path(info.filename).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            target = dest / f"{i:04d}_{safe_filename(info.filename)}"
            written += _copy_capped(z, info, target, max_bytes - written, archive.name, max_bytes)
            out.append(target)
    return out


def _copy_capped(
    z: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, room: int, name: str, cap: int
) -> int:
    """Copy one member counting the bytes really written; refuse past ``room``."""
    n = 0
    with z.open(info) as src, open(target, "wb") as out:
        while block := src.read(1 << 20):
            n += len(block)
            if n > room:
                raise SizeLimitError(f"{name}: unpacking passed the limit of {cap:,} bytes")
            out.write(block)
    return n


def default_pipelines() -> Registry[PipelineSpec]:
    """Every pipeline this installation has: brickify, classify, mesh, generate, reconstruct when
    present."""
    from voxforge.pipelines.brickify import BrickifyConfig, run_brickify
    from voxforge.pipelines.classify import ClassifyConfig, run_classify

    reg: Registry[PipelineSpec] = Registry("pipeline")
    reg.register(
        "brickify",
        PipelineSpec(
            "brickify",
            BrickifyConfig,
            run_brickify,
            frozenset({"model"}),
            BRICKIFY_SHORTCUTS,
            "a buildable LEGO model: LDraw, parts lists, preview, GLB, summary",
        ),
    )
    reg.register(
        "classify",
        PipelineSpec(
            "classify",
            ClassifyConfig,
            run_classify,
            frozenset({"model"}),
            {},
            "name the object (ModelNet10 classes) with the shipped classifier",
        ),
    )
    from voxforge.pipelines.mesh import MeshJobConfig, run_mesh_job

    reg.register(
        "mesh",
        PipelineSpec(
            "mesh",
            MeshJobConfig,
            run_mesh_job,
            frozenset({"model"}),
            {},
            "a clean watertight mesh with levels of detail, quality and print checks, exports",
        ),
    )
    spec = _reconstruct_spec()
    if spec is not None:
        reg.register("reconstruct", spec)
    from voxforge.pipelines.generate import GenerateJobConfig, run_generate_job

    reg.register(
        "generate",
        PipelineSpec(
            "generate",
            GenerateJobConfig,
            run_generate_job,
            frozenset({"text"}),
            {},
            "3D models (and LEGO models with brickify) from a sentence, several to choose from",
        ),
    )
    return reg


def _reconstruct_spec() -> PipelineSpec | None:
    try:
        from voxforge.pipelines import reconstruct
    except ImportError as err:
        log.info("reconstruct pipeline not offered: %s", err)
        return None
    config = getattr(reconstruct, "ReconstructConfig", None)
    if config is None or not hasattr(reconstruct, "run_reconstruct"):
        log.warning("voxforge.pipelines.reconstruct has no ReconstructConfig/run_reconstruct")
        return None
    return PipelineSpec(
        "reconstruct",
        config,
        run_reconstruct_upload,
        frozenset({"image", "images"}),
        {},
        "a 3D model from photos or a sketch",
    )


MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects a request's JSON may have."""


def json_depth(text: str | bytes) -> int:
    """Deepest bracket nesting of a JSON text, counted without parsing (strings skipped)."""
    data = text.encode() if isinstance(text, str) else text
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def parse_json(raw: str | bytes, what: str) -> Any:
    """A JSON value of at most :data:`MAX_JSON_DEPTH` levels.

    Raises:
        ConfigError: not JSON, or nested deeper than the limit (422, before parsing).
    """
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise ConfigError(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise ConfigError(f"{what}: not valid JSON ({err})") from None


def parse_params(raw: str | None) -> dict[str, Any]:
    """The ``params`` form field: a JSON object with at least ``pipeline``.

    Raises:
        ConfigError: not JSON, too deep, not an object, or no ``pipeline``.
    """
    if raw is None or raw.strip() == "":
        raise ConfigError('params: missing; send a JSON object such as {"pipeline": "brickify"}')
    return check_params(parse_json(raw, "params"))


def check_grid_cap(config: BaseModel, max_cells: int) -> None:
    """Refuse options asking for a voxel grid over the server's cap (``voxel.max_cells``).

    Raises:
        SizeLimitError: ``voxel.max_cells`` is over ``max_cells``; the message names the cap.
    """
    voxel = getattr(config, "voxel", None)
    asked = getattr(voxel, "max_cells", None)
    if isinstance(asked, int) and asked > max_cells:
        raise SizeLimitError(
            f"voxel.max_cells: {asked:,} is over this server's limit of {max_cells:,} cells"
        )


def check_params(value: Any) -> dict[str, Any]:
    """A JSON value that must be an object naming a pipeline."""
    if not isinstance(value, dict):
        raise ConfigError(f"params: expected a JSON object, found {type(value).__name__}")
    if not isinstance(value.get("pipeline"), str):
        raise ConfigError("pipeline: missing; one of the names GET /v1/pipelines lists")
    return value
