"""Shapes for the completion tests."""

from __future__ import annotations

import numpy as np
import pytest


def tower_block() -> np.ndarray:
    """(32, 32, 32) bool: a block with a tower near one side, mirror-symmetric about x = 16 only."""
    g = np.zeros((32, 32, 32), bool)
    g[6:26, 8:24, 2:12] = True
    g[12:20, 8:12, 12:22] = True
    return g


@pytest.fixture
def block() -> np.ndarray:
    return tower_block()
