"""Fixtures of the client's tests: the stub ``FaultServer``, a fake clock, clients aimed at them."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from serving_client import TorchServeClient
from tests.serving_client.fakes import FakeClock, FaultServer


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def transport() -> str:
    """The client's transport; test modules override this to run on both."""
    return "aiohttp"


@pytest.fixture
async def make_client(
    fault_server: FaultServer, fake_clock: FakeClock, registry: CollectorRegistry, transport: str
) -> AsyncIterator[Callable[..., TorchServeClient]]:
    """Build clients aimed at ``fault_server`` with the fake clock and a fresh registry.

    Backoff and breaker time run on ``fake_clock``; the jitter source returns 0.5. Clients are
    closed after the test.
    """
    clients: list[TorchServeClient] = []

    def build(**options: Any) -> TorchServeClient:
        options.setdefault("port", fault_server.port)
        options.setdefault("management_port", fault_server.port)
        options.setdefault("timeout", 5.0)
        options.setdefault("transport", transport)
        client = TorchServeClient(
            registry=registry, clock=fake_clock, sleep=fake_clock.sleep, rng=lambda: 0.5, **options
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client: Callable[..., TorchServeClient]) -> AsyncIterator[TorchServeClient]:
    async with make_client() as client:
        yield client


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A metric sample's value, 0.0 when it was never recorded."""
    return registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def metric(registry: CollectorRegistry) -> Callable[..., float]:
    """``metric("torchserve_requests_total", status="success")`` in the test's registry."""
    return lambda name, **labels: sample(registry, name, **labels)
