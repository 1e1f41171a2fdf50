"""Read one TorchServe request into a prompt, or into the error that tells its sender what to fix.

A request's ``body`` (or ``data``) arrives as TorchServe decoded it: a dict for JSON, a str for
text/*, bytes otherwise (also JSON that TorchServe could not decode). Whatever a request holds,
reading it ends in a prompt or in an :class:`InvalidRequest` for that request alone: nothing a
sender writes can fail its batch neighbours. Nothing here imports TorchServe or torch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contract import MAX_BODY_BYTES, InvalidText
from contract import check_text as check_input

log = logging.getLogger(__name__)


class InvalidRequest(ValueError):
    """A request refused for its content; ``status`` is the HTTP status to answer it with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status

    def to_json(self) -> dict[str, Any]:
        """The error body, shaped like TorchServe's own errors: ``{"code", "type", "message"}``."""
        return {"code": self.status, "type": "InvalidRequest", "message": str(self)}


def check_text(text: object) -> str:
    """Return ``text`` when the contract's input rule admits it, else raise
    :class:`InvalidRequest` (400) with the rule's message."""
    try:
        return check_input(text)
    except InvalidText as err:
        raise InvalidRequest(str(err)) from None


def parse_request(payload: object, *, max_body_bytes: int = MAX_BODY_BYTES) -> str:
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
            except RecursionError:
                raise InvalidRequest("request body is JSON nested too deeply") from None
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
        try:
            text = parse_request(_payload(request), max_body_bytes=max_body_bytes)
        except InvalidRequest as err:
            batch.errors[position] = err
        except Exception:
            # A request this code did not foresee is still that request's problem alone.
            log.exception("request %d of the batch could not be read", position)
            batch.errors[position] = InvalidRequest(
                'could not read the request: send {"text": "<prompt>"} as JSON'
            )
        else:
            batch.texts.append(text)
            batch.positions.append(position)
    return batch


def _payload(request: Mapping[str, Any]) -> object:
    payload = request.get("body")
    if payload is None:
        payload = request.get("data")
    # KServe's TorchServe envelope hands the handler the instance itself: {"text": ...}.
    if payload is None and "text" in request:
        payload = {"text": request["text"]}
    return payload
