"""The TorchServe handler driven through TorchServe's own Context, without the Java frontend.

The tests against a running TorchServe (tests/serving) cover the same behaviour end to end; these
show per-request statuses and batch isolation in milliseconds.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import ts
import yaml
from ts.context import Context, RequestProcessor
from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl

from contract import MAX_BODY_BYTES
from handlers.intent_handler import BATCH_SIZE_HEADER, IntentHandler
from handlers.prediction import IntentPredictor

CONTEXT_METRICS = Path(ts.__file__).parent / "configs" / "metrics.yaml"


@pytest.fixture(scope="module")
def archive_dir(tiny_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny archive unpacked, as TorchServe hands it to a worker."""
    target = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(tiny_archive) as archive:
        archive.extractall(target)
    return target


def make_context(archive_dir: Path, batch_size: int) -> Context:
    manifest = json.loads((archive_dir / "MAR-INF" / "MANIFEST.json").read_text())
    model_config = yaml.safe_load((archive_dir / "model-config.yaml").read_text())
    return Context(
        "intent_classifier",
        str(archive_dir),
        manifest,
        batch_size,
        None,
        "0.12.0",
        metrics=MetricsCacheYamlImpl(config_file_path=str(CONTEXT_METRICS)),
        model_yaml_config=model_config,
    )


@pytest.fixture(scope="module")
def handler(archive_dir: Path) -> IntentHandler:
    handler = IntentHandler()
    handler.initialize(make_context(archive_dir, batch_size=8))
    return handler


def run_batch(handler: IntentHandler, archive_dir: Path, requests: list[dict]) -> tuple:
    """Run one batch as TorchServe's worker does; returns (bodies, statuses, headers)."""
    context = make_context(archive_dir, batch_size=len(requests))
    context.request_processor = [RequestProcessor({}) for _ in requests]
    context.request_ids = {i: f"request-{i}" for i in range(len(requests))}
    context.metrics.request_ids = context.request_ids
    outputs = handler.handle(requests, context)
    statuses = [context.get_response_status(i)[0] for i in range(len(requests))]
    headers = [context.get_response_headers(i) for i in range(len(requests))]
    return [json.loads(out) for out in outputs], statuses, headers


def test_bad_requests_get_their_own_errors_and_neighbours_their_answers(
    handler: IntentHandler, archive_dir: Path
) -> None:
    prompts = ["Write a haiku about rain", "Why does my Python loop hang?", "hello there"]
    requests = [
        {"body": {"text": prompts[0]}},
        {"body": {"text": "   "}},
        {"body": b"\xff\xfe"},
        {"data": prompts[1]},
        {"body": {"text": 12}},
        {"body": {"prompt": "x"}},
        {"body": b"z" * 40_000},
        {"body": prompts[2].encode()},
    ]
    bodies, statuses, headers = run_batch(handler, archive_dir, requests)
    assert statuses == [200, 400, 400, 200, 400, 400, 413, 200]
    expected = IntentPredictor.from_pretrained(archive_dir / "model").predict(prompts)
    for position, reference in zip([0, 3, 7], expected, strict=True):
        assert bodies[position]["intent"] == reference["intent"]
        assert bodies[position]["confidence"] == pytest.approx(reference["confidence"], abs=1e-5)
        assert bodies[position]["model_version"] == "1.0"
    for position in (1, 2, 4, 5, 6):
        assert bodies[position]["type"] == "InvalidRequest"
        assert bodies[position]["code"] == statuses[position]
    assert all(h[BATCH_SIZE_HEADER] == "8" for h in headers)
    assert all(h["content-type"] == "application/json" for h in headers)


def test_a_batch_of_only_bad_requests_answers_each(
    handler: IntentHandler, archive_dir: Path
) -> None:
    bodies, statuses, _ = run_batch(handler, archive_dir, [{"body": None}, {"body": [1]}])
    assert statuses == [400, 400]
    assert "empty request" in bodies[0]["message"]
    assert "got JSON list" in bodies[1]["message"]


def test_handler_reads_settings_and_version_from_the_archive(
    handler: IntentHandler, archive_dir: Path
) -> None:
    packed = yaml.safe_load((archive_dir / "model-config.yaml").read_text())["handler"]
    assert handler.predictor.model_version == "1.0"
    assert handler.predictor.device.type == "cpu"
    assert handler.predictor.max_length == packed["max_length"]
    assert handler.settings.max_body_bytes == MAX_BODY_BYTES  # the contract's, not restated
