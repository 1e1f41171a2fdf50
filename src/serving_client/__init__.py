"""A resilient client for the intent classifier served by TorchServe.

```python
from serving_client import TorchServeClient

async with TorchServeClient.from_env() as client:
    prediction = await client.classify("Summarize the notes above in three bullets")
```
"""

from serving_client.breaker import BreakerState, CircuitBreaker
from serving_client.client import BatchResult, TorchServeClient
from serving_client.errors import (
    AuthenticationError,
    CircuitOpenError,
    ConfigurationError,
    InvalidInputError,
    ModelNotFoundError,
    PoolTimeoutError,
    ServerBusyError,
    TorchServeConnectionError,
    TorchServeError,
    TorchServeInferenceError,
    TorchServeTimeoutError,
)
from serving_client.redaction import protect_loggers
from serving_client.results import HealthStatus, IntentPrediction, IntentScore, ModelInfo
from serving_client.settings import ClientSettings
from serving_client.sync import SyncTorchServeClient

__all__ = [
    "AuthenticationError",
    "BatchResult",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "ClientSettings",
    "ConfigurationError",
    "HealthStatus",
    "IntentPrediction",
    "IntentScore",
    "InvalidInputError",
    "ModelInfo",
    "ModelNotFoundError",
    "PoolTimeoutError",
    "ServerBusyError",
    "SyncTorchServeClient",
    "TorchServeClient",
    "TorchServeConnectionError",
    "TorchServeError",
    "TorchServeInferenceError",
    "TorchServeTimeoutError",
]

# Every module above has made its logger by now; each gets the token filter.
protect_loggers()
