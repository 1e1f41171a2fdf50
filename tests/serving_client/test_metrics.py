"""The Prometheus metrics a client records, in a registry passed in."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from serving_client import TorchServeClient, TorchServeInferenceError
from serving_client.metrics import ClientMetrics
from tests.serving_client.fakes import Reply, echo, error_body


async def test_calls_are_counted_by_outcome_and_timed(make_client, fault_server, metric):
    fault_server.script(
        Reply(503, error_body(503, "ServiceUnavailableException", "no worker")),
        echo,
        Reply(500, error_body(500, "InternalServerException", "boom")),
    )
    client = make_client()

    await client.classify("first")  # one retry, then success
    with pytest.raises(TorchServeInferenceError):
        await client.classify("second")
    await client.classify("third")
    results = await client.classify_batch(["", "fourth"])

    assert metric("torchserve_requests_total", status="success") == 3
    assert metric("torchserve_requests_total", status="inference_error") == 1
    assert metric("torchserve_requests_total", status="invalid_input") == 1
    assert metric("torchserve_request_duration_seconds_count") == 5
    assert metric("torchserve_request_duration_seconds_sum") > 0
    assert metric("torchserve_retry_total", reason="503") == 1
    assert metric("torchserve_connection_status") == 1
    assert len(results) == 2


async def test_breaker_state_starts_closed(make_client, metric):
    client = make_client()

    assert metric("torchserve_circuit_breaker_state", endpoint=client.breaker.name) == 0


def test_clients_sharing_a_registry_share_the_metrics():
    registry = CollectorRegistry()

    first = TorchServeClient(registry=registry)
    second = TorchServeClient(registry=registry)  # would raise on duplicate registration

    assert first._metrics is second._metrics is ClientMetrics.of(registry)
    exposition = generate_latest(registry).decode()
    for name in (
        "torchserve_requests_total",
        "torchserve_request_duration_seconds",
        "torchserve_connection_status",
        "torchserve_retry_total",
        "torchserve_circuit_breaker_state",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in exposition
