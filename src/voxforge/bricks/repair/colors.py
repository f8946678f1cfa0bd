"""Colours for the parts the repair adds (support columns, bridges), taken from their surroundings.

The repair lays its cells in one support colour (light bluish grey by default), which stands out
in a coloured model: a grey pillar under a red mug's handle. Each connected group of added parts
(a column, laid as several parts) is given instead, among the colours every one of its parts
is made in (``data/part_colors.json``), the colour of the parts it holds up (the one resting on
most of its top cells first), else the colour that most of the cell faces it shares with parts
beside and under it show. A group whose surroundings offer no colour that all its parts exist in
keeps the support colour.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from voxforge.bricks.catalogue import part_colors
from voxforge.core.brickmodel import BrickModel


def added_parts(model: BrickModel, added: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """(n,) bool parts all of whose cells are in ``added`` (nx, ny, nz) bool."""
    lab = model.label_grid() if labels is None else labels
    n = len(model)
    filled = lab >= 0
    total = np.bincount(lab[filled], minlength=n)
    inside = np.bincount(lab[filled & added], minlength=n)
    return (inside == total) & (total > 0)


def _exists_in(key: str, color: int) -> bool:
    known = part_colors(key)
    return not known or int(color) in known


def _face_pairs(lab: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """(labels on one side, labels on the other, the other side is above) of every pair of cells
    that share a face, both filled and in different parts."""
    out = []
    for axis in range(3):
        a = np.moveaxis(lab, axis, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        keep = (lo >= 0) & (hi >= 0) & (lo != hi)
        out.append((lo[keep], hi[keep], axis == 2))
    return out


def match_support_colors(
    model: BrickModel, added: np.ndarray, support_color: int
) -> tuple[BrickModel, int]:
    """``model`` with its added parts of colour ``support_color`` recoloured to match their
    surroundings (see the module docstring), and how many parts changed colour.

    ``added`` (nx, ny, nz) bool are the cells the repair added (``LayoutState.added``).
    """
    if not len(model) or not added.any():
        return model, 0
    lab = model.label_grid()
    colors = np.array([p.color for p in model.placements], dtype=np.int64)
    support = added_parts(model, added, lab) & (colors == support_color)
    if not support.any():
        return model, 0
    n = len(model)
    pairs = _face_pairs(lab)
    # groups: added parts that share a face
    ga = np.concatenate([lo[support[lo] & support[hi]] for lo, hi, _ in pairs])
    gb = np.concatenate([hi[support[lo] & support[hi]] for lo, hi, _ in pairs])
    m = sparse.coo_matrix((np.ones(len(ga), dtype=bool), (ga, gb)), shape=(n, n))
    _, group = csgraph.connected_components(m, directed=False)
    # votes[group][colour] = (cells held up, faces shared beside or under)
    votes: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for lo, hi, vertical in pairs:
        for mine, other, held in ((lo, hi, vertical), (hi, lo, False)):
            take = support[mine] & ~support[other]
            for g, c in zip(group[mine[take]], colors[other[take]], strict=True):
                votes[int(g)][int(c)][0 if held else 1] += 1
    ps = list(model.placements)
    changed = 0
    for g, by_color in votes.items():
        members = np.flatnonzero(support & (group == g))
        held_up = sorted((c for c in by_color if by_color[c][0]), key=lambda c: (-by_color[c][0], c))
        around = sorted(by_color, key=lambda c: (-by_color[c][1], c))
        for c in dict.fromkeys(held_up + around):
            if c == support_color:
                break
            if all(_exists_in(ps[i].part, c) for i in members):
                for i in members:
                    ps[i] = replace(ps[i], color=c)
                changed += len(members)
                break
    if not changed:
        return model, 0
    out = BrickModel(ps, model.shape, model.pitch.copy(), model.origin.copy(), meta=dict(model.meta))
    return out, changed
