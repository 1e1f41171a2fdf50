"""The int8 backends run the model the predictor serves: same intents, close scores, clear
errors."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import torch

from handlers.backends import ONNX_INT8_FILE, BackendUnavailableError, load_backend
from handlers.prediction import HandlerSettings, IntentPredictor

PROMPTS = [
    "Write a haiku about the sea",
    "Translate 'good morning' into French",
    "hi",
    "Plan a three-day trip to Lisbon with a museum each morning and a long lunch",
]


@pytest.fixture(scope="module")
def exported_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny model with its onnx-int8 file, as train.package exports it."""
    from train.export import export_backend

    target = tmp_path_factory.mktemp("exported") / "model"
    shutil.copytree(tiny_model_dir, target)
    (written,) = export_backend(target, "onnx-int8")
    assert written == target / ONNX_INT8_FILE
    return target


@pytest.mark.parametrize("backend", ["torch-int8", "onnx-int8"])
def test_int8_backends_answer_like_float32(exported_dir: Path, backend: str) -> None:
    reference = IntentPredictor.from_pretrained(exported_dir)
    candidate = IntentPredictor.from_pretrained(exported_dir, backend=backend)
    assert candidate.backend == backend
    ours, theirs = candidate.encode(PROMPTS), reference.encode(PROMPTS)
    # int8 weights and activations: scores move a little, the ranking of clear cases does not
    assert candidate.logits(ours) == pytest.approx(reference.logits(theirs), abs=0.15)
    assert [p["intent"] for p in candidate.predict(PROMPTS)] == [
        p["intent"] for p in reference.predict(PROMPTS)
    ]


def test_torch_int8_quantises_every_linear_layer(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    from handlers.backends import quantize_linear_int8

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).eval()
    quantized = quantize_linear_int8(model)
    count = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    dynamic = [
        m for m in quantized.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)
    ]
    assert len(dynamic) == count > 0
    assert not any(isinstance(m, torch.nn.Linear) for m in quantized.modules())
    assert any(isinstance(m, torch.nn.Linear) for m in model.modules())  # the original is kept


def test_onnx_int8_without_its_file_says_how_to_get_it(tiny_model_dir: Path) -> None:
    with pytest.raises(
        BackendUnavailableError, match=r"model\.int8\.onnx is missing.*train\.package"
    ):
        IntentPredictor.from_pretrained(tiny_model_dir, backend="onnx-int8")


def test_int8_on_a_gpu_runs_torch_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    model = torch.nn.Linear(2, 2)
    with caplog.at_level(logging.WARNING):
        backend = load_backend("onnx-int8", None, model, device="meta")
    assert backend.name == "torch"
    assert "CPU only" in caplog.text


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"backend": "tensorrt"}, "unknown backend 'tensorrt'"),
        ({"model_metrics": "no"}, "model_metrics must be true or false"),
    ],
)
def test_handler_settings_refuse_an_unknown_backend(section: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HandlerSettings.from_model_config({"handler": section})


def test_settings_pass_the_backend_to_the_predictor() -> None:
    settings = HandlerSettings.from_model_config({"handler": {"backend": "torch-int8"}})
    assert settings.predictor_kwargs()["backend"] == "torch-int8"
    assert HandlerSettings().backend == "torch" and HandlerSettings().model_metrics is True


def test_worker_drops_per_batch_lines_and_keeps_metrics_when_asked() -> None:
    from handlers.intent_handler import METRICS_LOGGER, quiet_per_batch_logging

    root, metrics = logging.getLogger(), logging.getLogger(METRICS_LOGGER)
    filters, level = list(root.filters), metrics.level
    try:
        quiet_per_batch_logging(model_metrics=False)
        quiet_per_batch_logging(model_metrics=False)  # idempotent: one filter
        assert len(root.filters) == len(filters) + 1
        received = root.makeRecord(
            "root", logging.INFO, "x", 1, "Backend received inference at: 1", (), None
        )
        other = root.makeRecord("root", logging.INFO, "x", 1, "Torch worker started.", (), None)
        assert not root.filter(received) and root.filter(other)
        assert not logging.getLogger(f"{METRICS_LOGGER}.caching_metric").isEnabledFor(logging.INFO)
        quiet_per_batch_logging(model_metrics=True)
        assert logging.getLogger(f"{METRICS_LOGGER}.caching_metric").isEnabledFor(logging.INFO)
    finally:
        root.filters[:] = filters
        metrics.setLevel(level)
