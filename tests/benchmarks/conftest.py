"""Fixtures for the benchmark tests: the repository root importable, and processed splits."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from train.paths import PROJECT_ROOT

# `benchmarks` is a folder at the root, not an installed package: `python -m pytest` finds it
# through the working directory, a bare `pytest` through this.
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

SHIPPED = PROJECT_ROOT / "data" / "raw" / "prompt_intents.csv"


@pytest.fixture(scope="session")
def processed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped CSV validated and split into a temp data/processed."""
    from train.config import compose
    from train.validate import validate_file, write_processed

    root = tmp_path_factory.mktemp("data")
    cfg = compose("validate", [f"paths.root_dir={root}", f"data.raw_path={SHIPPED}"])
    report, frame = validate_file(cfg)
    assert report.success, report.message()
    out = root / "processed"
    write_processed(frame, out)
    return out
