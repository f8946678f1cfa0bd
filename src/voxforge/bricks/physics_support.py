"""A fast sufficient test for stability: a compression-only load path, top down.

Most of a brick model stands without any stud friction: every part's load (its weight plus what
the parts above press onto it) falls inside the area it rests on. When a compression-only force
distribution exists the minimax tension of the full program is 0, so the linear program can be
skipped. This module builds such a distribution greedily, one plate level at a time from the top
(vectorised within a level): each part spreads its load over the interfaces below it in
proportion to their area, placing the share of every interface at the same relative position
inside that interface's rectangle. That works whenever the load's centre lies inside the
area-weighted average of the rectangles; otherwise (or when a part hangs from above) the test
gives up and the caller solves the program. Passing is a proof of stability; failing proves
nothing.
"""

from __future__ import annotations

import numpy as np

from voxforge.bricks.physics_contacts import GROUND, Interfaces

_EPS = 1e-9


def compression_only_path(
    com: np.ndarray, weight: np.ndarray, tops: np.ndarray, iface: Interfaces
) -> bool:
    """True when the greedy top-down distribution carries every load by compression alone.

    Args:
        com: (n, 3) float64 centres of mass, lattice units.
        weight: (n,) float64 newtons.
        tops: (n,) int64 plate level of each part's top face.
        iface: interfaces among the n parts (lower may be :data:`GROUND`).
    """
    n = len(weight)
    force = weight.astype(np.float64).copy()
    mx = force * com[:, 0]  # first moments: sum of f * x and f * y of the load
    my = force * com[:, 1]
    area = iface.n_cells.astype(np.float64)
    r = iface.rect.astype(np.float64)
    order = np.argsort(-tops[iface.upper], kind="stable")
    up_sorted = iface.upper[order]
    level_of = tops[up_sorted]
    bounds = np.flatnonzero(np.diff(level_of)) + 1
    groups = np.split(order, bounds)
    has_below = np.zeros(n, dtype=bool)
    has_below[iface.upper] = True
    if not has_below.all():
        return False  # some part rests on nothing and hangs from above
    for j in groups:
        u = iface.upper[j]
        px, py = mx[u] / force[u], my[u] / force[u]
        rj = r[j]
        dist = np.hypot(
            np.maximum(np.maximum(rj[:, 0] - px, px - rj[:, 1]), 0.0),
            np.maximum(np.maximum(rj[:, 2] - py, py - rj[:, 3]), 0.0),
        )
        share, lx, ly = _first_valid_shares(u, area[j], dist, rj, px, py, n)
        if share is None:
            return False
        qx = rj[:, 0] + lx * (rj[:, 1] - rj[:, 0])
        qy = rj[:, 2] + ly * (rj[:, 3] - rj[:, 2])
        f = force[u] * share
        lower = iface.lower[j]
        on = lower != GROUND
        np.add.at(force, lower[on], f[on])
        np.add.at(mx, lower[on], (f * qx)[on])
        np.add.at(my, lower[on], (f * qy)[on])
    return True


_CANDIDATES = ((1.0, 0.0), (0.0, 0.0), (1.0, 2.0), (1.0, 8.0), (1.0, 32.0))
"""Share rules tried in turn: (use area, distance decay): area-proportional, equal (the lever
rule between two supports), then ever more weight on the supports nearest the load's centre (in
the limit all on the ones containing it)."""


def _first_valid_shares(
    u: np.ndarray,
    area: np.ndarray,
    dist: np.ndarray,
    rect: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    n: int,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Per interface (m,): load share and relative position (lx, ly) in its rectangle.

    ``u`` (m,) is each interface's upper part, ``rect`` (m, 4) its rectangle, ``px, py`` (m,) the
    load centre of ``u``. A rule is valid for a part when the share-weighted average of its
    rectangles contains the load centre; each part takes the first valid rule. Returns ``None``
    shares when some part has none.
    """
    m = len(u)
    share = np.zeros(m)
    lx = np.zeros(m)
    ly = np.zeros(m)
    done = np.zeros(n, dtype=bool)
    nearest = np.full(n, np.inf)
    np.minimum.at(nearest, u, dist)
    excess = dist - nearest[u]  # 0 for each part's nearest support: no underflow to all-zero
    for use_area, decay in _CANDIDATES:
        raw = (area if use_area else np.ones(m)) * np.exp(-decay * excess)
        s = raw / np.bincount(u, raw, minlength=n)[u]
        avg = [np.bincount(u, s * rect[:, k], minlength=n)[u] for k in range(4)]
        cx = (px - avg[0]) / (avg[1] - avg[0])
        cy = (py - avg[2]) / (avg[3] - avg[2])
        ok_row = (cx >= -_EPS) & (cx <= 1 + _EPS) & (cy >= -_EPS) & (cy <= 1 + _EPS)
        ok_part = np.ones(n, dtype=bool)
        np.logical_and.at(ok_part, u, ok_row)
        take = ok_part[u] & ~done[u]
        share[take], lx[take], ly[take] = s[take], np.clip(cx[take], 0, 1), np.clip(cy[take], 0, 1)
        done[u[take]] = True
        if done[u].all():
            return share, lx, ly
    return None, lx, ly
