"""Lay bricks: cover a LEGO-lattice voxel grid exactly with catalogue parts, repair, finish.

The grid is laid bottom-up one plate level at a time. At level ``z`` the still-empty filled cells
form a *layer problem* (see :mod:`voxforge.bricks.layout.problem`): every catalogue footprint at
every position where its cells allow its height and share one colour is a candidate, costed by
part count, bonding to the parts below, seams on seams and the course's orientation preference
(which alternates per brick course, so joints are staggered). A strategy from
:data:`~voxforge.bricks.layout.strategies.LAYOUT_STRATEGIES` picks an exact cover: ``greedy``
(cheapest per cell first, milliseconds), ``optimal`` (CP-SAT, a deterministic work budget split
over layers, greedy where it finds nothing better) or ``highs`` (HiGHS MILP). Repair passes then
join components and support floating ones (:mod:`voxforge.bricks.repair`), an optional physics
callable drives re-lays of weak regions, and finishing passes may swap exposed parts for slopes
and tiles (:mod:`voxforge.bricks.layout.finishing`).

Every stage's work is bounded by counts (solver work, bridging tries, repair rounds), so the model
is a function of the grid, the colours, the config and the seed. The wall clock is only a safety
cap (:class:`~voxforge.bricks.cap.TimeCap`): when it stops a stage, the report's ``time_limited``
names the stage and the notes say the result depends on the machine's speed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from voxforge.bricks import catalogue as catalogue_module
from voxforge.bricks.cap import TIME_LIMIT_NOTE, TimeCap
from voxforge.bricks.connectivity import connectivity_report
from voxforge.bricks.layout.finishing import finish_slopes, finish_tiles
from voxforge.bricks.layout.problem import LayerWeights, PartTable, part_table
from voxforge.bricks.layout.state import LayoutState
from voxforge.bricks.layout.strategies import LAYOUT_STRATEGIES
from voxforge.bricks.physics.report import StabilityFn
from voxforge.bricks.repair.colors import match_support_colors
from voxforge.bricks.repair.connect import connect, join_cells
from voxforge.bricks.repair.log import RepairLog
from voxforge.bricks.repair.stabilise import stabilise
from voxforge.core.brickmodel import BrickModel
from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.progress import Progress, ProgressCallback
from voxforge.core.voxelgrid import VoxelGrid

log = logging.getLogger(__name__)

__all__ = ["LayoutConfig", "LayoutReport", "lay_bricks", "seam_alignment"]


class LayoutConfig(BaseModel, extra="forbid"):
    """How to lay bricks.

    Attributes:
        strategy: name in ``LAYOUT_STRATEGIES`` (``greedy``, ``optimal`` = CP-SAT, ``highs``).
        parts: ``bricks`` (3-plate bricks on brick courses, plates where a column's run does not
            fill a course), ``plates`` (plates only), ``mixed`` (bricks or plates at any level,
            the strategy's costs choose).
        seed: tie-break seed; the same seed gives the same placements.
        time_budget: wall-clock safety cap, seconds, on the layout and the bridging repair; the
            work itself is bounded by ``solver_work`` and the repair's tries, so the cap stops only
            a run far slower than a typical machine (then ``time_limited`` says so).
        solver_work: work for ``optimal`` / ``highs`` over the whole layout, split over the
            layers by cell count: CP-SAT deterministic seconds (about wall seconds on one quiet
            core), and :data:`~voxforge.bricks.layout.exact.HIGHS_NODES_PER_WORK` HiGHS nodes
            per unit.
        finish_slopes / finish_tiles: run the finishing passes (shape unchanged).
        repair: bridge components and add supports so the model is one grounded piece.
        max_repair_rounds: stability re-lay rounds before supports are added.
        stability_budget: wall-clock safety cap, seconds, on the stability repair (its rounds
            bound the work; one round is one physics check, seconds on a large model).
        support_color: LDraw colour of added support cells (71 = light bluish grey).
        match_support_color: give each column of added parts the colour of its surroundings
            where its parts exist in it (:func:`~voxforge.bricks.repair.colors.match_support_colors`).
        default_color: LDraw colour of filled cells without a colour (-1 or no colour grid).
        part_cost, bond_weight, seam_weight, orient_weight: layer cost terms (one part costs
            ``part_cost``; see ``LayerWeights``).
        num_workers: CP-SAT worker threads.
    """

    strategy: str = "greedy"
    parts: Literal["bricks", "plates", "mixed"] = "bricks"
    seed: int = 0
    time_budget: float = Field(300.0, gt=0)
    solver_work: float = Field(8.0, gt=0)
    finish_slopes: bool = False
    finish_tiles: bool = False
    repair: bool = True
    max_repair_rounds: int = Field(3, ge=0)
    stability_budget: float = Field(600.0, gt=0)
    support_color: int = 71
    match_support_color: bool = True
    default_color: int = 71
    part_cost: float = Field(100.0, gt=0)
    bond_weight: float = Field(30.0, ge=0)
    seam_weight: float = Field(10.0, ge=0)
    orient_weight: float = Field(5.0, ge=0)
    num_workers: int = Field(2, ge=1)

    def weights(self) -> LayerWeights:
        return LayerWeights(
            part_cost=self.part_cost,
            bond_w=self.bond_weight,
            seam_w=self.seam_weight,
            orient_w=self.orient_weight,
        )


@dataclass
class LayoutReport:
    """What the layout did.

    Attributes:
        strategy: strategy name.
        n_parts: placements in the model.
        cells: filled cells covered (including added ones).
        added_cells: cells added by repair (support columns), not in the input shape.
        support_parts: parts holding at least one of those cells.
        seams_aligned_share: of the seams between two parts that both start on top of filled
            cells, the share lying exactly on a seam of the level below (0 = fully staggered).
        distinct_kinds: distinct part numbers used.
        repair_rounds: stability re-lay rounds run.
        timings_s: seconds per stage (``layout``, ``connect``, ``stability``, ``finish``, ``total``).
        connectivity: ``connectivity_report`` of the final model plus ``notes`` on what failed.
        stable: the physics verdict, None when no physics callable was given.
        slopes, tiles: parts swapped by the finishing passes.
        bridged_layers: plate levels re-laid to join components.
        stability_supports: support columns added because the physics said the model fails
            or stands with less than the target margin.
        margin_reached: the last physics check stands with at least the target margin (None
            without a physics callable).
        support_recolored: added parts given the colour of their surroundings instead of the
            support colour.
        recoloured_cells: cells given a neighbour's colour so that one plate joins two pieces
            (``model.meta["recoloured_cells"]`` lists them).
        time_limited: stages (``layout``, ``connect``, ``stability``, ``physics``) the wall-clock
            cap stopped before their work limits did: the model then depends on the machine's
            speed. Empty (and left out of :meth:`as_dict`) when the result is reproducible.
    """

    strategy: str
    n_parts: int
    cells: int
    added_cells: int
    support_parts: int
    seams_aligned_share: float
    distinct_kinds: int
    repair_rounds: int
    timings_s: dict[str, float]
    connectivity: dict[str, Any]
    stable: bool | None
    slopes: int = 0
    tiles: int = 0
    stability_supports: int = 0
    bridged_layers: list[int] = field(default_factory=list)
    support_recolored: int = 0
    margin_reached: bool | None = None
    recoloured_cells: int = 0
    time_limited: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict; ``time_limited`` only when a cap stopped some stage."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__}
        if not self.time_limited:
            del out["time_limited"]
        return out


def _part_colors() -> Any:
    """``catalogue.part_colors`` when the colour helper has provided it, else None."""
    return getattr(catalogue_module, "part_colors", None)


def _color_check() -> Any:
    """``ok(key, colour)`` from ``catalogue.part_colors``; every colour is fine without it."""
    fn = _part_colors()
    if fn is None:
        return None

    def ok(key: str, color: int) -> bool:
        try:
            colors = fn(key)
        except (KeyError, ValueError, LookupError):
            return True
        return not colors or int(color) in {int(c) for c in colors}

    return ok


def _availability(table: PartTable, palette: np.ndarray) -> np.ndarray:
    """(k, n_colors) bool per footprint row and palette colour; 1x1 parts always allowed.

    The 1x1 brick and plate stay allowed in every colour because exact cover needs them; a colour
    they are not made in is reported by the bill of materials, not hidden by a hole here.
    """
    ok = _color_check()
    avail = np.ones((len(table.fps), len(palette)), dtype=bool)
    if ok is None:
        return avail
    for k, (_, _, _, pi) in enumerate(table.fps):
        part = table.parts[int(pi)]
        if part.width * part.length == 1:
            continue
        avail[k] = [ok(part.key, int(c)) for c in palette]
    return avail


def _targets(
    grid: VoxelGrid, colors: np.ndarray | None, cfg: LayoutConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(filled (nx, ny, nz) bool, code (nx, ny, nz) int32) after checking the inputs."""
    if not grid.is_lego:
        raise GeometryError(
            "layout needs a grid on the LEGO lattice (8 x 8 x 3.2 mm cells), "
            f"got pitch {grid.pitch.tolist()} m"
        )
    filled = grid.occupancy.copy()
    if grid.interior is not None:
        filled &= ~grid.interior
    if not filled.any():
        raise GeometryError("voxel grid has no filled cells to lay bricks on")
    code = np.full(filled.shape, cfg.default_color, dtype=np.int32)
    if colors is not None:
        colors = np.asarray(colors)
        if colors.shape != filled.shape:
            raise GeometryError(
                f"colour grid shape {colors.shape} does not match the voxel grid {filled.shape}"
            )
        if not np.issubdtype(colors.dtype, np.integer):
            raise ConfigError(f"colour grid must hold integer LDraw codes, got dtype {colors.dtype}")
        code = np.where(colors >= 0, colors, cfg.default_color).astype(np.int32)
    code[~filled] = cfg.default_color
    return filled, code


def seam_alignment(model: BrickModel) -> float:
    """Share of seams between parts starting at a level that lie on a seam of the level below.

    A seam is a unit edge between two horizontally adjacent cells held by different parts. At level
    z it counts when both cells are the bottom cells of their parts and both cells below are filled;
    it is aligned when those two cells below are also held by different parts. 0 means every joint
    is bridged by the course above; nan when there are no such seams.
    """
    lab = model.label_grid()
    if lab.shape[2] < 2:
        return float("nan")
    start = np.zeros(lab.shape, dtype=bool)
    start[:, :, 1:] = (lab[:, :, 1:] >= 0) & (lab[:, :, 1:] != lab[:, :, :-1]) & (lab[:, :, :-1] >= 0)
    total = aligned = 0
    for a, b in (
        ((slice(None, -1),), (slice(1, None),)),
        ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
    ):
        la, lb = lab[a][..., 1:], lab[b][..., 1:]
        da, db = lab[a][..., :-1], lab[b][..., :-1]
        sa, sb = start[a][..., 1:], start[b][..., 1:]
        seam = (la >= 0) & (lb >= 0) & (la != lb) & sa & sb
        aligned += int((seam & (da != db)).sum())
        total += int(seam.sum())
    return aligned / total if total else float("nan")


def _parts_in(state: LayoutState, cells: np.ndarray) -> int:
    """Live parts holding at least one of the (nx, ny, nz) bool ``cells``."""
    lab = state.labels[cells]
    return len(np.unique(lab[lab >= 0]))


def _lay_all(state: LayoutState, cfg: LayoutConfig, cap: TimeCap, report: Any) -> None:
    """Lay every level bottom-up with the configured strategy (``solver_work`` shared by cell
    count)."""
    solver = LAYOUT_STRATEGIES[cfg.strategy]
    weights = cfg.weights()
    nz = state.shape[2]
    total = max(int(state.filled.sum()), 1)
    for z in range(nz):
        hb = state.free_hbits(z, cfg.parts)
        n = int(np.count_nonzero(hb))
        if n == 0:
            continue
        course = z if cfg.parts == "plates" else z // 3
        pref = (course + cfg.seed) % 2
        prob = state.problem(z, hb, weights, pref, cfg.seed)
        work = cfg.solver_work * int(state.filled[:, :, z].sum()) / total
        state.lay(prob, solver, work, cap)
        report("layout", (z + 1) / nz)


def lay_bricks(
    grid: VoxelGrid,
    colors: np.ndarray | None,
    config: LayoutConfig | None = None,
    *,
    stability: StabilityFn | None = None,
    progress: ProgressCallback | None = None,
    target_margin: float = 0.0,
) -> tuple[BrickModel, LayoutReport]:
    """Cover the filled cells of ``grid`` with catalogue parts.

    Args:
        grid: occupancy on the LEGO lattice, z up; ``grid.interior`` cells are left empty.
        colors: (nx, ny, nz) int LDraw colour codes, -1 = empty/unknown, or None for
            ``config.default_color`` everywhere. One part never mixes colours.
        config: the layout options.
        stability: optional ``physics(model) -> report`` (``report.stable``, ``report.weakest``:
            placement indices); an unstable model gets its weak region re-laid, then supports.
        progress: ``callback(stage, fraction)``.
        target_margin: with ``stability``, the margin (``report.margin``, the share of the most
            loaded stud's clutch left unused) the repair works towards; 0: just stand.

    Returns:
        The model (placements in grid cell coordinates; shape, pitch and origin of the grid) and
        the :class:`LayoutReport` (also stored in ``model.meta["layout"]``).

    Raises:
        GeometryError: the grid is not on the LEGO lattice, is empty, or the colour grid's shape
            differs. ConfigError: unknown strategy or a non-integer colour grid.
    """
    cfg = config or LayoutConfig()
    LAYOUT_STRATEGIES[cfg.strategy]  # unknown names fail before any work
    t0 = time.perf_counter()
    cap = TimeCap(cfg.time_budget)
    prog = Progress(progress, {"layout": 6.0, "connect": 2.0, "stability": 2.0, "finish": 0.5})
    filled, code = _targets(grid, colors, cfg)
    n_input = int(filled.sum())
    palette = np.unique(np.concatenate([np.unique(code[filled]), [cfg.support_color]])).astype(np.int32)
    table = part_table()
    state = LayoutState(filled, code, palette, _availability(table, palette), table)
    timings: dict[str, float] = {}
    rlog = RepairLog()
    if cfg.repair:
        join_cells(state, rlog, cfg.support_color)

    _lay_all(state, cfg, cap, prog)
    timings["layout"] = time.perf_counter() - t0

    t = time.perf_counter()
    if cfg.repair:
        connect(state, rlog, cfg.seed, cfg.support_color, cap, cfg.parts == "plates")
    prog("connect", 1.0)
    timings["connect"] = time.perf_counter() - t

    t = time.perf_counter()
    stability_cap = TimeCap(cfg.stability_budget)
    if stability is not None:
        stabilise(
            state,
            stability,
            rlog,
            seed=cfg.seed,
            rounds=cfg.max_repair_rounds,
            support_color=cfg.support_color,
            pitch=grid.pitch,
            origin=grid.origin,
            cap=stability_cap,
            plates_only=cfg.parts == "plates",
            target_margin=target_margin,
        )
    prog("stability", 1.0)
    timings["stability"] = time.perf_counter() - t

    t = time.perf_counter()
    model = state.model(grid.pitch, grid.origin)
    recolored = 0
    if cfg.match_support_color:
        model, recolored = match_support_colors(model, state.added, cfg.support_color)
    ok = _color_check()
    n_slopes = n_tiles = 0
    if cfg.finish_slopes:
        model, n_slopes = finish_slopes(model, ok)
    if cfg.finish_tiles:
        model, n_tiles = finish_tiles(model, ok)
    prog("finish", 1.0)
    timings["finish"] = time.perf_counter() - t

    conn = connectivity_report(model).as_dict()
    limited = cap.hit + [s for s in stability_cap.hit if s not in cap.hit]
    conn["notes"] = list(rlog.notes)
    if limited:
        conn["notes"].append(TIME_LIMIT_NOTE.format(stages=", ".join(limited)))
        log.info(conn["notes"][-1])
    added = int(state.added.sum())
    report = LayoutReport(
        strategy=cfg.strategy,
        n_parts=len(model),
        cells=n_input + added,
        added_cells=added,
        support_parts=_parts_in(state, state.added),
        seams_aligned_share=seam_alignment(model),
        distinct_kinds=len({p.part for p in model.placements}),
        repair_rounds=rlog.rounds,
        timings_s=timings,
        connectivity=conn,
        stable=rlog.stable,
        slopes=n_slopes,
        tiles=n_tiles,
        bridged_layers=list(rlog.bridged_layers),
        stability_supports=rlog.stability_supports,
        support_recolored=recolored,
        margin_reached=rlog.margin_reached,
        recoloured_cells=len(rlog.recoloured),
        time_limited=limited,
    )
    timings["total"] = time.perf_counter() - t0
    model.meta["layout"] = report
    model.meta["layout_config"] = cfg.model_dump()
    model.meta["support_columns"] = list(rlog.support_columns)
    model.meta["recoloured_cells"] = list(rlog.recoloured)
    log.info("laid %d cells with %d parts in %.2f s", report.cells, report.n_parts, timings["total"])
    return model, report
