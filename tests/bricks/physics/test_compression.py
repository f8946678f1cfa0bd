"""The greedy load pass with stud friction (``physics.compression``): hand cases, the equilibrium of
the force distribution it builds, and agreement with the linear program."""

import numpy as np
import pytest

from voxforge.bricks.physics.compression import compression_pass, support_potential, tension_stress
from voxforge.bricks.physics.contacts import (
    GROUND,
    centres_of_mass,
    interfaces,
    part_masses,
    vertical_contacts,
)
from voxforge.bricks.physics.stability import PhysicsConfig, analyze_stability

from .test_stability import (
    LP,
    STUD_CAPACITY,
    G,
    cantilever,
    model,
    part,
    random_stack,
    running_bond_wall,
    weight,
)

FRICTION = PhysicsConfig(exact_below=0)  # the friction pass on models of any size


def _pass(m, capacity=STUD_CAPACITY):
    a = m.arrays()
    iface = interfaces(len(m), vertical_contacts(m, m.label_grid()))
    w = part_masses(m) * G
    com = centres_of_mass(a)
    return iface, w, com, compression_pass(com, w, a["z"] + a["h"], iface, stud_capacity=capacity)


def test_tension_stress_matches_the_lever_rule():
    # 1 N, 3 studs past the edge of a 1x2 contact whose two studs pull 1 stud from that edge:
    # compression at the edge, tension T with T * 1 = 1 N * 3
    rect = np.array([[0, 2, 0, 1]])
    stress = tension_stress(
        np.array([1.0]), np.array([5.0]), np.array([0.5]), rect, rect, np.array([2]), 2.0
    )
    assert stress[0] == pytest.approx(3.0 / 2 / 2.0)
    inside = tension_stress(
        np.array([1.0]), np.array([1.7]), np.array([0.2]), rect, rect, np.array([2]), 2.0
    )
    assert inside[0] == 0.0
    # a contact without studs (on a tile) cannot pull at all
    no_studs = tension_stress(
        np.array([1.0]), np.array([5.0]), np.array([0.5]), rect, rect, np.array([0]), 2.0
    )
    assert no_studs[0] > 1.0


def test_friction_pass_gives_the_hand_calculated_arm_stress():
    # one 1x8 brick on one stud of a 2x2 brick: the stud carries 6 W (test_stability's hand case)
    m = model([part("3003", 0, 0, 0, 2, 2), part("3008", 1, 0, 3, 8, 1)])
    r = analyze_stability(m, FRICTION)
    assert r.verdict == "STABLE" and r.status == "friction load path (upper bound)"
    assert r.n_variables == 0  # no program solved
    assert r.max_stress == pytest.approx(6 * weight("3008") / STUD_CAPACITY, rel=1e-9)
    assert r.max_stress == pytest.approx(analyze_stability(m, LP).max_stress, rel=1e-6)


def test_friction_pass_builds_a_distribution_in_equilibrium():
    for m in (cantilever(3), cantilever(4)):
        iface, w, com, r = _pass(m)
        assert not r.failed.any() and 0 < r.max_stress <= 1
        n = len(m)
        up = np.zeros((n, 3))  # upward force and its moments on each part from below
        for i in range(len(iface)):
            f = np.array([1.0, r.qx[i], r.qy[i]]) * r.force[i]
            up[iface.upper[i]] += f
            if iface.lower[i] != GROUND:
                up[iface.lower[i]] -= f
        load = np.stack([w, w * com[:, 0], w * com[:, 1]], axis=1)
        np.testing.assert_allclose(up, load, rtol=1e-9, atol=1e-12)
        # a load point outside its contact is the cantilever: it is what needs the tension
        outside = (r.qx < iface.rect[:, 0]) | (r.qx > iface.rect[:, 1])
        assert np.array_equal(outside, r.stress > 0)


def test_friction_pass_fails_where_the_program_finds_the_model_falls():
    for k in (5, 6):
        _, _, _, r = _pass(cantilever(k))
        assert r.failed.any()
        fast, full = analyze_stability(cantilever(k), FRICTION), analyze_stability(cantilever(k), LP)
        assert fast.verdict == full.verdict == "UNSTABLE"
        assert fast.max_stress == pytest.approx(full.max_stress, rel=1e-6)


def test_compression_only_models_need_no_friction():
    _, _, _, r = _pass(running_bond_wall())
    assert not r.failed.any() and r.max_stress == 0.0
    assert analyze_stability(running_bond_wall(), FRICTION).status == "compression-only load path"


def test_friction_pass_agrees_with_program_on_random_stacks():
    rng = np.random.default_rng(11)
    statuses = []
    for i in range(40):
        m = random_stack(rng, n_try=12, below=0.0 if i < 20 else 0.35)
        fast, full = analyze_stability(m, FRICTION), analyze_stability(m, LP)
        assert fast.verdict == full.verdict
        assert fast.ground_reaction_n == pytest.approx(full.weight_n, rel=1e-6)
        if fast.verdict == "STABLE":
            assert fast.max_stress <= 1 + 1e-9
        statuses.append(fast.status.split(" (")[0])
    assert statuses.count("friction load path") >= 3


def test_friction_pass_agrees_with_program_on_modelnet_shapes(shared_data):
    from .test_stability import _modelnet_models

    for m in _modelnet_models(shared_data, 12, [89, 264, 2248, 3409, 3031]):
        fast, full = analyze_stability(m, FRICTION), analyze_stability(m, LP)
        assert fast.verdict == full.verdict
        assert fast.ground_reaction_n == pytest.approx(full.weight_n, rel=1e-6)


def test_regions_never_end_unknown_on_a_modelnet_chair(shared_data):
    # chair #1182 at 32 studs (366 parts, before repair): a hanging part over capacity, then a
    # cantilever region that its neighbours' fixed forces make infeasible; the whole program
    # must take over and give the program's own verdict
    from .test_stability import _modelnet_models

    (m,) = _modelnet_models(shared_data, 32, [1182])
    fast, full = analyze_stability(m), analyze_stability(m, LP)
    assert fast.verdict == full.verdict == "UNSTABLE"
    assert fast.max_stress == pytest.approx(full.max_stress, rel=1e-4)


def test_support_potential_follows_the_grounded_contact_area():
    # two 2x2 bricks on the ground bridged by a 2x4; beside the bridge a 2x2 brick that rests on
    # nothing (it hangs from the 2x4 above); that top 2x4 rests half on each
    m = model(
        [
            part("3003", 0, 0, 0, 2, 2),  # 0: on the ground
            part("3001", 0, 0, 3, 4, 2),  # 1: on 0 and 2
            part("3003", 2, 0, 0, 2, 2),  # 2: on the ground too (the void's other column)
            part("3003", 4, 0, 3, 2, 2),  # 3: rests on nothing (hangs from 4)
            part("3001", 2, 0, 6, 4, 2),  # 4: half on 1, half on the hanging 3
        ]
    )
    a = m.arrays()
    iface = interfaces(len(m), vertical_contacts(m, m.label_grid()))
    pot = support_potential(a["z"] + a["h"], iface, np.ones(len(m), dtype=bool), None)
    # 1 rests on 0 (2x2) and on 2 (2x2): fully grounded; 3 hangs; 4 is half on each
    np.testing.assert_allclose(pot, [1.0, 1.0, 1.0, 0.0, 0.5])
    # parts left out of the pass count as grounded (their forces come from elsewhere)
    active = np.array([True, True, True, False, True])
    pot = support_potential(a["z"] + a["h"], iface, active, None)
    np.testing.assert_allclose(pot[4], 1.0)


def _hanging(n_plates: int, under: str = "3022"):
    # two 1x8 bricks side by side bridging two 2x2 columns; under their middle a stack of n 2x2
    # plates hangs, the top one clamped to the bricks' undersides by its 4 studs (2 each)
    parts = [part("3003", 0, 0, 3 * k, 2, 2) for k in range(2)]
    parts += [part("3003", 6, 0, 3 * k, 2, 2) for k in range(2)]
    parts.append(part("3008", 0, 0, 6, 8, 1))  # 1x8 brick on both columns' back row
    parts.append(part("3008", 0, 1, 6, 8, 1))  # and the front row
    parts += [part(under if k == 0 else "3022", 3, 0, 5 - k, 2, 2) for k in range(n_plates)]
    return model(parts)


def test_friction_pass_hangs_parts_from_the_parts_above_them():
    m = _hanging(1)
    iface, w, _com, out = _pass(m)
    assert not out.failed.any()  # the plate hangs by its studs; nothing fails
    plate = len(m) - 1
    rows = np.flatnonzero(iface.lower == plate)
    # its weight, shared by the two 1x8 bricks above it by their studs (2 each), is a pull
    # spread evenly over its 4 studs (their centre is its centre of mass: no lever)
    np.testing.assert_allclose(-out.force[rows].sum(), w[plate])
    np.testing.assert_allclose(out.stress[rows], w[plate] / 4 / STUD_CAPACITY)
    assert analyze_stability(m, FRICTION).verdict == analyze_stability(m, LP).verdict == "STABLE"


def test_a_chain_of_hanging_plates_hangs_link_by_link():
    m = _hanging(5)  # each plate hangs from the one above it; the top one carries all five
    iface, w, _com, out = _pass(m)
    assert not out.failed.any()
    top = 6
    rows = np.flatnonzero(iface.lower == top)
    np.testing.assert_allclose(-out.force[rows].sum(), w[top:].sum())
    assert analyze_stability(m, FRICTION).verdict == "STABLE"


def test_a_tile_cannot_hang_and_neither_can_what_hangs_from_it():
    # a tile has no studs to clamp into the bricks above: the pass fails, the program agrees
    m = _hanging(2, under="3068b")
    _iface, _w, _com, out = _pass(m)
    assert out.failed[6]
    assert analyze_stability(m, LP).verdict != "STABLE"


def test_a_weightless_part_that_nothing_loads_needs_no_force():
    # order.checks' increments weigh the new parts only: the parts they do not load are idle,
    # not failed; a weightless part that is loaded passes the load on as before
    m = model([part("3003", 0, 0, 0, 2, 2), part("3003", 0, 0, 3, 2, 2), part("3003", 4, 0, 0, 2, 2)])
    a = m.arrays()
    iface = interfaces(len(m), vertical_contacts(m, m.label_grid()))
    com, tops = centres_of_mass(a), a["z"] + a["h"]
    w = part_masses(m) * G
    for weights in (np.zeros(3), np.array([0.0, w[1], 0.0])):
        for cap in (None, STUD_CAPACITY):
            r = compression_pass(com, weights, tops, iface, stud_capacity=cap)
            assert not r.failed.any()
            assert r.force[iface.upper == 0].sum() == pytest.approx(weights.sum())
