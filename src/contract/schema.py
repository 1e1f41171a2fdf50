"""The prediction a served model answers, as JSON: its one definition.

```
{"intent": "translation", "confidence": 0.97,
 "top_k": [{"intent": "translation", "score": 0.97}, ...],
 "model_version": "3", "truncated": false, "low_confidence": false}
```

``confidence`` is the top probability, calibrated on held-out data so that it can be read as the
chance the intent is right; ``top_k`` is ranked, best first, and starts with ``intent``;
``truncated`` says the prompt was cut to the model's token limit; ``low_confidence`` says the
confidence is under the threshold chosen on validation data, so a caller should not act on the
intent alone (older servers may omit it: read it as false). The handler builds
it, and every reader (client, deploy and smoke checks, API) checks it with
:func:`check_prediction`.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any, NotRequired, TypedDict

# The name the model is registered and served under.
MODEL_NAME = "intent_classifier"


class ScoreBody(TypedDict):
    intent: str
    score: float


class PredictionBody(TypedDict):
    intent: str
    confidence: float
    top_k: list[ScoreBody]
    model_version: str
    truncated: bool
    low_confidence: NotRequired[bool]


PREDICTION_FIELDS = ("intent", "confidence", "top_k", "model_version", "truncated")
OPTIONAL_FIELDS = ("low_confidence",)


def check_prediction(payload: Any, labels: Container[str] | None = None) -> PredictionBody:
    """Return ``payload`` when it is a well-formed prediction, else raise ``ValueError`` saying
    what is wrong. With ``labels``, every intent must be one of them."""
    if not isinstance(payload, dict):
        raise ValueError(f"a prediction is a JSON object, got {type(payload).__name__}")
    missing = [name for name in PREDICTION_FIELDS if name not in payload]
    if missing:
        raise ValueError(f"prediction lacks {missing}")
    _intent(payload["intent"], labels)
    _probability(payload["confidence"], "confidence")
    if not isinstance(payload["model_version"], str) or not payload["model_version"]:
        raise ValueError("prediction's model_version must be a non-empty string")
    for flag in ("truncated", *OPTIONAL_FIELDS):
        if flag in payload and not isinstance(payload[flag], bool):
            raise ValueError(f"prediction's {flag} must be true or false")
    top_k = payload["top_k"]
    if not isinstance(top_k, list) or not top_k:
        raise ValueError("prediction's top_k must be a non-empty list")
    scores = []
    for entry in top_k:
        if not isinstance(entry, dict):
            raise ValueError("each top_k entry is an object {intent, score}")
        _intent(entry.get("intent"), labels)
        scores.append(_probability(entry.get("score"), "top_k score"))
    if top_k[0]["intent"] != payload["intent"]:
        raise ValueError("top_k must start with the predicted intent")
    if scores != sorted(scores, reverse=True):
        raise ValueError("top_k must be ranked by score, best first")
    return payload  # type: ignore[return-value]


def _intent(value: Any, labels: Container[str] | None) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"an intent is a non-empty string, got {value!r}")
    if labels is not None and value not in labels:
        raise ValueError(f"unknown intent {value!r}")
    return value


def _probability(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be a probability between 0 and 1, got {value!r}")
    return float(value)
