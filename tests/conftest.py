"""Shared fixtures, and the ``shared_data`` marker with its line in the summary.

Tests that read the real data of ``../shared/data`` (``VOXFORGE_SHARED_DATA`` points elsewhere)
take the ``shared_data`` fixture; they are marked ``shared_data`` at collection, so
``-m "not shared_data"`` leaves them out, and when the folder is absent they skip and the
summary says how many skipped and why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from data_paths import SHARED_DATA, SHARED_DATA_MISSING


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder `../shared/data` (skips the test when it is absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(SHARED_DATA_MISSING)
    return SHARED_DATA


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that takes the ``shared_data`` fixture ``shared_data``."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One line saying how many tests skipped because the shared data is absent."""
    skipped = [
        r
        for r in terminalreporter.stats.get("skipped", [])
        if isinstance(r.longrepr, tuple) and r.longrepr[2].endswith(SHARED_DATA_MISSING)
    ]
    if skipped:
        n = len(skipped)
        terminalreporter.write_line(f"{n} test{'s' if n != 1 else ''} skipped: {SHARED_DATA_MISSING}")


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)
