"""Around every request: its id, its log line, its metrics, a JSON 500 for anything unexpected
(``RequestContext``) and the body size limit (``BodyLimit``).

Pure ASGI rather than ``BaseHTTPMiddleware``: no extra task per request, and the request id set
here is seen by every log record of the request, the serving client's included.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from api.logs import REQUEST_ID, is_sane_request_id
from api.metrics import METERED_PATHS, ApiMetrics
from api.settings import MAX_REQUEST_BYTES

logger = logging.getLogger("api.access")
REQUEST_ID_HEADER = "X-Request-ID"


def note(state: Any, **fields: Any) -> None:
    """Add ``fields`` to the request's log line (``note(request.state, intent="reasoning")``)."""
    notes = getattr(state, "log_fields", None)
    if notes is None:
        state.log_fields = notes = {}
    notes.update(fields)


class RequestContext:
    """Gives each HTTP request an id (the caller's ``X-Request-ID`` when it is a sane token),
    echoes it in the response, logs one line per request and counts ``/v1`` requests."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = offered if offered and is_sane_request_id(offered) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        state = scope.setdefault("state", {})  # what routes write through request.state
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if status is not None:  # the answer is on its way; the server closes the connection
                raise
            logger.exception("unhandled error in %s %s", scope["method"], scope["path"])
            status = 500
            response = JSONResponse(
                error_body(
                    "internal_error", "internal error; quote the request id if you report it"
                ),
                status_code=500,
                headers={REQUEST_ID_HEADER: request_id},
            )
            await response(scope, receive, send)
        finally:
            seconds = time.perf_counter() - started
            path = scope["path"]
            if path in METERED_PATHS and status is not None:
                self.metrics.observe_request(path, status, seconds)
            fields = {
                "method": scope["method"],
                "path": path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "key_id": state.get("key_id"),
                **(state.get("log_fields") or {}),
            }
            logger.info("%s %s %s", scope["method"], path, status, extra=fields)
            REQUEST_ID.reset(token)


class BodyLimit:
    """Answers 413 for a body over ``limit`` bytes, by its Content-Length or, for a chunked body
    or one that lies about its length, by the bytes that arrive; the app never sees such a body.

    The body is read here, up to the limit, and handed on whole: every endpoint reads all of it
    anyway, and a 413 decided here is the API's JSON error, not a half-read request's.
    """

    def __init__(self, app: ASGIApp, *, limit: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and not declared.strip().isdigit():
            await self._refuse(scope, receive, send, 400, "bad_request", "invalid Content-Length")
            return
        if declared is not None and int(declared) > self.limit:
            await self._refuse_too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse_too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message | None = {
            "type": "http.request",
            "body": b"".join(chunks),
            "more_body": False,
        }

        async def replay() -> Message:
            nonlocal whole
            if whole is not None:
                message, whole = whole, None
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse_too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = (
            f"request body over {self.limit:,} bytes; send fewer or shorter texts "
            "(a batch can be split)"
        )
        await self._refuse(scope, receive, send, 413, "payload_too_large", message)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, status: int, kind: str, message: str
    ) -> None:
        # Connection: close, so the server does not wait to read the rest of an unwanted body.
        response = JSONResponse(
            error_body(kind, message), status_code=status, headers={"Connection": "close"}
        )
        await response(scope, receive, send)
