from __future__ import annotations

import pytest


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
