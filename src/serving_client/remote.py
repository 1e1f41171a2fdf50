"""Calls to a TorchServe server: retries, deadline, circuit breaker, token."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx

from serving_client.breaker import BreakerState, CircuitBreaker
from serving_client.errors import AuthenticationError, TorchServeError
from serving_client.metrics import ClientMetrics
from serving_client.responses import (
    Failure,
    failure_from_exception,
    failure_from_response,
    parse_prediction,
)
from serving_client.results import HealthStatus, IntentPrediction, ModelInfo
from serving_client.retry import RetryPolicy
from serving_client.settings import ClientSettings, read_key_file
from serving_client.transports import Wire, WireResponse, build_wire

logger = logging.getLogger(__name__)

# What a request can fail with short of an answer: each transport's network errors, a deadline.
NETWORK_ERRORS = (aiohttp.ClientError, httpx.TransportError, TimeoutError)


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
        self._inference_key = settings.inference_key()
        self._headers = _headers(self._inference_key, json_body=True)
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
            try:
                ticket = self.breaker.allow()
            except TorchServeError as error:
                # Opened by this call's own failed attempts: the last failure is the cause.
                error.attempts = attempts - 1
                raise error from last_error
            headers = self._headers
            if retries:
                headers = [*headers, ("X-Retry-Count", str(retries))]
            outcome = await self._attempt(body, headers, deadline)
            if not isinstance(outcome, Failure):
                try:
                    prediction = parse_prediction(
                        outcome,
                        attempts=attempts,
                        latency_ms=(loop.time() - started) * 1000.0,
                        truncated=truncated,
                    )
                except TorchServeError as error:
                    outcome = Failure(error, None, server_fault=True, detail=repr(error.__cause__))
                else:
                    self.breaker.record_success(ticket)
                    self._report_reachable(True)
                    return prediction
            failure = outcome
            last_error = failure.error
            if failure.server_fault:
                self.breaker.record_failure(ticket)
            else:
                self.breaker.record_neutral(ticket)
            self._report_reachable(failure.retry_reason not in ("connect", "network", "timeout"))
            failure.error.attempts = attempts
            log = logger.warning if failure.server_fault else logger.info
            log("POST %s attempt %d failed: %s", self._url, attempts, failure.detail)
            if isinstance(failure.error, AuthenticationError) and not key_refreshed:
                key_refreshed = True
                if self._refresh_key():
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
        self, body: bytes, headers: list[tuple[str, str]], deadline: float
    ) -> bytes | Failure:
        """One request: the 200 answer's body, or what went wrong."""
        attempt_timeout = self._settings.attempt_timeout
        if attempt_timeout is not None:
            deadline = min(deadline, asyncio.get_running_loop().time() + attempt_timeout)
        try:
            async with asyncio.timeout_at(deadline), self._slots:
                response = await self._wire.request("POST", self._url, headers=headers, body=body)
        except NETWORK_ERRORS as exc:
            return failure_from_exception(exc, where=self._where)
        if response.status != 200:
            return failure_from_response(response, model=self._model, where=self._where)
        return response.content

    async def ping(self) -> HealthStatus:
        """TorchServe's ``/ping``, within the health-check timeout; never raises for the server's
        or the network's faults (they come back as an unhealthy status)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        headers = _headers(self._inference_key, json_body=False)
        status, detail = "Unreachable", ""
        try:
            async with asyncio.timeout(self._settings.health_check_timeout):
                response = await self._wire.request(
                    "GET", self._settings.inference_url + "/ping", headers=headers
                )
        except NETWORK_ERRORS as exc:
            detail = failure_from_exception(exc, where=self._where).error.message
            logger.warning("GET /ping on %s failed: %r", self._where, exc)
        else:
            if response.status == 400:
                failure = failure_from_response(response, model=self._model, where=self._where)
                status, detail = "Unauthorized", failure.error.message
            else:
                status = _ping_status(response)
        return HealthStatus(
            healthy=status == "Healthy",
            status=status,
            detail=detail,
            checked_at=time.time(),
            latency_ms=(loop.time() - started) * 1000,
        )

    async def describe(self) -> ModelInfo:
        """The model's entry in the management API (``GET /models/{name}[/{version}]``)."""
        url = f"{self._settings.management_url}/models/{self._model}"
        where = f"{self._settings.host}:{self._settings.management_port}"
        headers = _headers(self._settings.management_key(), json_body=False)
        try:
            async with asyncio.timeout(self._settings.timeout):
                response = await self._wire.request("GET", url, headers=headers)
        except NETWORK_ERRORS as exc:
            logger.warning("GET %s failed: %r", url, exc)
            raise failure_from_exception(exc, where=where).error from None
        if response.status != 200:
            failure = failure_from_response(response, model=self._model, where=where)
            logger.info("GET %s failed: %s", url, failure.detail)
            raise failure.error
        try:
            return ModelInfo.from_description(json.loads(response.content)[0])
        except (ValueError, TypeError, LookupError) as exc:
            raise TorchServeError(
                f"TorchServe's management API at {where} answered an unexpected model description"
            ) from exc

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

    def _refresh_key(self) -> bool:
        """Re-read the key file after a refused token; True when the key changed."""
        if self._settings.token is not None or self._settings.token_file is None:
            return False
        try:
            key = read_key_file(self._settings.token_file, "inference")
        except ValueError as exc:
            logger.warning("cannot re-read the TorchServe key file: %s", exc)
            return False
        if key == self._inference_key:
            return False
        logger.info("TorchServe inference key changed in %s; retrying", self._settings.token_file)
        self._inference_key = key
        self._headers = _headers(key, json_body=True)
        return True


def _headers(key: str | None, *, json_body: bool) -> list[tuple[str, str]]:
    headers = [("Content-Type", "application/json")] if json_body else []
    if key:
        headers.append(("Authorization", f"Bearer {key}"))
    return headers


def _ping_status(response: WireResponse) -> str:
    try:
        status = json.loads(response.content).get("status")
    except (ValueError, AttributeError):
        status = None
    if isinstance(status, str) and status:
        return status
    return "Healthy" if response.status == 200 else "Unhealthy"
