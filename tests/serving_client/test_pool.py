"""The client's own connection pool: waiting for it is neither the server's fault nor its time."""

from __future__ import annotations

import asyncio
import threading

import pytest

from serving_client import (
    BreakerState,
    CircuitOpenError,
    IntentPrediction,
    PoolTimeoutError,
    ServerBusyError,
    TorchServeTimeoutError,
)
from tests.serving_client.fakes import Reply, error_body, prediction_for


def slow(seconds: float):
    return lambda request: Reply(200, prediction_for(request.text()), delay=seconds)


async def test_a_burst_ten_times_the_pool_keeps_the_breaker_closed(
    make_client, fault_server, metric
):
    fault_server.responders["predictions"] = slow(0.2)
    client = make_client(
        max_connections=2, max_keepalive_connections=2, timeout=1.0, failure_threshold=1
    )

    results = await asyncio.gather(
        *(client.classify(f"text {i}") for i in range(20)), return_exceptions=True
    )

    assert client.breaker.state is BreakerState.CLOSED
    assert client.breaker.consecutive_failures == 0
    queued_out = [r for r in results if isinstance(r, PoolTimeoutError)]
    served = [r for r in results if isinstance(r, IntentPrediction)]
    # Five rounds of 0.2 s fit in the 1 s deadline; the last may time out on the server, which
    # then had too little of its time for that to count.
    assert len(served) >= 6, results
    assert queued_out, results
    assert all(isinstance(r, TorchServeTimeoutError) for r in results if r not in served)
    assert fault_server.max_in_flight <= 2
    assert metric("torchserve_requests_total", status="pool_timeout") == len(queued_out)


async def test_time_queued_for_a_connection_is_not_the_attempts_time(make_client, fault_server):
    fault_server.responders["predictions"] = slow(0.1)
    client = make_client(
        max_connections=1, max_keepalive_connections=1, timeout=5.0, attempt_timeout=0.3
    )

    # The fifth call waits about 0.4 s for the connection, longer than one attempt may take.
    results = await asyncio.gather(*(client.classify(f"text {i}") for i in range(5)))

    assert [r.attempts for r in results] == [1] * 5
    assert fault_server.count() == 5


async def test_a_deadline_spent_queueing_is_a_pool_timeout(make_client, fault_server, metric):
    release = threading.Event()
    fault_server.responders["predictions"] = lambda request: Reply(
        200, prediction_for(request.text()), gate=release
    )
    client = make_client(max_connections=1, max_keepalive_connections=1, failure_threshold=1)
    holder = asyncio.create_task(client.classify("holds the only connection"))
    assert await asyncio.to_thread(fault_server.wait_for_requests, 1)

    with pytest.raises(PoolTimeoutError) as caught:
        await client.classify("queued", timeout=0.2)

    release.set()
    await holder
    error = caught.value
    assert isinstance(error, TorchServeTimeoutError)
    assert error.attempts == 0
    assert "TORCHSERVE_MAX_CONNECTIONS" in str(error)
    assert fault_server.count() == 1
    assert client.breaker.state is BreakerState.CLOSED
    assert metric("torchserve_requests_total", status="pool_timeout") == 1
    assert metric("torchserve_requests_total", status="timeout") == 0


async def test_a_short_per_call_timeout_is_not_the_servers_fault(make_client, fault_server):
    fault_server.responders["predictions"] = slow(0.3)
    client = make_client(timeout=5.0, failure_threshold=1)

    with pytest.raises(TorchServeTimeoutError):
        await client.classify("hello", timeout=0.05)

    assert client.breaker.state is BreakerState.CLOSED


async def test_a_timeout_the_server_had_its_time_for_counts(make_client, fault_server):
    fault_server.responders["predictions"] = slow(0.3)
    client = make_client(timeout=0.05, failure_threshold=1)

    with pytest.raises(TorchServeTimeoutError):
        await client.classify("hello")

    assert client.breaker.state is BreakerState.OPEN


async def test_a_call_the_breaker_turns_away_does_not_queue(make_client, fault_server, fake_clock):
    release = threading.Event()
    fault_server.script(Reply(503, error_body(503, "ServiceUnavailableException", "no worker")))
    fault_server.responders["predictions"] = lambda request: Reply(
        200, prediction_for(request.text()), gate=release
    )
    client = make_client(
        max_connections=1, max_keepalive_connections=1, failure_threshold=1, max_retries=0
    )
    with pytest.raises(ServerBusyError):
        await client.classify("trip")
    fake_clock.advance(60.0 * 1.05)
    probe = asyncio.create_task(client.classify("probe"))
    assert await asyncio.to_thread(fault_server.wait_for_requests, 2)

    with pytest.raises(CircuitOpenError):
        await client.classify("turned away at once", timeout=0.01)

    release.set()
    await probe
    assert client.breaker.state is BreakerState.CLOSED
