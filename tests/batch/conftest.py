"""Fixtures of the batch tests: tiny voxel inputs (boxes, ~0.2 s each to brickify) and a broken one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

FAST = ["instructions=none", "meshes=none"]
"""``--set`` values that keep a brickify item to its model and lists (no booklets, no GLB)."""


def write_boxes(folder: Path, n: int = 3) -> list[Path]:
    """``n`` small solid boxes as ``boxK.npy`` of different sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        occ = np.zeros((8, 8, 8), np.uint8)
        occ[1 : 5 + k % 3, 1:5, 0 : 3 + k] = 1
        path = folder / f"box{k}.npy"
        np.save(path, occ)
        paths.append(path)
    return paths


@pytest.fixture
def boxes(tmp_path: Path) -> list[Path]:
    return write_boxes(tmp_path / "in")


@pytest.fixture
def empty_grid(tmp_path: Path) -> Path:
    """A voxel file with no filled cell: brickify refuses it (GeometryError)."""
    path = tmp_path / "in" / "empty.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.zeros((4, 4, 4), np.uint8))
    return path


@contextmanager
def workers_import_tests() -> Iterator[None]:
    """Put ``tests/`` (pytest imports ``batch.test_ray`` from there) and the repository on
    ``PYTHONPATH`` while a local Ray starts: its worker processes inherit it and can import the
    test modules that define test tasks."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "tests"), str(REPO), old) if p)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
