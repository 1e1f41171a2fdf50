"""The API's settings: one frozen, validated object read from the environment at start-up.

Every default of the API lives here. The TorchServe side (address, token, timeouts, breaker) is
the serving client's, read by ``TorchServeClient.from_env()`` from its own variables.

| Variable | Field | Default |
|---|---|---|
| ``INTENT_API_HOST`` | ``host`` | ``127.0.0.1`` |
| ``INTENT_API_PORT`` | ``port`` | ``8000`` |
| ``INTENT_API_KEYS`` | ``api_keys`` | unset: comma-separated keys |
| ``INTENT_API_KEY_FILE`` | ``api_keys`` | unset: one key per line (``#`` comments) |
| ``INTENT_API_AUTH`` | ``auth`` | ``on`` (``off`` serves without keys) |
| ``INTENT_API_RATE_LIMIT`` | ``rate_limit`` | ``600/minute`` per key |
| ``INTENT_API_LOG_PROMPTS`` | ``log_prompts`` | ``false`` |
| ``INTENT_API_LOG_LEVEL`` | ``log_level`` | ``INFO`` |
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from limits import parse_many
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

# Largest request body: a full batch of ordinary prompts fits; one text is cut at the client's
# TORCHSERVE_MAX_TEXT_CHARS anyway.
MAX_REQUEST_BYTES = 65_536
# Texts one batch request may carry.
MAX_BATCH_TEXTS = 256
# Keys shorter than this are guessable; the message says how to make a good one.
MIN_KEY_CHARS = 16
_KEY_CHARS = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII without spaces: fits a header
_KEY_HINT = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'

ENV_VARS: dict[str, str] = {
    "INTENT_API_HOST": "host",
    "INTENT_API_PORT": "port",
    "INTENT_API_AUTH": "auth",
    "INTENT_API_RATE_LIMIT": "rate_limit",
    "INTENT_API_LOG_PROMPTS": "log_prompts",
    "INTENT_API_LOG_LEVEL": "log_level",
}
KEYS_ENV = "INTENT_API_KEYS"
KEY_FILE_ENV = "INTENT_API_KEY_FILE"
_FIELD_TO_ENV = {field: name for name, field in ENV_VARS.items()} | {
    "api_keys": f"{KEYS_ENV} / {KEY_FILE_ENV}"
}


class ApiSettings(BaseModel):
    """How the API listens, whom it lets in and what it logs; immutable once built.

    >>> ApiSettings(api_keys=["k" * 16]).port
    8000
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(8000, ge=1, le=65535)
    api_keys: tuple[SecretStr, ...] = ()
    auth: Literal["on", "off"] = "on"
    # A `limits` string: "600/minute", "10/second;1000/hour".
    rate_limit: str = "600/minute"
    # Prompts are user data: they reach the logs only when an operator asks for it.
    log_prompts: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for key in keys:
            value = key.get_secret_value()
            # The messages never quote a key.
            if not _KEY_CHARS.match(value) or "," in value:
                raise ValueError(
                    "an API key may hold printable ASCII only, without spaces or commas; "
                    + _KEY_HINT
                )
            if len(value) < MIN_KEY_CHARS:
                raise ValueError(
                    f"an API key has {len(value)} characters, fewer than {MIN_KEY_CHARS}; "
                    + _KEY_HINT
                )
        return keys

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a limit such as '600/minute' or '10/second;1000/hour'"
            ) from None
        return value

    @model_validator(mode="after")
    def _check_auth(self) -> Self:
        if self.auth == "on" and not self.api_keys:
            raise ValueError(
                f"no API key configured: set {KEYS_ENV} (comma-separated) or {KEY_FILE_ENV} "
                f"(one key per line), or set INTENT_API_AUTH=off to serve without keys; "
                + _KEY_HINT
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ApiSettings:
        """Settings from the variables above (``os.environ`` by default), then ``overrides``.

        Raises ``ValueError`` naming the variable to fix.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {
            field: environ[name] for name, field in ENV_VARS.items() if environ.get(name, "") != ""
        }
        if "auth" in values:
            values["auth"] = values["auth"].strip().lower()
        if "log_level" in values:
            values["log_level"] = values["log_level"].strip().upper()
        keys = [k.strip() for k in environ.get(KEYS_ENV, "").split(",") if k.strip()]
        if environ.get(KEY_FILE_ENV):
            keys += read_key_file(Path(environ[KEY_FILE_ENV]))
        if keys:
            values["api_keys"] = tuple(dict.fromkeys(keys))  # order kept, duplicates dropped
        values.update(overrides)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ValueError(_explain(exc)) from None

    def keys(self) -> tuple[str, ...]:
        return tuple(key.get_secret_value() for key in self.api_keys)


def read_key_file(path: Path) -> list[str]:
    """The keys of a key file: one per line; blank lines and ``#`` comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"cannot read the API key file {path} ({KEY_FILE_ENV}): {type(exc).__name__}; "
            "give a readable UTF-8 file with one key per line"
        ) from None
    keys = [line.strip() for line in lines]
    return [key for key in keys if key and not key.startswith("#")]


def _explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        where = f"{field} ({_FIELD_TO_ENV[field]})" if field in _FIELD_TO_ENV else "settings"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if field else message)
    return "invalid API settings: " + "; ".join(problems)
