"""classify_batch: one entry per input, in order, whatever happens to each."""

from __future__ import annotations

import pytest

from serving_client import (
    IntentPrediction,
    InvalidInputError,
    ServerBusyError,
    TorchServeInferenceError,
)
from tests.serving_client.fakes import Reply, echo, error_body, prediction_for


async def test_results_come_back_in_input_order_across_chunks(client, fault_server):
    texts = [f"prompt number {i}" for i in range(70)]  # three chunks of 32

    results = await client.classify_batch(texts)

    assert [(r.intent, r.confidence) for r in results] == [
        (prediction_for(t)["intent"], prediction_for(t)["confidence"]) for t in texts
    ]
    assert fault_server.count() == 70


async def test_failures_stay_in_place_as_typed_errors(make_client, fault_server):
    def answer(request):
        text = request.text()
        if text.startswith("fail"):
            return Reply(503, error_body(503, "InternalServerException", "Prediction failed"))
        if text.startswith("busy"):
            return Reply(503, error_body(503, "ServiceUnavailableException", "no worker"))
        return echo(request)

    fault_server.responders["predictions"] = answer
    client = make_client(max_retries=1, failure_threshold=100)
    texts = ["ok 1", "fail 1", "", "ok 2", 42, "busy 1", "ok 3", "   "]

    results = await client.classify_batch(texts)

    assert [type(r) for r in results] == [
        IntentPrediction,
        TorchServeInferenceError,
        InvalidInputError,
        IntentPrediction,
        InvalidInputError,
        ServerBusyError,
        IntentPrediction,
        InvalidInputError,
    ]
    assert [r.intent for r in results if isinstance(r, IntentPrediction)] == [
        prediction_for(t)["intent"] for t in ("ok 1", "ok 2", "ok 3")
    ]
    assert results[5].attempts == 2
    assert results[2].attempts == 0  # rejected before any request
    # Blank and non-string inputs never reach the server.
    assert fault_server.count() == 3 + 1 + 2


async def test_concurrency_is_bounded_by_the_pool(make_client, fault_server):
    fault_server.responders["predictions"] = lambda request: Reply(
        200, prediction_for(request.text()), delay=0.05
    )
    client = make_client(max_connections=4, max_keepalive_connections=4)

    results = await client.classify_batch([f"t{i}" for i in range(24)])

    assert all(isinstance(r, IntentPrediction) for r in results)
    assert 2 <= fault_server.max_in_flight <= 4


async def test_chunks_bound_what_is_in_flight(make_client, fault_server):
    fault_server.responders["predictions"] = lambda request: Reply(
        200, prediction_for(request.text()), delay=0.05
    )
    client = make_client(batch_chunk_size=5, max_connections=20)

    results = await client.classify_batch([f"t{i}" for i in range(12)])

    assert len(results) == 12
    assert 2 <= fault_server.max_in_flight <= 5


async def test_a_single_string_is_refused(client):
    with pytest.raises(InvalidInputError, match="classify"):
        await client.classify_batch("one text")


async def test_empty_batch_is_empty(client, fault_server):
    assert await client.classify_batch([]) == []
    assert fault_server.count() == 0


async def test_generators_are_accepted(client):
    results = await client.classify_batch(f"t{i}" for i in range(3))

    assert [r.intent for r in results] == [prediction_for(f"t{i}")["intent"] for i in range(3)]
