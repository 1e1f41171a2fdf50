"""Local mode (USE_TORCHSERVE=false): the same client, predicting in this process."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from contract import load_labels
from serving_client import (
    IntentPrediction,
    InvalidInputError,
    ModelNotFoundError,
    SyncTorchServeClient,
    TorchServeClient,
)


@pytest.fixture
async def local_client(tiny_model_dir):
    environ = {"USE_TORCHSERVE": "false", "LOCAL_MODEL_PATH": str(tiny_model_dir)}
    async with TorchServeClient.from_env(environ, registry=CollectorRegistry()) as client:
        yield client


async def test_classify_locally_from_a_model_directory(local_client):
    prediction = await local_client.classify("Write a poem about the sea")

    assert prediction.intent in load_labels()
    assert prediction.top_k[0].intent == prediction.intent
    assert prediction.confidence == pytest.approx(prediction.top_k[0].score)
    assert (prediction.attempts, prediction.model_version) == (1, "unknown")
    assert local_client.breaker is None


async def test_local_batch_matches_single_calls_in_order(local_client):
    texts = ["translate hello to German", "", "what is TCP?", 5, "plan my trip to Rome"]

    results = await local_client.classify_batch(texts)

    assert [type(r) for r in results] == [
        IntentPrediction,
        InvalidInputError,
        IntentPrediction,
        InvalidInputError,
        IntentPrediction,
    ]
    for index in (0, 2, 4):
        single = await local_client.classify(texts[index])
        assert results[index].confidence == pytest.approx(single.confidence, abs=1e-5)
        assert results[index].intent == single.intent


async def test_local_truncation_is_flagged(local_client):
    prediction = await local_client.classify("word " * 1000)  # over 2,048 characters

    assert prediction.truncated


async def test_local_health_and_info(local_client):
    assert (await local_client.health()).healthy
    info = await local_client.model_info()
    assert (info.model_name, info.model_version) == ("intent_classifier", "unknown")


async def test_local_mode_from_a_mar_reads_its_version(tiny_archive):
    async with TorchServeClient(
        use_torchserve=False, local_model_path=tiny_archive, registry=CollectorRegistry()
    ) as client:
        prediction = await client.classify("hi there, how are you?")

    assert prediction.model_version == "1.0"


async def test_missing_local_model_says_what_to_set(tmp_path):
    client = TorchServeClient(
        use_torchserve=False, local_model_path=tmp_path / "nope", registry=CollectorRegistry()
    )

    with pytest.raises(ModelNotFoundError, match="LOCAL_MODEL_PATH"):
        await client.__aenter__()


def test_sync_client_in_local_mode(tiny_model_dir):
    with SyncTorchServeClient(
        use_torchserve=False, local_model_path=tiny_model_dir, registry=CollectorRegistry()
    ) as client:
        assert client.classify("thanks a lot!").intent in load_labels()
