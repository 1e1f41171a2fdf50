"""Predictions in this process, from a ``.mar`` or a Hugging Face model directory, through the
handler's plain prediction module (``handlers.prediction.IntentPredictor``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from serving_client.errors import (
    InvalidInputError,
    ModelNotFoundError,
    TorchServeError,
    TorchServeInferenceError,
    TorchServeTimeoutError,
)
from serving_client.results import HealthStatus, IntentPrediction, ModelInfo

logger = logging.getLogger(__name__)


class Predictor(Protocol):
    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]: ...


def load_predictor(path: Path) -> Predictor:
    """An ``IntentPredictor`` from a ``.mar`` file or a Hugging Face model directory."""
    from handlers.prediction import IntentPredictor  # torch and transformers load only here

    path = Path(path)
    if not path.exists():
        raise ModelNotFoundError(
            f"local model {path} does not exist; set LOCAL_MODEL_PATH to a .mar file or a "
            "Hugging Face model directory"
        )
    if path.is_file() and path.suffix == ".mar":
        return IntentPredictor.from_archive(path)
    if path.is_dir():
        return IntentPredictor.from_pretrained(path)
    raise ModelNotFoundError(f"local model {path} is neither a .mar file nor a model directory")


class LocalBackend:
    """Runs the model in a worker thread so the event loop stays free; one batch at a time."""

    def __init__(self, path: Path, *, model_name: str, predictor: Predictor | None = None) -> None:
        self._path = Path(path)
        self._model_name = model_name
        self._predictor = predictor
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Load the model (once)."""
        async with self._lock:
            if self._predictor is not None:
                return
            try:
                self._predictor = await asyncio.to_thread(load_predictor, self._path)
            except TorchServeError:
                raise
            except Exception as exc:
                logger.exception("loading the local model %s failed", self._path)
                raise TorchServeInferenceError(
                    f"could not load the local model {self._path}: {type(exc).__name__}"
                ) from exc

    async def predict(
        self, text: str, *, started: float, deadline: float, truncated: bool = False
    ) -> IntentPrediction:
        """One prediction, its latency counted from ``started`` (event-loop time)."""
        (result,) = await self.predict_many([text], deadline=deadline)
        if isinstance(result, TorchServeError):
            raise result
        latency_ms = (asyncio.get_running_loop().time() - started) * 1000.0
        return replace(result, latency_ms=latency_ms, truncated=result.truncated or truncated)

    async def predict_many(
        self, texts: Sequence[str], *, deadline: float
    ) -> list[IntentPrediction | TorchServeError]:
        """One prediction per text, in order, as one batch through the model."""
        await self.start()
        assert self._predictor is not None
        try:
            async with self._lock, asyncio.timeout_at(deadline):
                outputs = await asyncio.to_thread(self._predictor.predict, list(texts))
        except TimeoutError:
            return _errors(
                len(texts), TorchServeTimeoutError, "the local model did not answer in time"
            )
        except ValueError as exc:
            return _errors(
                len(texts), InvalidInputError, f"the local model rejected the input: {exc}"
            )
        except Exception:
            logger.exception("local prediction failed")
            return _errors(len(texts), TorchServeInferenceError, "the local model failed")
        try:
            predictions = [
                IntentPrediction.from_server(output, latency_ms=0.0, attempts=1)
                for output in outputs
            ]
        except (ValueError, TypeError, LookupError):
            logger.exception("the local model returned something that is not a prediction")
            predictions = []
        if len(predictions) != len(texts):
            return _errors(
                len(texts), TorchServeInferenceError, "the local model returned no valid prediction"
            )
        return list(predictions)

    async def ping(self) -> HealthStatus:
        started = time.perf_counter()
        try:
            await self.start()
        except TorchServeError as error:
            return HealthStatus(
                healthy=False,
                status="Unhealthy",
                detail=error.message,
                checked_at=time.time(),
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        return HealthStatus(
            healthy=True,
            status="Healthy",
            detail=f"local model {self._path}",
            checked_at=time.time(),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    async def describe(self) -> ModelInfo:
        await self.start()
        version = getattr(self._predictor, "model_version", None) or "unknown"
        return ModelInfo(model_name=self._model_name, model_version=str(version))

    async def aclose(self) -> None:
        self._predictor = None


def _errors(
    count: int, error_cls: type[TorchServeError], message: str
) -> list[IntentPrediction | TorchServeError]:
    errors: list[IntentPrediction | TorchServeError] = []
    for _ in range(count):
        error = error_cls(message)
        error.attempts = 1
        errors.append(error)
    return errors
