"""Checks on a text before it is sent: the contract's input rule, then the client's length
policy."""

from __future__ import annotations

from typing import Any, Literal

from contract import InvalidText, is_blank
from contract import check_text as check_input
from serving_client.errors import InvalidInputError


def check_text(
    text: Any, *, max_chars: int, overlong: Literal["truncate", "reject"]
) -> tuple[str, bool]:
    """Return ``(text_to_send, truncated)`` or raise ``InvalidInputError`` saying what to fix.

    >>> check_text("hello", max_chars=3, overlong="truncate")
    ('hel', True)
    """
    try:
        check_input(text)
    except InvalidText as err:
        raise InvalidInputError(str(err)) from None
    if len(text) <= max_chars:
        return text, False
    if overlong == "reject":
        raise InvalidInputError(
            f"text has {len(text):,} characters, over the limit of {max_chars:,} "
            "(TORCHSERVE_MAX_TEXT_CHARS); shorten it or set TORCHSERVE_OVERLONG_TEXT=truncate"
        )
    clipped = text[:max_chars]
    if is_blank(clipped):
        raise InvalidInputError(
            f"the first {max_chars:,} characters of text (TORCHSERVE_MAX_TEXT_CHARS) are all "
            "invisible; send the prompt itself"
        )
    return clipped, True
