"""LDraw files: write a :class:`BrickModel` as an MPD, read LDR/MPD models back onto the lattice.

Frames (``LEGO_FACTS.md``). The lattice is z-up in studs (x, y) and plates (z); LDraw is -Y up in
LDU (1 stud = 20 LDU, 1 plate = 8 LDU). Lattice x -> LDraw +X, lattice y -> LDraw +Z, lattice
z -> LDraw -Y. That map, ``(X, Y, Z) = (x, -z, y)``, has determinant +1, so it is a rotation and
nothing is mirrored. A quarter turn counter-clockwise seen from above about lattice +z is, in
LDraw, a turn of -90 degrees about +Y: ``R(r) = R_y(-90 * r)``.

Part origins. Bricks, plates and tiles have their origin at the centre of the footprint on the top
face (the base of the studs), long side along X. The LDraw slopes (3039, 3040b, 4286, and the
inverted 3660/3665 too) are drawn with their origin at the centre of the stud row on the top face,
the row at the +Z end and the slope falling toward -Z (checked against the part geometry in the
shared library; ``tests/bricks/test_ldraw.py`` re-checks it). voxforge's slope rotation 0 has the
studs at x-min falling toward +x, so a slope gets the base turn ``R_y(-90)`` before its placement
turn, and its footprint centre sits ``10 * (length - 1)`` LDU from the origin along local -Z.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Literal

import numpy as np

from voxforge.bricks.catalogue import Part, catalogue
from voxforge.bricks.order.plan import BuildPlan, BuildStep, SubAssembly
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.errors import ConfigError, GeometryError, InputFormatError, UnsupportedInputError
from voxforge.core.outputs import atomic_write_bytes

log = logging.getLogger(__name__)

LDU_PER_STUD = 20
"""LDraw units per stud pitch (8 mm)."""
LDU_PER_PLATE = 8
"""LDraw units per plate height (3.2 mm)."""

Steps = Literal["layers", "placement", "none"]

_TOL = 1e-3  # LDU / matrix-entry tolerance when snapping read transforms to the lattice


def quarter_turn(r: int) -> np.ndarray:
    """(3, 3) int LDraw matrix of lattice rotation ``r`` (quarter turns CCW seen from above)."""
    c = (1, 0, -1, 0)[r % 4]
    s = (0, 1, 0, -1)[r % 4]
    # R_y(-90 r): [[cos, 0, -sin], [0, 1, 0], [sin, 0, cos]] with angle 90 r
    return np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]], dtype=np.int64)


_TURNS = {tuple(quarter_turn(r).ravel()): r for r in range(4)}
_SLOPE_BASE = quarter_turn(1)
"""LDraw slopes fall toward local -Z; voxforge rotation 0 falls toward +x = LDraw +X."""


def _local_frame(part: Part) -> tuple[np.ndarray, np.ndarray]:
    """(base rotation (3, 3), footprint centre in the part's LDraw coordinates (3,))."""
    if part.kind == "slope":
        return _SLOPE_BASE, np.array([0.0, 0.0, -10.0 * (part.length - 1)])
    return np.eye(3, dtype=np.int64), np.zeros(3)


def _footprint(part: Part, rotation: int) -> tuple[int, int]:
    return (part.length, part.width) if rotation % 2 == 0 else (part.width, part.length)


def placement_transform(p: Placement) -> tuple[np.ndarray, np.ndarray]:
    """LDraw position (3,) float64 LDU and rotation (3, 3) int64 of one placement.

    Raises GeometryError when the placement's footprint or height contradicts its catalogue part.
    """
    part = catalogue()[p.part]
    if not 0 <= p.rotation <= 3:
        raise GeometryError(f"placement of {p.part}: rotation {p.rotation} is not in 0..3")
    if (p.sx, p.sy) != _footprint(part, p.rotation) or p.h != part.height:
        fx, fy = _footprint(part, p.rotation)
        raise GeometryError(
            f"placement of {p.part} at ({p.x}, {p.y}, {p.z}) rotation {p.rotation}: the part needs "
            f"a {fx}x{fy}x{part.height} box, got {p.sx}x{p.sy}x{p.h}"
        )
    base, centre_local = _local_frame(part)
    rot = quarter_turn(p.rotation) @ base
    centre = np.array(
        [
            LDU_PER_STUD * (p.x + p.sx / 2),
            -LDU_PER_PLATE * (p.z + p.h),
            LDU_PER_STUD * (p.y + p.sy / 2),
        ]
    )
    return centre - rot @ centre_local, rot


def _num(v: float) -> str:
    r = round(float(v))
    if abs(v - r) < 1e-9:
        return str(int(r))
    return f"{v:.4f}".rstrip("0").rstrip(".")


def part_line(p: Placement) -> str:
    """The type-1 line of one placement: ``1 <colour> x y z a b c d e f g h i <part>.dat``."""
    pos, rot = placement_transform(p)
    ipos = np.rint(pos)
    if np.abs(pos - ipos).max() < 1e-9:  # always, for lattice parts: plain integers
        nums = " ".join(map(str, [*ipos.astype(np.int64).tolist(), *rot.ravel().tolist()]))
    else:
        nums = " ".join(_num(v) for v in (*pos, *rot.ravel()))
    return f"1 {p.color} {nums} {catalogue()[p.part].ldraw}"


def _groups(model: BrickModel, steps: str) -> list[list[Placement]]:
    order = sorted(model.placements, key=lambda p: (p.z, p.y, p.x, p.part, p.color))
    if steps == "none":
        return [order] if order else []
    if steps == "layers":
        key = "z"
    elif steps == "placement":
        unset = sum(1 for p in order if p.step < 0)
        if unset:
            raise ConfigError(
                f"steps='placement' needs a build step on every part; {unset} of {len(order)} "
                "have step -1 (make instructions first, or use steps='layers')"
            )
        key = "step"
    else:
        raise ConfigError(f"unknown steps mode {steps!r}; expected layers, placement or none")
    groups: dict[int, list[Placement]] = defaultdict(list)
    for p in order:
        groups[getattr(p, key)].append(p)
    return [groups[k] for k in sorted(groups)]


def _header(name: str, title: str, author: str) -> list[str]:
    return [
        f"0 FILE {name}",
        f"0 {title}",
        f"0 Name: {name}",
        f"0 Author: {author}",
        "0 !LDRAW_ORG Unofficial_Model",
    ]


def _step_end(rotation: tuple[float, float, float] | None, rotated_before: bool) -> str:
    """The line that ends a step: ``ROTSTEP`` is itself a step terminator (MLCad spec) that sets
    the view of the step it ends; ``ROTSTEP END`` ends a step and restores the default view."""
    if rotation is not None:
        return "0 ROTSTEP " + " ".join(_num(v) for v in rotation) + " ABS"
    return "0 ROTSTEP END" if rotated_before else "0 STEP"


def _step_lines(steps: tuple[BuildStep, ...], body: list[list[str]]) -> list[str]:
    lines: list[str] = []
    rotated = False
    for step, part_lines in zip(steps, body, strict=True):
        lines.extend(part_lines)
        lines.append(_step_end(step.rotation, rotated))
        rotated = step.rotation is not None
    return lines


def _sub_file(sub: SubAssembly) -> str:
    return f"{re.sub(r'[^a-z0-9_-]+', '_', sub.name.lower())}.ldr"


MAX_STEPS_PER_MODEL = 255
"""Steps one LDraw (sub-)model may hold: LeoCAD shows a model only up to its 255th step, so a
longer build is written as chapters (sub-models of at most this many steps each)."""
CHAPTER_MARK = "0 !VOXFORGE CHAPTER"
"""Meta line that marks a chapter file: readers splice its lines into the model that references
it (other LDraw tools ignore unknown meta lines and see an ordinary sub-model)."""


def _chapters(n_steps: int, limit: int = MAX_STEPS_PER_MODEL) -> list[range]:
    """Step ranges of ``ceil(n / limit)`` chapters of nearly equal length (one when it fits)."""
    k = max(1, -(-n_steps // limit))
    cuts = [round(i * n_steps / k) for i in range(k + 1)]
    return [range(a, b) for a, b in pairwise(cuts)]


def _model_files(
    name: str,
    title: str,
    author: str,
    preamble: list[str],
    steps: tuple[BuildStep, ...],
    body: list[list[str]],
) -> list[str]:
    """``0 FILE`` sections of one (sub-)model: itself, and when it has more than
    :data:`MAX_STEPS_PER_MODEL` steps, its chapters, each a sub-model of consecutive steps that
    the model places (at the identity transform) one per step."""
    parts = _chapters(len(steps))
    if len(parts) == 1:
        return [*_header(name, title, author), *preamble, *_step_lines(steps, body), "0 NOFILE"]
    stem = name[:-4] if name.endswith(".ldr") else name
    names = [f"{stem}_chapter{k + 1}.ldr" for k in range(len(parts))]
    lines = [*_header(name, title, author), *preamble]
    for chapter in names:
        lines += [f"1 16 0 0 0 1 0 0 0 1 0 0 0 1 {chapter}", "0 STEP"]
    lines.append("0 NOFILE")
    for k, (chapter, rng) in enumerate(zip(names, parts, strict=True)):
        head = _header(chapter, f"{title} - chapter {k + 1} of {len(parts)}", author)
        chapter_steps = steps[rng.start : rng.stop]
        lines += [*head, CHAPTER_MARK, "", *_step_lines(chapter_steps, body[rng.start : rng.stop])]
        lines.append("0 NOFILE")
    return lines


def _plan_lines(model: BrickModel, plan: BuildPlan, title: str, author: str) -> list[str]:
    """Main model with one step per plan step; sub-assemblies as ``0 FILE`` sections whose parts
    sit relative to the sub-model's own origin (its parts' min lattice corner)."""
    plan.validate(len(model))
    ps = model.placements
    names = [_sub_file(sub) for sub in plan.submodels]
    if len(set(names)) != len(names):
        raise ConfigError(f"build plan has sub-assemblies with clashing file names: {names}")
    origins = []
    for sub in plan.submodels:
        corner = np.array([[ps[i].x, ps[i].y, ps[i].z] for i in sub.parts]).min(axis=0)
        origins.append(tuple(int(v) for v in corner))
    body = []
    for step in plan.steps:
        if step.submodel is None:
            body.append([part_line(ps[i]) for i in step.parts])
            continue
        x0, y0, z0 = origins[step.submodel]
        pos = f"{LDU_PER_STUD * x0} {-LDU_PER_PLATE * z0} {LDU_PER_STUD * y0}"
        body.append([f"1 16 {pos} 1 0 0 0 1 0 0 0 1 {names[step.submodel]}"])
    lines = _model_files("main.ldr", title, author, [_FRAME_NOTE, ""], plan.steps, body)
    for sub, name, (x0, y0, z0) in zip(plan.submodels, names, origins, strict=True):
        sub_body = [
            [part_line(replace(ps[i], x=ps[i].x - x0, y=ps[i].y - y0, z=ps[i].z - z0)) for i in st.parts]
            for st in sub.steps
        ]
        lines += _model_files(name, f"{title} - {sub.name}", author, [""], sub.steps, sub_body)
    return lines


_FRAME_NOTE = (
    "0 // voxforge lattice: x -> LDraw X, y -> LDraw Z, up -> -Y; 1 stud = 20 LDU, plate = 8 LDU"
)


def mpd_text(
    model: BrickModel,
    *,
    title: str,
    author: str = "voxforge",
    steps: Steps = "layers",
    plan: BuildPlan | None = None,
) -> str:
    """The MPD document :func:`write_mpd` writes (LF line ends, ends with ``0 NOFILE``)."""
    title = " ".join(str(title).split()) or "voxforge model"
    author = " ".join(str(author).split()) or "voxforge"
    if plan is not None:
        return "\n".join(_plan_lines(model, plan, title, author)) + "\n"
    groups = _groups(model, steps)
    body = [[part_line(p) for p in group] for group in groups]
    plain = tuple(BuildStep((0,)) for _ in groups)  # a plain ``0 STEP`` after each group
    lines = _model_files("main.ldr", title, author, [_FRAME_NOTE, ""], plain, body)
    return "\n".join(lines) + "\n"


def write_mpd(
    model: BrickModel,
    path: str | Path,
    *,
    title: str,
    author: str = "voxforge",
    steps: Steps = "layers",
    plan: BuildPlan | None = None,
) -> None:
    """Write ``model`` as an LDraw MPD (UTF-8 without BOM, atomic).

    Args:
        steps: ``layers`` (one ``0 STEP`` per bottom plate layer z), ``placement`` (one per
            ``Placement.step``; every step must be >= 0) or ``none`` (a single step). Ignored
            when ``plan`` is given.
        plan: a build plan (:func:`voxforge.bricks.order.planner.plan_build`): one step per plan step,
            ended by ``0 STEP``, or by ``0 ROTSTEP rx ry rz ABS`` when the step has a view hint
            (and ``0 ROTSTEP END`` for the first step back in the default view); each
            sub-assembly is a ``0 FILE <name>.ldr`` section with its own steps, referenced by
            one type-1 line in the step that attaches it.

    Raises:
        ConfigError: the plan does not place every part exactly once.
    """
    text = mpd_text(model, title=title, author=author, steps=steps, plan=plan)
    atomic_write_bytes(path, text.encode("utf-8"))


# --------------------------------------------------------------------------------------------------
# Reading


@dataclass
class _PartRef:
    part: Part
    color: int
    pos: np.ndarray
    rot: np.ndarray
    step: int
    where: str
    sub: str | None = None  # the main model's sub-file this part came through
    sub_step: int = 0  # step inside that sub-file


def _is_step(tok: list[str]) -> bool:
    """``0 STEP`` and ``0 ROTSTEP ...`` both end a step."""
    return len(tok) >= 2 and tok[0] == "0" and tok[1].upper() in ("STEP", "ROTSTEP")


def _rotstep(tok: list[str]) -> tuple[float, float, float] | None:
    """Angles of ``0 ROTSTEP x y z ABS``; None for END, REL, ADD or a plain STEP."""
    if len(tok) == 6 and tok[1].upper() == "ROTSTEP" and tok[5].upper() == "ABS":
        try:
            return (float(tok[2]), float(tok[3]), float(tok[4]))
        except ValueError:
            return None
    return None


def _norm_name(name: str) -> str:
    n = name.strip().replace("\\", "/").lower()
    return n[6:] if n.startswith("parts/") else n


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputFormatError(f"cannot read LDraw file {path}: {e.strerror}") from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # old LDraw files predate the UTF-8 rule


def _split_mpd(text: str, path: Path) -> tuple[str, dict[str, list[str]]]:
    """(main file name, {lower-case file name: lines}); a plain LDR is one file."""
    lines = text.splitlines()
    if not any(re.match(r"^\s*0\s+FILE\s", ln) for ln in lines):
        return path.name.lower(), {path.name.lower(): lines}
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    main = ""
    for ln in lines:
        m = re.match(r"^\s*0\s+FILE\s+(.+?)\s*$", ln)
        if m:
            name = _norm_name(m.group(1))
            main = main or name
            current = files.setdefault(name, [])
            continue
        if re.match(r"^\s*0\s+NOFILE\b", ln):
            current = None
            continue
        if current is not None:
            current.append(ln)
    return main, _splice_chapters(files)


_IDENTITY = ("0", "0", "0", "1", "0", "0", "0", "1", "0", "0", "0", "1")


def _chapter_ref(tok: list[str], files: dict[str, list[str]]) -> str | None:
    """The chapter file a type-1 line places at the identity transform in colour 16, else None."""
    if len(tok) < 15 or tok[0] != "1" or tok[1] != "16" or tuple(tok[2:14]) != _IDENTITY:
        return None
    name = _norm_name(" ".join(tok[14:]))
    lines = files.get(name)
    if lines is None or not any(ln.strip() == CHAPTER_MARK for ln in lines):
        return None
    return name


def _splice_chapters(files: dict[str, list[str]]) -> dict[str, list[str]]:
    """Files with every chapter reference replaced by the chapter's own lines (its steps), and
    the step line that ended the referencing step dropped: a chaptered model reads back as the
    one long model it was written from."""

    def splice(lines: list[str], depth: int) -> list[str]:
        if depth > 32:
            raise InputFormatError("LDraw chapters nest deeper than 32 (a cycle?)")
        out: list[str] = []
        skip_step = False
        for ln in lines:
            tok = ln.split()
            if skip_step and tok:
                skip_step = False
                if _is_step(tok):
                    continue
            chapter = _chapter_ref(tok, files)
            if chapter is None:
                out.append(ln)
                continue
            out += splice(files[chapter], depth + 1)
            skip_step = True
        return out

    if not any(CHAPTER_MARK in (ln.strip() for ln in lines) for lines in files.values()):
        return files
    return {name: splice(lines, 0) for name, lines in files.items()}


_TYPE1 = re.compile(r"^\s*1\s+(\S+)\s+" + r"(\S+)\s+" * 12 + r"(.+?)\s*$")


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.refs: list[_PartRef] = []
        self.unsupported: Counter[str] = Counter()
        self.external: dict[str, dict[str, list[str]]] = {}
        self.rotations: dict[tuple[str | None, int], tuple[float, float, float]] = {}

    def walk(
        self,
        name: str,
        files: dict[str, list[str]],
        pos: np.ndarray,
        rot: np.ndarray,
        color: int,
        step: int | None,
        depth: int,
        src: Path | None = None,
        sub: str | None = None,
    ) -> None:
        if depth > 32:
            raise InputFormatError(f"{self.path}: sub-models nest deeper than 32 (a cycle at {name}?)")
        local_step = 0
        for lineno, ln in enumerate(files[name], 1):
            tok = ln.split()
            if not tok:
                continue
            if tok[0] == "0":
                if _is_step(tok):
                    view = _rotstep(tok)
                    if view is not None and depth <= 1:
                        self.rotations[(sub if depth else None, local_step)] = view
                    local_step += 1
                continue
            if tok[0] != "1":
                continue  # lines, triangles, quads drawn directly in a model carry no parts
            m = _TYPE1.match(ln)
            src_path = src or self.path
            where = f"{src_path}:{name}:{lineno}" if len(files) > 1 else f"{src_path}:{lineno}"
            if not m:
                raise InputFormatError(f"{where}: malformed type-1 line {ln.strip()!r}")
            try:
                c = int(m.group(1))
                vals = np.array([float(m.group(i)) for i in range(2, 14)])
            except ValueError as e:
                raise InputFormatError(f"{where}: bad number in type-1 line ({e})") from e
            c = color if c == 16 else c
            sub_pos = pos + rot @ vals[:3]
            sub_rot = rot @ vals[3:].reshape(3, 3)
            ref_step = local_step if step is None else step
            target = _norm_name(m.group(14))
            # the main model's direct sub-file reference names the sub-assembly of its parts
            ref_sub = target if depth == 0 else sub
            if target in files:
                self.walk(target, files, sub_pos, sub_rot, c, ref_step, depth + 1, src, ref_sub)
                continue
            key = target[:-4] if target.endswith(".dat") else target
            if target.endswith(".dat") and key in catalogue():
                sub_step = local_step if depth == 1 else 0
                self.refs.append(
                    _PartRef(catalogue()[key], c, sub_pos, sub_rot, ref_step, where, sub, sub_step)
                )
                continue
            sibling = self.path.parent / m.group(14).strip().replace("\\", "/")
            if target.endswith((".ldr", ".mpd")) and sibling.is_file():
                sub_main, sub_files = _split_mpd(_read_text(sibling), sibling)
                self.walk(
                    sub_main, sub_files, sub_pos, sub_rot, c, ref_step, depth + 1, sibling, ref_sub
                )
                continue
            self.unsupported[m.group(14).strip()] += 1


def _to_placement(ref: _PartRef) -> Placement:
    base, centre_local = _local_frame(ref.part)
    turn = ref.rot @ base.T
    snapped_turn = np.rint(turn)
    r = _TURNS.get(tuple(snapped_turn.astype(np.int64).ravel()))
    if r is None or np.abs(turn - snapped_turn).max() > _TOL:
        m = " ".join(_num(v) for v in ref.rot.ravel())
        raise GeometryError(
            f"{ref.where}: {ref.part.ldraw} has orientation {m}, which is not an upright quarter "
            "turn; only parts turned about the vertical axis fit the lattice"
        )
    if ref.part.kind != "slope":
        r %= 2  # a box turned half way round fills the same cells
    sx, sy = _footprint(ref.part, r)
    centre = ref.pos + ref.rot @ centre_local
    lattice = np.array(
        [
            centre[0] / LDU_PER_STUD - sx / 2,
            centre[2] / LDU_PER_STUD - sy / 2,
            -centre[1] / LDU_PER_PLATE - ref.part.height,
        ]
    )
    snapped = np.rint(lattice)
    if np.abs(lattice - snapped).max() > _TOL / LDU_PER_PLATE:
        raise GeometryError(
            f"{ref.where}: {ref.part.ldraw} at LDraw ({', '.join(_num(v) for v in ref.pos)}) is off "
            f"the stud/plate lattice (lattice position {np.round(lattice, 3).tolist()})"
        )
    x, y, z = (int(v) for v in snapped)
    return Placement(ref.part.key, x, y, z, sx, sy, ref.part.height, ref.color, r, ref.step)


def read_ldraw(path: str | Path, *, steps: bool = True) -> BrickModel:
    """Read an LDR or MPD model made of catalogue parts onto the lattice.

    Comments and meta lines are skipped; sub-models (MPD ``0 FILE`` sections, or ``.ldr`` files
    next to ``path``) are expanded with their transforms and colour 16 inherits the parent colour.
    Placements are shifted so the smallest lattice coordinate on each axis is 0 when any is
    negative (``meta["ldraw_shift"]`` records the shift); otherwise positions are kept as written.

    Args:
        steps: set ``Placement.step`` to the main model's step index (``0 STEP`` lines before the
            part); False leaves -1.

    Raises:
        UnsupportedInputError: parts that are not in the voxforge catalogue (listed).
        GeometryError: parts off the lattice or not upright quarter turns.
        InputFormatError: unreadable or malformed files.
    """
    return _read_model(Path(path), steps)[0]


def _read_model(path: Path, steps: bool) -> tuple[BrickModel, _Reader]:
    """The model (placements in the order of ``reader.refs``) and the reader that walked it."""
    main, files = _split_mpd(_read_text(path), path)
    reader = _Reader(path)
    reader.walk(main, files, np.zeros(3), np.eye(3), 16, None, 0)
    if reader.unsupported:
        listed = ", ".join(f"{n} (x{k})" for n, k in sorted(reader.unsupported.items()))
        raise UnsupportedInputError(
            f"{path}: {sum(reader.unsupported.values())} parts are not in the voxforge catalogue "
            f"(bricks, plates, tiles, slopes): {listed}"
        )
    placements = [_to_placement(ref) for ref in reader.refs]
    if not steps:
        placements = [replace(p, step=-1) for p in placements]
    title = next((m.group(1) for ln in files[main] if (m := re.match(r"^\s*0\s+(.*\S)", ln))), "")
    meta: dict[str, object] = {"source": str(path), "title": title}
    if not placements:
        return BrickModel([], (0, 0, 0), meta=meta), reader
    lo = np.array([[p.x, p.y, p.z] for p in placements]).min(axis=0)
    shift = np.where(lo < 0, -lo, 0)
    if shift.any():
        dx, dy, dz = (int(v) for v in shift)
        placements = [replace(p, x=p.x + dx, y=p.y + dy, z=p.z + dz) for p in placements]
        meta["ldraw_shift"] = [int(v) for v in shift]
    hi = np.array([[p.x + p.sx, p.y + p.sy, p.z + p.h] for p in placements]).max(axis=0)
    model = BrickModel(placements, (int(hi[0]), int(hi[1]), int(hi[2])), meta=meta)
    overlap = sum(p.cells for p in placements) - int(model.occupancy().sum())
    if overlap:
        log.warning("%s: parts overlap in %d lattice cells", path, overlap)
        meta["overlap_cells"] = overlap
    return model, reader


def read_ldraw_plan(path: str | Path) -> tuple[BrickModel, BuildPlan | None]:
    """Read a model like :func:`read_ldraw`, and the build steps its file defines.

    Main-model steps end at ``0 STEP`` or ``0 ROTSTEP`` (``ROTSTEP ... ABS`` angles become the
    step's ``rotation``); the parts a main-model line brings in through a sub-file (an MPD
    ``0 FILE`` section or a sibling ``.ldr``) form a sub-assembly attached in that step, with the
    sub-file's own steps. A step that mixes a sub-file with loose parts becomes two steps (the
    sub-assembly first). Empty steps are dropped. The plan is ``None`` when the main model has
    no step lines at all.

    Raises:
        as :func:`read_ldraw`.
    """
    path = Path(path)
    model, reader = _read_model(path, steps=True)
    main, files = _split_mpd(_read_text(path), path)
    if not any(_is_step(ln.split()) for ln in files.get(main, [])) or not reader.refs:
        return model, None
    by_step: dict[int, list[int]] = defaultdict(list)
    for i, ref in enumerate(reader.refs):
        by_step[ref.step].append(i)
    steps: list[BuildStep] = []
    subs: list[SubAssembly] = []
    for k in sorted(by_step):
        idx = by_step[k]
        loose = tuple(i for i in idx if reader.refs[i].sub is None)
        for name in dict.fromkeys(reader.refs[i].sub for i in idx if reader.refs[i].sub):
            subs.append(_read_sub(reader, name, [i for i in idx if reader.refs[i].sub == name]))
            steps.append(BuildStep(subs[-1].parts, submodel=len(subs) - 1))
        if loose:
            steps.append(BuildStep(loose, rotation=reader.rotations.get((None, k))))
    plan = BuildPlan(tuple(steps), tuple(subs), {"source": str(path)})
    plan.validate(len(model))
    return model, plan


def _read_sub(reader: _Reader, name: str, idx: list[int]) -> SubAssembly:
    """The sub-assembly of the parts ``idx`` that came through sub-file ``name``."""
    by_step: dict[int, list[int]] = defaultdict(list)
    for i in idx:
        by_step[reader.refs[i].sub_step].append(i)
    steps = tuple(
        BuildStep(tuple(by_step[k]), rotation=reader.rotations.get((name, k))) for k in sorted(by_step)
    )
    # built upside down when its first step is (a second phase may turn it over again)
    first = steps[0].rotation if steps else None
    flipped = first is not None and 90.0 < first[0] % 360.0 < 270.0
    stem = name[:-4] if name.endswith((".ldr", ".mpd")) else name
    parts = tuple(i for s in steps for i in s.parts)
    return SubAssembly(stem, parts, steps, upside_down=flipped)
