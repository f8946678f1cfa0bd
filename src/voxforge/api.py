"""The public API: one function per job, objects in and out, re-exported by :mod:`voxforge`.

Each function is a thin layer over a pipeline stage, so ``voxforge.brickify(cloud)`` in a notebook
and ``voxforge brickify scan.ply`` on the command line lay the same bricks::

    import voxforge

    cloud = voxforge.load("mug_scan.ply")          # PointCloud | Mesh | VoxelGrid
    grid = voxforge.voxelize(cloud, width_studs=16)  # VoxelGrid on the LEGO lattice
    bricks = voxforge.brickify(grid)               # Bricks: model, verdict, parts list
    bricks.save("out/")                            # model.mpd, bom.csv, preview.png, ...
    voxforge.instructions(bricks.model, "book/")   # instructions.pdf / .html

Only :func:`Bricks.save` and :func:`instructions` write files (through
:class:`~voxforge.core.outputs.OutputDir`: all or nothing); everything else returns objects.
The heavy imports (trimesh, scipy, torch) happen inside the functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxforge.core.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from voxforge.bricks.bom import BomRow
    from voxforge.bricks.verdict import BuildVerdict
    from voxforge.core.brickmodel import BrickModel
    from voxforge.core.mesh import Mesh
    from voxforge.core.voxelgrid import VoxelGrid
    from voxforge.instructions.booklet import InstructionsConfig
    from voxforge.nn.classify.inference import Classification
    from voxforge.pipelines.brickify import BrickifyConfig
    from voxforge.voxel import VoxelizeConfig

PathLike = str | os.PathLike[str]

__all__ = [
    "Bricks",
    "Reconstructed",
    "brickify",
    "classify",
    "instructions",
    "load",
    "reconstruct",
    "voxelize",
]


def load(path: PathLike, *, up: str | None = None, units: str | None = None) -> Any:
    """Read any supported input: a scan, a mesh, a voxel grid or a phone capture folder.

    Args:
        path: the file or capture folder; its content decides the format (the extension
            second), see ``docs/formats.md``.
        up: a mesh's up axis (``"y"`` or ``"z"``); default: the format's convention or a guess.
        units: the file's unit (``"m"``, ``"cm"``, ``"mm"``, ``"in"``); default: metres for
            scans, guessed for meshes.

    Returns:
        A :class:`PointCloud`, :class:`Mesh` or :class:`VoxelGrid` in z-up metres
        (a PLY with faces is a mesh, one without a point cloud).

    Raises:
        InputFormatError, UnsupportedInputError, GeometryError: one line naming the input.

    Example:
        >>> import tempfile, numpy as np, voxforge
        >>> from voxforge.io import save_points
        >>> path = Path(tempfile.mkdtemp()) / "cloud.ply"
        >>> xyz = np.random.default_rng(0).random((500, 3)) * 0.1
        >>> _ = save_points(voxforge.PointCloud(xyz), path)
        >>> cloud = voxforge.load(path)
        >>> type(cloud).__name__, len(cloud)
        ('PointCloud', 500)
    """
    from voxforge.scan.capture import load_input

    return load_input(path, up=up, units=units)


def voxelize(
    source: Any,
    *,
    width_studs: int | None = 32,
    hollow: int | None = None,
    clean: bool | None = None,
    config: VoxelizeConfig | None = None,
) -> VoxelGrid:
    """Turn a scan, mesh or grid into a voxel grid on the LEGO lattice (1 stud x 1 plate cells).

    Args:
        source: a path (read with :func:`load`), a :class:`PointCloud`, :class:`Mesh` or
            :class:`VoxelGrid` (a grid not on the LEGO lattice is resampled onto it).
        width_studs: studs across the longest horizontal side; None keeps ``config``'s sizing
            (and a grid already on the LEGO lattice as it is).
        hollow: wall thickness in cells to keep (None: solid).
        clean: clean a point cloud first (outliers, table plane, the object alone); default:
            on for clouds read from a file, off for clouds passed in.
        config: every voxelizer option (:class:`~voxforge.voxel.VoxelizeConfig`);
            ``width_studs`` and ``hollow`` override it.

    Returns:
        The :class:`VoxelGrid` (colours where the input has them; ``meta`` says how it was made).

    Example:
        >>> import trimesh, voxforge
        >>> box = voxforge.Mesh(trimesh.creation.box((0.08, 0.08, 0.048)))
        >>> grid = voxforge.voxelize(box, width_studs=10)
        >>> grid.shape, grid.is_lego
        ((10, 10, 15), True)
    """
    from voxforge.pipelines.common import InputConfig, clean_if_scan, read_input, to_grid

    cfg = _voxel_config(config, width_studs, hollow)
    if isinstance(source, str | os.PathLike):
        obj = read_input(source, InputConfig())
        obj, _ = clean_if_scan(obj, InputConfig(clean=clean), _clean_config())
    else:
        obj, _ = clean_if_scan(source, InputConfig(clean=bool(clean)), _clean_config())
    return to_grid(obj, cfg)


@dataclass
class Bricks:
    """A brick model and what the engine found out about it.

    Attributes:
        model: the :class:`BrickModel` (placements in grid cells, z up).
        grid: the voxel grid the bricks were laid on.
        verdict: the builder's verdict (:class:`~voxforge.bricks.verdict.BuildVerdict`):
            ``buildable``, ``pieces``, ``grounded``, ``physics``, ``margin``, ``reasons``.
        parts: the bill of materials, one :class:`~voxforge.bricks.bom.BomRow` per part and
            colour.
        summary: the ``summary.json`` figures (size, mass, stability, layout, timings).
        config: the resolved :class:`~voxforge.pipelines.brickify.BrickifyConfig`.
    """

    model: BrickModel
    grid: VoxelGrid
    verdict: BuildVerdict
    parts: list[BomRow]
    summary: dict[str, Any]
    config: BrickifyConfig
    stability: Any = field(default=None, repr=False)

    @property
    def buildable(self) -> bool:
        """One grounded piece that stands with the safety margin."""
        return bool(self.verdict.buildable)

    def preview(self, size: int = 512) -> np.ndarray:
        """(size, size, 3) uint8 picture of the model from the front corner (weak spots in red)."""
        from voxforge.bricks.colors.palette import load_colors
        from voxforge.pipelines.brickify import outlined_parts, preview_image

        palette = {code: c.srgb for code, c in load_colors().items()}
        return preview_image(self.model, palette, size, outlined_parts(self.model, self.verdict))

    def save(self, out_dir: PathLike, *, title: str = "model") -> Path:
        """Write the brickify job's files into ``out_dir`` (``model.mpd`` with one step per
        layer, ``bom.csv``, ``bricklink.xml``, ``rebrickable.csv``, ``preview.png``, the meshes
        ``config.meshes`` asks for, ``grid.npz``, ``summary.json``, ``config.yaml``); nothing
        appears unless all of it is written. Booklets: :func:`instructions`."""
        from voxforge.pipelines.brickify import outlined_parts, write_brick_outputs

        write_brick_outputs(
            self.model,
            Path(out_dir),
            title,
            self.summary,
            self.config,
            self.grid,
            weak=outlined_parts(self.model, self.verdict),
        )
        return Path(out_dir)


def brickify(
    source: Any,
    *,
    width_studs: int | None = None,
    hollow: int | None = None,
    colors: str | int | None = None,
    strategy: str | None = None,
    seed: int | None = None,
    config: BrickifyConfig | None = None,
) -> Bricks:
    """Lay catalogue bricks over a scan, mesh or voxel grid and judge whether the model stands.

    The steps are the brickify job's (read, clean, voxelize, LEGO colours, layout with the
    stability repair, physics, verdict) without its files; call :meth:`Bricks.save` for those.

    Args:
        source: a path, :class:`PointCloud`, :class:`Mesh` or :class:`VoxelGrid`.
        width_studs: studs across the longest horizontal side; default 32, and a grid already
            on the LEGO lattice is used as it is.
        hollow: wall thickness in cells to keep (None: solid).
        colors: ``"auto"``, a number of colours, or ``"single:CODE"`` (LDraw colour code).
        strategy: layout strategy (``voxforge brickify --help`` lists them).
        seed: the layout's seed.
        config: every option (:class:`~voxforge.pipelines.brickify.BrickifyConfig`); the
            arguments above override it.

    Returns:
        :class:`Bricks`: the model, the grid, the verdict, the parts list and the summary.

    Raises:
        SizeLimitError: more filled cells or parts than the config's caps.
        ConfigError: an unknown strategy or colour mode.

    Example:
        >>> import numpy as np, voxforge
        >>> cube = voxforge.VoxelGrid(np.ones((4, 4, 4), bool))  # LEGO cells: 1 stud x 1 plate
        >>> bricks = voxforge.brickify(cube, seed=0)
        >>> bricks.buildable, bricks.verdict.pieces, int(bricks.model.occupancy().sum())
        (True, 1, 64)
    """
    from voxforge.bricks.bom import bill_of_materials
    from voxforge.core.progress import Progress
    from voxforge.pipelines.brickify import (
        STAGES,
        BrickifyConfig,
        build_summary,
        check_grid_caps,
        judge_model,
        lay_and_check,
    )
    from voxforge.pipelines.common import Timer, clean_if_scan, describe, read_input, to_grid

    cfg = _brickify_config(config or BrickifyConfig(), width_studs, hollow, colors, strategy, seed)
    timer = Timer()
    with timer("read"):
        obj = read_input(source, cfg.input) if isinstance(source, str | os.PathLike) else source
    info = describe(obj)
    with timer("clean"):
        obj, clean_report = clean_if_scan(obj, cfg.input, cfg.clean)
    with timer("voxelize"):
        grid = to_grid(obj, cfg.voxel)
    check_grid_caps(grid, cfg)
    model, report, stab = lay_and_check(grid, cfg, Progress(None, STAGES), timer)
    summary = build_summary(model, grid, report, stab, info, clean_report, timer)
    verdict = judge_model(model, stab, summary, None, cfg.physics.safety_margin)
    return Bricks(model, grid, verdict, bill_of_materials(model), summary, cfg, stab)


def instructions(
    model: Any,
    out_dir: PathLike,
    *,
    formats: tuple[str, ...] | list[str] = ("pdf", "html"),
    title: str = "model",
    config: InstructionsConfig | None = None,
) -> Path:
    """Plan a build order and write the building instructions into ``out_dir``.

    Args:
        model: a :class:`BrickModel`, a :class:`Bricks` result, or the path of an LDraw file
            (``.ldr``/``.mpd``; its own steps are kept where it has them).
        out_dir: the folder to write (nothing appears unless every file is written).
        formats: any of ``pdf`` (``instructions.pdf``), ``html`` (``instructions.html``),
            ``steps`` (``steps/`` images and ``instructions.json``).
        title: the booklet's title.
        config: every booklet option (:class:`~voxforge.instructions.booklet.InstructionsConfig`);
            ``formats`` overrides its formats.

    Returns:
        ``out_dir``, holding the booklets, ``model.mpd`` with the build steps, ``summary.json``
        and ``manifest.json``.

    Example:
        >>> import tempfile, numpy as np, voxforge
        >>> cube = voxforge.VoxelGrid(np.ones((4, 4, 6), bool))
        >>> out = voxforge.instructions(voxforge.brickify(cube), Path(tempfile.mkdtemp()) / "book",
        ...                             formats=["html"])
        >>> sorted(p.name for p in out.iterdir() if p.suffix in (".html", ".mpd"))
        ['instructions.html', 'model.mpd']
    """
    from voxforge.instructions.booklet import InstructionsConfig
    from voxforge.pipelines.instructions import instructions_for_model, run_instructions

    base = config or InstructionsConfig()
    cfg = base.model_copy(update={"formats": list(formats)})
    cfg = InstructionsConfig.model_validate(cfg.model_dump())
    if isinstance(model, str | os.PathLike):
        return run_instructions(model, out_dir, cfg, title=title if title != "model" else None).out_dir
    if isinstance(model, Bricks):
        model = model.model
    return instructions_for_model(model, out_dir, cfg, title=title).out_dir


def classify(source: Any, *, k: int = 3, model: str = "classifier-voxel") -> Classification:
    """Name the object with the shipped ModelNet10 classifier (an "unknown" answer included).

    Args:
        source: a path, :class:`PointCloud`, :class:`Mesh` or :class:`VoxelGrid`.
        k: how many classes to report.
        model: the shipped model (``classifier-voxel`` or ``classifier-pointnet``) or a path.

    Returns:
        A :class:`~voxforge.nn.classify.inference.Classification`: ``label`` (the answer, or
        ``"unknown"``), ``top`` (the ``k`` best (class, probability) pairs), ``unknown``.

    Example:
        >>> import trimesh, voxforge
        >>> shelf = voxforge.Mesh(trimesh.creation.box((0.4, 0.3, 1.8)))
        >>> result = voxforge.classify(shelf)
        >>> len(result.top), 0.0 <= result.top[0][1] <= 1.0
        (3, True)
    """
    from voxforge.nn.classify.inference import classify_object, load_classifier

    obj = load(source) if isinstance(source, str | os.PathLike) else source
    result = classify_object(obj, load_classifier(model), k=k)
    if isinstance(source, str | os.PathLike):
        result.source = str(source)
    return result


@dataclass
class Reconstructed:
    """A 3D model predicted from pictures: z up, metres, standing on z = 0, centred in x/y.

    Attributes:
        mesh: the surface (marching cubes on the occupancy, watertight).
        grid: the thresholded 32³ occupancy as a voxel grid (cubic cells; :func:`brickify`
            resamples it onto the LEGO lattice).
        probability: (32, 32, 32) float32 occupancy probabilities.
        azimuths: the camera azimuth of each view, degrees.
    """

    mesh: Mesh
    grid: VoxelGrid
    probability: np.ndarray
    azimuths: tuple[float, ...]


def reconstruct(
    images: list[Any],
    *,
    kind: str = "image",
    height_cm: float = 20.0,
    azimuths: list[float] | None = None,
    threshold: float = 0.4,
    device: str = "auto",
) -> Reconstructed:
    """Predict a 3D model of one object from photos or sketches of it (the shipped networks).

    Args:
        images: one or more views of ONE object, first view first: paths, encoded bytes or
            (H, W[, 3|4]) arrays.
        kind: ``"image"`` for photos and renders, ``"sketch"`` for line drawings.
        height_cm: the real height the model is scaled to (a picture carries no scale).
        azimuths: each view's camera azimuth in degrees; default: estimated or assumed.
        threshold: occupancy probability of a filled cell.
        device: ``auto`` (CUDA, then Apple's MPS, then the CPU), ``cpu``, ``cuda`` or ``mps``.

    Returns:
        :class:`Reconstructed`: mesh, grid, probabilities and azimuths.

    Raises:
        ConfigError: missing weights or azimuths that do not match the images.
        InputFormatError, GeometryError: an unreadable image, or no object found in it.

    Example:
        >>> import numpy as np, voxforge
        >>> picture = np.full((96, 96, 3), 235, np.uint8)
        >>> picture[20:80, 30:66] = (150, 40, 40)  # a red box on a light background
        >>> shape = voxforge.reconstruct([picture], height_cm=10)
        >>> shape.mesh.is_watertight, round(float(shape.mesh.extent[2]), 2)
        (True, 0.1)
    """
    from voxforge.nn.reconstruct.inference import load_reconstructor
    from voxforge.nn.reconstruct.photo import prepare_image
    from voxforge.pipelines.reconstruct import ReconstructConfig, build_geometry

    if not images:
        raise ConfigError("reconstruct needs at least one image")
    cfg = ReconstructConfig(kind=kind, height_cm=height_cm, azimuths=azimuths, threshold=threshold)
    if cfg.azimuths is not None and len(cfg.azimuths) != len(images):
        raise ConfigError(f"got {len(images)} images but {len(cfg.azimuths)} azimuths")
    prepared = [
        prepare_image(img, sketch=kind == "sketch", max_pixels=cfg.max_pixels).image for img in images
    ]
    rec = load_reconstructor(cfg.kind, device=device).predict(prepared, cfg.azimuths)
    geo = build_geometry(rec, cfg)
    return Reconstructed(geo.mesh, geo.grid, geo.probability, tuple(rec.azimuths))


# ------------------------------------------------------------------------------------- helpers


def _clean_config() -> Any:
    from voxforge.scan import CleanConfig

    return CleanConfig()


def _voxel_config(config: Any, width_studs: int | None, hollow: int | None) -> Any:
    """``config`` with the given sizing and hollowing set (and marked as set, so a LEGO grid is
    resized only when a width was asked for)."""
    from voxforge.voxel import VoxelizeConfig

    update: dict[str, Any] = {}
    if width_studs is not None:
        update["width_studs"] = width_studs
    if hollow is not None:
        update["hollow"] = hollow
    base = (config or VoxelizeConfig()).model_dump(exclude_unset=True)
    if not isinstance(config or VoxelizeConfig(), VoxelizeConfig):
        raise ConfigError(f"config must be a VoxelizeConfig, got {type(config).__name__}")
    return VoxelizeConfig(**{**base, **update})


def _brickify_config(
    config: Any,
    width_studs: int | None,
    hollow: int | None,
    colors: str | int | None,
    strategy: str | None,
    seed: int | None,
) -> Any:
    """``config`` with the keyword arguments applied, validated before any input is read."""
    from voxforge.pipelines.brickify import BrickifyConfig

    if not isinstance(config, BrickifyConfig):
        raise ConfigError(f"config must be a BrickifyConfig, got {type(config).__name__}")
    data = config.model_dump(exclude_unset=True)
    voxel = dict(data.get("voxel", {}))
    if width_studs is not None:
        voxel["width_studs"] = width_studs
    if hollow is not None:
        voxel["hollow"] = hollow
    if voxel:
        data["voxel"] = voxel
    if colors is not None:
        data["colors"] = {**data.get("colors", {}), "mode": colors}
    layout = dict(data.get("layout", {}))
    if strategy is not None:
        layout["strategy"] = strategy
    if seed is not None:
        layout["seed"] = seed
    if layout:
        data["layout"] = layout
    try:
        cfg = BrickifyConfig.model_validate(data)
    except ValueError as err:
        raise ConfigError(f"brickify options: {err}") from None
    _check_strategy(cfg.layout.strategy)
    return cfg


def _check_strategy(name: str) -> None:
    from voxforge.bricks.layout.strategies import LAYOUT_STRATEGIES

    if name not in LAYOUT_STRATEGIES:
        raise ConfigError(f"unknown layout strategy {name!r}; choose from {sorted(LAYOUT_STRATEGIES)}")
