"""Evaluation of a real (tiny) trained run: reports, plots, MLflow logging, champion."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import mlflow
import pytest

from contract import load_labels
from train.config import compose
from train.evaluate import evaluate_run
from train.fit import train
from train.registry import champion

pytestmark = pytest.mark.slow
SHORT = [  # a tiny DeBERTa, one epoch of two batches: a real run in seconds
    "model=deberta_v3_tiny",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "data.batch_size=8",
]


def test_evaluate_writes_reports_logs_them_and_sets_the_champion(
    train_overrides, tmp_path, mlflow_uri
) -> None:
    _, out = train(compose("train", [*train_overrides, *SHORT]))
    cfg = compose(
        "evaluate",
        [f"paths.root_dir={tmp_path}", f"data.processed_dir={train_overrides[2].split('=', 1)[1]}"],
    )
    result = evaluate_run(cfg)

    metrics = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"accuracy", "macro_f1", "ece"}
    assert set(metrics["per_intent"]) == set(load_labels())
    assert all(0.0 <= v <= 1.0 for v in metrics["test"].values() if isinstance(v, float))
    plots = tmp_path / "reports" / "plots"
    for name in (
        "confusion.csv",
        "reliability.csv",
        "confusion_matrix.png",
        "reliability_diagram.png",
    ):
        assert (plots / name).stat().st_size > 0, name
    rows = (plots / "confusion.csv").read_text().splitlines()
    assert rows[0] == "actual,predicted" and len(rows) - 1 == metrics["test"]["samples"]
    lines = (tmp_path / "reports" / "test_predictions.jsonl").read_text().splitlines()
    split = datasets.load_from_disk(str(Path(cfg.data.processed_dir) / "test"))
    predictions = [json.loads(line) for line in lines]
    assert [p["text"] for p in predictions] == list(split["text"])  # split order
    assert {tuple(sorted(p)) for p in predictions} == {("confidence", "intent", "label", "text")}
    assert all(p["intent"] in load_labels() and 0 <= p["confidence"] <= 1 for p in predictions)

    client = mlflow.MlflowClient(mlflow_uri)
    run = client.get_run(out["run_id"])
    experiment = client.get_experiment(run.info.experiment_id)
    # The MLflow UI opens a model-training experiment, not its GenAI view.
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert run.data.metrics["test/macro_f1"] == pytest.approx(metrics["test"]["macro_f1"])
    logged = {a.path for a in client.list_artifacts(out["run_id"], "evaluation")}
    assert "evaluation/confusion_matrix.png" in logged
    assert "evaluation/reliability_diagram.png" in logged
    assert result["promoted"] is True
    assert champion(client).run_id == out["run_id"]


def test_a_champion_trained_on_other_data_is_rescored_on_the_new_validation_split(
    train_overrides, tmp_path, mlflow_uri, processed_dir
) -> None:
    import shutil

    from train.evaluate import validation_scorer
    from train.registry import version_for_run

    _, first = train(compose("train", [*train_overrides, *SHORT]))
    cfg = compose("evaluate", [f"paths.root_dir={tmp_path}", f"data.processed_dir={processed_dir}"])
    assert evaluate_run(cfg)["promoted"] is True

    # New data: the same splits with the validation split shortened, so the data hash differs.
    changed = tmp_path / "processed-v2"
    for name in ("train", "test"):
        shutil.copytree(processed_dir / name, changed / name)
    validation = datasets.load_from_disk(str(processed_dir / "validation"))
    validation.select(range(len(validation) - 3)).save_to_disk(str(changed / "validation"))
    overrides = [o for o in train_overrides if not o.startswith("data.processed_dir=")]
    _, second = train(
        compose("train", [*overrides, f"data.processed_dir={changed}", *SHORT, "seed=7"])
    )
    client = mlflow.MlflowClient(mlflow_uri)
    tags = [client.get_run(r["run_id"]).data.tags["data_hash"] for r in (first, second)]
    assert tags[0] != tags[1]

    cfg = compose("evaluate", [f"paths.root_dir={tmp_path}", f"data.processed_dir={changed}"])
    result = evaluate_run(cfg)
    # The decision is the one the rescored validation macro-F1 on the new split gives.
    score = validation_scorer(cfg, {})
    old = version_for_run(client, first["run_id"])
    new = version_for_run(client, second["run_id"])
    assert result["promoted"] is (score(new) > score(old))
    assert champion(client).run_id == (second if result["promoted"] else first)["run_id"]
