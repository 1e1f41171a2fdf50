"""A cached view of the server's health.

A check's answer is reused for ``interval`` seconds, so a failure is never hidden for longer than
that. Requests report what they see: a request that reaches the server drops a cached "down"
answer, one that cannot reach it drops a cached "up" answer, so the next check asks the server.
Concurrent callers share one check in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from serving_client.results import HealthStatus


class HealthMonitor:
    """Calls ``check`` at most once per ``interval`` (by ``clock``) and caches its answer."""

    def __init__(
        self,
        check: Callable[[], Awaitable[HealthStatus]],
        *,
        interval: float,
        clock: Callable[[], float],
        on_result: Callable[[bool], None] | None = None,
    ) -> None:
        self._check = check
        self._interval = interval
        self._clock = clock
        self._on_result = on_result
        self._last: HealthStatus | None = None
        self._expires_at = 0.0
        self._in_flight: asyncio.Future[HealthStatus] | None = None

    async def status(self) -> HealthStatus:
        """The cached answer while fresh (``cached=True``), else a new check's."""
        if self._last is not None and self._clock() < self._expires_at:
            return self._last.model_copy(update={"cached": True})
        if self._in_flight is None:
            self._in_flight = asyncio.ensure_future(self._run())
        # shield: one caller's cancellation must not cancel the check the others wait on.
        return await asyncio.shield(self._in_flight)

    def observe(self, reachable: bool) -> None:
        """A request's outcome; drops a cached answer that it contradicts."""
        if self._last is not None and self._last.healthy != reachable:
            self._expires_at = 0.0

    async def _run(self) -> HealthStatus:
        try:
            result = await self._check()
        finally:
            self._in_flight = None
        self._last = result
        self._expires_at = self._clock() + self._interval
        if self._on_result is not None:
            self._on_result(result.healthy)
        return result
