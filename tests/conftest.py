"""Test configuration: find the staged data next to the project when HU_DATA_DIR is unset."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGED = REPO.parent / "shared" / "data"

if "HU_DATA_DIR" not in os.environ and STAGED.is_dir():
    os.environ["HU_DATA_DIR"] = str(STAGED)


@pytest.fixture
def staged_data_dir() -> Path:
    """The data directory the tests read (fails clearly when there is none)."""
    value = os.environ.get("HU_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.fail("set HU_DATA_DIR to a directory laid out like shared/data")
    return Path(value)
