from __future__ import annotations

from pathlib import Path

import pytest

from train.config import compose
from train.paths import PROJECT_ROOT
from train.validate import validate_file, write_processed

SHIPPED = PROJECT_ROOT / "data" / "raw" / "prompt_intents.csv"


@pytest.fixture(scope="session")
def processed_dir(tmp_path_factory) -> Path:
    """The shipped CSV validated and split into a temp data/processed."""
    root = tmp_path_factory.mktemp("data")
    cfg = compose("validate", [f"paths.root_dir={root}", f"data.raw_path={SHIPPED}"])
    report, frame = validate_file(cfg)
    assert report.success, report.message()
    out = root / "processed"
    write_processed(frame, out)
    return out


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch) -> str:
    """A fresh MLflow SQLite store for one test, set as MLFLOW_TRACKING_URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture
def train_overrides(tmp_path, processed_dir, mlflow_uri) -> list[str]:
    """Overrides that keep a training run's every file under tmp_path."""
    return [
        f"paths.root_dir={tmp_path}",
        f"paths.output_dir={tmp_path / 'run'}",
        f"data.processed_dir={processed_dir}",
        "trainer.enable_model_summary=false",
    ]
