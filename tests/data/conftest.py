from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from contract import load_labels
from train.config import compose

FIELDS = ["text", "label", "group"]


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[[list[dict]], Path]:
    """Write rows to a CSV in tmp_path and return its path."""

    def write(rows: list[dict], name: str = "prompts.csv") -> Path:
        path = tmp_path / name
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        return path

    return write


@pytest.fixture
def good_rows() -> list[dict]:
    """A small valid table: 12 distinct prompts per intent, one group each."""
    rows = []
    for label in load_labels():
        for i in range(12):
            rows.append(
                {
                    "text": f"{label} example prompt number {i} {'x' * i}",
                    "label": label,
                    "group": f"{label}-{i}",
                }
            )
    return rows


@pytest.fixture
def validate_cfg(tmp_path: Path):
    """Compose conf/validate.yaml with every path under tmp_path."""

    def make(raw: Path, *extra: str):
        return compose(
            "validate",
            [
                f"paths.root_dir={tmp_path}",
                f"data.raw_path={raw}",
                "paths.output_dir=" + str(tmp_path / "out"),
                *extra,
            ],
        )

    return make
