"""Calls to a TorchServe server: retries, deadline, circuit breaker, token.

One attempt runs in this order: wait for one of the client's own connection slots (bounded only
by the call's deadline; running out of it there is a ``PoolTimeoutError``, which is not the
server's fault), take the breaker's ticket, then start the attempt's clock and send. So a burst
larger than ``max_connections`` queues in the client without any of that wait being charged to
the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable

from serving_client.auth import Credentials, Headers
from serving_client.breaker import BreakerState, CircuitBreaker
from serving_client.errors import (
    AuthenticationError,
    CircuitOpenError,
    PoolTimeoutError,
    TorchServeError,
)
from serving_client.metrics import ClientMetrics
from serving_client.responses import (
    Failure,
    failure_from_exception,
    failure_from_parse,
    failure_from_response,
    failure_from_unexpected,
    parse_prediction,
)
from serving_client.results import HealthStatus, IntentPrediction, ModelInfo
from serving_client.retry import RetryPolicy
from serving_client.settings import ClientSettings
from serving_client.status import NETWORK_ERRORS, describe, ping
from serving_client.transports import Wire, build_wire

logger = logging.getLogger(__name__)

# A timeout counts against the server only when the attempt had at least this share of the time
# one attempt is configured to get (``attempt_timeout``, else ``timeout``). With less, the call's
# deadline had been spent elsewhere (the client's queue, a short per-call timeout) and the
# timeout says little about the server.
FAIR_SHARE = 0.5


class RemoteBackend:
    """Predictions from TorchServe's inference API, model details from its management API."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        metrics: ClientMetrics,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        rng: Callable[[], float] = random.random,
        wire: Wire | None = None,
    ) -> None:
        self._settings = settings
        self._credentials = Credentials(settings)
        self._metrics = metrics
        self._sleep = sleep
        self._rng = rng
        self._wire = wire if wire is not None else build_wire(settings)
        # Callers beyond the pool wait here, first come first served: aiohttp's own pool hands
        # a freed connection to whichever request asks next, which starves some for seconds.
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._where = f"{settings.host}:{settings.port}"
        self._model = settings.model_name + (
            f"/{settings.model_version}" if settings.model_version else ""
        )
        self._url = settings.predictions_url
        self._attempt_budget = settings.attempt_timeout or settings.timeout
        self._policy = RetryPolicy(
            max_retries=settings.max_retries,
            backoff_base=settings.backoff_base,
            backoff_max=settings.backoff_max,
            retry_after_cap=settings.retry_after_cap,
        )
        self.breaker = CircuitBreaker(
            f"{self._where}/{self._model}",
            failure_threshold=settings.failure_threshold,
            recovery_timeout=settings.recovery_timeout,
            half_open_probes=settings.half_open_probes,
            jitter=settings.recovery_jitter,
            clock=clock,
            rng=rng,
            on_state_change=metrics.set_breaker_state,
        )
        metrics.set_breaker_state(self.breaker.name, BreakerState.CLOSED)
        self.on_reachable: Callable[[bool], None] | None = None
        self._reachable: bool | None = None

    async def predict(
        self, text: str, *, started: float, deadline: float, truncated: bool = False
    ) -> IntentPrediction:
        """Classify one text before ``deadline`` (event-loop time), retrying transient failures.

        The prediction's latency counts from ``started``; ``truncated`` marks a text the caller
        shortened. Raises a ``TorchServeError`` whose ``attempts`` says how many requests were
        made.
        """
        loop = asyncio.get_running_loop()
        body = json.dumps({"text": text}).encode()
        retries = 0
        key_refreshed = False
        last_error: TorchServeError | None = None
        while True:
            attempts = retries + 1 + key_refreshed
            headers = self._credentials.inference_headers
            if retries:
                headers = [*headers, ("X-Retry-Count", str(retries))]
            try:
                outcome = await self._attempt(
                    body, headers, deadline, started=started, attempts=attempts, truncated=truncated
                )
            except (CircuitOpenError, PoolTimeoutError) as error:
                # No request was made. An open breaker was opened by this call's own failed
                # attempts or others'; either way the last failure is the cause.
                error.attempts = attempts - 1
                raise error from last_error
            if isinstance(outcome, IntentPrediction):
                self._report_reachable(True)
                return outcome
            failure = outcome
            last_error = failure.error
            self._report_reachable(failure.retry_reason not in ("connect", "network", "timeout"))
            failure.error.attempts = attempts
            logger.log(
                failure.log_level,
                "POST %s attempt %d failed: %s",
                self._url,
                attempts,
                failure.detail,
                exc_info=failure.unexpected,
            )
            if isinstance(failure.error, AuthenticationError) and not key_refreshed:
                key_refreshed = True
                if self._credentials.refresh():
                    continue
            if failure.retry_reason is None or retries >= self._policy.max_retries:
                raise failure.error
            delay = self._policy.delay(retries, retry_after=failure.retry_after, rng=self._rng)
            if loop.time() + delay >= deadline:
                raise failure.error
            self._metrics.observe_retry(failure.retry_reason)
            await self._sleep(delay)
            retries += 1

    async def _attempt(
        self,
        body: bytes,
        headers: Headers,
        deadline: float,
        *,
        started: float,
        attempts: int,
        truncated: bool,
    ) -> IntentPrediction | Failure:
        """One request: a connection slot, then the breaker's ticket, then the request.

        Raises ``CircuitOpenError`` or ``PoolTimeoutError`` when no request could be made. The
        ticket's outcome is recorded however the attempt ends (see ``CircuitBreaker.admit``).
        """
        # Fail fast rather than queue for a slot only to be turned away.
        self.breaker.reject_if_open()
        await self._take_slot(deadline)
        try:
            with self.breaker.admit() as admission:
                answer = await self._send(body, headers, deadline)
                if isinstance(answer, Failure):
                    outcome: IntentPrediction | Failure = answer
                else:
                    latency_ms = (asyncio.get_running_loop().time() - started) * 1000.0
                    try:
                        outcome = parse_prediction(
                            answer, attempts=attempts, latency_ms=latency_ms, truncated=truncated
                        )
                    except TorchServeError as error:
                        outcome = failure_from_parse(error)
                if isinstance(outcome, IntentPrediction):
                    admission.success()
                elif outcome.server_fault:
                    admission.failure()
                else:
                    admission.neutral()
                return outcome
        finally:
            self._slots.release()

    async def _take_slot(self, deadline: float) -> None:
        """One of the client's ``max_connections`` slots, or ``PoolTimeoutError`` if the call's
        deadline passes first."""
        try:
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        except TimeoutError:
            raise PoolTimeoutError(
                f"the call's deadline passed while it waited for one of the client's own "
                f"{self._settings.max_connections} connections to TorchServe at {self._where}; "
                "raise TORCHSERVE_MAX_CONNECTIONS or send fewer calls at once"
            ) from None

    async def _send(self, body: bytes, headers: Headers, deadline: float) -> bytes | Failure:
        """Send and read the answer within the attempt's time: the 200 body, or what failed."""
        loop = asyncio.get_running_loop()
        sent = loop.time()
        attempt_timeout = self._settings.attempt_timeout
        if attempt_timeout is not None:
            deadline = min(deadline, sent + attempt_timeout)
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._wire.request("POST", self._url, headers=headers, body=body)
        except NETWORK_ERRORS as exc:
            fair = deadline - sent >= FAIR_SHARE * self._attempt_budget
            return failure_from_exception(exc, where=self._where, server_had_time=fair)
        except Exception as exc:
            return failure_from_unexpected(exc, where=self._where)
        if response.status != 200:
            return failure_from_response(response, model=self._model, where=self._where)
        return response.content

    async def ping(self) -> HealthStatus:
        """TorchServe's ``/ping`` (see ``serving_client.status.ping``); never raises."""
        return await ping(self._wire, self._settings, self._credentials, model=self._model)

    async def describe(self) -> ModelInfo:
        """The model's workers and queue (see ``serving_client.status.describe``)."""
        return await describe(self._wire, self._settings, self._credentials, model=self._model)

    async def aclose(self) -> None:
        await self._wire.aclose()

    def _report_reachable(self, reachable: bool) -> None:
        # Reported on change only: the gauge and the health cache need nothing more.
        if reachable is self._reachable:
            return
        self._reachable = reachable
        self._metrics.set_connected(reachable)
        if self.on_reachable is not None:
            self.on_reachable(reachable)
