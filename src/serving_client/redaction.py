"""Keeps tokens out of the client's logs.

The first line of defence is what the client logs: never headers, never the repr of a transport
error (aiohttp's ``ClientResponseError`` repr holds the request's headers, ``Authorization``
included), only an exception's type and its redacted message (``describe_error``). The second is
``SECRET_FILTER`` on every ``serving_client`` logger: a record that still holds ``Bearer …`` or a
token the client was given is rewritten before any handler sees it.

A logger's filters only see records logged to that logger, not those of its children, so the
filter goes on each ``serving_client.*`` logger (``protect_loggers``), not just the parent.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

# Up to the first character that ends a header value in a repr or a message; a value already
# redacted is left as it is, so redacting twice changes nothing.
_BEARER = re.compile(r"(?i)\b(bearer)\s+(?!\[redacted\])[^\s'\",;>)\]}]+")

# Shorter values are likely to be ordinary words; the Bearer pattern still covers them.
MIN_SECRET_CHARS = 8

# How much of an exception's message goes into a log line.
_MAX_MESSAGE_CHARS = 300


class SecretFilter(logging.Filter):
    """Replaces ``Bearer <token>`` and each added secret in a record's message, arguments and
    traceback with ``[redacted]``; passes every record on."""

    def __init__(self) -> None:
        super().__init__()
        # A tuple swapped whole, so a filter running in another thread never sees it change size.
        self._secrets: tuple[str, ...] = ()

    def add(self, secret: str | None) -> None:
        """Redact ``secret`` from now on (ignored when shorter than ``MIN_SECRET_CHARS``)."""
        if secret and len(secret) >= MIN_SECRET_CHARS and secret not in self._secrets:
            self._secrets = tuple(sorted({*self._secrets, secret}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        text = _BEARER.sub(rf"\1 {REDACTED}", text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record; logging reports those itself
            return True
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            traceback = logging.Formatter().formatException(record.exc_info)
            clean = self.redact(traceback)
            if clean != traceback:
                # Formatters print exc_text as it is and format exc_info only when it is unset.
                record.exc_text, record.exc_info = clean, None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


SECRET_FILTER = SecretFilter()


def protect_loggers(prefix: str = "serving_client") -> None:
    """Put ``SECRET_FILTER`` on the ``prefix`` logger and every existing logger below it."""
    names = [prefix, *(n for n in logging.root.manager.loggerDict if n.startswith(prefix + "."))]
    for name in names:
        logger = logging.getLogger(name)
        if SECRET_FILTER not in logger.filters:
            logger.addFilter(SECRET_FILTER)


def describe_error(exc: BaseException) -> str:
    """An exception for a log line: its type and its redacted, shortened message (never its
    repr, which for a transport error can hold the request's headers)."""
    try:
        message = str(exc)
    except Exception:
        message = ""
    message = SECRET_FILTER.redact(message)
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[:_MAX_MESSAGE_CHARS] + "…"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
