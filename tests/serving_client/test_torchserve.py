"""The client against a real TorchServe serving the tiny model (the ``torchserve`` fixture)."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from contract import load_labels
from serving_client import (
    AuthenticationError,
    BreakerState,
    IntentPrediction,
    InvalidInputError,
    ModelNotFoundError,
    SyncTorchServeClient,
    TorchServeClient,
)
from tests.serving_client.leaks import leaks

pytestmark = pytest.mark.slow


def options(server, **overrides):
    return {
        "host": server.host,
        "port": server.inference_port,
        "management_port": server.management_port,
        "model_name": server.model_name,
        "token_file": server.key_file,
        "registry": CollectorRegistry(),
        **overrides,
    }


async def test_classify_through_torchserve(torchserve):
    async with TorchServeClient(**options(torchserve)) as client:
        prediction = await client.classify("Write a short story about a lighthouse keeper")

    assert prediction.intent in load_labels()
    assert prediction.top_k[0].intent == prediction.intent
    assert len(prediction.top_k) == 3
    assert (prediction.model_version, prediction.attempts) == ("1.0", 1)
    assert not prediction.truncated


async def test_batch_keeps_input_order(torchserve):
    texts = [f"prompt {i}: " + "how do I fix my bike chain " * (i % 5 + 1) for i in range(40)]
    texts[7] = "   "  # refused before sending, in place

    async with TorchServeClient(**options(torchserve)) as client:
        results = await client.classify_batch(texts)
        singles = [await client.classify(texts[i]) for i in (0, 13, 39)]

    assert len(results) == 40
    assert isinstance(results[7], InvalidInputError)
    assert all(isinstance(r, IntentPrediction) for i, r in enumerate(results) if i != 7)
    # The tiny model's scores differ per text, so a shuffled batch would not match.
    for index, single in zip((0, 13, 39), singles, strict=True):
        assert results[index].confidence == pytest.approx(single.confidence, abs=1e-4)
        assert results[index].intent == single.intent


async def test_long_prompt_is_flagged_truncated(torchserve):
    async with TorchServeClient(**options(torchserve)) as client:
        prediction = await client.classify("summarize this: " + "lorem ipsum " * 150)

    assert prediction.truncated


async def test_health_and_model_info(torchserve):
    async with TorchServeClient(**options(torchserve)) as client:
        health = await client.health()
        info = await client.model_info()

    assert (health.healthy, health.status) == (True, "Healthy")
    assert (info.model_name, info.model_version) == ("intent_classifier", "1.0")
    assert info.ready_workers >= 1
    assert info.batch_size is not None and info.batch_size >= 1


async def test_wrong_token_is_an_authentication_error_and_no_breaker_failure(torchserve):
    settings = options(torchserve, token="not-the-key", token_file=None, failure_threshold=1)
    async with TorchServeClient(**settings) as client:
        for _ in range(3):
            with pytest.raises(AuthenticationError):
                await client.classify("hello")

        assert client.breaker.state is BreakerState.CLOSED


async def test_a_refused_token_reaches_no_log_error_or_metric(torchserve, caplog):
    caplog.set_level(logging.DEBUG)
    token = "not-the-key-7c1e9a3f5b2d4e6a"
    registry = CollectorRegistry()
    settings = options(
        torchserve, token=token, management_token=token, token_file=None, registry=registry
    )
    errors = []
    async with TorchServeClient(**settings) as client:
        with pytest.raises(AuthenticationError) as refused:
            await client.classify("hello")
        errors.append(refused.value)
        status = await client.health()
        with pytest.raises(AuthenticationError) as refused:
            await client.model_info()
        errors.append(refused.value)

    texts = [status.model_dump_json(), repr(client.settings)]
    found = leaks(token, records=caplog.records, errors=errors, registry=registry, texts=texts)
    assert not found, found


async def test_unknown_model_is_model_not_found(torchserve):
    async with TorchServeClient(**options(torchserve, model_name="no_such_model")) as client:
        with pytest.raises(ModelNotFoundError):
            await client.classify("hello")
        with pytest.raises(ModelNotFoundError):
            await client.model_info()


def test_sync_client_against_torchserve(torchserve):
    with SyncTorchServeClient(**options(torchserve)) as client:
        assert client.classify("Bonjour means what in English?").intent in load_labels()
