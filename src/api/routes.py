"""The endpoints: ``/v1`` (classify, batch, enhance; key and rate limit), health and metrics
(open)."""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slowapi import Limiter

from api.auth import ApiKeys, bearer_scheme
from api.errors import from_client_error
from api.middleware import note
from api.schemas import (
    BatchRequest,
    BatchResponse,
    ClassifyRequest,
    EnhanceRequest,
    EnhanceResponse,
    ErrorBody,
    ErrorDetail,
    ItemError,
    Prediction,
)
from serving_client import (
    CircuitOpenError,
    IntentPrediction,
    InvalidInputError,
    TorchServeClient,
    TorchServeError,
)

logger = logging.getLogger(__name__)

# Documented in OpenAPI for every /v1 endpoint.
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        401: "missing or invalid API key",
        413: "request body over 64 KiB",
        422: "malformed JSON, wrong schema or a text that cannot be classified",
        429: "rate limit exceeded (Retry-After)",
        502: "the model failed on this input",
        503: "TorchServe unreachable, busy or paused by the circuit breaker (Retry-After)",
    }.items()
}


def v1_router(keys: ApiKeys, limiter: Limiter, rate_limit: str, log_prompts: bool) -> APIRouter:
    """The ``/v1`` endpoints of one app: its keys, its limiter, its limit."""

    # async: FastAPI runs a plain `def` dependency in a worker thread, costly on every request.
    async def authenticate(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> None:
        keys.require(request, credentials)

    router = APIRouter(prefix="/v1", dependencies=[Depends(authenticate)], responses=_ERRORS)
    # One budget per key for all /v1 endpoints (a shared scope), not one per endpoint.
    limited = limiter.shared_limit(rate_limit, scope="v1")

    def remember(request: Request, prediction: IntentPrediction, text: str) -> None:
        request.app.state.metrics.count_prediction(prediction.intent)
        note(request.state, intent=prediction.intent, confidence=round(prediction.confidence, 4))
        if log_prompts:
            note(request.state, text=text)

    @router.post("/classify", response_model=Prediction, summary="Classify one prompt")
    @limited
    async def classify(request: Request, body: ClassifyRequest) -> Prediction:
        prediction = await client_of(request).classify(body.text)
        remember(request, prediction, body.text)
        return Prediction.of(prediction)

    @router.post("/classify/batch", response_model=BatchResponse, summary="Classify prompts")
    @limited
    async def classify_batch(request: Request, body: BatchRequest) -> BatchResponse:
        outcomes = await client_of(request).classify_batch(body.texts)
        failures = [o for o in outcomes if isinstance(o, TorchServeError)]
        upstream = [f for f in failures if not isinstance(f, InvalidInputError)]
        if upstream and len(failures) == len(outcomes):
            # Nothing was answered and not for the texts' sake: the batch fails as one request.
            raise upstream[0]
        results: list[Prediction | ItemError] = []
        for outcome in outcomes:
            if isinstance(outcome, TorchServeError):
                error = from_client_error(outcome, log=False)
                results.append(ItemError(error=ErrorDetail(type=error.kind, message=error.message)))
            else:
                request.app.state.metrics.count_prediction(outcome.intent)
                results.append(Prediction.of(outcome))
        note(request.state, texts=len(outcomes), failed=len(failures))
        if upstream:
            logger.warning(
                "%d of %d batch texts failed in TorchServe, first: %s: %s",
                len(upstream), len(outcomes), type(upstream[0]).__name__, upstream[0].message,
            )  # fmt: skip
        if log_prompts:
            note(request.state, text=body.texts)
        return BatchResponse(results=results)

    @router.post("/enhance", response_model=EnhanceResponse, summary="Rewrite a prompt")
    @limited
    async def enhance(request: Request, body: EnhanceRequest) -> EnhanceResponse:
        library = request.app.state.library
        if body.intent is not None:
            enhanced = library.enhance(body.text, body.intent)
            note(request.state, intent=body.intent)
            return EnhanceResponse.of(enhanced, source="given", version=None)
        prediction = await client_of(request).classify(body.text)
        remember(request, prediction, body.text)
        # A prediction the model flags as a guess gets the library's generic plan.
        enhanced = library.enhance(
            body.text,
            prediction.intent,
            prediction.confidence,
            low_confidence=prediction.low_confidence,
        )
        return EnhanceResponse.of(enhanced, source="classified", version=prediction.model_version)

    return router


def open_router() -> APIRouter:
    """Health and metrics: no key, no limit (probes and scrapers call them)."""
    router = APIRouter()

    @router.get("/health/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/health/ready", summary="TorchServe answers and calls are not paused")
    async def ready(request: Request) -> JSONResponse:
        client = client_of(request)
        breaker = client.breaker
        if breaker is not None:
            try:
                # A half-open breaker counts as ready: only traffic can close it again.
                breaker.reject_if_open()
            except CircuitOpenError as paused:
                return _unready(paused.message, retry_after=paused.retry_after)
        try:
            health = await client.health()
        except TorchServeError as error:
            return _unready(f"health check failed: {error.message}")
        if not health.healthy:
            detail = f": {health.detail}" if health.detail else ""
            return _unready(f"TorchServe is {health.status}{detail}")
        return JSONResponse(
            {
                "status": "ready",
                "torchserve": health.status,
                "breaker": breaker.state.name.lower() if breaker is not None else "none (local)",
            }
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        registry = request.app.state.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


def client_of(request: Request) -> TorchServeClient:
    return request.app.state.client


def _unready(reason: str, retry_after: float | None = None) -> JSONResponse:
    headers = None if retry_after is None else {"Retry-After": str(max(1, math.ceil(retry_after)))}
    return JSONResponse({"status": "unready", "reason": reason}, status_code=503, headers=headers)
