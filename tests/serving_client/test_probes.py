"""A half-open probe returns its slot however its call ends, and so does a connection slot."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from serving_client import (
    BreakerState,
    ServerBusyError,
    TorchServeClient,
    TorchServeError,
    TorchServeInferenceError,
)
from serving_client.transports import WireResponse
from tests.serving_client.fakes import FakeClock, ScriptedWire, error_body, ok_answer

RECOVERY = 30.0


class Abort(BaseException):
    """Stands for KeyboardInterrupt and the like: a BaseException the client must let through.
    (asyncio re-raises a real KeyboardInterrupt out of the event loop itself.)"""


def answer(status: int, kind: str, message: str) -> WireResponse:
    return WireResponse(status, json.dumps(error_body(status, kind, message)).encode())


NO_WORKER = answer(503, "ServiceUnavailableException", "no worker")
PREDICTION_FAILED = answer(503, "InternalServerException", "Prediction failed")


def make(wire: ScriptedWire, clock: FakeClock, **options) -> TorchServeClient:
    options = {
        "failure_threshold": 1,
        "recovery_timeout": RECOVERY,
        "max_retries": 0,
        "max_connections": 1,
        "timeout": 5.0,
        **options,
    }
    options.setdefault("max_keepalive_connections", options["max_connections"])
    return TorchServeClient(
        registry=CollectorRegistry(),
        clock=clock,
        sleep=clock.sleep,
        rng=lambda: 0.5,
        wire=wire,
        **options,
    )


async def half_open(client: TorchServeClient, wire: ScriptedWire, clock: FakeClock) -> None:
    """Trip the breaker with a server fault, then let the recovery timeout pass."""
    wire.steps.append(NO_WORKER)
    with pytest.raises(ServerBusyError):
        await client.classify("trip")
    clock.advance(RECOVERY * 1.1)
    assert client.breaker.state is BreakerState.HALF_OPEN


async def assert_recovers(client: TorchServeClient) -> None:
    """The probe slot and the connection slot are free: the next call goes out and closes it."""
    assert client.breaker.probes_in_flight == 0
    prediction = await client.classify("after", timeout=1.0)
    assert prediction.attempts == 1
    assert client.breaker.state is BreakerState.CLOSED


async def test_a_cancelled_probe_frees_its_slot(fake_clock):
    release = asyncio.Event()
    wire = ScriptedWire()
    client = make(wire, fake_clock)
    await half_open(client, wire, fake_clock)
    wire.steps.append(release.wait)

    probe = asyncio.create_task(client.classify("probe"))
    while wire.sent < 2:
        await asyncio.sleep(0)
    assert client.breaker.probes_in_flight == 1
    probe.cancel()

    with pytest.raises(asyncio.CancelledError):
        await probe
    await assert_recovers(client)


async def test_an_unexpected_transport_exception_frees_the_slot_and_is_a_torchserve_error(
    fake_clock,
):
    wire = ScriptedWire()
    client = make(wire, fake_clock)
    await half_open(client, wire, fake_clock)
    bug = RuntimeError("Session is closed")
    wire.steps.append(bug)

    with pytest.raises(TorchServeError) as caught:
        await client.classify("probe")

    assert type(caught.value) is TorchServeError
    assert caught.value.__cause__ is bug
    assert client.breaker.state is BreakerState.HALF_OPEN  # a client bug, not the server's
    await assert_recovers(client)


async def test_an_answer_that_is_not_a_prediction_fails_the_probe_and_frees_the_slot(
    fake_clock,
):
    wire = ScriptedWire()
    client = make(wire, fake_clock)
    await half_open(client, wire, fake_clock)
    wire.steps.append(WireResponse(200, b"<html>not json</html>"))

    with pytest.raises(TorchServeInferenceError):
        await client.classify("probe")

    assert client.breaker.state is BreakerState.OPEN
    fake_clock.advance(RECOVERY * 1.1)
    await assert_recovers(client)


async def test_a_parser_crash_frees_the_slot(fake_clock, monkeypatch):
    wire = ScriptedWire()
    client = make(wire, fake_clock)
    await half_open(client, wire, fake_clock)

    def crash(*args, **kwargs):
        raise AttributeError("a bug in the parser")

    with monkeypatch.context() as patch:
        patch.setattr("serving_client.remote.parse_prediction", crash)
        with pytest.raises(TorchServeError) as caught:
            await client.classify("probe")

    assert isinstance(caught.value.__cause__, AttributeError)
    await assert_recovers(client)


async def test_a_base_exception_passes_through_and_frees_the_slot(fake_clock):
    wire = ScriptedWire()
    client = make(wire, fake_clock)
    await half_open(client, wire, fake_clock)
    wire.steps.append(Abort())

    with pytest.raises(Abort):
        await client.classify("probe")

    await assert_recovers(client)


# What one request meets. "hold" blocks until the test cancels the call.
OUTCOMES = {
    "ok": ok_answer(),
    "busy": NO_WORKER,
    "model_failure": PREDICTION_FAILED,
    "garbage": WireResponse(200, b"garbage"),
    "reset": aiohttp.ServerDisconnectedError(),
    "refused": aiohttp.ClientConnectionError("refused"),
    "bug": RuntimeError("a bug"),
    "abort": Abort(),
    "hold": "hold",
}

rounds = st.lists(
    st.tuples(
        st.lists(st.sampled_from(sorted(OUTCOMES)), min_size=1, max_size=4),
        st.floats(0.0, 2 * RECOVERY),
    ),
    max_size=12,
)


@settings(max_examples=100, deadline=None)
@given(history=rounds, probes=st.integers(1, 3), threshold=st.integers(1, 3))
def test_any_history_of_outcomes_and_cancellations_keeps_the_breaker_sound(
    history, probes, threshold
):
    asyncio.run(_replay(history, probes, threshold))


async def _replay(history, probes: int, threshold: int) -> None:
    clock = FakeClock()
    wire = ScriptedWire()
    client = make(
        wire, clock, half_open_probes=probes, failure_threshold=threshold, max_connections=2
    )
    forever = asyncio.Event()
    for outcomes, pause in history:
        wire.steps.extend(forever.wait if o == "hold" else OUTCOMES[o] for o in outcomes)
        calls = [asyncio.create_task(client.classify(f"t{i}")) for i in range(len(outcomes))]
        for _ in range(10):
            await asyncio.sleep(0)
            assert 0 <= client.breaker.probes_in_flight <= probes
        for call in calls:
            call.cancel()  # a no-op for those already done
        for result in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(result, BaseException):
                assert isinstance(result, TorchServeError | asyncio.CancelledError | Abort), result
        wire.steps.clear()
        assert client.breaker.probes_in_flight == 0
        clock.advance(pause)

    # A healthy server closes the breaker once the recovery timeout has passed.
    clock.advance(RECOVERY * 1.1)
    prediction = await client.classify("healthy", timeout=1.0)
    assert prediction.attempts == 1
    assert client.breaker.state is BreakerState.CLOSED
    await client.aclose()
