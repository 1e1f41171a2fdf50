"""Whatever goes wrong, a call raises a ``TorchServeError`` (cancellation aside)."""

from __future__ import annotations

import asyncio
import json
import math

import aiohttp
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from serving_client import (
    ConfigurationError,
    SyncTorchServeClient,
    TorchServeClient,
    TorchServeError,
)
from serving_client.transports import WireResponse
from tests.serving_client.fakes import FakeClock, ScriptedWire, ok_answer


def client_on(wire: ScriptedWire, **options) -> TorchServeClient:
    clock = FakeClock()
    return TorchServeClient(
        registry=CollectorRegistry(), clock=clock, sleep=clock.sleep, wire=wire, **options
    )


@pytest.mark.parametrize("timeout", [0, -1.0, math.nan, math.inf, "5", True, [5]])
async def test_a_bad_per_call_timeout_is_a_configuration_error(timeout, metric, make_client):
    client = make_client()

    with pytest.raises(ConfigurationError, match="timeout") as caught:
        await client.classify("hello", timeout=timeout)
    with pytest.raises(ConfigurationError):
        await client.classify_batch(["hello"], timeout=timeout)

    assert isinstance(caught.value, ValueError)  # what it raised before, still caught as such
    assert metric("torchserve_requests_total", status="configuration_error") == 1


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": -1},
        {"max_connections": 0},
        {"no_such_option": 1},
        {"transport": "carrier-pigeon"},
    ],
)
def test_settings_that_do_not_validate_are_a_configuration_error(options):
    with pytest.raises(ConfigurationError, match="invalid serving client settings"):
        TorchServeClient(registry=CollectorRegistry(), **options)


def test_a_bad_environment_is_a_configuration_error_naming_the_variable():
    with pytest.raises(ConfigurationError, match="TORCHSERVE_PORT"):
        TorchServeClient.from_env({"TORCHSERVE_PORT": "eighty"}, registry=CollectorRegistry())
    with pytest.raises(ConfigurationError, match="TORCHSERVE_PORT"):
        SyncTorchServeClient.from_env({"TORCHSERVE_PORT": "eighty"}, registry=CollectorRegistry())


def test_a_missing_key_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        TorchServeClient(registry=CollectorRegistry(), token_file=tmp_path / "key_file.json")


@pytest.mark.parametrize("token", ["line\nbreak", "tab\there", "caf\u00e9-token"])
async def test_a_token_no_header_can_carry_is_refused_before_sending(token):
    wire = ScriptedWire()

    with pytest.raises(ConfigurationError, match="HTTP header") as caught:
        client_on(wire, token=token)

    assert token not in str(caught.value)
    assert wire.sent == 0


async def test_a_bad_management_token_is_a_configuration_error():
    wire = ScriptedWire()
    client = client_on(wire, management_token="bad\r\ntoken")

    with pytest.raises(ConfigurationError):
        await client.model_info()

    assert wire.sent == 0


def test_the_sync_client_refuses_a_running_event_loop(fault_server):
    async def inside_a_loop() -> None:
        SyncTorchServeClient(port=fault_server.port, registry=CollectorRegistry())

    with pytest.raises(ConfigurationError, match="running event loop"):
        asyncio.run(inside_a_loop())


def test_the_sync_client_refuses_calls_after_close(fault_server):
    client = SyncTorchServeClient(port=fault_server.port, registry=CollectorRegistry())
    client.close()
    client.close()  # a second close does nothing

    with pytest.raises(ConfigurationError, match="closed"):
        client.classify("hello")


async def test_cancellation_passes_through_untouched():
    wire = ScriptedWire(asyncio.Event().wait)
    client = client_on(wire)
    call = asyncio.create_task(client.classify("hello"))
    while wire.sent < 1:
        await asyncio.sleep(0)

    call.cancel()

    with pytest.raises(asyncio.CancelledError):
        await call


def _json_error() -> json.JSONDecodeError:
    return json.JSONDecodeError("Expecting value", "x", 0)


# Exceptions a transport (or a bug under it) can raise; made fresh for each request.
TRANSPORT_EXCEPTIONS = [
    aiohttp.ServerDisconnectedError,
    lambda: aiohttp.ClientPayloadError("truncated"),
    lambda: aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
        OSError(111, "refused"),
    ),
    lambda: aiohttp.ClientOSError(104, "reset"),
    aiohttp.ServerTimeoutError,
    lambda: httpx.ReadError("read"),
    lambda: httpx.RemoteProtocolError("illegal status line"),
    lambda: httpx.ReadTimeout("slow"),
    lambda: httpx.ConnectError("refused"),
    lambda: httpx.DecodingError("bad gzip"),
    TimeoutError,
    ConnectionResetError,
    lambda: OSError(24, "too many open files"),
    lambda: RuntimeError("Session is closed"),
    lambda: ValueError("Forbidden control character detected in headers"),
    lambda: TypeError("a bug"),
    lambda: KeyError("a bug"),
    _json_error,
    lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    lambda: RecursionError("maximum recursion depth exceeded"),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.integers(1, 50_000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.just(ok_answer().content),
    st.just(b'[{"modelName": "m", "modelVersion": "1", "workers": "none"}]'),
)
answers = st.builds(
    WireResponse,
    st.integers(100, 599),
    bodies,
    st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["1", "0", "-3", "1e9"])),
)
steps = st.one_of(answers, st.sampled_from(TRANSPORT_EXCEPTIONS))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=st.lists(steps, min_size=1, max_size=8),
    max_retries=st.integers(0, 3),
    calls=st.permutations(["classify", "health", "model_info", "batch"]),
)
def test_whatever_the_transport_does_every_error_is_a_torchserve_error(script, max_retries, calls):
    asyncio.run(_run_calls(script, max_retries, calls))


async def _run_calls(script, max_retries: int, calls: list[str]) -> None:
    made = [step() if callable(step) else step for step in script]
    wire = ScriptedWire(*made, default=made[-1])
    client = client_on(
        wire, max_retries=max_retries, failure_threshold=2, health_check_interval=0, timeout=2.0
    )
    for name in calls:
        try:
            if name == "classify":
                await client.classify("hello")
            elif name == "health":
                status = await client.health()  # never raises for what the server does
                assert isinstance(status.healthy, bool)
            elif name == "model_info":
                await client.model_info()
            else:
                results = await client.classify_batch(["a", "", "b"])
                assert all(isinstance(r, TorchServeError) or hasattr(r, "intent") for r in results)
        except TorchServeError:
            pass  # any other exception fails the test, hypothesis reporting the script
    await client.aclose()
