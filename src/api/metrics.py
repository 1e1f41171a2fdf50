"""Prometheus metrics of the API, in the registry of one app instance.

- ``intent_classification_requests_total{endpoint, status}``: answered ``/v1`` requests by
  HTTP status;
- ``intent_classification_duration_seconds{endpoint}``: histogram of a ``/v1`` request's time in
  the API;
- ``intent_predictions_total{intent}``: predictions served, by intent (each batch item counts).

The serving client registers its ``torchserve_*`` metrics in the same registry, so ``/metrics``
shows both sides of every call.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector

from contract import load_labels

# The endpoints measured; anything else (health, metrics, unknown paths) would only add noise
# and unbounded label values.
METERED_PATHS = ("/v1/classify", "/v1/classify/batch", "/v1/enhance")
# A warm request takes a few ms; the client's default deadline is 30 s.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ApiMetrics:
    """The API's instruments, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "intent_classification_requests",
            "Requests to the intent API's /v1 endpoints by HTTP status.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "intent_classification_duration_seconds",
            "Time the intent API took to answer a /v1 request.",
            ["endpoint"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.predictions = Counter(
            "intent_predictions", "Predictions served by the intent API, by intent.", ["intent"],
            registry=registry,
        )  # fmt: skip
        ProcessCollector(registry=registry)
        # Every series exists from the start, so a dashboard shows 0 rather than no data.
        self._durations = {path: self.duration.labels(endpoint=path) for path in METERED_PATHS}
        self._intents = {label: self.predictions.labels(intent=label) for label in load_labels()}

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        self._durations[endpoint].observe(seconds)

    def count_prediction(self, intent: str) -> None:
        child = self._intents.get(intent) or self.predictions.labels(intent=intent)
        child.inc()
