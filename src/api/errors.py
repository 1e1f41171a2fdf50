"""Every error the API answers, as one JSON shape, and the status each failure maps to.

```
{"error": {"type": "unavailable", "message": "…", "request_id": "…"}}
```

The serving client's errors map by what the caller can do about them:

- ``InvalidInputError`` → 422 ``invalid_input``: the caller's text; fix it.
- ``CircuitOpenError`` → 503 ``unavailable`` + Retry-After: TorchServe failed recently; calls are
  paused until the breaker lets a probe through.
- ``ServerBusyError`` → 503 ``unavailable`` (+ Retry-After when TorchServe gave one): no capacity.
- ``TorchServeConnectionError`` and its timeouts → 503 ``unavailable``: unreachable or too slow.
- ``AuthenticationError``, ``ModelNotFoundError``, ``ConfigurationError`` → 503 ``unavailable``
  and an error in the log: the API's own token, model name or settings are wrong, which is the
  operator's to fix, not the caller's; the caller's message says no more than that.
- ``TorchServeInferenceError`` → 502 ``model_error``: the model failed on this input.
- any other ``TorchServeError`` → 500 ``internal_error``: a bug in the client.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse

from api.logs import REQUEST_ID
from serving_client import (
    AuthenticationError,
    CircuitOpenError,
    ConfigurationError,
    InvalidInputError,
    ModelNotFoundError,
    ServerBusyError,
    TorchServeConnectionError,
    TorchServeError,
    TorchServeInferenceError,
)

logger = logging.getLogger(__name__)

# What the caller reads when the fault is the operator's to fix; the log says what it was.
_OPERATOR_FAULT = "the intent classifier is unavailable; the operators have been told why"


class ApiError(Exception):
    """An answer other than success: status, a short ``type`` and a message for the caller."""

    def __init__(
        self, status: int, kind: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class _Rule:
    status: int
    kind: str
    operator_fault: bool = False  # logged as an error; the caller gets a generic message


# Looked up along the error's class hierarchy, most specific first.
_RULES: dict[type[TorchServeError], _Rule] = {
    InvalidInputError: _Rule(422, "invalid_input"),
    CircuitOpenError: _Rule(503, "unavailable"),
    ServerBusyError: _Rule(503, "unavailable"),
    TorchServeConnectionError: _Rule(503, "unavailable"),
    AuthenticationError: _Rule(503, "unavailable", operator_fault=True),
    ModelNotFoundError: _Rule(503, "unavailable", operator_fault=True),
    ConfigurationError: _Rule(503, "unavailable", operator_fault=True),
    TorchServeInferenceError: _Rule(502, "model_error"),
    TorchServeError: _Rule(500, "internal_error"),
}


def from_client_error(error: TorchServeError, *, log: bool = True) -> ApiError:
    """The answer for a serving client error (the list above); logs operator faults and bugs
    unless ``log`` is False (a batch logs its failures once)."""
    rule = next(_RULES[cls] for cls in type(error).__mro__ if cls in _RULES)
    message = error.message
    if rule.operator_fault and log:
        logger.error(
            "the API cannot use TorchServe as configured (%s): %s; check the API's TORCHSERVE_* "
            "settings and TorchServe's key file",
            type(error).__name__,
            error.message,
        )
    if rule.operator_fault:
        message = _OPERATOR_FAULT
    elif rule.status == 500:
        if log:
            logger.error("the serving client failed: %s", error.message, exc_info=error)
        message = "internal error; quote the request id if you report it"
    headers = {}
    retry_after = getattr(error, "retry_after", None)
    if rule.status == 503 and retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return ApiError(rule.status, rule.kind, message, headers=headers)


def error_body(kind: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"type": kind, "message": message, "request_id": REQUEST_ID.get()}}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(error.kind, error.message), status_code=error.status, headers=error.headers
    )


async def handle_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def handle_client_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TorchServeError)
    return error_response(from_client_error(exc))
