"""``TorchServeClient``: classify prompts through TorchServe (or in-process, in local mode)."""

from __future__ import annotations

import asyncio
import logging
import math
import numbers
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any, Self, cast

from prometheus_client import CollectorRegistry

from serving_client.breaker import CircuitBreaker
from serving_client.errors import ConfigurationError, InvalidInputError, TorchServeError
from serving_client.health import HealthMonitor
from serving_client.local import LocalBackend, Predictor
from serving_client.metrics import ClientMetrics
from serving_client.redaction import describe_error
from serving_client.remote import RemoteBackend
from serving_client.results import HealthStatus, IntentPrediction, ModelInfo
from serving_client.settings import ClientSettings
from serving_client.transports import Wire
from serving_client.validation import check_text

logger = logging.getLogger(__name__)

BatchResult = IntentPrediction | TorchServeError


class TorchServeClient:
    """An async client for the intent classifier.

    ```python
    async with TorchServeClient(port=8080, token_file="key_file.json") as client:
        prediction = await client.classify("Write a haiku about rain")
        prediction.intent  # "creative_writing"
    ```

    Keyword options are ``ClientSettings`` fields (``host``, ``port``, ``management_port``,
    ``model_name``, ``timeout``, ``max_retries``, ``failure_threshold``, ``recovery_timeout``,
    ``token``, ``token_file``, …) applied over ``settings``. ``registry`` receives the Prometheus
    metrics; ``clock``, ``sleep`` and ``rng`` drive the breaker, the health cache and the backoff
    (tests pass fakes). ``wire`` replaces the transport the settings name;
    ``predictor`` stands in for the local model in local mode.

    Every error a call raises is a ``TorchServeError`` (see ``serving_client.errors``); settings
    that do not validate raise ``ConfigurationError``, which is also a ``ValueError``.
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        wire: Wire | None = None,
        predictor: Predictor | None = None,
        **options: Any,
    ) -> None:
        try:
            self.settings = (
                ClientSettings.build(options) if settings is None else settings.replace(**options)
            )
        except ValueError as exc:  # the message names the setting and its variable
            raise ConfigurationError(str(exc)) from None
        self._metrics = ClientMetrics.of(registry)
        self._backend: RemoteBackend | LocalBackend
        if self.settings.use_torchserve:
            self._backend = RemoteBackend(
                self.settings,
                metrics=self._metrics,
                clock=clock,
                sleep=sleep,
                rng=rng,
                wire=wire,
            )
        else:
            assert self.settings.local_model_path is not None  # checked by ClientSettings
            self._backend = LocalBackend(
                self.settings.local_model_path,
                model_name=self.settings.model_name,
                predictor=predictor,
            )
        self._health = HealthMonitor(
            self._backend.ping,
            interval=self.settings.health_check_interval,
            clock=clock,
            on_result=self._metrics.set_connected,
        )
        if isinstance(self._backend, RemoteBackend):
            self._backend.on_reachable = self._health.observe

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        registry: CollectorRegistry | None = None,
        **options: Any,
    ) -> Self:
        """A client configured from the environment (see ``serving_client.settings``)."""
        try:
            settings = ClientSettings.from_env(environ, **options)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        return cls(settings, registry=registry)

    @property
    def breaker(self) -> CircuitBreaker | None:
        """The model endpoint's circuit breaker; None in local mode."""
        return self._backend.breaker if isinstance(self._backend, RemoteBackend) else None

    async def __aenter__(self) -> Self:
        if isinstance(self._backend, LocalBackend):
            await self._backend.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._backend.aclose()

    async def classify(self, text: str, *, timeout: float | None = None) -> IntentPrediction:
        """Classify one text within ``timeout`` seconds (default: the settings' ``timeout``).

        Raises ``InvalidInputError`` for a non-string or blank text (or an over-long one when the
        policy is "reject"), and another ``TorchServeError`` when the call fails.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            clean, clipped = self._check(text)
            prediction = await self._backend.predict(
                clean, started=started, deadline=started + self._timeout(timeout), truncated=clipped
            )
        except TorchServeError as error:
            self._metrics.observe_call(error.status_label, loop.time() - started)
            raise
        except Exception as exc:
            error = _unexpected(exc, "classify")
            self._metrics.observe_call(error.status_label, loop.time() - started)
            raise error from exc
        self._metrics.observe_call("success", prediction.latency_ms / 1000.0)
        return prediction

    async def classify_batch(
        self, texts: Iterable[str], *, timeout: float | None = None
    ) -> list[BatchResult]:
        """One entry per input, in input order: an ``IntentPrediction`` or the
        ``TorchServeError`` that stopped it. Never raises for a single input's failure.

        Texts go as concurrent single requests (TorchServe batches them on the server), in
        chunks of ``batch_chunk_size``, with at most ``max_connections`` in flight; ``timeout``
        applies to each text.
        """
        if isinstance(texts, str | bytes) or not isinstance(texts, Iterable):
            raise InvalidInputError(
                "classify_batch takes a list of texts; call classify() for a single text"
            )
        items = list(texts)  # an exception of the caller's own iterable is theirs, as it is
        timeout = self._timeout(timeout)
        size = self.settings.batch_chunk_size
        results: list[BatchResult] = []
        try:
            for start in range(0, len(items), size):
                results.extend(await self._classify_chunk(items[start : start + size], timeout))
        except TorchServeError:  # local mode: the model could not be loaded
            raise
        except Exception as exc:
            raise _unexpected(exc, "classify_batch") from exc
        return results

    async def health(self) -> HealthStatus:
        """The server's health, from a ``/ping`` at most ``health_check_interval`` seconds old."""
        try:
            return await self._health.status()
        except TorchServeError:
            raise
        except Exception as exc:
            raise _unexpected(exc, "health") from exc

    async def model_info(self) -> ModelInfo:
        """The model's workers, batching and queue, from TorchServe's management API."""
        try:
            return await self._backend.describe()
        except TorchServeError:
            raise
        except Exception as exc:
            raise _unexpected(exc, "model_info") from exc

    async def _classify_chunk(self, texts: Sequence[Any], timeout: float) -> list[BatchResult]:
        if isinstance(self._backend, LocalBackend):
            return await self._classify_local_chunk(self._backend, texts, timeout)
        # The client's connection slots keep at most max_connections of these in flight.
        return list(await asyncio.gather(*(self._classify_or_error(t, timeout) for t in texts)))

    async def _classify_or_error(self, text: Any, timeout: float) -> BatchResult:
        try:
            return await self.classify(text, timeout=timeout)
        except TorchServeError as error:  # all classify() raises, short of cancellation
            return error

    async def _classify_local_chunk(
        self, backend: LocalBackend, texts: Sequence[Any], timeout: float
    ) -> list[BatchResult]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        results: list[BatchResult | None] = [None] * len(texts)
        to_predict: list[tuple[int, str, bool]] = []
        for index, text in enumerate(texts):
            try:
                clean, clipped = self._check(text)
            except InvalidInputError as error:
                results[index] = error
                self._metrics.observe_call(error.status_label, 0.0)
            else:
                to_predict.append((index, clean, clipped))
        if to_predict:
            outputs = await backend.predict_many(
                [clean for _, clean, _ in to_predict], deadline=started + timeout
            )
            elapsed = loop.time() - started
            for (index, _, clipped), output in zip(to_predict, outputs, strict=True):
                if isinstance(output, TorchServeError):
                    self._metrics.observe_call(output.status_label, elapsed)
                    results[index] = output
                    continue
                self._metrics.observe_call("success", elapsed)
                results[index] = replace(
                    output, latency_ms=elapsed * 1000.0, truncated=output.truncated or clipped
                )
        # Every slot was filled above: with an input error, a prediction or a model error.
        return cast(list[BatchResult], results)

    def _check(self, text: Any) -> tuple[str, bool]:
        return check_text(
            text, max_chars=self.settings.max_text_chars, overlong=self.settings.overlong_text
        )

    def _timeout(self, timeout: float | None) -> float:
        if timeout is None:
            return self.settings.timeout
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, numbers.Real)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise ConfigurationError(
                f"timeout must be a positive, finite number of seconds, got {timeout!r}"
            )
        return float(timeout)


def _unexpected(exc: Exception, call: str) -> TorchServeError:
    """A bug (no rule covers ``exc``) as the one error type callers handle; logged here with
    its traceback."""
    logger.error("%s() failed in the client: %s", call, describe_error(exc), exc_info=exc)
    return TorchServeError(
        f"the client failed in {call}() ({type(exc).__name__}); see the client's log"
    )
