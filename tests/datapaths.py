"""Evaluation data for tests: skip cleanly without it (see :mod:`service.measure.data`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.measure.data import EVAL_DATA_ENV, eval_data_dir


def data_dir() -> Path:
    """The evaluation data folder; skips the calling test when it is missing."""
    base = eval_data_dir()
    if not base.is_dir():
        pytest.skip(f"evaluation data not found at {base} (set {EVAL_DATA_ENV})")
    return base


def data_file(relative: str) -> Path:
    """Path of one data file; skips the calling test when it is missing."""
    path = data_dir() / relative
    if not path.is_file():
        pytest.skip(f"evaluation data file missing: {path}")
    return path
