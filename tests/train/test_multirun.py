"""``python -m train -m``: a basic multirun and the Optuna sweep, each job a real tiny training."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pytest
import yaml

from contract import project_root

pytestmark = pytest.mark.slow


def _train(args: list[str], tmp_path, processed_dir) -> subprocess.CompletedProcess:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "train", "-m", "experiment=smoke", "register=false",
         "export_dir=null", f"paths.root_dir={tmp_path}", f"data.processed_dir={processed_dir}",
         "trainer.enable_model_summary=false", *args],
        cwd=project_root(), capture_output=True, text=True, timeout=600,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _runs(tmp_path) -> list:
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("prompt_intent")
    return client.search_runs([experiment.experiment_id])


def test_multirun_makes_one_mlflow_run_per_job(tmp_path, processed_dir) -> None:
    _train(["model.optimizer.lr=1e-3,5e-4"], tmp_path, processed_dir)
    runs = _runs(tmp_path)
    assert sorted(float(r.data.params["model/optimizer/lr"]) for r in runs) == [5e-4, 1e-3]
    assert all(r.info.status == "FINISHED" for r in runs)


def test_optuna_sweep_runs_its_trials(tmp_path, processed_dir) -> None:
    _train(
        ["hparams_search=minilm_optuna", "hydra.sweeper.n_trials=2",
         "hydra.sweeper.sampler.n_startup_trials=2"],
        tmp_path, processed_dir,
    )  # fmt: skip
    assert len(_runs(tmp_path)) == 2
    # The sweeper records the best trial of the study it ran.
    (results,) = (tmp_path / "logs").rglob("optimization_results.yaml")
    best = yaml.safe_load(results.read_text())
    assert 0.0 <= best["best_value"] <= 1.0
    assert set(best["best_params"]) >= {"model.optimizer.lr", "data.batch_size"}
