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
    InvalidInputError,
    ModelNotFoundError,
    ServerBusyError,
    TorchServeConnectionError,
    TorchServeError,
    TorchServeInferenceError,
    TorchServeTimeoutError,
)
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
    "HealthStatus",
    "IntentPrediction",
    "IntentScore",
    "InvalidInputError",
    "ModelInfo",
    "ModelNotFoundError",
    "ServerBusyError",
    "SyncTorchServeClient",
    "TorchServeClient",
    "TorchServeConnectionError",
    "TorchServeError",
    "TorchServeInferenceError",
    "TorchServeTimeoutError",
]
