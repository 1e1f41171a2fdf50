"""``python -m train.evaluate``: score a trained run on the test split with HF ``evaluate``, write
``reports/metrics.json``, ``reports/test_predictions.jsonl`` and ``reports/plots/``, log them to
the run, and move the ``champion`` alias when the run beats the current champion on validation
macro-F1. Predictions come from ``handlers.prediction.IntentPredictor``, the class TorchServe's
handler runs, so the reported metrics are the served model's."""

from __future__ import annotations

import csv
import json
import logging
import tempfile
from pathlib import Path

import datasets
import hydra
import mlflow
import numpy as np
from omegaconf import DictConfig
from sklearn.metrics import confusion_matrix
from tqdm import tqdm

from contract import load_labels
from handlers.prediction import IntentPredictor
from train.config import register_resolvers
from train.plots import confusion_png, reliability_png
from train.registry import promote_if_better, version_for_run
from train.scoring import calibration, classification_scores, per_class_f1
from train.tracking import MODEL_ARTIFACT, tracking_uri

log = logging.getLogger(__name__)


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
    local = Path(cfg.model_dir)
    if (
        run_file.is_file()
        and json.loads(run_file.read_text())["run_id"] == run_id
        and local.is_dir()
    ):
        return run_id, local
    target = Path(tempfile.mkdtemp(prefix="eval-model-"))
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path=MODEL_ARTIFACT,
        dst_path=str(target),
        tracking_uri=tracking_uri(),
    )
    return run_id, Path(path)


def predict_probs(predictor: IntentPredictor, texts: list[str], batch_size: int) -> np.ndarray:
    """Class probabilities per text from the serving predictor (its tokenizer, its ``max_length``,
    its forward pass), batched by similar length to keep padding small."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    probs = np.zeros((len(texts), len(predictor.labels)), dtype=np.float32)
    for start in tqdm(range(0, len(order), batch_size), desc="Scoring", unit="batch"):
        idx = order[start : start + batch_size]
        batch = predictor.encode([texts[i] for i in idx])
        probs[idx] = predictor.forward(batch).numpy()
    return probs


def write_predictions(path: Path, texts: list[str], refs: np.ndarray, probs: np.ndarray) -> None:
    """One JSON line per row, in split order: ``{"text", "label", "intent", "confidence"}``, the
    intent and confidence as the served model answers them."""
    labels = load_labels()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for text, ref, row in zip(texts, refs, probs, strict=True):
            best = int(row.argmax())
            line = {
                "text": text,
                "label": labels[ref],
                "intent": labels[best],
                "confidence": float(row[best]),
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")


def write_reports(cfg: DictConfig, refs: np.ndarray, probs: np.ndarray, texts: list[str]) -> dict:
    labels = list(load_labels())
    preds = probs.argmax(axis=1)
    scores = classification_scores(refs, probs)
    calib = calibration(refs, probs, cfg.calibration_bins)
    report = {
        "test": {
            "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"],
            "ece": calib["ece"],
            "samples": len(refs),
        },
        "per_intent": dict(zip(labels, per_class_f1(refs, probs), strict=True)),
    }
    metrics_path = Path(cfg.metrics_path)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(report, indent=2) + "\n")

    plots = Path(cfg.plots_dir)
    plots.mkdir(parents=True, exist_ok=True)
    # DVC's confusion template reads one row per sample with the true and predicted class.
    with (plots / "confusion.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["actual", "predicted"])
        writer.writerows([labels[a], labels[p]] for a, p in zip(refs, preds, strict=True))
    with (plots / "reliability.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=["confidence", "accuracy", "count", "lower", "upper"]
        )
        writer.writeheader()
        writer.writerows({k: b[k] for k in writer.fieldnames} for b in calib["bins"] if b["count"])
    with (plots / "misclassified.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["actual", "predicted", "confidence", "text"])
        for i in np.flatnonzero(preds != refs):
            writer.writerow([labels[refs[i]], labels[preds[i]], f"{probs[i].max():.3f}", texts[i]])
    matrix = confusion_matrix(refs, preds, labels=list(range(len(labels))))
    confusion_png(matrix, labels, plots / "confusion_matrix.png")
    reliability_png(calib["bins"], calib["ece"], plots / "reliability_diagram.png")
    return report


def evaluate_run(cfg: DictConfig) -> dict:
    """Score the run, write the reports, log them to MLflow and maybe promote; return the report
    with ``run_id``, ``model_version`` and ``promoted`` added."""
    run_id, model_dir = resolve_run(cfg)
    split = datasets.load_from_disk(str(Path(cfg.data.processed_dir) / cfg.split))
    texts, refs = list(split["text"]), np.asarray(split["label"], dtype=np.int64)
    predictor = IntentPredictor.from_pretrained(model_dir)
    probs = predict_probs(predictor, texts, cfg.batch_size)
    write_predictions(Path(cfg.predictions_path), texts, refs, probs)
    report = write_reports(cfg, refs, probs, texts)

    client = mlflow.MlflowClient(tracking_uri())
    for key, value in report["test"].items():
        client.log_metric(run_id, f"test/{key}", float(value))
    for intent, value in report["per_intent"].items():
        client.log_metric(run_id, f"test_f1/{intent}", float(value))
    client.log_artifact(run_id, cfg.metrics_path, "evaluation")
    client.log_artifact(run_id, cfg.predictions_path, "evaluation")
    for png in ("confusion_matrix.png", "reliability_diagram.png", "misclassified.csv"):
        client.log_artifact(run_id, str(Path(cfg.plots_dir) / png), "evaluation")

    version, promoted = None, False
    try:
        registered = version_for_run(client, run_id)
        version = registered.version
        if cfg.promote:
            promoted = promote_if_better(client, registered)
    except LookupError as err:
        log.warning("%s; champion unchanged", err)
    return {**report, "run_id": run_id, "model_version": version, "promoted": promoted}


@hydra.main(version_base="1.3", config_path="../../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    result = evaluate_run(cfg)
    test = result["test"]
    log.info(
        "run %s (version %s): test accuracy %.4f, macro-F1 %.4f, ECE %.4f; champion %s",
        result["run_id"],
        result["model_version"],
        test["accuracy"],
        test["macro_f1"],
        test["ece"],
        "moved to this version" if result["promoted"] else "unchanged",
    )


if __name__ == "__main__":
    register_resolvers()
    main()
