"""Compression-only load paths, top down: the fast part of the stability analysis.

Most of a brick model stands without any stud friction: every part's load (its weight plus what
the parts above press onto it) falls inside the area it rests on. This module builds such a
force distribution greedily, one plate level at a time from the top (vectorised within a level):
each part spreads its load over the interfaces below it, placing the share of every interface at
the same relative position inside that interface's rectangle. That works whenever the load's
centre lies inside the share-weighted average of the rectangles; a part where no share rule
works, that is pulled upward on balance, or that rests on nothing (it hangs from a part above)
*fails*: its load needs tension, and :mod:`voxforge.bricks.physics_decompose` hands it, with the
parts around it, to the linear program.

Only the resultant of the load matters (all forces are vertical and the parts are rigid), so a
load that already includes forces computed elsewhere (the program's reactions on the parts below
its region) is checked the same way. Every distribution built here uses compression only, so it
costs nothing in the program's objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voxforge.bricks.physics_contacts import GROUND, Interfaces

_EPS = 1e-9


@dataclass
class CompressionPass:
    """Outcome of :func:`compression_pass`.

    Attributes:
        failed: (n,) bool active parts whose load cannot be carried in compression.
        force: (p,) float64 newtons each interface presses onto its lower part (0 where the
            upper part is inactive or failed: a failed part's load is passed on approximately,
            area-proportionally, only so that failures further down are still found).
        qx, qy: (p,) float64 lattice point where ``force`` acts (inside the interface rectangle).
    """

    failed: np.ndarray
    force: np.ndarray
    qx: np.ndarray
    qy: np.ndarray


def compression_pass(
    com: np.ndarray,
    weight: np.ndarray,
    tops: np.ndarray,
    iface: Interfaces,
    active: np.ndarray | None = None,
    extra: np.ndarray | None = None,
    blocked: np.ndarray | None = None,
) -> CompressionPass:
    """Carry every active part's load down to the ground by compression, greedily, top down.

    Args:
        com: (n, 3) float64 centres of mass, lattice units.
        weight: (n,) float64 newtons (positive).
        tops: (n,) int64 plate level of each part's top face.
        iface: interfaces among the n parts (lower may be :data:`GROUND`).
        active: (n,) bool parts to distribute (default all); interfaces under inactive parts are
            left alone (their forces come from elsewhere, through ``extra``).
        extra: (n, 3) float64 further downward load on each part from outside the pass: force
            (newtons) and its first moments ``f * x``, ``f * y`` (newton * lattice unit).
        blocked: (p,) bool interfaces whose forces are already fixed (they arrive through
            ``extra``); no load is passed down them.

    Returns:
        The failed parts and, per interface, the force passed down and where it acts.
    """
    n, p = len(weight), len(iface)
    active = np.ones(n, dtype=bool) if active is None else active
    load = np.stack([weight, weight * com[:, 0], weight * com[:, 1]], axis=1)
    if extra is not None:
        load = load + extra
    failed = np.zeros(n, dtype=bool)
    usable = active[iface.upper]
    if blocked is not None:
        usable &= ~blocked
    has_below = np.zeros(n, dtype=bool)
    has_below[iface.upper[usable]] = True
    failed[active & ~has_below] = True  # rests on nothing: hangs from a part above
    out = CompressionPass(failed, np.zeros(p), np.zeros(p), np.zeros(p))
    sel = np.flatnonzero(usable)
    order = sel[np.argsort(-tops[iface.upper[sel]], kind="stable")]
    bounds = np.flatnonzero(np.diff(tops[iface.upper[order]])) + 1
    area = iface.n_cells.astype(np.float64)
    rect = iface.rect.astype(np.float64)
    for j in np.split(order, bounds):
        if len(j):
            _pass_level(j, iface, area, rect, weight, load, out)
    return out


def _pass_level(
    j: np.ndarray,
    iface: Interfaces,
    area: np.ndarray,
    rect: np.ndarray,
    weight: np.ndarray,
    load: np.ndarray,
    out: CompressionPass,
) -> None:
    """Distribute the loads of the upper parts of interfaces ``j`` (one top level) downward.

    Updates ``load`` of the lower parts and ``out`` in place.
    """
    parts, u = np.unique(iface.upper[j], return_inverse=True)
    k = len(parts)
    f = load[parts, 0]
    pulled = f <= _EPS * weight[parts]  # net upward or no load: compression cannot hold it
    fs = np.where(pulled, 1.0, f)
    px, py = (load[parts, 1] / fs)[u], (load[parts, 2] / fs)[u]
    rj = rect[j]
    dist = np.hypot(
        np.maximum(np.maximum(rj[:, 0] - px, px - rj[:, 1]), 0.0),
        np.maximum(np.maximum(rj[:, 2] - py, py - rj[:, 3]), 0.0),
    )
    share, lx, ly, ok = _first_valid_shares(u, k, area[j], dist, rj, px, py)
    bad = ~ok | pulled
    out.failed[parts[bad]] = True
    fj = np.where(bad[u], 0.0, f[u] * share)
    qx = rj[:, 0] + lx * (rj[:, 1] - rj[:, 0])
    qy = rj[:, 2] + ly * (rj[:, 3] - rj[:, 2])
    out.force[j], out.qx[j], out.qy[j] = fj, qx, qy
    # failed parts still pass their load on (area share, clipped centre) to expose failures below
    fwd = np.where(bad[u] & ~pulled[u], f[u] * share, fj)
    lower = iface.lower[j]
    on = lower != GROUND
    np.add.at(load, lower[on], np.stack([fwd, fwd * qx, fwd * qy], axis=1)[on])


_CANDIDATES = ((1.0, 0.0), (0.0, 0.0), (1.0, 2.0), (1.0, 8.0), (1.0, 32.0))
"""Share rules tried in turn: (use area, distance decay): area-proportional, equal (the lever
rule between two supports), then ever more weight on the supports nearest the load's centre (in
the limit all on the ones containing it)."""


def _first_valid_shares(
    u: np.ndarray,
    k: int,
    area: np.ndarray,
    dist: np.ndarray,
    rect: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per interface (m,): load share, relative position (lx, ly) in its rectangle, and (k,) ok.

    ``u`` (m,) is each interface's upper part as an index 0..k-1, ``rect`` (m, 4) its rectangle,
    ``px, py`` (m,) the load centre of ``u``. A rule is valid for a part when the share-weighted
    average of its rectangles contains the load centre; each part takes the first valid rule.
    Parts without one (``ok`` False) keep the area-proportional rule with clipped positions.
    """
    m = len(u)
    share, lx, ly = np.zeros(m), np.zeros(m), np.zeros(m)
    done = np.zeros(k, dtype=bool)
    nearest = np.full(k, np.inf)
    np.minimum.at(nearest, u, dist)
    excess = dist - nearest[u]  # 0 for each part's nearest support: no underflow to all-zero
    for n_rule, (use_area, decay) in enumerate(_CANDIDATES):
        raw = (area if use_area else np.ones(m)) * np.exp(-decay * excess)
        s = raw / np.bincount(u, raw, minlength=k)[u]
        avg = [np.bincount(u, s * rect[:, c], minlength=k)[u] for c in range(4)]
        cx = (px - avg[0]) / (avg[1] - avg[0])
        cy = (py - avg[2]) / (avg[3] - avg[2])
        ok_row = (cx >= -_EPS) & (cx <= 1 + _EPS) & (cy >= -_EPS) & (cy <= 1 + _EPS)
        ok_part = np.bincount(u, ~ok_row, minlength=k) == 0
        take = (ok_part[u] & ~done[u]) | ((n_rule == 0) & ~ok_part[u])
        share[take], lx[take], ly[take] = s[take], np.clip(cx[take], 0, 1), np.clip(cy[take], 0, 1)
        done |= ok_part
        if done.all():
            break
    return share, lx, ly, done


def compression_only_path(
    com: np.ndarray, weight: np.ndarray, tops: np.ndarray, iface: Interfaces
) -> bool:
    """True when the greedy top-down distribution carries every load by compression alone.

    Passing is a proof of stability with no tension anywhere; failing proves nothing.
    Arguments as for :func:`compression_pass`.
    """
    return not compression_pass(com, weight, tops, iface).failed.any()
