"""The stability program's rough solve: witnesses, proofs of collapse, and the fallback."""

import numpy as np
import pytest

import voxforge.bricks.physics.lp as physics_lp
from voxforge.bricks.physics.contacts import (
    GROUND,
    centres_of_mass,
    interfaces,
    part_masses,
    vertical_contacts,
)
from voxforge.bricks.physics.lp import solve_equilibrium
from voxforge.bricks.physics.stability import PhysicsConfig, analyze_stability

from .test_stability import LP, STUD_CAPACITY, G, cantilever, random_stack

ROUGH = PhysicsConfig(precheck=False, witness_from=0)  # the whole program, rough solve first


def _program(m):
    """(com, weight, interfaces) of a model whose parts all stand on something."""
    a, labels = m.arrays(), m.label_grid()
    return centres_of_mass(a), part_masses(m) * G, interfaces(len(m), vertical_contacts(m, labels))


def _solve(m, witness_from):
    com, w, iface = _program(m)
    return solve_equilibrium(com, w, iface, STUD_CAPACITY, 30.0, m.pitch, witness_from=witness_from)


def _imbalance(m, sol):
    """(n, 3) what each part's interface forces miss of its weight: force and first moments."""
    com, w, iface = _program(m)
    got = np.zeros((len(m), 3))
    np.add.at(got, iface.upper, sol.net)
    below = iface.lower != GROUND
    np.add.at(got, iface.lower[below], -sol.net[below])
    return got - np.stack([w, w * com[:, 0], w * com[:, 1]], axis=1)


@pytest.mark.parametrize("arm", [1, 3, 4])
def test_rough_solve_of_a_standing_cantilever_is_a_checked_witness(arm):
    m = cantilever(arm)
    rough, exact = _solve(m, 0), _solve(m, None)
    assert rough.status == "witness" and not rough.exact
    assert exact.status == "optimal" and exact.exact
    # a witness: every part balanced, every stud within capacity, no negative compression
    assert np.abs(_imbalance(m, rough)).max() < 1e-9
    assert rough.tension.max() <= STUD_CAPACITY * (1 + 1e-6)
    assert rough.compression.min() >= 0.0 and rough.exceed.max() == 0.0
    # the exact program has the least total tension; the interior point spreads more of it
    assert rough.tension.max(axis=1).sum() >= exact.tension.max(axis=1).sum() - 1e-9


def test_rough_solve_proves_a_long_cantilever_falls():
    m = cantilever(6)
    rough, exact = _solve(m, 0), _solve(m, None)
    assert rough.status == "near-optimal" and not rough.exact
    studded = _program(m)[2].n_studs > 0
    s_rough = physics_lp.interface_stress(rough.tension, studded, STUD_CAPACITY)
    s_exact = physics_lp.interface_stress(exact.tension, studded, STUD_CAPACITY)
    assert s_exact.max() > 1
    assert s_rough.max() == pytest.approx(s_exact.max(), rel=1e-2)
    # the exceedance is what the tension asks beyond capacity
    np.testing.assert_allclose(rough.exceed, np.maximum(rough.tension.max(axis=1) - STUD_CAPACITY, 0.0))


def test_rough_solve_falls_back_to_the_exact_program_when_it_proves_nothing(monkeypatch):
    # no gap is small enough: the rough forces of a falling cantilever prove nothing, so the
    # exact program runs and its optimum is the answer
    monkeypatch.setattr(physics_lp, "NEAR_OPTIMAL_GAP", -1.0)
    calls: list[str] = []
    for name in ("_rough", "_solve_lp"):
        real = getattr(physics_lp, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(physics_lp, name, spy)
    m = cantilever(6)
    fallback = _solve(m, 0)
    assert calls == ["_rough", "_solve_lp"]  # the rough pass ran, then the exact program
    exact = _solve(m, None)
    assert fallback.status == "optimal"
    np.testing.assert_allclose(fallback.tension, exact.tension, rtol=1e-9, atol=1e-12)


def test_small_programs_stay_exact_under_the_default_threshold():
    m = cantilever(4)
    assert len(_program(m)[2]) < PhysicsConfig().witness_from
    assert analyze_stability(m, LP).status == "optimal"
    assert _solve(m, PhysicsConfig().witness_from).status == "optimal"


def test_rough_whole_program_gives_the_exact_verdicts_on_random_stacks():
    rng = np.random.default_rng(11)
    statuses = set()
    for i in range(24):
        m = random_stack(rng, n_try=10, below=0.0 if i < 12 else 0.35)
        rough, exact = analyze_stability(m, ROUGH), analyze_stability(m, LP)
        assert rough.verdict == exact.verdict
        assert rough.ground_reaction_n == pytest.approx(exact.weight_n, rel=1e-6)
        statuses.add(rough.status)
        if rough.status == "witness (upper bound)":
            assert rough.interface_stress.sum() >= exact.interface_stress.sum() - 1e-6
            assert rough.max_stress <= 1.0 + 1e-6
        else:
            assert rough.status in ("near-optimal", "optimal")
            assert rough.max_stress == pytest.approx(exact.max_stress, rel=1e-2)
    assert "witness (upper bound)" in statuses  # (collapse: the cantilever tests above)


def test_report_names_the_rough_outcomes():
    assert analyze_stability(cantilever(3), ROUGH).status == "witness (upper bound)"
    falls = analyze_stability(cantilever(6), ROUGH)
    assert falls.status == "near-optimal" and falls.verdict == "UNSTABLE"


def _pushed(m, part, x, y, push):
    """The exact program with ``push`` newtons pushing ``part`` up at lattice point (x, y)."""
    com, w, iface = _program(m)
    w = w.copy()
    w[part] -= push
    moment = np.zeros((len(m), 2))
    dx, dy = x - com[part, 0], y - com[part, 1]
    moment[part] = (-dy * push, dx * push)  # what the contacts must make up for
    return solve_equilibrium(com, w, iface, STUD_CAPACITY, 30.0, m.pitch, moment=moment)


@pytest.mark.parametrize("solver", ["clarabel", "highs"])
def test_support_prices_predict_what_a_push_takes_off_the_overload(monkeypatch, solver):
    if solver == "highs":
        monkeypatch.setattr(physics_lp, "_run_clarabel", lambda *a, **k: None)
    m = cantilever(6)
    base = _solve(m, None)
    assert base.exceed.sum() > 0 and base.price.shape == (len(m), 3)
    tip = len(m) - 1  # the outermost brick of the arm
    p = m.placements[tip]
    y = p.y + 0.5
    c0, cx, cy = base.price[tip]
    predicted = [c0 + cx * x + cy * y for x in (p.x + 0.5, p.x + p.sx - 0.5)]
    assert predicted[1] < predicted[0] < 0  # a push helps, farther out more
    for x, want in zip((p.x + 0.5, p.x + p.sx - 0.5), predicted, strict=True):
        push = 1e-3
        got = (_pushed(m, tip, x, y, push).exceed.sum() - base.exceed.sum()) / push
        assert got == pytest.approx(want, rel=2e-2)
    # a push on the post's bottom brick, on the ground, gains nothing but a little less tension
    # (the objective's tension term, 1e-4 of the excess's weight)
    np.testing.assert_allclose(base.price[0], 0.0, atol=1e-3)


def test_a_witness_has_no_prices():
    sol = _solve(cantilever(3), 0)
    assert sol.status == "witness" and not sol.price.any()


def test_a_spent_time_limit_is_reported_without_negative_seconds():
    """A solve that starts after the limit ran out says so; no "stopped after -1.1 s"."""
    com, w, iface = _program(cantilever(6))
    with pytest.raises(physics_lp.SolveError) as info:
        solve_equilibrium(com, w, iface, STUD_CAPACITY, -1.1, cantilever(6).pitch, witness_from=0)
    assert info.value.status == "time limit"
    assert "-" not in info.value.detail, info.value.detail
