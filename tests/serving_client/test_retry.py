"""Backoff, Retry-After, and how answers map to errors and retry decisions."""

from __future__ import annotations

import email.utils
import json

import pytest

from serving_client import (
    AuthenticationError,
    InvalidInputError,
    ModelNotFoundError,
    ServerBusyError,
    TorchServeConnectionError,
    TorchServeInferenceError,
    TorchServeTimeoutError,
)
from serving_client.responses import failure_from_response
from serving_client.retry import RetryPolicy, parse_retry_after
from serving_client.transports import WireResponse

POLICY = RetryPolicy(max_retries=3, backoff_base=0.1, backoff_max=1.0, retry_after_cap=10.0)


def test_backoff_is_full_jitter_under_an_exponential_ceiling():
    assert [POLICY.delay(n, rng=lambda: 1.0) for n in range(6)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    )
    assert POLICY.delay(3, rng=lambda: 0.0) == 0.0
    assert POLICY.delay(3, rng=lambda: 0.25) == pytest.approx(0.2)


def test_retry_after_replaces_backoff_up_to_the_cap():
    assert POLICY.delay(0, retry_after=2.5) == 2.5
    assert POLICY.delay(0, retry_after=99.0) == 10.0


def test_retry_after_header_in_seconds_or_as_a_date():
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)

    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(date, now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def answer(
    status: int, body: dict | bytes | None = None, retry_after: str | None = None
) -> WireResponse:
    content = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
    return WireResponse(status, content, retry_after)


@pytest.mark.parametrize(
    ("status", "body", "error_type", "retry_reason", "server_fault"),
    [
        (400, {"type": "InvalidKeyException", "message": "Token Authorization failed."},
         AuthenticationError, None, False),
        (400, {"type": "InvalidRequest", "message": "request body is not valid JSON"},
         InvalidInputError, None, False),
        (401, {}, AuthenticationError, None, False),
        (404, {"type": "ModelNotFoundException"}, ModelNotFoundError, None, False),
        (413, {"type": "InvalidRequest"}, InvalidInputError, None, False),
        (429, {}, ServerBusyError, "429", False),
        # The model failed on this request: TorchServe relays it as InternalServerException.
        (500, {"type": "InternalServerException", "message": "Worker died."},
         TorchServeInferenceError, None, False),
        (503, {"type": "InternalServerException", "message": "Prediction failed"},
         TorchServeInferenceError, None, False),
        (507, {"type": "InternalServerException", "message": "Out of resources"},
         TorchServeInferenceError, None, False),
        # The server (or what stands in front of it) failed, whatever the input.
        (500, b"<html>Internal Server Error</html>", TorchServeInferenceError, None, True),
        (502, {}, TorchServeConnectionError, "502", True),
        (503, {"type": "ServiceUnavailableException", "message": "has no worker"},
         ServerBusyError, "503", True),
        (503, {"message": "job queue is full"}, ServerBusyError, "503", True),
        (503, b"<html>Service Temporarily Unavailable</html>", ServerBusyError, "503", True),
        (504, {}, TorchServeTimeoutError, "504", True),
    ],
)  # fmt: skip
def test_answers_map_to_errors(status, body, error_type, retry_reason, server_fault):
    failure = failure_from_response(answer(status, body), model="m", where="host:1")

    assert type(failure.error) is error_type
    assert (failure.retry_reason, failure.server_fault) == (retry_reason, server_fault)
    assert failure.error.status_code == status


def test_busy_answer_carries_retry_after():
    failure = failure_from_response(answer(429, retry_after="4"), model="m", where="h:1")

    assert failure.retry_after == 4.0
    assert failure.error.retry_after == 4.0
