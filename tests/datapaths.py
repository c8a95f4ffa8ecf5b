"""Where the shared evaluation data lives; tests that need it skip cleanly without it.

`PASSEUR_DATA_DIR` names the folder; otherwise it is `../shared/data` beside the project.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA_DIR_ENV = "PASSEUR_DATA_DIR"
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def find_data_dir() -> Path | None:
    """The evaluation data folder, or None when it is not there."""
    env = os.environ.get(DATA_DIR_ENV)
    path = Path(env) if env else DEFAULT_DATA_DIR
    return path if path.is_dir() else None


def data_file(relative: str) -> Path:
    """Path of one data file; skips the calling test when it is missing."""
    base = find_data_dir()
    if base is None:
        pytest.skip(f"evaluation data not found: set {DATA_DIR_ENV} or provide {DEFAULT_DATA_DIR}")
    path = base / relative
    if not path.is_file():
        pytest.skip(f"evaluation data file missing: {path}")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The evaluation data folder; skips the test when it is missing."""
    base = find_data_dir()
    if base is None:
        pytest.skip(f"evaluation data not found: set {DATA_DIR_ENV} or provide {DEFAULT_DATA_DIR}")
    return base
