"""Where a token could leak from the client, and a check that it leaks through none of them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception behind it (``__cause__`` and ``__context__``), once each."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def record_texts(record: logging.LogRecord) -> Iterator[str]:
    """Everything a handler could print of a record."""
    yield record.getMessage()
    yield repr(record.args)
    yield record.exc_text or ""
    yield record.stack_info or ""
    yield logging.Formatter().format(record)  # the traceback too, when there is one
    if record.exc_info and record.exc_info[1] is not None:
        for error in exception_chain(record.exc_info[1]):
            yield str(error)
            yield repr(error)


def leaks(
    secret: str,
    *,
    records: Iterable[logging.LogRecord] = (),
    errors: Iterable[BaseException] = (),
    registry: CollectorRegistry | None = None,
    texts: Iterable[str] = (),
) -> list[str]:
    """Where ``secret`` shows: log records, exceptions (with their chains), metric samples or
    other texts. Empty when it shows nowhere."""
    found = []
    for record in records:
        if any(secret in text for text in record_texts(record)):
            found.append(f"log record {record.name}: {record.getMessage()[:200]!r}")
    for error in errors:
        for link in exception_chain(error):
            if secret in str(link) or secret in repr(link):
                found.append(f"exception {type(link).__name__} behind {type(error).__name__}")
    if registry is not None and secret in generate_latest(registry).decode():
        found.append("a Prometheus metric sample")
    found.extend(f"text {text[:200]!r}" for text in texts if secret in text)
    return found
