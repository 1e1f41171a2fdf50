"""``python -m train.evaluate``: score a trained run on the test split with HF ``evaluate``, write
``reports/metrics.json``, ``reports/test_predictions.jsonl`` and ``reports/plots/``, log them to
the run, and move the ``champion`` alias when the run beats the current champion on validation
macro-F1. Predictions come from ``handlers.prediction.IntentPredictor``, the class TorchServe's
handler runs, so the reported metrics are the served model's."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import datasets
import hydra
import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from omegaconf import DictConfig

from contract import load_labels
from handlers.prediction import IntentPredictor
from train.config import register_resolvers
from train.export import configured_backend, parity_prompts, predict_logits, served_predictor
from train.package import MODEL_CONFIG
from train.registry import promote_if_better, version_for_run
from train.reports import build_report, write_predictions, write_reports
from train.scoring import classification_scores
from train.slices import slice_scores
from train.tracking import MODEL_ARTIFACT, tracking_uri

log = logging.getLogger(__name__)


def download_model(run_id: str, into: str | Path | None = None) -> Path:
    """A local copy of a run's exported model directory, under ``into`` (default: a new
    temporary folder)."""
    target = Path(into) if into is not None else Path(tempfile.mkdtemp(prefix="eval-model-"))
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path=MODEL_ARTIFACT,
        dst_path=str(target),
        tracking_uri=tracking_uri(),
    )
    return Path(path)


def resolve_run(cfg: DictConfig) -> tuple[str, Path]:
    """The run to score and a local copy of its model directory."""
    run_file = Path(cfg.run_file)
    run_id = cfg.run_id
    if run_id is None:
        if not run_file.is_file():
            raise FileNotFoundError(
                f"{run_file} not found: train first (`python -m train`) or pass run_id=…"
            )
        run_id = json.loads(run_file.read_text())["run_id"]
    try:
        mlflow.MlflowClient(tracking_uri()).get_run(run_id)
    except MlflowException as err:
        # e.g. models/ restored from DVC's cache next to a new or different tracking store
        raise LookupError(
            f"run {run_id} is not in the MLflow store at {tracking_uri()}: set "
            "MLFLOW_TRACKING_URI to the store that holds it, or train again "
            "(`dvc repro --force train`)"
        ) from err
    local = Path(cfg.model_dir)
    if (
        run_file.is_file()
        and json.loads(run_file.read_text())["run_id"] == run_id
        and local.is_dir()
    ):
        return run_id, local
    return run_id, download_model(run_id)


def validation_scorer(cfg: DictConfig, local: dict[str, Path]) -> Callable[[ModelVersion], float]:
    """Scores a registered version by macro-F1 on this data's validation split, through the
    serving predictor; ``local`` maps run ids to model directories already on disk (the others
    are downloaded). The registry uses it when the champion was trained on other data."""
    split = datasets.load_from_disk(str(Path(cfg.data.processed_dir) / "validation"))
    texts, refs = list(split["text"]), np.asarray(split["label"], dtype=np.int64)

    def score(version: ModelVersion) -> float:
        with tempfile.TemporaryDirectory(prefix="rescore-") as tmp:
            model_dir = local.get(version.run_id) or download_model(version.run_id, tmp)
            logits = predict_logits(
                IntentPredictor.from_pretrained(model_dir),
                texts,
                cfg.batch_size,
                progress="Scoring",
            )
        return classification_scores(refs, logits)["macro_f1"]

    return score


def predict_probs(predictor: IntentPredictor, texts: list[str], batch_size: int) -> np.ndarray:
    """Calibrated class probabilities per text, exactly as the handler computes them."""
    logits = torch.from_numpy(predict_logits(predictor, texts, batch_size, progress="Scoring"))
    return predictor.probabilities(logits).numpy()


def score_holdout(predictor: IntentPredictor, cfg: DictConfig) -> dict[str, dict]:
    """Scores on each held-out CSV (``text,label``) named in ``cfg.holdout``: prompt sets never
    trained on, to see how the model does beyond its own split."""
    label_ids = {label: i for i, label in enumerate(load_labels())}
    results = {}
    for name, path in (cfg.get("holdout") or {}).items():
        if not Path(path).is_file():
            log.warning("held-out set %s not found at %s; skipped", name, path)
            continue
        frame = pd.read_csv(path)
        probs = predict_probs(predictor, list(frame["text"]), cfg.batch_size)
        refs = np.asarray([label_ids[label] for label in frame["label"]])
        results[name] = {**classification_scores(refs, probs), "samples": len(refs)}
    return results


def evaluate_run(cfg: DictConfig) -> dict:
    """Score the run, write the reports, log them to MLflow and maybe promote; return the report
    with ``run_id``, ``model_version`` and ``promoted`` added."""
    run_id, model_dir = resolve_run(cfg)
    split = datasets.load_from_disk(str(Path(cfg.data.processed_dir) / cfg.split))
    texts, refs = list(split["text"]), np.asarray(split["label"], dtype=np.int64)
    predictor = IntentPredictor.from_pretrained(model_dir)
    logits = torch.from_numpy(predict_logits(predictor, texts, cfg.batch_size, progress="Scoring"))
    # The backend packaging will serve, checked against float32 on the prompts packaging checks
    # it on; what follows scores the backend that passed, so the reports are the served model's.
    parity_texts, parity_labels = parity_prompts(cfg.data.processed_dir)
    choice, served = served_predictor(
        model_dir,
        configured_backend(MODEL_CONFIG),
        parity_texts,
        parity_labels,
        batch_size=cfg.batch_size,
    )
    if served is not None:
        predictor = served
        logits = torch.from_numpy(
            predict_logits(predictor, texts, cfg.batch_size, progress="Scoring")
        )
    probs = predictor.probabilities(logits).numpy()
    raw_probs = logits.softmax(-1).numpy()
    flags = probs.max(1) < predictor.calibration.low_confidence_threshold
    slices = {
        "test": slice_scores(texts, refs, probs, cfg.slices),
        "holdout": score_holdout(predictor, cfg),
    }
    report = build_report(cfg, refs, probs, raw_probs, slices, flags)
    report["calibration"] = {
        "temperature": predictor.calibration.temperature,
        "low_confidence_threshold": predictor.calibration.low_confidence_threshold,
    }
    report["parity"] = choice.to_dict()
    write_predictions(Path(cfg.predictions_path), texts, refs, probs)
    write_reports(cfg, report, refs, probs, texts)

    client = mlflow.MlflowClient(tracking_uri())
    for key, value in report["test"].items():
        client.log_metric(run_id, f"test/{key}", float(value))
    for intent, value in report["per_intent"].items():
        client.log_metric(run_id, f"test_f1/{intent}", float(value))
    for group, named in slices.items():
        for name, values in named.items():
            if values.get("samples"):
                client.log_metric(run_id, f"{group}_slice/{name}/macro_f1", values["macro_f1"])
    client.log_artifact(run_id, cfg.metrics_path, "evaluation")
    client.log_artifact(run_id, cfg.predictions_path, "evaluation")
    for name in ("confusion_matrix.png", "reliability_diagram.png", "slices.png"):
        client.log_artifact(run_id, str(Path(cfg.plots_dir) / name), "evaluation")
    client.log_artifact(run_id, str(Path(cfg.plots_dir) / "misclassified.csv"), "evaluation")

    version, promoted = None, False
    try:
        registered = version_for_run(client, run_id)
        version = registered.version
        if cfg.promote:
            rescore = validation_scorer(cfg, {run_id: model_dir})
            promoted = promote_if_better(client, registered, rescore)
    except LookupError as err:
        log.warning("%s; champion unchanged", err)
    return {**report, "run_id": run_id, "model_version": version, "promoted": promoted}


@hydra.main(version_base="1.3", config_path="../../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    result = evaluate_run(cfg)
    test = result["test"]
    log.info(
        "run %s (version %s): test accuracy %.4f, macro-F1 %.4f, ECE %.4f (raw %.4f); champion %s",
        result["run_id"],
        result["model_version"],
        test["accuracy"],
        test["macro_f1"],
        test["ece"],
        test["ece_uncalibrated"],
        "moved to this version" if result["promoted"] else "unchanged",
    )


if __name__ == "__main__":
    register_resolvers()
    main()
