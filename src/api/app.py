"""The app factory: ``create_app(settings)`` wires settings, keys, limits, metrics and routes.

Each app has its own Prometheus registry, limiter and serving client, so a process (or a test)
can hold several. The client is made in the lifespan, from the environment
(``TorchServeClient.from_env``), and closed at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from slowapi.errors import RateLimitExceeded
from starlette.exceptions import HTTPException

from api.auth import ApiKeys
from api.errors import ApiError, error_body, handle_api_error, handle_client_error
from api.metrics import ApiMetrics
from api.middleware import BodyLimit, RequestContext
from api.ratelimit import build_limiter, handle_rate_limited
from api.routes import open_router, v1_router
from api.settings import ApiSettings
from serving_client import TorchServeClient, TorchServeError
from techniques import default_library

logger = logging.getLogger(__name__)

ClientFactory = Callable[[CollectorRegistry], TorchServeClient]

_HTTP_KINDS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
}


def default_client(registry: CollectorRegistry) -> TorchServeClient:
    return TorchServeClient.from_env(registry=registry)


def create_app(
    settings: ApiSettings | None = None, *, client: ClientFactory = default_client
) -> FastAPI:
    """The ASGI app. ``settings`` default to ``ApiSettings.from_env()``; ``client`` makes the
    serving client from the app's registry (tests pass stand-ins for faults a real TorchServe
    cannot produce on demand)."""
    settings = settings if settings is not None else ApiSettings.from_env()
    metrics = ApiMetrics(CollectorRegistry())
    keys = ApiKeys(settings.keys(), enabled=settings.auth == "on")
    if not keys.enabled:
        logger.warning("INTENT_API_AUTH=off: the /v1 endpoints answer anyone who can connect")
    limiter = build_limiter()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.library = default_library()  # a configuration error stops the start here
        classifier = client(metrics.registry)
        try:
            await classifier.__aenter__()  # local mode loads the model here
            app.state.client = classifier
            # One check at start: the log says at once whether TorchServe answers, and the
            # connection gauge holds a real value before the first request.
            health = await classifier.health()
            if health.healthy:
                logger.info("TorchServe answers: %s", health.status)
            else:
                logger.warning(
                    "TorchServe does not answer yet: %s %s", health.status, health.detail
                )
            yield
        finally:
            await classifier.aclose()

    app = FastAPI(
        title="Intent API",
        summary="Classify a prompt's intent; rewrite it with the techniques the intent calls for.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.limiter = limiter
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestContext, metrics=metrics)  # outermost: it sees every answer
    app.add_exception_handler(ApiError, handle_api_error)
    app.add_exception_handler(TorchServeError, handle_client_error)
    app.add_exception_handler(RateLimitExceeded, handle_rate_limited)
    app.add_exception_handler(RequestValidationError, _handle_invalid_request)
    app.add_exception_handler(HTTPException, _handle_http_error)
    app.include_router(v1_router(keys, limiter, settings.rate_limit, settings.log_prompts))
    app.include_router(open_router())
    return app


async def _handle_invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(error_body("invalid_request", _describe(exc.errors())), status_code=422)


async def _handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = str(exc.detail)
    kind = _HTTP_KINDS.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(kind, message), status_code=exc.status_code, headers=exc.headers or None
    )


def _describe(errors: object) -> str:
    """Pydantic's errors as one line, without echoing the input back."""
    problems = []
    for error in errors if isinstance(errors, list | tuple) else ():
        if error.get("type") == "invalid_text":  # the contract's own message, as it is
            problems.append(error["msg"])
            continue
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            problems.append(f"the body is not valid JSON: {reason}".rstrip(": "))
            continue
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "the request does not match the schema; see /docs"


def _version() -> str:
    try:
        return version("prompt-intent")
    except PackageNotFoundError:
        return "0"
