"""LDraw writer and reader: exact lines, round trips, real files, and geometry of the real parts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxforge.bricks.catalogue import catalogue
from voxforge.bricks.connectivity import stud_mask
from voxforge.bricks.ldraw import (
    mpd_text,
    part_line,
    placement_transform,
    quarter_turn,
    read_ldraw,
    write_mpd,
)
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.errors import ConfigError, GeometryError, InputFormatError, UnsupportedInputError


def _place(key: str, x: int, y: int, z: int, rotation: int = 0, color: int = 4, step: int = -1):
    part = catalogue()[key]
    sx, sy = (part.length, part.width) if rotation % 2 == 0 else (part.width, part.length)
    return Placement(key, x, y, z, sx, sy, part.height, color, rotation, step)


def _model(placements: list[Placement]) -> BrickModel:
    hi = np.array([[p.x + p.sx, p.y + p.sy, p.z + p.h] for p in placements]).max(axis=0)
    return BrickModel(placements, tuple(int(v) for v in hi))


def _sort(ps: list[Placement]) -> list[Placement]:
    return sorted(ps, key=lambda p: (p.z, p.y, p.x, p.part, p.rotation, p.color))


# ---------------------------------------------------------------------------------------------
# writing


def test_part_lines_exact() -> None:
    # 2x4 brick on the ground at the origin: centre (40, 20) LDU, top at y = -24
    assert part_line(_place("3001", 0, 0, 0)) == "1 4 40 -24 20 1 0 0 0 1 0 0 0 1 3001.dat"
    # turned a quarter: long side along lattice y = LDraw Z; a plate at layer 3 has y = -8 * 4
    assert part_line(_place("3020", 2, 1, 3, rotation=1, color=15)) == (
        "1 15 60 -32 60 0 0 -1 0 1 0 1 0 0 3020.dat"
    )
    # slope 2x2 rotation 0: stud row at x-min, origin on the stud row, not the footprint centre
    assert part_line(_place("3039", 0, 0, 0)) == "1 4 10 -24 20 0 0 -1 0 1 0 1 0 0 3039.dat"
    assert part_line(_place("3039", 0, 0, 0, rotation=2)) == (
        "1 4 30 -24 20 0 0 1 0 1 0 -1 0 0 3039.dat"
    )
    assert part_line(_place("4286", 0, 0, 0, rotation=1)) == (
        "1 4 10 -24 10 -1 0 0 0 1 0 0 0 -1 4286.dat"
    )


def test_quarter_turn_matches_lego_facts() -> None:
    # LEGO_FACTS: 90 degrees about the vertical is "0 0 1 0 1 0 -1 0 0" (R_y(+90), our r = 3),
    # 180 degrees is "-1 0 0 0 1 0 0 0 -1"
    assert quarter_turn(3).ravel().tolist() == [0, 0, 1, 0, 1, 0, -1, 0, 0]
    assert quarter_turn(2).ravel().tolist() == [-1, 0, 0, 0, 1, 0, 0, 0, -1]
    for r in range(4):
        m = quarter_turn(r)
        assert round(np.linalg.det(m)) == 1 and (m @ m.T == np.eye(3)).all()
    # lattice +x turned once points along lattice +y = LDraw +Z (counter-clockwise from above)
    assert (quarter_turn(1) @ [1, 0, 0]).tolist() == [0, 0, 1]


def test_mpd_layout_and_layers(tmp_path: Path) -> None:
    m = _model(
        [_place("3001", 0, 0, 3, color=4), _place("3001", 0, 0, 0, color=1), _place("3024", 5, 5, 0)]
    )
    out = tmp_path / "m.mpd"
    write_mpd(m, out, title="Two\nbricks", author="me")
    raw = out.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    lines = raw.decode().splitlines()
    assert lines[:5] == [
        "0 FILE main.ldr",
        "0 Two bricks",
        "0 Name: main.ldr",
        "0 Author: me",
        "0 !LDRAW_ORG Unofficial_Model",
    ]
    assert lines[-1] == "0 NOFILE" and lines.count("0 STEP") == 2
    body = [ln for ln in lines if ln.startswith("1 ")]
    assert body == [
        "1 1 40 -24 20 1 0 0 0 1 0 0 0 1 3001.dat",
        "1 4 110 -8 110 1 0 0 0 1 0 0 0 1 3024.dat",
        "1 4 40 -48 20 1 0 0 0 1 0 0 0 1 3001.dat",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["m.mpd"]  # no temp file left behind


def test_steps_modes() -> None:
    ps = [
        _place("3001", 0, 0, 0, step=1),
        _place("3001", 0, 0, 3, step=0),
        _place("3003", 4, 0, 0, step=1),
    ]
    text = mpd_text(_model(ps), title="t", steps="placement")
    chunks = text.split("0 STEP")
    assert chunks[0].count("\n1 ") == 1 and "-48" in chunks[0].splitlines()[-1]  # step 0 first
    assert chunks[1].count("\n1 ") == 2
    assert mpd_text(_model(ps), title="t", steps="none").count("0 STEP") == 1
    with pytest.raises(ConfigError, match="step -1"):
        mpd_text(_model([*ps, _place("3005", 9, 9, 0)]), title="t", steps="placement")
    with pytest.raises(ConfigError, match="unknown steps"):
        mpd_text(_model(ps), title="t", steps="bogus")  # type: ignore[arg-type]


def test_writer_rejects_inconsistent_placements() -> None:
    bad = Placement("3001", 0, 0, 0, 2, 4, 3, 4, 0)  # rotation 0 needs 4 x 2
    with pytest.raises(GeometryError, match="4x2x3"):
        placement_transform(bad)
    with pytest.raises(GeometryError, match="rotation 5"):
        placement_transform(Placement("3001", 0, 0, 0, 4, 2, 3, 4, 5))
    with pytest.raises(ConfigError, match="unknown part"):
        placement_transform(Placement("9999", 0, 0, 0, 1, 1, 3, 4, 0))


# ---------------------------------------------------------------------------------------------
# round trips


def test_round_trip_every_part_and_rotation(tmp_path: Path) -> None:
    ps = []
    x = 0
    for key, part in catalogue().items():
        for r in range(4 if part.kind == "slope" else 2):
            ps.append(_place(key, x, 2 * r, (x % 3) * 3, rotation=r, color=[4, 1, 14, 15][r], step=r))
            x += 9
    m = _model(ps)
    path = tmp_path / "all.mpd"
    write_mpd(m, path, title="all", steps="placement")
    back = read_ldraw(path)
    assert _sort(back.placements) == _sort(ps)
    assert back.shape == m.shape and "ldraw_shift" not in back.meta


def test_round_trip_layers_steps(tmp_path: Path) -> None:
    ps = [_place("3001", 1, 1, 0), _place("3020", 1, 1, 3, rotation=1), _place("3040b", 1, 1, 4, 3)]
    path = tmp_path / "l.mpd"
    write_mpd(_model(ps), path, title="l")
    back = read_ldraw(path)
    assert [p.step for p in _sort(back.placements)] == [0, 1, 2]
    assert _sort(read_ldraw(path, steps=False).placements) == _sort(ps)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(catalogue().names())),
            st.integers(0, 30),
            st.integers(0, 30),
            st.integers(0, 30),
            st.integers(0, 3),
            st.sampled_from([0, 4, 15, 71, 272]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_round_trip_property(tmp_path_factory: pytest.TempPathFactory, rows) -> None:
    ps = []
    for key, x, y, z, r, c in rows:
        if catalogue()[key].kind != "slope":
            r %= 2
        ps.append(_place(key, x, y, z, rotation=r, color=c))
    path = tmp_path_factory.mktemp("rt") / "m.mpd"
    write_mpd(_model(ps), path, title="p", steps="none")
    assert _sort(read_ldraw(path, steps=False).placements) == _sort(ps)


# ---------------------------------------------------------------------------------------------
# reading real and hand-made files


def test_read_pyramid(shared_data: Path) -> None:
    m = read_ldraw(shared_data / "ldraw" / "models" / "pyramid.ldr")
    assert len(m) == 13 and m.shape == (8, 8, 12)
    assert m.meta["ldraw_shift"] == [4, 4, 0]
    assert m.meta["title"] == "Example Pyramid for Demonstration of LDRAW Library"
    colours = sorted((p.z, p.color, p.part) for p in m.placements)
    assert colours == [(0, 1, "3001")] * 6 + [(3, 4, "3001")] * 4 + [(6, 14, "3001")] * 2 + [
        (9, 0, "3003")
    ]
    assert sorted({p.step for p in m.placements}) == [0, 1, 2, 3]
    # the 2x2 on top sits over the centre; the ring of six 2x4 fills 36 of the 8x8 cells' columns
    top = next(p for p in m.placements if p.part == "3003")
    assert (top.x, top.y) == (3, 3)
    ground = m.occupancy()[:, :, 0]
    assert ground.sum() == 48 and not ground[2:6, 2:6].any()
    assert "overlap_cells" not in m.meta


def test_read_car_lists_unsupported(shared_data: Path) -> None:
    with pytest.raises(UnsupportedInputError) as e:
        read_ldraw(shared_data / "ldraw" / "models" / "car.ldr")
    msg = str(e.value)
    assert "car.ldr" in msg and "not in the voxforge catalogue" in msg
    for part in ("4315.dat (x2)", "3829c01.dat (x1)", "4624.dat (x4)", "3641.dat (x4)"):
        assert part in msg
    assert "3024.dat" not in msg  # catalogue parts are not listed


def test_read_mpd_submodels_and_colour_inheritance(tmp_path: Path) -> None:
    (tmp_path / "wing.ldr").write_text("0 wing\n1 16 10 -8 10 1 0 0 0 1 0 0 0 1 3024.dat\n")
    text = "\r\n".join(
        [
            "0 FILE main.ldr",
            "0 Main",
            "0 // comment",
            "0 ROTSTEP 0 0 0 ABS",
            "1 4 0 0 0 1 0 0 0 1 0 0 0 1 sub.ldr",
            "0 STEP",
            "1 14 0 -24 0 1 0 0 0 1 0 0 0 1 sub.ldr",
            "1 2 100 0 100 1 0 0 0 1 0 0 0 1 wing.ldr",
            "3 16 0 0 0 1 0 0 0 1 0",
            "0 NOFILE",
            "0 FILE sub.ldr",
            "1 16 40 -24 20 1 0 0 0 1 0 0 0 1 3001.DAT",
            "0 STEP",
            "1 1 40 -32 40 0 0 -1 0 1 0 1 0 0 parts\\3020.dat",
            "0 NOFILE",
        ]
    )
    path = tmp_path / "m.mpd"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    m = read_ldraw(path)
    got = sorted((p.part, p.x, p.y, p.z, p.color, p.rotation, p.step) for p in m.placements)
    # ROTSTEP ends a step like STEP does (MLCad spec): the first step here is empty
    assert got == [
        ("3001", 0, 0, 0, 4, 0, 1),
        ("3001", 0, 0, 3, 14, 0, 2),
        ("3020", 1, 0, 3, 1, 1, 1),
        ("3020", 1, 0, 6, 1, 1, 2),
        ("3024", 5, 5, 0, 2, 0, 2),
    ]
    assert m.meta["title"] == "Main" and m.meta["overlap_cells"] > 0


def test_read_pyramid_as_given_by_lego_facts_rotation(tmp_path: Path) -> None:
    # "0 0 1 0 1 0 -1 0 0" (R_y(+90)) on a 2x4 brick is lattice rotation 3 == 1 for a box
    p = tmp_path / "r.ldr"
    p.write_text("1 4 20 -24 40 0 0 1 0 1 0 -1 0 0 3001.dat\n")
    (b,) = read_ldraw(p).placements
    assert (b.x, b.y, b.sx, b.sy, b.rotation) == (0, 0, 2, 4, 1)


@pytest.mark.parametrize(
    ("line", "error", "match"),
    [
        ("1 4 5 -24 20 1 0 0 0 1 0 0 0 1 3001.dat", GeometryError, "off the stud/plate lattice"),
        ("1 4 40 -20 20 1 0 0 0 1 0 0 0 1 3001.dat", GeometryError, "off the stud/plate lattice"),
        ("1 4 40 -24 20 1 0 0 0 -1 0 0 0 -1 3001.dat", GeometryError, "not an upright quarter"),
        ("1 4 40 -24 20 0.7071 0 0.7071 0 1 0 -0.7071 0 0.7071 3001.dat", GeometryError, "quarter"),
        ("1 4 40 -24 20 1 0 0 0 1 0 0 0 3001.dat", InputFormatError, "malformed type-1"),
        ("1 4 40 -24 2x0 1 0 0 0 1 0 0 0 1 3001.dat", InputFormatError, "bad number"),
        ("1 4 0 0 0 1 0 0 0 1 0 0 0 1 4315.dat", UnsupportedInputError, r"4315.dat \(x1\)"),
    ],
)
def test_read_errors_name_the_file(tmp_path: Path, line: str, error: type, match: str) -> None:
    p = tmp_path / "bad.ldr"
    p.write_text(f"0 bad\n{line}\n")
    with pytest.raises(error, match=match) as e:
        read_ldraw(p)
    assert "bad.ldr" in str(e.value)


def test_read_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match=r"nope\.ldr"):
        read_ldraw(tmp_path / "nope.ldr")
    p = tmp_path / "empty.ldr"
    p.write_text("0 nothing\n")
    m = read_ldraw(p)
    assert len(m) == 0 and m.shape == (0, 0, 0)


# ---------------------------------------------------------------------------------------------
# the real part geometry agrees with the lattice boxes and the stud convention


def _expand(lib: Path, name: str, rot: np.ndarray, pos: np.ndarray, verts: list, studs: list, depth=0):
    fname = name.replace("\\", "/").lower()
    for sub in ("parts", "p"):
        path = lib / sub / fname
        if path.is_file():
            break
    else:
        raise FileNotFoundError(fname)
    for ln in path.read_text(errors="replace").splitlines():
        tok = ln.split()
        if not tok:
            continue
        if tok[0] == "1":
            v = np.array(tok[2:14], dtype=float)
            r2, p2 = rot @ v[3:].reshape(3, 3), pos + rot @ v[:3]
            sub_name = " ".join(tok[14:]).lower()
            if sub_name == "stud.dat" and r2[1, 1] > 0:
                studs.append(p2)
            _expand(lib, sub_name, r2, p2, verts, studs, depth + 1)
        elif tok[0] in ("3", "4"):
            n = int(tok[0])
            pts = np.array(tok[2 : 2 + 3 * n], dtype=float).reshape(n, 3)
            verts.extend(pts @ rot.T + pos)


@pytest.mark.parametrize("key", sorted(catalogue().names()))
def test_part_geometry_fills_its_lattice_box(shared_data: Path, key: str) -> None:
    lib = shared_data / "ldraw" / "library"
    part = catalogue()[key]
    for r in range(4):
        p = _place(key, 3, 5, 2, rotation=r)
        pos, rot = placement_transform(p)
        verts: list = []
        studs: list = []
        _expand(lib, part.ldraw, rot.astype(float), pos, verts, studs)
        v = np.array(verts)
        lo, hi = v.min(axis=0), v.max(axis=0)
        # body spans the lattice box exactly in plan; vertically from the bottom to the top face
        np.testing.assert_allclose([lo[0], hi[0]], [20 * p.x, 20 * (p.x + p.sx)], atol=0.01)
        np.testing.assert_allclose([lo[2], hi[2]], [20 * p.y, 20 * (p.y + p.sy)], atol=0.01)
        assert hi[1] == pytest.approx(-8 * p.z)
        # studs stand on the columns connectivity.stud_mask says, at the top face
        want = {(p.x + i, p.y + j) for i, j in zip(*np.nonzero(stud_mask(p)), strict=True)}
        got = {(int(s[0] // 20), int(s[2] // 20)) for s in studs}
        assert got == want, (key, r)
        assert all(s[1] == pytest.approx(-8 * (p.z + p.h)) for s in studs)


def test_read_write_pyramid_round_trip(shared_data: Path, tmp_path: Path) -> None:
    m = read_ldraw(shared_data / "ldraw" / "models" / "pyramid.ldr")
    write_mpd(m, tmp_path / "p.mpd", title="pyramid", steps="placement")
    back = read_ldraw(tmp_path / "p.mpd")
    assert _sort(back.placements) == _sort(m.placements)


def test_replace_keeps_placement_frozen() -> None:
    p = _place("3001", 0, 0, 0)
    assert replace(p, step=2).step == 2 and p.step == -1


# ---------------------------------------------------------------------------------------------
# build plans: STEP / ROTSTEP / sub-assembly FILE sections


def _plan_model():
    from voxforge.bricks.order.plan import BuildPlan, BuildStep, SubAssembly

    ps = [
        _place("3003", 0, 0, 0, color=1),  # 0
        _place("3003", 0, 0, 3, color=1),  # 1
        _place("3007", 0, 0, 6, rotation=1, color=4),  # 2 beam along y
        _place("3003", 0, 6, 3, color=14),  # 3 hangs under the beam
        _place("3003", 0, 6, 9, color=2),  # 4
    ]
    sub = SubAssembly("sub1", (3, 2), (BuildStep((3,)), BuildStep((2,), rotation=(210.0, 45.0, 0.0))))
    plan = BuildPlan(
        (
            BuildStep((0,)),
            BuildStep((1,), rotation=(30.0, 135.0, 0.0)),
            BuildStep((3, 2), submodel=0),
            BuildStep((4,)),
        ),
        (sub,),
    )
    return _model(ps), plan


def test_mpd_with_plan_exact_lines() -> None:
    m, plan = _plan_model()
    lines = mpd_text(m, title="planned", plan=plan).splitlines()
    body = [
        ln for ln in lines if not ln.startswith(("0 planned", "0 Name", "0 Author", "0 !LDRAW", "0 //"))
    ]
    assert [ln for ln in body if ln] == [
        "0 FILE main.ldr",
        "1 1 20 -24 20 1 0 0 0 1 0 0 0 1 3003.dat",
        "0 STEP",
        "1 1 20 -48 20 1 0 0 0 1 0 0 0 1 3003.dat",
        "0 ROTSTEP 30 135 0 ABS",
        # the sub-model's origin is its parts' min corner: lattice (0, 0, 3)
        "1 16 0 -24 0 1 0 0 0 1 0 0 0 1 sub1.ldr",
        "0 ROTSTEP END",
        "1 2 20 -96 140 1 0 0 0 1 0 0 0 1 3003.dat",
        "0 STEP",
        "0 NOFILE",
        "0 FILE sub1.ldr",
        "1 14 20 -24 140 1 0 0 0 1 0 0 0 1 3003.dat",  # relative to the sub-model origin
        "0 STEP",
        "1 4 20 -48 80 0 0 -1 0 1 0 1 0 0 3007.dat",
        "0 ROTSTEP 210 45 0 ABS",
        "0 NOFILE",
    ]


def test_plan_round_trip(tmp_path: Path) -> None:
    from voxforge.bricks.ldraw import read_ldraw_plan

    m, plan = _plan_model()
    path = tmp_path / "p.mpd"
    write_mpd(m, path, title="planned", plan=plan)
    back, got = read_ldraw_plan(path)
    key = [(p.part, p.x, p.y, p.z, p.color, p.rotation) for p in m.placements]
    key_back = [(p.part, p.x, p.y, p.z, p.color, p.rotation) for p in back.placements]
    assert sorted(key_back) == sorted(key)
    assert read_ldraw(path).placements == back.placements  # same flattened parts
    assert got is not None and len(got.steps) == 4 and len(got.submodels) == 1

    def named(step) -> list:
        return sorted(key_back[i] for i in step.parts)

    for a, b in zip(plan.steps, got.steps, strict=True):
        assert sorted(key[i] for i in a.parts) == named(b)
        assert (a.submodel, a.rotation) == (b.submodel, b.rotation)
    sub = got.submodels[0]
    assert sub.name == "sub1" and not sub.upside_down
    assert [named(s) for s in sub.steps] == [[key[3]], [key[2]]]
    assert [s.rotation for s in sub.steps] == [None, (210.0, 45.0, 0.0)]


def test_read_plan_of_a_file_without_steps(tmp_path: Path) -> None:
    from voxforge.bricks.ldraw import read_ldraw_plan

    path = tmp_path / "flat.ldr"
    path.write_text("0 flat\n1 4 40 -24 20 1 0 0 0 1 0 0 0 1 3001.dat\n")
    model, plan = read_ldraw_plan(path)
    assert len(model) == 1 and plan is None


def test_plan_that_misses_a_part_is_refused() -> None:
    from voxforge.bricks.order.plan import BuildPlan, BuildStep

    m, _ = _plan_model()
    with pytest.raises(ConfigError, match="in no build step"):
        mpd_text(m, title="x", plan=BuildPlan((BuildStep((0, 1, 2, 3)),)))


def test_planned_model_from_plan_build_round_trips(tmp_path: Path) -> None:
    from voxforge.bricks.ldraw import read_ldraw_plan
    from voxforge.bricks.order.planner import OrderConfig, plan_build

    m, _ = _plan_model()
    cfg = OrderConfig(physics=False, min_parts=1, target_parts=2, max_parts=3, sub_min_parts=1)
    plan = plan_build(m, cfg)
    path = tmp_path / "o.mpd"
    write_mpd(m, path, title="ordered", plan=plan)
    text = path.read_text()
    assert text.count("0 FILE ") == 2 and "1 16 0 -24 0 1 0 0 0 1 0 0 0 1 sub1.ldr" in text
    _, got = read_ldraw_plan(path)
    assert got is not None and [len(s.parts) for s in got.steps] == [len(s.parts) for s in plan.steps]


def test_sub_assembly_started_upside_down_and_turned_back_reads_as_upside_down(
    tmp_path: Path,
) -> None:
    # a sub-assembly built in phases (order._table_phases): its first step's view says how it
    # lies on the table, whatever the later turns
    from dataclasses import replace

    from voxforge.bricks.ldraw import read_ldraw_plan
    from voxforge.bricks.order.plan import BuildStep

    m, plan = _plan_model()
    turned = (210.0, 45.0, 0.0)
    sub = replace(
        plan.submodels[0],
        parts=(2, 3),
        steps=(BuildStep((2,), rotation=turned), BuildStep((3,))),
        upside_down=True,
    )
    path = tmp_path / "t.mpd"
    write_mpd(m, path, title="turned", plan=replace(plan, submodels=(sub,)))
    _, got = read_ldraw_plan(path)
    assert got is not None
    back = got.submodels[0]
    assert back.upside_down and [s.rotation for s in back.steps] == [turned, None]


def _long_plan(n_steps: int, sub_steps: int = 3):
    """A column of ``n_steps`` 1x1 plates, one a step (every 7th turned), and a sub-assembly of
    ``sub_steps`` plates beside it attached in step 100."""
    from voxforge.bricks.order.plan import BuildPlan, BuildStep, SubAssembly

    ps = [_place("3024", 0, 0, z, color=1 + z % 3) for z in range(101)]
    ps += [_place("3024", 1, 0, 100 + k, color=4) for k in range(sub_steps)]
    ps += [_place("3024", 0, 0, z, color=1 + z % 3) for z in range(101, n_steps)]
    sub_parts = tuple(range(101, 101 + sub_steps))
    sub = SubAssembly("side", sub_parts, tuple(BuildStep((i,)) for i in sub_parts))
    steps = []
    for i, p in enumerate(ps):
        if i in sub_parts:
            if i == sub_parts[0]:
                steps.append(BuildStep(sub_parts, submodel=0))
            continue
        steps.append(BuildStep((i,), rotation=(30.0, 135.0, 0.0) if p.z % 7 == 3 else None))
    return _model(ps), BuildPlan(tuple(steps), (sub,))


def _steps_per_file(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    current = ""
    for ln in text.splitlines():
        if ln.startswith("0 FILE "):
            current = ln[7:]
            counts[current] = 0
        elif ln.startswith(("0 STEP", "0 ROTSTEP")):
            counts[current] += 1
    return counts


def test_long_plan_is_written_as_chapters_and_read_back_identically(tmp_path: Path) -> None:
    from voxforge.bricks.ldraw import MAX_STEPS_PER_MODEL, read_ldraw_plan

    m, plan = _long_plan(300)
    assert len(plan.steps) == 301
    path = tmp_path / "long.mpd"
    write_mpd(m, path, title="long", plan=plan)
    counts = _steps_per_file(path.read_text())
    assert max(counts.values()) <= MAX_STEPS_PER_MODEL
    assert counts["main.ldr"] == 2 and counts["main_chapter1.ldr"] + counts["main_chapter2.ldr"] == 301
    back, got = read_ldraw_plan(path)
    assert [replace(p, step=-1) for p in back.placements] == m.placements
    assert got is not None and got.steps == plan.steps and got.submodels == plan.submodels
    # the flat reader numbers steps as the plan does
    assert [p.step for p in read_ldraw(path).placements] == list(plan.step_of(len(m)))


def test_short_plan_has_no_chapters() -> None:
    m, plan = _long_plan(250, sub_steps=4)
    text = mpd_text(m, title="short", plan=plan)
    assert "chapter" not in text and _steps_per_file(text)["main.ldr"] == 251


def test_long_layer_steps_are_chapters_too() -> None:
    m, _ = _long_plan(600)
    counts = _steps_per_file(mpd_text(m, title="layers", steps="layers"))
    assert counts["main.ldr"] == 3 and max(counts.values()) <= 255 and sum(counts.values()) == 603
