"""The client's errors, one class per thing a caller can do about it.

```
TorchServeError                   anything the client could not do
├── TorchServeConnectionError     network failure: retried, then raised; check the server is up
│   └── TorchServeTimeoutError    the call's deadline passed
│       └── PoolTimeoutError      ...while waiting for one of the client's own connections
├── ServerBusyError               no worker free or queue full (503, 429): retried, then raised
├── TorchServeInferenceError      the model failed on this input (5xx): not retried
├── InvalidInputError             bad input (4xx or client-side check): fix the input
├── AuthenticationError           token missing, wrong or expired: re-authenticate
├── ModelNotFoundError            the model is not registered: check the model name
├── CircuitOpenError              recent calls failed; rejected without calling the server
└── ConfigurationError            bad settings, call options or key file: fix the code or env
```

Nothing else escapes the client's calls: an exception no rule covers (a bug) comes out as a plain
``TorchServeError`` with the original as ``__cause__``. Cancellation (``asyncio.CancelledError``)
and ``KeyboardInterrupt`` pass through untouched.

Messages are safe to show to a user: they hold no token and no server internals (those are
logged by the client).
"""

from __future__ import annotations


class TorchServeError(Exception):
    """Base class. ``status_code`` is the HTTP status when the server answered; ``attempts`` is
    how many requests the call made before giving up."""

    status_label = "error"

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.attempts = 0

    def __str__(self) -> str:
        return self.message


class TorchServeConnectionError(TorchServeError):
    """The server could not be reached or dropped the connection."""

    status_label = "connection_error"


class TorchServeTimeoutError(TorchServeConnectionError):
    """The call's deadline passed before an answer arrived."""

    status_label = "timeout"


class PoolTimeoutError(TorchServeTimeoutError):
    """The call's deadline passed while it waited for one of the client's own connections.

    Says nothing about the server (it was never asked), so it does not count against the
    breaker: too many calls at once for ``max_connections``.
    """

    status_label = "pool_timeout"


class ServerBusyError(TorchServeError):
    """The server had no capacity; ``retry_after`` is its hint in seconds, when it gave one."""

    status_label = "server_busy"

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class TorchServeInferenceError(TorchServeError):
    """The model (or its handler) failed, or answered something that is not a prediction."""

    status_label = "inference_error"


class InvalidInputError(TorchServeError, ValueError):
    """The input cannot be classified as given; the message says what to change."""

    status_label = "invalid_input"


class AuthenticationError(TorchServeError):
    """TorchServe refused the token (it answers 400 for a missing, wrong or expired key)."""

    status_label = "auth_error"


class ModelNotFoundError(TorchServeError):
    """The model name (or version) is not registered on the server."""

    status_label = "model_not_found"


class CircuitOpenError(TorchServeError):
    """Rejected without a request because the endpoint's breaker is open.

    ``retry_after`` is the number of seconds until the breaker lets a probe through.
    """

    status_label = "circuit_open"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(TorchServeError, ValueError):
    """The client's settings, a call's options or the key file cannot be used as given; the
    message says what to change. Nothing was sent."""

    status_label = "configuration_error"


STATUS_LABELS: tuple[str, ...] = (
    "success",
    *(
        cls.status_label
        for cls in (
            TorchServeError,
            TorchServeConnectionError,
            TorchServeTimeoutError,
            PoolTimeoutError,
            ServerBusyError,
            TorchServeInferenceError,
            InvalidInputError,
            AuthenticationError,
            ModelNotFoundError,
            CircuitOpenError,
            ConfigurationError,
        )
    ),
)
