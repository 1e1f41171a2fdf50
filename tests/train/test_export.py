"""The parity gate: an archive carries an int8 backend only when it agrees with float32."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from handlers.backends import ONNX_INT8_FILE
from train import export

TEXTS = [
    "Write a haiku about the sea",
    "Translate 'good morning' into French",
    "Why does my Python loop never end?",
    "Plan a three-day trip to Lisbon",
    "Summarize the notes above",
    "hi there",
]


@pytest.fixture
def model_dir(tiny_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(tiny_model_dir, target)
    return target


def labels_of(model_dir: Path) -> np.ndarray:
    """The float32 model's own answers: labels on which it scores perfectly."""
    from handlers.prediction import IntentPredictor

    reference = IntentPredictor.from_pretrained(model_dir)
    return export.predict_logits(reference, TEXTS, batch_size=4).argmax(1)


def test_parity_counts_equal_predictions_and_the_macro_f1_drop() -> None:
    reference = np.eye(10, dtype=np.float32)[[0, 1, 2, 3]]
    candidate = np.eye(10, dtype=np.float32)[[0, 1, 2, 4]]
    result = export.parity("onnx-int8", reference, candidate, np.array([0, 1, 2, 3]))
    assert result.agreement == 0.75 and result.samples == 4
    # macro-F1 over all ten intents: four perfect ones score 0.4, three 0.3
    assert result.macro_f1_reference == pytest.approx(0.4)
    assert result.macro_f1_drop == pytest.approx(0.1)
    assert not result.passed and result.to_dict()["passed"] is False


def test_a_backend_that_agrees_is_chosen_and_its_file_kept(model_dir: Path) -> None:
    choice = export.choose_backend(model_dir, "onnx-int8", TEXTS, labels_of(model_dir))
    assert (choice.backend, choice.reason) == ("onnx-int8", None)
    assert choice.parity.passed and choice.parity.samples == len(TEXTS)
    assert (model_dir / ONNX_INT8_FILE).is_file()


def test_failed_parity_falls_back_to_torch_with_the_reason_logged(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failing = export.Parity("onnx-int8", 6, 0.5, 1.0, 0.5, 0.5)
    monkeypatch.setattr(export, "parity", lambda *args: failing)
    with caplog.at_level(logging.WARNING):
        choice = export.choose_backend(model_dir, "onnx-int8", TEXTS, labels_of(model_dir))
    assert (choice.backend, choice.requested) == ("torch", "onnx-int8")
    assert "parity failed" in choice.reason and "50.00%" in choice.reason
    assert "serving torch" in caplog.text
    assert not (model_dir / ONNX_INT8_FILE).exists()  # nothing unchecked is left to pack


def test_an_export_error_falls_back_to_torch(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(model_dir: Path, out: Path) -> Path:
        raise export.ExportError("the exporter cannot trace this model")

    monkeypatch.setattr(export, "export_onnx_int8", broken)
    choice = export.choose_backend(model_dir, "onnx-int8", TEXTS, [0] * len(TEXTS))
    assert choice.backend == "torch" and "export failed" in choice.reason


def test_gate_without_a_labelled_split_serves_torch(model_dir: Path, tmp_path: Path) -> None:
    config = {"batchSize": 16, "handler": {"backend": "onnx-int8", "top_k": 3}}
    gated, choice = export.gate_backend(model_dir, config, tmp_path / "no-such-dir")
    assert gated["handler"] == {"backend": "torch", "top_k": 3} and gated["batchSize"] == 16
    assert "no labelled split" in choice.reason
    assert config["handler"]["backend"] == "onnx-int8"  # the caller's dict is left alone


def test_an_archive_never_names_a_backend_whose_file_is_missing(model_dir: Path) -> None:
    config = {"handler": {"backend": "onnx-int8"}}
    assert export.servable_config(config, model_dir)["handler"]["backend"] == "torch"
    export.export_backend(model_dir, "onnx-int8")
    assert export.servable_config(config, model_dir) is config
    torch_int8 = {"handler": {"backend": "torch-int8"}}  # needs no file
    assert export.servable_config(torch_int8, model_dir) is torch_int8


def test_evaluation_checks_a_scratch_copy_and_leaves_the_model_dir_alone(model_dir: Path) -> None:
    from handlers.prediction import IntentPredictor

    before = sorted(p.name for p in model_dir.iterdir())
    reference = export.predict_logits(IntentPredictor.from_pretrained(model_dir), TEXTS, 4)
    choice, served = export.served_predictor(
        model_dir, "onnx-int8", TEXTS, reference.argmax(1), reference, batch_size=4
    )
    assert choice.backend == "onnx-int8" and served.backend == "onnx-int8"
    assert sorted(p.name for p in model_dir.iterdir()) == before
    assert len(served.predict(TEXTS)) == len(TEXTS)  # usable after the scratch copy is gone


def _save_split(path: Path, texts: list[str], labels: list[int]) -> None:
    import datasets

    datasets.Dataset.from_dict({"text": texts, "label": labels}).save_to_disk(str(path))


def test_parity_prompts_join_the_validation_and_test_splits_in_order(tmp_path: Path) -> None:
    _save_split(tmp_path / "validation", TEXTS[:2], [0, 1])
    _save_split(tmp_path / "test", TEXTS[2:], [2, 3, 4, 5])
    _save_split(tmp_path / "train", ["never checked"], [9])
    texts, labels = export.parity_prompts(tmp_path)
    assert texts == TEXTS and labels.tolist() == [0, 1, 2, 3, 4, 5]


def test_gate_names_the_missing_split_and_serves_torch(model_dir: Path, tmp_path: Path) -> None:
    _save_split(tmp_path / "test", TEXTS, [0] * len(TEXTS))
    gated, choice = export.gate_backend(model_dir, {"handler": {"backend": "onnx-int8"}}, tmp_path)
    assert gated["handler"]["backend"] == "torch"
    assert str(tmp_path / "validation") in choice.reason


def test_served_predictor_accepts_a_relative_model_dir(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers.prediction import IntentPredictor

    monkeypatch.chdir(model_dir.parent)
    reference = export.predict_logits(IntentPredictor.from_pretrained(model_dir), TEXTS, 4)
    choice, served = export.served_predictor(
        Path(model_dir.name), "onnx-int8", TEXTS, reference.argmax(1), reference, batch_size=4
    )
    assert choice.backend == "onnx-int8" and len(served.predict(TEXTS)) == len(TEXTS)
