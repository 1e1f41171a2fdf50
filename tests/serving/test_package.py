"""``python -m train.package`` against a real MLflow SQLite store in a temp dir."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import mlflow
import pytest

from handlers.prediction import IntentPredictor
from train import package
from train.tracking import CHAMPION_ALIAS, MODEL_ARTIFACT, REGISTERED_MODEL

pytestmark = pytest.mark.slow


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> mlflow.MlflowClient:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return mlflow.MlflowClient(uri)


def log_model_run(client: mlflow.MlflowClient, model_dir: Path, tmp_path: Path) -> str:
    """A training run as contract A describes it: hf_model artifact and validation metrics."""
    existing = client.get_experiment_by_name("intent")
    experiment = (
        existing.experiment_id
        if existing
        else client.create_experiment("intent", artifact_location=(tmp_path / "art").as_uri())
    )
    run = client.create_run(experiment)
    client.log_artifacts(run.info.run_id, str(model_dir), MODEL_ARTIFACT)
    client.log_metric(run.info.run_id, "val/macro_f1", 0.42)
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def register(client: mlflow.MlflowClient, run_id: str, *, champion: bool) -> str:
    if not client.search_registered_models(f"name='{REGISTERED_MODEL}'"):
        client.create_registered_model(REGISTERED_MODEL)
    artifact_uri = client.get_run(run_id).info.artifact_uri
    version = client.create_model_version(
        REGISTERED_MODEL, source=f"{artifact_uri}/{MODEL_ARTIFACT}", run_id=run_id
    ).version
    if champion:
        client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, version)
    return str(version)


def test_packages_the_champion_with_no_arguments_but_the_store(
    tracking: mlflow.MlflowClient, tiny_model_dir: Path, tmp_path: Path, capsys
) -> None:
    run_id = log_model_run(tracking, tiny_model_dir, tmp_path)
    register(tracking, log_model_run(tracking, tiny_model_dir, tmp_path), champion=False)
    version = register(tracking, run_id, champion=True)
    store = tmp_path / "model_store"

    assert package.main(["--model-store", str(store)]) == 0

    archive = store / "intent_classifier.mar"
    record = json.loads((store / "intent_classifier.json").read_text())
    assert record["version"] == version == "2"
    assert record["run_id"] == run_id
    assert record["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert record["metrics"] == {"val/macro_f1": pytest.approx(0.42)}
    assert json.loads(capsys.readouterr().out) == record
    names = set(zipfile.ZipFile(archive).namelist())
    assert {
        "intent_handler.py",
        "handlers/payloads.py",
        "handlers/prediction.py",
        "model-config.yaml",
        "model/model.safetensors",
        "model/config.json",
        "model/tokenizer.json",
        "MAR-INF/MANIFEST.json",
    } <= names
    logged = [a.path for a in tracking.list_artifacts(run_id, package.ARCHIVE_ARTIFACT)]
    assert logged == [f"{package.ARCHIVE_ARTIFACT}/intent_classifier.mar"]
    served = IntentPredictor.from_archive(archive, cache_dir=tmp_path / "cache")
    assert served.model_version == version
    assert served.labels == IntentPredictor.from_pretrained(tiny_model_dir).labels


def test_run_id_picks_that_runs_registered_version(
    tracking: mlflow.MlflowClient, tiny_model_dir: Path, tmp_path: Path
) -> None:
    first = log_model_run(tracking, tiny_model_dir, tmp_path)
    register(tracking, first, champion=False)
    register(tracking, log_model_run(tracking, tiny_model_dir, tmp_path), champion=True)
    packaged = package.package(first, model_store=tmp_path / "store")
    assert (packaged.run_id, packaged.version) == (first, "1")


def test_without_a_champion_says_what_to_do(
    tracking: mlflow.MlflowClient, tmp_path: Path, capsys
) -> None:
    assert package.main(["--model-store", str(tmp_path)]) == 1
    assert "has no champion alias" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.mar"))


def test_a_folder_without_safetensors_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors"):
        package.build_archive(tmp_path, tmp_path / "store", version="1")
