"""The one error the technique library raises for a bad configuration."""

from __future__ import annotations


class TechniqueConfigError(ValueError):
    """A file under ``conf/techniques/`` (or ``conf/intents.yaml``) is wrong; the message names
    the file, the entry and what to change. Raised when the library loads, never later."""
