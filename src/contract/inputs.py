"""What a prompt must be before anything classifies it.

One rule for every door (the handler, the client, the API, the technique library): a ``str`` of
valid Unicode with at least one visible character. Invisible-only text (spaces, zero-width
characters, byte-order marks, control characters such as NUL) is blank: a model would still
answer it, with confidence, about nothing.
"""

from __future__ import annotations

import unicodedata

# Largest request body the handler reads; TorchServe's frontend refuses above max_request_size.
MAX_BODY_BYTES = 32_768
# Characters the client sends by default; the model reads far fewer tokens (its max_length), so
# longer text only costs transfer and tokenising time.
MAX_TEXT_CHARS = 2_048

# Unicode categories that draw nothing on their own: separators (Z*), controls, format
# characters such as ZWSP and BOM, surrogates, private use, unassigned (C*), and combining marks
# (M*) with no base character to sit on.
_INVISIBLE = ("Z", "C", "M")


class InvalidText(ValueError):
    """The text cannot be classified as given; the message says what to send instead."""


def is_blank(text: str) -> bool:
    """True when ``text`` has no visible character (``is_blank("\\u200b\\ufeff") is True``)."""
    return all(unicodedata.category(char)[0] in _INVISIBLE for char in text)


def check_text(text: object) -> str:
    """Return ``text`` unchanged when it can be classified, else raise :class:`InvalidText`.

    >>> check_text("Translate 'hello' into Welsh")
    "Translate 'hello' into Welsh"
    """
    if not isinstance(text, str):
        raise InvalidText(f'"text" must be a string, got {type(text).__name__}')
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InvalidText(
            f'"text" holds an unpaired surrogate (U+{ord(text[err.start]):04X} at character '
            f"{err.start}); send valid Unicode"
        ) from None
    if is_blank(text):
        raise InvalidText('"text" has no visible character: send the prompt to classify')
    return text
