"""A circuit breaker for one model endpoint.

Closed: calls pass; ``failure_threshold`` failures in a row open it. Open: calls are rejected at
once with ``CircuitOpenError`` until the recovery timeout (stretched by a random fraction of up to
``jitter``) has passed. Half-open: up to ``half_open_probes`` calls go through as probes while the
rest are rejected; a probe's success closes the breaker, its failure opens it again.

Only server and transport failures count. Outcomes that say nothing about the server's health
(bad input, bad token, unknown model) are reported with ``record_neutral``.

Every method is synchronous and does not await, so state changes are atomic with respect to the
coroutines of one event loop.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from enum import IntEnum

from serving_client.errors import CircuitOpenError

logger = logging.getLogger(__name__)


class BreakerState(IntEnum):
    """The breaker's states; the values are what the ``torchserve_circuit_breaker_state`` gauge
    reports."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitBreaker:
    """Guards calls to one endpoint. ``allow()`` before a call, then one ``record_*`` after it.

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
        self._probes_in_flight = 0
        # Half-open periods are numbered so that a late probe of an earlier period cannot free a
        # slot of the current one.
        self._half_open_period = 0

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose timeout has passed reads as half-open."""
        if self._state is BreakerState.OPEN and self._clock() >= self._reopen_at:
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> int:
        """Admit a call or raise ``CircuitOpenError``. Returns the call's ticket, to pass to the
        ``record_*`` method: 0 for an ordinary call, non-zero for a half-open probe."""
        state = self.state
        if state is BreakerState.CLOSED:
            return 0
        if state is BreakerState.HALF_OPEN and self._probes_in_flight < self.half_open_probes:
            self._probes_in_flight += 1
            return self._half_open_period
        wait = max(self._reopen_at - self._clock(), 0.0)
        raise CircuitOpenError(
            f"TorchServe endpoint {self.name!r} is failing; calls are paused for {wait:.1f} s "
            "after repeated server errors",
            retry_after=wait,
        )

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
        if ticket and ticket == self._half_open_period and self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight -= 1

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
        self._probes_in_flight = 0
        if state is BreakerState.HALF_OPEN:
            self._half_open_period += 1
        log = logger.warning if state is BreakerState.OPEN else logger.info
        log("circuit breaker %s: %s -> %s", self.name, previous.name, state.name)
        if self._on_state_change is not None:
            self._on_state_change(self.name, state)
