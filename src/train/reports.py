"""What the evaluation writes: ``reports/metrics.json``, the DVC plot data and the PNGs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from sklearn.metrics import confusion_matrix

from contract import load_labels
from train.plots import confusion_png, reliability_png, slices_png
from train.scoring import calibration, classification_scores, per_class_f1


def build_report(
    cfg: DictConfig,
    refs: np.ndarray,
    probs: np.ndarray,
    raw_probs: np.ndarray,
    slices: dict,
    flags: np.ndarray,
) -> dict:
    """The metrics: test scores with ECE before (raw softmax) and after calibration, per-intent
    F1, the slices, and how the low-confidence flag splits the test set."""
    labels = list(load_labels())
    scores = classification_scores(refs, probs)
    correct = probs.argmax(1) == refs
    return {
        "test": {
            "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"],
            "ece": calibration(refs, probs, cfg.calibration_bins)["ece"],
            "ece_uncalibrated": calibration(refs, raw_probs, cfg.calibration_bins)["ece"],
            "samples": len(refs),
        },
        "per_intent": dict(zip(labels, per_class_f1(refs, probs), strict=True)),
        "low_confidence": {
            "flagged_share": float(flags.mean()),
            "accuracy_flagged": float(correct[flags].mean()) if flags.any() else None,
            "accuracy_unflagged": float(correct[~flags].mean()) if (~flags).any() else None,
        },
        "slices": slices,
    }


def write_reports(
    cfg: DictConfig, report: dict, refs: np.ndarray, probs: np.ndarray, texts: list[str]
) -> None:
    """``metrics.json`` and ``plots/``: confusion and reliability data for DVC, slice scores,
    misclassified prompts, and the PNGs."""
    labels = list(load_labels())
    preds = probs.argmax(axis=1)
    metrics_path = Path(cfg.metrics_path)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(report, indent=2) + "\n")

    plots = Path(cfg.plots_dir)
    plots.mkdir(parents=True, exist_ok=True)
    calib = calibration(refs, probs, cfg.calibration_bins)
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
    slice_rows = [
        {"slice": f"{group}/{name}", "macro_f1": values["macro_f1"], "samples": values["samples"]}
        for group, named in report["slices"].items()
        for name, values in named.items()
        if values.get("samples")
    ]
    with (plots / "slices.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["slice", "macro_f1", "samples"])
        writer.writeheader()
        writer.writerows(slice_rows)
    with (plots / "misclassified.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["actual", "predicted", "confidence", "text"])
        for i in np.flatnonzero(preds != refs):
            writer.writerow([labels[refs[i]], labels[preds[i]], f"{probs[i].max():.3f}", texts[i]])
    matrix = confusion_matrix(refs, preds, labels=list(range(len(labels))))
    confusion_png(matrix, labels, plots / "confusion_matrix.png")
    reliability_png(calib["bins"], calib["ece"], plots / "reliability_diagram.png")
    slices_png(slice_rows, plots / "slices.png")


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
