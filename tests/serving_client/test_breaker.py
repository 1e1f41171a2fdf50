"""The circuit breaker: its states on a driven clock, alone and inside the client."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving_client import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    ServerBusyError,
)
from serving_client.breaker import Admission
from tests.serving_client.fakes import FakeClock, Reply, echo, error_body

# A fault of the server, not of one input: every worker is busy or gone.
SERVER_DOWN = Reply(503, error_body(503, "ServiceUnavailableException", "no worker"))


def make_breaker(clock: FakeClock, **options) -> CircuitBreaker:
    settings = {"failure_threshold": 3, "recovery_timeout": 60.0, "half_open_probes": 1}
    return CircuitBreaker("endpoint", clock=clock, rng=lambda: 0.5, **{**settings, **options})


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.failure_threshold):
        breaker.record_failure(breaker.allow())


def test_opens_after_threshold_consecutive_failures(fake_clock):
    breaker = make_breaker(fake_clock)

    breaker.record_failure(breaker.allow())
    breaker.record_failure(breaker.allow())
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure(breaker.allow())

    assert breaker.state is BreakerState.OPEN


def test_a_success_resets_the_failure_count(fake_clock):
    breaker = make_breaker(fake_clock)

    breaker.record_failure(breaker.allow())
    breaker.record_failure(breaker.allow())
    breaker.record_success(breaker.allow())
    breaker.record_failure(breaker.allow())
    breaker.record_failure(breaker.allow())

    assert breaker.state is BreakerState.CLOSED


def test_neutral_outcomes_do_not_count(fake_clock):
    breaker = make_breaker(fake_clock)

    for _ in range(10):
        breaker.record_neutral(breaker.allow())

    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


def test_open_rejects_until_the_jittered_recovery_timeout(fake_clock):
    breaker = make_breaker(fake_clock, recovery_timeout=60.0, jitter=0.1)  # rng 0.5: 63 s
    trip(breaker)

    fake_clock.advance(62.9)
    with pytest.raises(CircuitOpenError) as caught:
        breaker.allow()
    assert caught.value.retry_after == pytest.approx(0.1)

    fake_clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN


def test_jitter_spreads_recovery_by_the_random_draw(fake_clock):
    early = make_breaker(fake_clock, jitter=0.2)
    early._rng = lambda: 0.0
    late = make_breaker(fake_clock, jitter=0.2)
    late._rng = lambda: 1.0
    trip(early)
    trip(late)

    fake_clock.advance(60.0)

    assert early.state is BreakerState.HALF_OPEN
    assert late.state is BreakerState.OPEN
    fake_clock.advance(12.0)
    assert late.state is BreakerState.HALF_OPEN


def test_half_open_admits_exactly_the_configured_probes(fake_clock):
    breaker = make_breaker(fake_clock, half_open_probes=2)
    trip(breaker)
    fake_clock.advance(60.0)

    tickets = [breaker.allow(), breaker.allow()]
    with pytest.raises(CircuitOpenError):
        breaker.allow()

    assert all(tickets)
    # A probe that ends without a verdict frees its slot for another.
    breaker.record_neutral(tickets[0])
    assert breaker.allow()


def test_probe_success_closes(fake_clock):
    breaker = make_breaker(fake_clock)
    trip(breaker)
    fake_clock.advance(60.0)

    breaker.record_success(breaker.allow())

    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() == 0


def test_probe_failure_reopens_for_a_new_timeout(fake_clock):
    breaker = make_breaker(fake_clock)
    trip(breaker)
    fake_clock.advance(60.0)

    breaker.record_failure(breaker.allow())

    assert breaker.state is BreakerState.OPEN
    fake_clock.advance(59.0)
    assert breaker.state is BreakerState.OPEN
    fake_clock.advance(1.0)
    assert breaker.state is BreakerState.HALF_OPEN


def test_a_late_probe_of_an_earlier_half_open_period_frees_no_slot(fake_clock):
    breaker = make_breaker(fake_clock, half_open_probes=2)
    trip(breaker)
    fake_clock.advance(60.0)
    first, straggler = breaker.allow(), breaker.allow()
    breaker.record_failure(first)  # reopens
    fake_clock.advance(60.0)
    current = breaker.allow()
    breaker.allow()

    breaker.record_neutral(straggler)

    with pytest.raises(CircuitOpenError):
        breaker.allow()
    breaker.record_success(current)
    assert breaker.state is BreakerState.CLOSED


def test_state_changes_reach_the_callback(fake_clock):
    seen: list[BreakerState] = []
    breaker = make_breaker(fake_clock)
    breaker._on_state_change = lambda name, state: seen.append(state)
    trip(breaker)
    fake_clock.advance(60.0)

    breaker.record_success(breaker.allow())

    assert seen == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


async def test_client_opens_rejects_fast_probes_and_closes(
    make_client, fault_server, fake_clock, metric
):
    fault_server.responders["predictions"] = lambda request: SERVER_DOWN
    client = make_client(failure_threshold=3, recovery_timeout=30.0, max_retries=0)
    endpoint = client.breaker.name

    for _ in range(3):
        with pytest.raises(ServerBusyError):
            await client.classify("hello")
    assert metric("torchserve_circuit_breaker_state", endpoint=endpoint) == BreakerState.OPEN

    with pytest.raises(CircuitOpenError) as caught:
        await client.classify("hello")
    assert fault_server.count() == 3  # rejected without a request
    assert caught.value.attempts == 0
    assert metric("torchserve_requests_total", status="circuit_open") == 1

    fake_clock.advance(30.0 * 1.05)  # recovery timeout stretched by jitter 0.1 * rng 0.5
    fault_server.responders["predictions"] = echo
    prediction = await client.classify("hello")

    assert prediction.attempts == 1
    assert client.breaker.state is BreakerState.CLOSED
    assert metric("torchserve_circuit_breaker_state", endpoint=endpoint) == BreakerState.CLOSED


async def test_open_breaker_stops_retries(make_client, fault_server):
    # Each failed attempt counts, so a call's own retries can trip the breaker.
    fault_server.responders["predictions"] = lambda request: SERVER_DOWN
    client = make_client(failure_threshold=2, max_retries=5)

    with pytest.raises(CircuitOpenError) as caught:
        await client.classify("hello")

    assert caught.value.attempts == 2
    assert isinstance(caught.value.__cause__, ServerBusyError)
    assert fault_server.count() == 2


async def test_concurrent_calls_in_half_open_send_only_the_probes(
    make_client, fault_server, fake_clock
):
    fault_server.responders["predictions"] = lambda request: SERVER_DOWN
    client = make_client(
        failure_threshold=1, recovery_timeout=30.0, half_open_probes=2, max_retries=0
    )
    with pytest.raises(ServerBusyError):
        await client.classify("trip")
    fake_clock.advance(30.0 * 1.05)
    release = threading.Event()
    fault_server.responders["predictions"] = lambda request: Reply(
        200, echo(request).body, gate=release
    )

    calls = [asyncio.create_task(client.classify(f"text {i}")) for i in range(10)]
    assert await asyncio.to_thread(fault_server.wait_for_requests, 1 + 2)
    rejected = [task for task in calls if task.done()]
    release.set()
    results = await asyncio.gather(*calls, return_exceptions=True)

    assert len(rejected) == 8
    assert all(isinstance(task.exception(), CircuitOpenError) for task in rejected)
    assert sum(not isinstance(result, Exception) for result in results) == 2
    assert fault_server.count() == 1 + 2
    assert client.breaker.state is BreakerState.CLOSED


def test_an_admission_left_without_a_verdict_frees_its_probe_slot(fake_clock):
    breaker = make_breaker(fake_clock)
    trip(breaker)
    fake_clock.advance(60.0)

    with pytest.raises(KeyboardInterrupt), breaker.admit() as admission:
        assert admission.ticket
        assert breaker.probes_in_flight == 1
        raise KeyboardInterrupt

    assert breaker.probes_in_flight == 0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_success(breaker.allow())
    assert breaker.state is BreakerState.CLOSED


def test_only_an_admissions_first_verdict_counts(fake_clock):
    breaker = make_breaker(fake_clock, failure_threshold=1)

    with breaker.admit() as admission:
        admission.neutral()
        admission.failure()

    assert breaker.state is BreakerState.CLOSED


def test_a_ticket_recorded_twice_frees_one_slot(fake_clock):
    breaker = make_breaker(fake_clock, half_open_probes=2)
    trip(breaker)
    fake_clock.advance(60.0)
    first, second = breaker.allow(), breaker.allow()

    breaker.record_neutral(first)
    breaker.record_neutral(first)

    assert breaker.probes_in_flight == 1
    assert breaker.allow() not in (first, second)
    with pytest.raises(CircuitOpenError):
        breaker.allow()


def test_reject_if_open_takes_no_slot(fake_clock):
    breaker = make_breaker(fake_clock)
    breaker.reject_if_open()
    trip(breaker)

    with pytest.raises(CircuitOpenError):
        breaker.reject_if_open()
    fake_clock.advance(60.0)
    breaker.reject_if_open()

    assert breaker.probes_in_flight == 0
    breaker.allow()
    with pytest.raises(CircuitOpenError):
        breaker.reject_if_open()


# One step of a random history: admit a call, end the n-th open admission (modulo how many are
# open) with a verdict or by an exception, or let time pass.
steps = st.one_of(
    st.just(("admit",)),
    st.tuples(
        st.just("end"),
        st.integers(0, 10),
        st.sampled_from(["success", "failure", "neutral", "cancelled", "crashed", "interrupted"]),
    ),
    st.tuples(st.just("wait"), st.floats(0.0, 100.0)),
)

ENDINGS = {
    "cancelled": asyncio.CancelledError,
    "crashed": RuntimeError,
    "interrupted": KeyboardInterrupt,
}


@settings(max_examples=300, deadline=None)
@given(
    history=st.lists(steps, max_size=60),
    probes=st.integers(1, 3),
    threshold=st.integers(1, 4),
)
def test_probe_slots_hold_their_invariants_over_any_history(history, probes, threshold):
    clock = FakeClock()
    breaker = make_breaker(clock, half_open_probes=probes, failure_threshold=threshold, jitter=0.1)
    admitted: list[Admission] = []

    def end(index: int, how: str) -> None:
        admission = admitted.pop(index % len(admitted))
        if how in ENDINGS:
            # What a with-block does when the exception leaves it; it must not swallow it.
            error = ENDINGS[how]()
            assert not admission.__exit__(type(error), error, None)
        else:
            getattr(admission, how)()
            admission.__exit__(None, None, None)

    for step in history:
        if step[0] == "admit":
            with contextlib.suppress(CircuitOpenError):
                admitted.append(breaker.admit().__enter__())
        elif step[0] == "end" and admitted:
            end(step[1], step[2])
        elif step[0] == "wait":
            clock.advance(step[1])
        assert 0 <= breaker.probes_in_flight <= probes
        if breaker.state is not BreakerState.HALF_OPEN:
            assert breaker.probes_in_flight == 0

    while admitted:
        end(0, "cancelled")
    assert breaker.probes_in_flight == 0

    # A healthy server: once the (jittered) recovery timeout has passed, one probe closes it.
    clock.advance(breaker.recovery_timeout * (1 + breaker.jitter))
    with breaker.admit() as admission:
        admission.success()
    assert breaker.state is BreakerState.CLOSED
