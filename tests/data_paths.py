"""Where the shared real data lies, for the root conftest and for test modules that parametrize
over its files at collection (imported as ``data_paths``: a plain ``conftest`` import would
resolve to whichever conftest module pytest loaded first)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA_ENV = "VOXFORGE_SHARED_DATA"


def _shared_data() -> tuple[Path, str]:
    """The shared data folder and how to name it to the user."""
    if os.environ.get(SHARED_DATA_ENV):
        path = Path(os.environ[SHARED_DATA_ENV]).resolve()
        return path, str(path)
    return REPO.parent / "shared" / "data", "../shared/data"


SHARED_DATA, SHARED_DATA_SHOWN = _shared_data()
SHARED_DATA_MISSING = (
    f"{SHARED_DATA_SHOWN} not found "
    f"(they need the shared real data; set {SHARED_DATA_ENV} to read another folder)"
)
"""The skip reason of every test that needs the shared data while it is absent."""
