"""health(): a /ping cached for the interval, never hiding a failure for longer."""

from __future__ import annotations

import asyncio

import pytest

from serving_client import TorchServeConnectionError
from tests.serving_client.fakes import Reply


async def test_ping_is_cached_for_the_interval(make_client, fault_server, fake_clock):
    client = make_client(health_check_interval=30)

    first = await client.health()
    second = await client.health()

    assert (first.healthy, first.status, first.cached) == (True, "Healthy", False)
    assert (second.healthy, second.cached) == (True, True)
    assert fault_server.count("ping") == 1

    fake_clock.advance(30)
    third = await client.health()

    assert not third.cached
    assert fault_server.count("ping") == 2


async def test_a_failure_shows_once_the_interval_is_over(make_client, fault_server, fake_clock):
    client = make_client(health_check_interval=30)
    assert (await client.health()).healthy
    fault_server.script(Reply(500, {"status": "Unhealthy"}), route="ping")

    fake_clock.advance(29.9)
    assert (await client.health()).cached
    fake_clock.advance(0.1)
    status = await client.health()

    assert (status.healthy, status.status) == (False, "Unhealthy")


async def test_a_failed_request_drops_a_cached_healthy_answer(make_client, fault_server, metric):
    client = make_client(health_check_interval=30)
    assert (await client.health()).healthy
    assert metric("torchserve_connection_status") == 1
    fault_server.stop()

    with pytest.raises(TorchServeConnectionError):
        await client.classify("hello")
    status = await client.health()

    assert (status.healthy, status.status, status.cached) == (False, "Unreachable", False)
    assert "check that it is running" in status.detail
    assert metric("torchserve_connection_status") == 0


async def test_concurrent_checks_share_one_ping(make_client, fault_server):
    client = make_client()

    statuses = await asyncio.gather(*(client.health() for _ in range(20)))

    assert all(status.healthy for status in statuses)
    assert fault_server.count("ping") == 1


async def test_refused_token_reads_as_unauthorized(make_client, fault_server):
    fault_server.script(
        Reply(400, {"code": 400, "type": "InvalidKeyException", "message": "Token ..."}),
        route="ping",
    )
    client = make_client(token="stale")

    status = await client.health()

    assert (status.healthy, status.status) == (False, "Unauthorized")
    assert fault_server.requests[0].headers["authorization"] == "Bearer stale"


async def test_model_info_reads_the_management_api(make_client, fault_server):
    client = make_client(management_token="mgmt")

    info = await client.model_info()

    assert (info.model_name, info.model_version, info.batch_size) == ("intent_classifier", "1.0", 8)
    assert info.ready_workers == 1
    assert (info.pending_requests, info.queue_capacity) == (0, 100)
    request = fault_server.requests[0]
    assert (request.path, request.headers["authorization"]) == (
        "/models/intent_classifier",
        "Bearer mgmt",
    )
