"""How TorchServe's answers and transport failures map to results, errors and retry decisions.

TorchServe reports errors as ``{"code": 503, "type": "ServiceUnavailableException", "message":
…}``. Its 503 means two different things: no worker could take the job or the job queue is full
(type ``ServiceUnavailableException``: worth retrying), or the handler failed on the input
(type ``InternalServerException``, message "Prediction failed": retrying repeats the failure).

Each failure also says whether it is the server's fault, the only kind that counts against the
endpoint's circuit breaker (shared by every call of the client). The breaker exists to stop
sending to a server that cannot answer, so what counts is what says the server cannot answer
anyone: a connection refused or broken, a timeout the server had time to avoid, a gateway's 502 or
504, a 503 busy or queue full, a 5xx from something other than TorchServe's handler, a 200 that is
not a prediction (a wrong handler, or a proxy answering). What does not count is what TorchServe
answered about this request: the model failing on this input (``InternalServerException`` with
500, 503 "Prediction failed" or 507 "Out of resources"), and every 4xx. A single poison input
sent again and again must not stop every caller's traffic; a server whose workers are all down
answers 503 busy, which counts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

from serving_client.errors import (
    AuthenticationError,
    InvalidInputError,
    ModelNotFoundError,
    ServerBusyError,
    TorchServeConnectionError,
    TorchServeError,
    TorchServeInferenceError,
    TorchServeTimeoutError,
)
from serving_client.redaction import describe_error
from serving_client.results import IntentPrediction
from serving_client.retry import parse_retry_after
from serving_client.transports import WireResponse

# TorchServe's frontend relays every failure of the handler's worker under this type.
_MODEL_FAILURE = "InternalServerException"


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt: the error to raise if no retry follows, and what it means.

    ``retry_reason`` is None when retrying cannot help; ``server_fault`` says whether it counts
    against the endpoint's circuit breaker; ``detail`` is for the log, not for the user;
    ``unexpected`` is an exception no rule covers (a bug), logged with its traceback.
    """

    error: TorchServeError
    retry_reason: str | None
    server_fault: bool
    retry_after: float | None = None
    detail: str = ""
    unexpected: BaseException | None = None

    @property
    def log_level(self) -> int:
        if self.unexpected is not None:
            return logging.ERROR
        return logging.WARNING if self.server_fault else logging.INFO


def parse_prediction(
    body: bytes, *, attempts: int, latency_ms: float, truncated: bool
) -> IntentPrediction:
    """The prediction in a 200 answer, with the client's figures added (``truncated`` is ORed
    with the server's flag); ``TorchServeInferenceError`` when the answer is not a prediction."""
    try:
        payload: Any = json.loads(body)
        if isinstance(payload, list) and len(payload) == 1:
            payload = payload[0]
        return IntentPrediction.from_server(
            payload, latency_ms=latency_ms, attempts=attempts, truncated=truncated
        )
    # RecursionError: JSON nested deeper than the parser goes.
    except (ValueError, TypeError, LookupError, RecursionError) as exc:
        raise TorchServeInferenceError(
            "TorchServe answered with something that is not a prediction; check that the "
            "model's handler is the intent handler"
        ) from exc


def failure_from_parse(error: TorchServeError) -> Failure:
    """A 200 answer that is not a prediction: every request would get it, so it is the
    server's fault (a wrong handler, or something else answering in its place)."""
    cause = error.__cause__
    detail = describe_error(cause) if cause is not None else error.message
    return Failure(error, None, server_fault=True, detail=detail)


def failure_from_response(response: WireResponse, *, model: str, where: str) -> Failure:
    """Classify a non-2xx answer. ``model`` and ``where`` (host:port) go into messages."""
    status = response.status
    kind, message = _error_fields(response.content)
    detail = f"HTTP {status} {kind}: {message}".strip()
    retry_after = parse_retry_after(response.retry_after)
    if status == 400 and (
        kind == "InvalidKeyException" or "token authorization" in message.lower()
    ):
        return Failure(
            AuthenticationError(
                f"TorchServe at {where} refused the token; set TORCHSERVE_TOKEN or "
                "TORCHSERVE_KEY_FILE to the server's current inference key",
                status_code=status,
            ),
            retry_reason=None,
            server_fault=False,
            detail=detail,
        )
    if status in (401, 403):
        return Failure(
            AuthenticationError(
                f"TorchServe at {where} refused the request (HTTP {status}); check the token",
                status_code=status,
            ),
            retry_reason=None,
            server_fault=False,
            detail=detail,
        )
    if status == 404:
        return Failure(
            ModelNotFoundError(
                f"model {model!r} is not registered on TorchServe at {where}; check "
                "TORCHSERVE_MODEL_NAME and TORCHSERVE_MODEL_VERSION",
                status_code=status,
            ),
            retry_reason=None,
            server_fault=False,
            detail=detail,
        )
    if status == 429 or (status == 503 and kind != _MODEL_FAILURE):
        return Failure(
            ServerBusyError(
                f"TorchServe at {where} has no capacity for model {model!r} right now; "
                "try again later",
                status_code=status,
                retry_after=retry_after,
            ),
            retry_reason=str(status),
            # 429 is a rate limit on this client, not a sign that the server is down.
            server_fault=status == 503,
            retry_after=retry_after,
            detail=detail,
        )
    if 400 <= status < 500:
        return Failure(
            InvalidInputError(
                f"TorchServe rejected the input (HTTP {status}); check the text",
                status_code=status,
            ),
            retry_reason=None,
            server_fault=False,
            detail=detail,
        )
    if status in (502, 504):
        error_cls = TorchServeTimeoutError if status == 504 else TorchServeConnectionError
        return Failure(
            error_cls(f"a gateway in front of TorchServe at {where} failed (HTTP {status})",
                      status_code=status),
            retry_reason=str(status),
            server_fault=True,
            detail=detail,
        )  # fmt: skip
    if kind == _MODEL_FAILURE:
        return Failure(
            TorchServeInferenceError(
                f"model {model!r} on TorchServe at {where} failed on this input (HTTP {status})",
                status_code=status,
            ),
            retry_reason=None,
            server_fault=False,
            detail=detail,
        )
    return Failure(
        TorchServeInferenceError(
            f"TorchServe at {where} failed on model {model!r} (HTTP {status})",
            status_code=status,
        ),
        retry_reason=None,
        server_fault=True,
        detail=detail,
    )


def failure_from_exception(exc: BaseException, *, where: str, server_had_time: bool) -> Failure:
    """Classify a transport error or timeout of one attempt. ``server_had_time`` says whether
    the attempt gave the server a fair share of its time; a timeout without it is not the
    server's fault."""
    reason = _transport_reason(exc)
    if reason == "timeout":
        return Failure(
            TorchServeTimeoutError(f"TorchServe at {where} did not answer in time"),
            retry_reason="timeout",
            server_fault=server_had_time,
            detail=describe_error(exc),
        )
    return Failure(
        TorchServeConnectionError(
            f"could not talk to TorchServe at {where}; check that it is running and reachable"
        ),
        retry_reason=reason,
        server_fault=True,
        detail=describe_error(exc),
    )


def failure_from_unexpected(exc: Exception, *, where: str) -> Failure:
    """An exception of the transport that no rule covers: a bug on the client's side, so not
    retried and not the server's fault. The original is the error's cause."""
    error = TorchServeError(
        f"the client failed while calling TorchServe at {where} ({type(exc).__name__}); "
        "see the client's log"
    )
    error.__cause__ = exc
    return Failure(error, None, server_fault=False, detail=describe_error(exc), unexpected=exc)


def _transport_reason(exc: BaseException) -> str:
    """The cause of a failed attempt: "timeout", "connect" (no connection was made) or
    "network" (the connection broke)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    # httpx-aiohttp maps every aiohttp connection error to httpx.ConnectTimeout, a refused
    # connection included, so the aiohttp error it was raised from decides.
    if isinstance(exc.__cause__, aiohttp.ClientError):
        exc = exc.__cause__
    if isinstance(exc, aiohttp.ClientError):
        if isinstance(exc, TimeoutError):
            return "timeout"
        return "connect" if isinstance(exc, aiohttp.ClientConnectorError) else "network"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return "connect" if isinstance(exc, httpx.ConnectError) else "network"


def _error_fields(body: bytes) -> tuple[str, str]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return "", body[:200].decode("utf-8", "replace")
    if not isinstance(payload, dict):
        return "", str(payload)[:200]
    return str(payload.get("type", "")), str(payload.get("message", ""))
