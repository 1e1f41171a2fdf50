"""What evaluation refuses before it scores anything."""

from __future__ import annotations

import json

import mlflow
import pytest

from train.config import compose
from train.evaluate import resolve_run


def test_a_run_missing_from_the_tracking_store_says_what_to_do(tmp_path, mlflow_uri) -> None:
    mlflow.MlflowClient(mlflow_uri).search_experiments()  # the store exists, the run does not
    models = tmp_path / "models"
    (models / "intent_classifier").mkdir(parents=True)
    (models / "run.json").write_text(json.dumps({"run_id": "0" * 32}))
    cfg = compose("evaluate", [f"paths.root_dir={tmp_path}"])
    with pytest.raises(LookupError, match="not in the MLflow store") as caught:
        resolve_run(cfg)
    assert "MLFLOW_TRACKING_URI" in str(caught.value) and "--force train" in str(caught.value)


def test_without_a_run_file_evaluation_says_to_train_first(tmp_path, mlflow_uri) -> None:
    cfg = compose("evaluate", [f"paths.root_dir={tmp_path}"])
    with pytest.raises(FileNotFoundError, match="train first"):
        resolve_run(cfg)
