"""Checks on a text before it is sent."""

from __future__ import annotations

from typing import Any, Literal

from serving_client.errors import InvalidInputError


def check_text(
    text: Any, *, max_chars: int, overlong: Literal["truncate", "reject"]
) -> tuple[str, bool]:
    """Return ``(text_to_send, truncated)`` or raise ``InvalidInputError`` saying what to fix.

    >>> check_text("hello", max_chars=3, overlong="truncate")
    ('hel', True)
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise InvalidInputError("text is blank; send at least one non-space character")
    if len(text) <= max_chars:
        return text, False
    if overlong == "reject":
        raise InvalidInputError(
            f"text has {len(text):,} characters, over the limit of {max_chars:,} "
            "(TORCHSERVE_MAX_TEXT_CHARS); shorten it or set TORCHSERVE_OVERLONG_TEXT=truncate"
        )
    return text[:max_chars], True
