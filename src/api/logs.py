"""Structured logs: one JSON object per line, each with the request id of the request it belongs to.

What never reaches a log line: API keys (the caller's or any configured one), TorchServe tokens,
and, unless ``INTENT_API_LOG_PROMPTS=true``, the prompts themselves. The code logs none of them;
the serving client's ``SECRET_FILTER`` (given the API keys too) redacts them anyway, in case a
library does: on the handler for messages and tracebacks, in the formatter for extra fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar

from serving_client.redaction import SECRET_FILTER

# The request being served in this task (and the tasks it starts); "-" outside any request.
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")

# A caller's X-Request-ID is kept only when it looks like an id: no spaces, quotes or control
# characters that could forge a log line or a header.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is logged as a field.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}


def is_sane_request_id(value: str) -> bool:
    return bool(_SANE_REQUEST_ID.match(value))


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", ...extra fields, "exception"}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRIBUTES and name not in entry:
                entry[name] = _redacted(value)  # the filters see the message, not these
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class RedactingFilter(logging.Filter):
    """The serving client's ``SECRET_FILTER`` (``Bearer …``, its tokens, and the API keys once
    ``configure_logging`` has added them) for the records of every other logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "serving_client" or record.name.startswith("serving_client."):
            return True  # filtered already, on their own loggers
        return SECRET_FILTER.filter(record)


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """JSON lines on stderr for the whole process (uvicorn's loggers included), with ``secrets``
    (the API keys) redacted wherever they would show."""
    for secret in secrets:
        SECRET_FILTER.add(secret)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return SECRET_FILTER.redact(value)
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    return value
