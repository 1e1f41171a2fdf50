"""The numbers evaluation reports are the served model's: ``train.evaluate`` scores the test split
with the handler's predictor, and a real TorchServe serving the packaged archive answers the same
intent for every row."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest

from handlers.prediction import IntentPredictor
from serving_client import IntentPrediction, TorchServeClient
from train.evaluate import predict_probs, write_predictions

pytestmark = pytest.mark.slow
THRESHOLD = 0.3  # the tiny model's calibration (tests/conftest.py)


async def test_evaluation_predictions_equal_the_served_answers(
    tiny_model_dir: Path, torchserve, processed_dir: Path, tmp_path: Path
) -> None:
    split = datasets.load_from_disk(str(processed_dir / "test"))
    texts, refs = list(split["text"]), np.asarray(split["label"])
    # As evaluate does: the exported model directory, batches of similar length.
    probs = predict_probs(IntentPredictor.from_pretrained(tiny_model_dir), texts, batch_size=64)
    path = tmp_path / "test_predictions.jsonl"
    write_predictions(path, texts, refs, probs)
    reported = [json.loads(line) for line in path.read_text().splitlines()]

    async with TorchServeClient(
        port=torchserve.inference_port,
        token_file=torchserve.key_file,
        max_retries=0,
        health_check_interval=0,
    ) as client:
        served = await client.classify_batch(texts)

    assert len(served) == len(reported) == len(texts)
    differing = []
    for row, answer in zip(reported, served, strict=True):
        assert isinstance(answer, IntentPrediction), answer
        if answer.intent != row["intent"]:
            differing.append((row["text"][:60], row["intent"], answer.intent))
        assert answer.confidence == pytest.approx(row["confidence"], abs=1e-4)
        # The archive carries the calibration: the same threshold flags the same rows.
        if abs(row["confidence"] - THRESHOLD) > 1e-4:
            assert answer.low_confidence is (row["confidence"] < THRESHOLD)
    assert not differing, f"{len(differing)} rows differ: {differing[:5]}"
    assert len({row["intent"] for row in reported}) > 1  # a model that tells prompts apart
