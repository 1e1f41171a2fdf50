"""Short real trainings on CPU into a temp MLflow SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from contract import load_labels
from handlers.calibration import Calibration
from train.config import compose
from train.fit import train
from train.modeling import ModelNotAvailableError, load_classifier
from train.tracking import MODEL_ARTIFACT, REGISTERED_MODEL

pytestmark = pytest.mark.slow
SHORT = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "data.batch_size=8",
    "data.max_length=48",
]


def _same_logits(module, export_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(export_dir)
    reloaded = AutoModelForSequenceClassification.from_pretrained(export_dir).eval()
    module.model.eval()
    batch = tokenizer(["plan my week of revision", "hi there!"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        torch.testing.assert_close(reloaded(**batch).logits, module.model(**batch).logits)
    assert reloaded.config.id2label == dict(enumerate(load_labels()))


@pytest.mark.parametrize("model", ["deberta_v3_tiny", "minilm_packaged"])
def test_short_training_is_tracked_exported_and_registered(
    model, train_overrides, mlflow_uri, tmp_path
) -> None:
    cfg = compose("train", [*train_overrides, f"model={model}", *SHORT])
    metrics, out = train(cfg)

    client = mlflow.MlflowClient(mlflow_uri)
    run = client.get_run(out["run_id"])
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["model/family"] == cfg.model.family
    assert params["data/batch_size"] == "8"
    assert float(params["model/optimizer/lr"]) == cfg.model.optimizer.lr
    for key in ("train/loss", "val/loss", "val/accuracy", "val/macro_f1", "val/macro_f1_best"):
        assert key in run.data.metrics, key
    assert 0.0 <= run.data.metrics["val/macro_f1"] <= 1.0
    tags = run.data.tags
    assert tags["model_family"] == cfg.model.family
    assert len(tags["data_hash"]) == 64
    assert tags["git_dirty"] in {"true", "false", "unknown"}
    assert "git_commit" in tags

    artifacts = {a.path for a in client.list_artifacts(out["run_id"], MODEL_ARTIFACT)}
    assert f"{MODEL_ARTIFACT}/model.safetensors" in artifacts
    assert f"{MODEL_ARTIFACT}/config.json" in artifacts
    assert f"{MODEL_ARTIFACT}/tokenizer.json" in artifacts
    # Calibrated on the validation split after training, beside the weights.
    assert f"{MODEL_ARTIFACT}/calibration.json" in artifacts
    assert run.data.metrics["calibration/temperature"] > 0
    exported = Calibration.load(out["export_dir"])
    assert exported.fitted["split"] == "validation" and exported.fitted["samples"] > 0
    tokenizer_config = json.loads((out["export_dir"] / "tokenizer_config.json").read_text())
    assert tokenizer_config["model_max_length"] == cfg.data.max_length  # serving's length
    assert "config" in {a.path for a in client.list_artifacts(out["run_id"])}

    version = client.get_model_version(REGISTERED_MODEL, out["model_version"])
    assert version.run_id == out["run_id"]
    assert (
        json.loads((out["export_dir"].parent / "run.json").read_text())["run_id"] == run.info.run_id
    )
    _same_logits(out["module"], out["export_dir"])
    assert metrics["val/macro_f1_best"] == pytest.approx(run.data.metrics["val/macro_f1_best"])


def test_resume_from_checkpoint_continues_training(train_overrides, tmp_path) -> None:
    first_overrides = [*train_overrides, "model=deberta_v3_tiny", *SHORT, "register=false"]
    _, first = train(compose("train", first_overrides))
    last = Path(first["best_checkpoint"]).parent / "last.ckpt"
    assert last.is_file()
    steps_per_epoch = first["trainer"].global_step

    resumed_overrides = [
        *[o for o in first_overrides if not o.startswith("paths.output_dir")],
        f"paths.output_dir={tmp_path / 'resumed'}",
        "trainer.max_epochs=2",
        f"ckpt_path={last}",
    ]
    _, second = train(compose("train", resumed_overrides))
    assert second["trainer"].current_epoch == 2
    assert second["trainer"].global_step == 2 * steps_per_epoch


def test_hub_model_without_the_hub_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="model=minilm_packaged"):
        load_classifier("microsoft/deberta-v3-base")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_training_in_bf16(train_overrides) -> None:
    cfg = compose("train", [*train_overrides, "model=deberta_v3_tiny", "trainer=gpu", *SHORT])
    metrics, out = train(cfg)
    assert out["trainer"].precision == "bf16-mixed"
    assert "val/macro_f1" in metrics
