"""Read one TorchServe request into a prompt, or into the error that tells its sender what to fix.

A request's ``body`` (or ``data``) arrives as TorchServe decoded it: a dict for JSON, a str for
text/*, bytes otherwise. Nothing here imports TorchServe or torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_BODY_BYTES = 32_768


class InvalidRequest(ValueError):
    """A request refused for its content; ``status`` is the HTTP status to answer it with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status

    def to_json(self) -> dict[str, Any]:
        """The error body, shaped like TorchServe's own errors: ``{"code", "type", "message"}``."""
        return {"code": self.status, "type": "InvalidRequest", "message": str(self)}


def check_text(text: object) -> str:
    """Return ``text`` if it is a non-blank string, else raise :class:`InvalidRequest`."""
    if not isinstance(text, str):
        raise InvalidRequest(f'"text" must be a string, got {type(text).__name__}')
    if not text.strip():
        raise InvalidRequest('"text" is blank: send the prompt to classify')
    return text


def parse_request(payload: object, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> str:
    """Return the prompt in one request's ``body``/``data`` or raise :class:`InvalidRequest`.

    Accepted: a JSON object ``{"text": "..."}`` (decoded by TorchServe or still as bytes) or the
    prompt itself as UTF-8 text. Over ``max_body_bytes`` is refused with 413.
    """
    if payload is None or (isinstance(payload, bytes | bytearray | str) and not payload):
        raise InvalidRequest('empty request: send {"text": "<prompt>"} as JSON')
    if isinstance(payload, bytes | bytearray):
        if len(payload) > max_body_bytes:
            raise _too_large(len(payload), max_body_bytes)
        try:
            payload = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as err:
            raise InvalidRequest(f"request body is not valid UTF-8 (byte {err.start})") from None
        if payload.lstrip().startswith("{"):
            try:
                payload = json.loads(payload)
            except json.JSONDecodeError as err:
                raise InvalidRequest(f"request body is not valid JSON: {err.msg}") from None
    if isinstance(payload, Mapping):
        if "text" not in payload:
            raise InvalidRequest('JSON body has no "text" field: send {"text": "<prompt>"}')
        payload = check_text(payload["text"])
    elif not isinstance(payload, str):
        raise InvalidRequest(
            f'expected {{"text": "<prompt>"}} or plain text, got JSON {type(payload).__name__}'
        )
    size = len(payload.encode("utf-8"))
    if size > max_body_bytes:
        raise _too_large(size, max_body_bytes)
    return check_text(payload)


def _too_large(size: int, limit: int) -> InvalidRequest:
    return InvalidRequest(f"request is {size} bytes; the limit is {limit}: shorten the text", 413)


@dataclass
class ParsedBatch:
    """A TorchServe batch split into prompts to predict and per-request errors, by position."""

    size: int
    texts: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    errors: dict[int, InvalidRequest] = field(default_factory=dict)


def parse_batch(requests: Sequence[Mapping[str, Any]], *, max_body_bytes: int) -> ParsedBatch:
    """Parse every request of a TorchServe batch; a bad one is recorded, not raised."""
    batch = ParsedBatch(size=len(requests))
    for position, request in enumerate(requests):
        payload = request.get("body")
        if payload is None:
            payload = request.get("data")
        try:
            batch.texts.append(parse_request(payload, max_body_bytes=max_body_bytes))
            batch.positions.append(position)
        except InvalidRequest as err:
            batch.errors[position] = err
    return batch
