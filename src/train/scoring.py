"""Scores from HF ``evaluate`` modules kept in ``train/metrics`` (they load without the hub)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import evaluate
import numpy as np

METRICS_DIR = Path(__file__).parent / "metrics"


@cache
def _metric(name: str) -> evaluate.EvaluationModule:
    return evaluate.load(str(METRICS_DIR / name))


def classification_scores(
    references: np.ndarray, probs: np.ndarray, labels: list[int] | None = None
) -> dict[str, float]:
    """Accuracy and macro-F1 for ``probs`` of shape (n, 10); macro-F1 averages over ``labels``
    (default: all ten intents; a slice passes the intents it holds)."""
    preds = probs.argmax(axis=1)
    labels = list(range(probs.shape[1])) if labels is None else labels
    return {
        "accuracy": _metric("accuracy").compute(predictions=preds, references=references)[
            "accuracy"
        ],
        "macro_f1": _metric("f1").compute(
            predictions=preds, references=references, labels=labels, average="macro"
        )["f1"],
    }


def per_class_f1(references: np.ndarray, probs: np.ndarray) -> list[float]:
    labels = list(range(probs.shape[1]))
    return _metric("f1").compute(
        predictions=probs.argmax(axis=1), references=references, labels=labels, average=None
    )["f1"]


def calibration(references: np.ndarray, probs: np.ndarray, n_bins: int = 10) -> dict:
    """Expected calibration error and the reliability-diagram bins."""
    return _metric("ece").compute(predictions=probs, references=references, n_bins=n_bins)
