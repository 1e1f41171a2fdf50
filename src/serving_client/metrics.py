"""Prometheus metrics of the client.

| Metric | Type | Labels | Meaning |
|---|---|---|---|
| ``torchserve_requests_total`` | counter | ``status`` | calls by outcome: "success" or an error |
| ``torchserve_request_duration_seconds`` | histogram | | a call's wall time, retries included |
| ``torchserve_connection_status`` | gauge | | 1: the server answered last; 0: it did not |
| ``torchserve_retry_total`` | counter | ``reason`` | retries by cause ("connect", "429", …) |
| ``torchserve_circuit_breaker_state`` | gauge | ``endpoint`` | 0 closed, 1 open, 2 half-open |

A failed call's ``status`` is its error's ``status_label`` (``errors.STATUS_LABELS``): a
"pool_timeout" is the client's own pool saturated, a "timeout" the server too slow.

Clients that share a registry share one set of metrics (the default is prometheus_client's
global registry).
"""

from __future__ import annotations

import weakref

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from serving_client.breaker import BreakerState
from serving_client.errors import STATUS_LABELS

# Covers a warm local call (a few ms) up to the default 30 s deadline.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, ClientMetrics] = (
    weakref.WeakKeyDictionary()
)


class ClientMetrics:
    """The client's instruments in one registry; get them with ``ClientMetrics.of(registry)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "torchserve_requests", "Client calls to TorchServe by outcome.", ["status"],
            registry=registry,
        )  # fmt: skip
        self.duration = Histogram(
            "torchserve_request_duration_seconds",
            "Wall time of a client call to TorchServe, retries included.",
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.connection_status = Gauge(
            "torchserve_connection_status",
            "1 when TorchServe answered the client's last request or ping, 0 when it did not.",
            registry=registry,
        )
        self.retries = Counter(
            "torchserve_retry", "Retried requests to TorchServe by cause.", ["reason"],
            registry=registry,
        )  # fmt: skip
        self.breaker_state = Gauge(
            "torchserve_circuit_breaker_state",
            "Circuit breaker state per endpoint: 0 closed, 1 open, 2 half-open.",
            ["endpoint"],
            registry=registry,
        )
        # Bound children skip a label lookup on every call.
        self._by_status = {status: self.requests.labels(status=status) for status in STATUS_LABELS}

    @classmethod
    def of(cls, registry: CollectorRegistry | None = None) -> ClientMetrics:
        """The metrics registered in ``registry`` (the global one by default), made once."""
        registry = REGISTRY if registry is None else registry
        metrics = _BY_REGISTRY.get(registry)
        if metrics is None:
            metrics = _BY_REGISTRY[registry] = cls(registry)
        return metrics

    def observe_call(self, status: str, seconds: float) -> None:
        child = self._by_status.get(status) or self.requests.labels(status=status)
        child.inc()
        self.duration.observe(seconds)

    def observe_retry(self, reason: str) -> None:
        self.retries.labels(reason=reason).inc()

    def set_connected(self, connected: bool) -> None:
        self.connection_status.set(1 if connected else 0)

    def set_breaker_state(self, endpoint: str, state: BreakerState) -> None:
        self.breaker_state.labels(endpoint=endpoint).set(int(state))
