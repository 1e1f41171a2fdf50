"""A blocking wrapper around ``TorchServeClient`` for code without an event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from prometheus_client import CollectorRegistry

from serving_client.client import BatchResult, TorchServeClient
from serving_client.errors import ConfigurationError
from serving_client.results import HealthStatus, IntentPrediction, ModelInfo
from serving_client.settings import ClientSettings

T = TypeVar("T")


class SyncTorchServeClient:
    """The same calls as ``TorchServeClient``, blocking, on a private event loop.

    ```python
    with SyncTorchServeClient.from_env() as client:
        client.classify("Translate 'good morning' into French").intent  # "translation"
    ```

    Use it from one thread, outside any running event loop; doing otherwise, or calling it after
    ``close()``, raises ``ConfigurationError``.
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        registry: CollectorRegistry | None = None,
        **options: Any,
    ) -> None:
        _refuse_inside_event_loop()
        self._client = TorchServeClient(settings, registry=registry, **options)
        self._runner = asyncio.Runner()
        self._closed = False
        try:
            self._runner.run(self._client.__aenter__())
        except BaseException:
            self._runner.close()
            raise

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        registry: CollectorRegistry | None = None,
        **options: Any,
    ) -> Self:
        try:
            settings = ClientSettings.from_env(environ, **options)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        return cls(settings, registry=registry)

    @property
    def settings(self) -> ClientSettings:
        return self._client.settings

    def classify(self, text: str, *, timeout: float | None = None) -> IntentPrediction:
        return self._run(self._client.classify(text, timeout=timeout))

    def classify_batch(
        self, texts: Iterable[str], *, timeout: float | None = None
    ) -> list[BatchResult]:
        return self._run(self._client.classify_batch(texts, timeout=timeout))

    def health(self) -> HealthStatus:
        return self._run(self._client.health())

    def model_info(self) -> ModelInfo:
        return self._run(self._client.model_info())

    def close(self) -> None:
        """Close the connections and the private loop; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self._runner.run(self._client.aclose())
        finally:
            self._runner.close()

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        # Checked first: asyncio's own refusals are RuntimeErrors, and leave ``call`` unawaited.
        try:
            if self._closed:
                raise ConfigurationError("this SyncTorchServeClient is closed; make a new one")
            _refuse_inside_event_loop()
        except ConfigurationError:
            call.close()
            raise
        return self._runner.run(call)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _refuse_inside_event_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise ConfigurationError(
        "SyncTorchServeClient cannot run inside a running event loop; use TorchServeClient and "
        "await its calls"
    )
