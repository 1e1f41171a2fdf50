"""A circuit breaker for one model endpoint.

Closed: calls pass; ``failure_threshold`` failures in a row open it. Open: calls are rejected at
once with ``CircuitOpenError`` until the recovery timeout (stretched by a random fraction of up to
``jitter``) has passed. Half-open: up to ``half_open_probes`` calls go through as probes while the
rest are rejected; a probe's success closes the breaker, its failure opens it again.

Only faults of the server count: it could not be reached, broke the connection, did not answer
in the time it had, or said it was out of capacity (``serving_client.responses`` says which
answers those are). Outcomes that say nothing about the server's health are reported with
``record_neutral``: bad input, bad token, unknown model, the model failing on one request's
input, the client's own queue for connections. One breaker serves every call of a client, so
letting a single request's failure count would let one poison input pause everyone.

A half-open probe holds one of the ``half_open_probes`` slots until its outcome is recorded.
``admit()`` wraps the ticket in an ``Admission`` whose ``with`` block records a neutral outcome
on any exit without a verdict (cancellation, an unexpected exception, ``KeyboardInterrupt``), so
a slot cannot be lost and the breaker cannot stay half-open with no probe in flight. Recording a
ticket twice, or a ticket of an earlier half-open period, frees nothing.

Every method is synchronous and does not await, so state changes are atomic with respect to the
coroutines of one event loop.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Callable
from enum import IntEnum
from types import TracebackType

from serving_client.errors import CircuitOpenError

logger = logging.getLogger(__name__)


class BreakerState(IntEnum):
    """The breaker's states; the values are what the ``torchserve_circuit_breaker_state`` gauge
    reports."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitBreaker:
    """Guards calls to one endpoint. ``allow()`` before a call, then one ``record_*`` after it;
    or ``with breaker.admit() as admission:`` and one of its methods.

    >>> import time
    >>> breaker = CircuitBreaker(
    ...     "m", failure_threshold=1, recovery_timeout=30, half_open_probes=1, clock=time.monotonic
    ... )
    >>> ticket = breaker.allow()
    >>> breaker.record_failure(ticket)
    >>> breaker.state
    <BreakerState.OPEN: 1>
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        recovery_timeout: float,
        half_open_probes: int,
        jitter: float = 0.0,
        clock: Callable[[], float],
        rng: Callable[[], float] = random.random,
        on_state_change: Callable[[str, BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1 or half_open_probes < 1 or recovery_timeout <= 0:
            raise ValueError(
                "failure_threshold and half_open_probes must be >= 1 and recovery_timeout > 0"
            )
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.half_open_probes = half_open_probes
        self.jitter = jitter
        self._clock = clock
        self._rng = rng
        self._on_state_change = on_state_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._reopen_at = 0.0
        # The tickets of the probes in flight. Tickets are never reused and the set is emptied
        # on every change of state, so a late or repeated record cannot free a slot it does not
        # hold.
        self._probes: set[int] = set()
        self._tickets = itertools.count(1)

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose timeout has passed reads as half-open."""
        if self._state is BreakerState.OPEN and self._clock() >= self._reopen_at:
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    @property
    def probes_in_flight(self) -> int:
        """Half-open probes admitted whose outcome is not recorded yet."""
        return len(self._probes)

    def reject_if_open(self) -> None:
        """Raise ``CircuitOpenError`` when ``allow()`` would, without taking a ticket: lets a
        call fail fast before it queues for a connection."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and len(self._probes) < self.half_open_probes:
            return
        wait = max(self._reopen_at - self._clock(), 0.0)
        raise CircuitOpenError(
            f"TorchServe endpoint {self.name!r} is failing; calls are paused for {wait:.1f} s "
            "after repeated server errors",
            retry_after=wait,
        )

    def allow(self) -> int:
        """Admit a call or raise ``CircuitOpenError``. Returns the call's ticket, to pass to the
        ``record_*`` method: 0 for an ordinary call, non-zero for a half-open probe."""
        self.reject_if_open()
        if self._state is BreakerState.CLOSED:
            return 0
        ticket = next(self._tickets)
        self._probes.add(ticket)
        return ticket

    def admit(self) -> Admission:
        """``allow()`` wrapped for a ``with`` block that always returns a probe's slot."""
        return Admission(self, self.allow())

    def record_success(self, ticket: int = 0) -> None:
        """A call reached the server and it answered; closes a half-open breaker."""
        self._release(ticket)
        if self._state is BreakerState.HALF_OPEN:
            self._transition(BreakerState.CLOSED)
        if self._state is BreakerState.CLOSED:
            self._failures = 0

    def record_failure(self, ticket: int = 0) -> None:
        """A server or transport failure; opens the breaker at the threshold or from half-open."""
        self._release(ticket)
        if self._state is BreakerState.HALF_OPEN:
            self._open()
        elif self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open()

    def record_neutral(self, ticket: int = 0) -> None:
        """An outcome that says nothing about the server's health; frees a probe slot."""
        self._release(ticket)

    def _release(self, ticket: int) -> None:
        self._probes.discard(ticket)

    def _open(self) -> None:
        stretch = 1.0 + self.jitter * self._rng()
        self._reopen_at = self._clock() + self.recovery_timeout * stretch
        self._transition(BreakerState.OPEN)

    def _transition(self, state: BreakerState) -> None:
        if state is self._state:
            return
        previous, self._state = self._state, state
        if state is BreakerState.CLOSED:
            self._failures = 0
        self._probes.clear()
        log = logger.warning if state is BreakerState.OPEN else logger.info
        log("circuit breaker %s: %s -> %s", self.name, previous.name, state.name)
        if self._on_state_change is not None:
            self._on_state_change(self.name, state)


class Admission:
    """One admitted call: record its outcome with ``success()``, ``failure()`` or ``neutral()``.

    Only the first verdict counts. Leaving the ``with`` block without one records a neutral
    outcome, whatever ended it.
    """

    __slots__ = ("_breaker", "_recorded", "ticket")

    def __init__(self, breaker: CircuitBreaker, ticket: int) -> None:
        self._breaker = breaker
        self.ticket = ticket
        self._recorded = False

    def success(self) -> None:
        if not self._recorded:
            self._recorded = True
            self._breaker.record_success(self.ticket)

    def failure(self) -> None:
        if not self._recorded:
            self._recorded = True
            self._breaker.record_failure(self.ticket)

    def neutral(self) -> None:
        if not self._recorded:
            self._recorded = True
            self._breaker.record_neutral(self.ticket)

    def __enter__(self) -> Admission:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.neutral()
