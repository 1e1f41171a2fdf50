"""A blocking wrapper around ``TorchServeClient`` for code without an event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self

from prometheus_client import CollectorRegistry

from serving_client.client import BatchResult, TorchServeClient
from serving_client.results import HealthStatus, IntentPrediction, ModelInfo
from serving_client.settings import ClientSettings


class SyncTorchServeClient:
    """The same calls as ``TorchServeClient``, blocking, on a private event loop.

    ```python
    with SyncTorchServeClient.from_env() as client:
        client.classify("Translate 'good morning' into French").intent  # "translation"
    ```

    Use it from one thread, outside any running event loop.
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        registry: CollectorRegistry | None = None,
        **options: Any,
    ) -> None:
        self._runner = asyncio.Runner()
        self._client = TorchServeClient(settings, registry=registry, **options)
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
        return cls(ClientSettings.from_env(environ, **options), registry=registry)

    @property
    def settings(self) -> ClientSettings:
        return self._client.settings

    def classify(self, text: str, *, timeout: float | None = None) -> IntentPrediction:
        return self._runner.run(self._client.classify(text, timeout=timeout))

    def classify_batch(
        self, texts: Iterable[str], *, timeout: float | None = None
    ) -> list[BatchResult]:
        return self._runner.run(self._client.classify_batch(texts, timeout=timeout))

    def health(self) -> HealthStatus:
        return self._runner.run(self._client.health())

    def model_info(self) -> ModelInfo:
        return self._runner.run(self._client.model_info())

    def close(self) -> None:
        try:
            self._runner.run(self._client.aclose())
        finally:
            self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
