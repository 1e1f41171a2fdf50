"""Client settings: one frozen, validated object, read from keyword arguments or the environment.

Every default of the client lives here. ``ClientSettings.from_env()`` reads the variables in
``ENV_VARS``; a variable that is unset keeps the field's default.

| Variable | Field | Default |
|---|---|---|
| ``TORCHSERVE_HOST`` | ``host`` | ``127.0.0.1`` |
| ``TORCHSERVE_PORT`` | ``port`` | ``8080`` |
| ``TORCHSERVE_MANAGEMENT_PORT`` | ``management_port`` | ``8081`` |
| ``TORCHSERVE_MODEL_NAME`` | ``model_name`` | ``intent_classifier`` |
| ``TORCHSERVE_MODEL_VERSION`` | ``model_version`` | unset (the default version) |
| ``TORCHSERVE_TIMEOUT`` | ``timeout`` | ``30`` s per call, retries included |
| ``TORCHSERVE_ATTEMPT_TIMEOUT`` | ``attempt_timeout`` | unset (the rest of the call's deadline) |
| ``TORCHSERVE_MAX_RETRIES`` | ``max_retries`` | ``3`` |
| ``TORCHSERVE_TOKEN`` | ``token`` | unset |
| ``TORCHSERVE_MANAGEMENT_TOKEN`` | ``management_token`` | unset |
| ``TORCHSERVE_KEY_FILE`` | ``token_file`` | the key file of `make serve` (loopback hosts) |
| ``TORCHSERVE_TRANSPORT`` | ``transport`` | ``aiohttp`` (or ``httpx-aiohttp``, ``httpx``) |
| ``TORCHSERVE_MAX_CONNECTIONS`` | ``max_connections`` | ``20`` |
| ``TORCHSERVE_MAX_KEEPALIVE`` | ``max_keepalive_connections`` | ``10`` (httpx transports) |
| ``TORCHSERVE_BATCH_CHUNK_SIZE`` | ``batch_chunk_size`` | ``32`` |
| ``TORCHSERVE_MAX_TEXT_CHARS`` | ``max_text_chars`` | ``2048`` |
| ``TORCHSERVE_OVERLONG_TEXT`` | ``overlong_text`` | ``truncate`` (or ``reject``) |
| ``CIRCUIT_BREAKER_FAILURE_THRESHOLD`` | ``failure_threshold`` | ``5`` |
| ``CIRCUIT_BREAKER_RECOVERY_TIMEOUT`` | ``recovery_timeout`` | ``60`` s |
| ``CIRCUIT_BREAKER_HALF_OPEN_PROBES`` | ``half_open_probes`` | ``1`` |
| ``HEALTH_CHECK_INTERVAL`` | ``health_check_interval`` | ``30`` s |
| ``HEALTH_CHECK_TIMEOUT`` | ``health_check_timeout`` | ``5`` s |
| ``USE_TORCHSERVE`` | ``use_torchserve`` | ``true`` |
| ``LOCAL_MODEL_PATH`` | ``local_model_path`` | unset |
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from contract import MAX_TEXT_CHARS, MODEL_NAME, default_key_file, read_key

ENV_VARS: dict[str, str] = {
    "TORCHSERVE_HOST": "host",
    "TORCHSERVE_PORT": "port",
    "TORCHSERVE_MANAGEMENT_PORT": "management_port",
    "TORCHSERVE_MODEL_NAME": "model_name",
    "TORCHSERVE_MODEL_VERSION": "model_version",
    "TORCHSERVE_TIMEOUT": "timeout",
    "TORCHSERVE_ATTEMPT_TIMEOUT": "attempt_timeout",
    "TORCHSERVE_MAX_RETRIES": "max_retries",
    "TORCHSERVE_TOKEN": "token",
    "TORCHSERVE_MANAGEMENT_TOKEN": "management_token",
    "TORCHSERVE_KEY_FILE": "token_file",
    "TORCHSERVE_TRANSPORT": "transport",
    "TORCHSERVE_MAX_CONNECTIONS": "max_connections",
    "TORCHSERVE_MAX_KEEPALIVE": "max_keepalive_connections",
    "TORCHSERVE_BATCH_CHUNK_SIZE": "batch_chunk_size",
    "TORCHSERVE_MAX_TEXT_CHARS": "max_text_chars",
    "TORCHSERVE_OVERLONG_TEXT": "overlong_text",
    "CIRCUIT_BREAKER_FAILURE_THRESHOLD": "failure_threshold",
    "CIRCUIT_BREAKER_RECOVERY_TIMEOUT": "recovery_timeout",
    "CIRCUIT_BREAKER_HALF_OPEN_PROBES": "half_open_probes",
    "HEALTH_CHECK_INTERVAL": "health_check_interval",
    "HEALTH_CHECK_TIMEOUT": "health_check_timeout",
    "USE_TORCHSERVE": "use_torchserve",
    "LOCAL_MODEL_PATH": "local_model_path",
}
_FIELD_TO_ENV = {field: name for name, field in ENV_VARS.items()}


class ClientSettings(BaseModel):
    """What the client connects to and how hard it tries; immutable once built.

    >>> ClientSettings(port=9080, max_retries=0).predictions_url
    'http://127.0.0.1:9080/predictions/intent_classifier'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(8080, ge=1, le=65535)
    management_port: int = Field(8081, ge=1, le=65535)
    model_name: str = Field(MODEL_NAME, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    model_version: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    timeout: float = Field(30.0, gt=0, description="seconds per call, all attempts included")
    # None: an attempt may use all that is left of the call's deadline.
    attempt_timeout: float | None = Field(None, gt=0, description="seconds per attempt")
    max_retries: int = Field(3, ge=0, le=20)
    # Full-jitter backoff: attempt n waits uniform(0, min(backoff_max, backoff_base * 2**n)).
    backoff_base: float = Field(0.1, gt=0)
    backoff_max: float = Field(5.0, gt=0)
    retry_after_cap: float = Field(10.0, ge=0, description="longest Retry-After honoured")
    token: SecretStr | None = None
    management_token: SecretStr | None = None
    token_file: Path | None = Field(None, description="TorchServe's key_file.json")
    # How requests travel; see serving_client.transports for the measured trade-offs.
    transport: Literal["aiohttp", "httpx-aiohttp", "httpx"] = "aiohttp"
    max_connections: int = Field(20, ge=1)
    max_keepalive_connections: int = Field(10, ge=0)
    batch_chunk_size: int = Field(32, ge=1)
    max_text_chars: int = Field(MAX_TEXT_CHARS, ge=1)
    overlong_text: Literal["truncate", "reject"] = "truncate"
    failure_threshold: int = Field(5, ge=1)
    recovery_timeout: float = Field(60.0, gt=0)
    half_open_probes: int = Field(1, ge=1)
    # The recovery timeout is stretched by up to this fraction so that clients that tripped
    # together do not probe together.
    recovery_jitter: float = Field(0.1, ge=0, le=1)
    health_check_interval: float = Field(30.0, ge=0)
    health_check_timeout: float = Field(5.0, gt=0)
    use_torchserve: bool = True
    local_model_path: Path | None = Field(None, description="a .mar or a Hugging Face model dir")

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.max_keepalive_connections > self.max_connections:
            raise ValueError(
                f"max_keepalive_connections ({self.max_keepalive_connections}) must not exceed "
                f"max_connections ({self.max_connections})"
            )
        if not self.use_torchserve and self.local_model_path is None:
            raise ValueError(
                "local mode (USE_TORCHSERVE=false) needs local_model_path (LOCAL_MODEL_PATH): "
                "a .mar file or a Hugging Face model directory"
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ClientSettings:
        """Settings from the variables in ``ENV_VARS`` (``os.environ`` by default), then overrides.

        Raises ``ValueError`` naming the variable to fix when a value does not validate.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {
            field: environ[name] for name, field in ENV_VARS.items() if environ.get(name, "") != ""
        }
        values.update(overrides)
        return cls.build(values)

    @classmethod
    def build(cls, values: Mapping[str, Any]) -> ClientSettings:
        """Validate ``values``; a failure becomes a ``ValueError`` that says what to fix."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            raise ValueError(_explain(exc)) from None

    def replace(self, **changes: Any) -> ClientSettings:
        """A copy with ``changes`` applied and validated again."""
        if not changes:
            return self
        return self.build({**dict(self), **changes})

    @property
    def inference_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def management_url(self) -> str:
        return f"http://{self.host}:{self.management_port}"

    @property
    def predictions_url(self) -> str:
        path = f"/predictions/{self.model_name}"
        if self.model_version:
            path += f"/{self.model_version}"
        return self.inference_url + path

    def key_file(self) -> Path | None:
        """``token_file``; without one, the key file ``make serve`` wrote, when the server is on
        this machine (a local key is never sent to another host)."""
        if self.token_file is not None:
            return self.token_file
        if not _is_loopback(self.host):
            return None
        default = default_key_file()
        return default if default is not None and default.is_file() else None

    def inference_key(self) -> str | None:
        """The inference token: ``token`` if given, else the key file's inference key."""
        if self.token is not None:
            return self.token.get_secret_value()
        key_file = self.key_file()
        return read_key(key_file, "inference") if key_file else None

    def management_key(self) -> str | None:
        """The management token: ``management_token`` if given, else the key file's."""
        if self.management_token is not None:
            return self.management_token.get_secret_value()
        key_file = self.key_file()
        return read_key(key_file, "management") if key_file else None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        env = _FIELD_TO_ENV.get(field)
        where = f"{field} ({env})" if env else field or "settings"
        problems.append(f"{where}: {error['msg']}")
    return "invalid serving client settings: " + "; ".join(problems)
