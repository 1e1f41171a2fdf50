"""Calibration: temperature scaling recovers a known temperature, the low-confidence threshold
separates wrong from right, and every reader of a model directory applies the same calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from handlers.calibration import Calibration
from handlers.prediction import IntentPredictor
from train.calibration import choose_threshold, fit_temperature

PROMPTS = ["Translate 'good night' into Polish", "why do cats purr", "plan my week"]


def test_fit_temperature_recovers_the_temperature_that_made_the_data() -> None:
    generator = torch.Generator().manual_seed(0)
    true_logits = torch.randn(4000, 10, generator=generator) * 3
    labels = torch.distributions.Categorical(logits=true_logits).sample()
    # A model twice as sure of itself as it should be: T = 2 undoes it.
    assert fit_temperature(true_logits * 2, labels) == pytest.approx(2.0, rel=0.1)
    assert fit_temperature(true_logits, labels) == pytest.approx(1.0, rel=0.1)


def test_threshold_separates_wrong_from_right() -> None:
    confidence = np.array([0.2, 0.3, 0.35, 0.8, 0.9, 0.95, 0.4, 0.99])
    correct = np.array([False, False, False, True, True, True, True, True])
    assert choose_threshold(confidence, correct, [0.3, 0.36, 0.5, 0.7], 0.5) == (0.36, True)
    # All right (or all wrong): nothing to learn from, the configured fallback.
    assert choose_threshold(confidence, np.ones(8, bool), [0.3, 0.5], 0.45) == (0.45, False)
    assert choose_threshold(confidence, np.zeros(8, bool), [0.3, 0.5], 0.45) == (0.45, False)


def test_confident_errors_leave_the_fallback_rather_than_the_smallest_grid_value() -> None:
    # Every error is surer than any grid value: J <= 0 everywhere, and the smallest grid value
    # (which J's tie-break would pick) would flag nothing at all.
    confidence = np.array([0.95, 0.97, 0.99, 0.9, 0.45, 0.8, 0.99, 0.6])
    correct = np.array([False, False, False, True, True, True, True, True])
    assert choose_threshold(confidence, correct, [0.3, 0.5, 0.7], 0.5) == (0.5, False)


@pytest.mark.parametrize(
    "data",
    [
        {"temperature": 0, "low_confidence_threshold": 0.5},
        {"temperature": 1, "low_confidence_threshold": 2},
    ],
)
def test_a_bad_calibration_file_is_refused(tmp_path: Path, data: dict) -> None:
    (tmp_path / "calibration.json").write_text(json.dumps(data))
    with pytest.raises(ValueError):
        Calibration.load(tmp_path)


def test_no_calibration_file_means_raw_probabilities(tmp_path: Path) -> None:
    assert Calibration.load(tmp_path) == Calibration()


def test_the_predictor_applies_the_saved_calibration(tiny_model_dir: Path, tmp_path: Path) -> None:
    calibrated = IntentPredictor.from_pretrained(tiny_model_dir)
    assert calibrated.calibration.temperature == 1.5
    batch = calibrated.encode(PROMPTS)
    logits = calibrated.logits(batch)
    assert torch.allclose(calibrated.forward(batch), (logits / 1.5).softmax(-1))
    for result, row in zip(calibrated.predict(PROMPTS), (logits / 1.5).softmax(-1), strict=True):
        assert result["confidence"] == pytest.approx(float(row.max()), abs=1e-6)
        assert result["low_confidence"] is (float(row.max()) < 0.3)


def test_the_archive_carries_the_calibration(tiny_archive: Path, tmp_path: Path) -> None:
    from_archive = IntentPredictor.from_archive(tiny_archive, cache_dir=tmp_path)
    assert from_archive.calibration.temperature == 1.5
    assert from_archive.calibration.low_confidence_threshold == 0.3
