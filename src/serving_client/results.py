"""What the client's calls return."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contract import check_prediction


@dataclass(frozen=True, slots=True)
class IntentScore:
    """One of the top-k intents with its probability."""

    intent: str
    score: float


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    """The classifier's answer for one text.

    ``truncated`` is True when the text was cut to fit (by the client's character limit or the
    model's token limit); ``latency_ms`` is the client's wall time for the call, retries
    included; ``attempts`` is how many requests it took.
    """

    # A plain dataclass with a hand-written check: one is built per request, and pydantic's
    # validation and copying cost more CPU than the rest of the client's bookkeeping together.
    intent: str
    confidence: float
    top_k: tuple[IntentScore, ...]
    model_version: str
    truncated: bool
    latency_ms: float
    attempts: int
    # The model's own flag: its calibrated confidence is under the threshold chosen on validation
    # data, so the intent is a guess (False from servers that predate the flag).
    low_confidence: bool = False

    @classmethod
    def from_server(
        cls, payload: Any, *, latency_ms: float, attempts: int, truncated: bool = False
    ) -> IntentPrediction:
        """Check and convert the handler's JSON object; ``truncated`` is ORed with its flag.

        Raises ``ValueError`` saying what is wrong with ``payload`` (``contract.check_prediction``).
        """
        body = check_prediction(payload)
        return cls(
            intent=body["intent"],
            confidence=float(body["confidence"]),
            top_k=tuple(
                IntentScore(entry["intent"], float(entry["score"])) for entry in body["top_k"]
            ),
            model_version=body["model_version"],
            truncated=truncated or body["truncated"],
            low_confidence=body.get("low_confidence", False),
            latency_ms=latency_ms,
            attempts=attempts,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, ``top_k`` as a list of ``{"intent", "score"}``."""
        return {**asdict(self), "top_k": [asdict(score) for score in self.top_k]}


class HealthStatus(BaseModel):
    """The server's answer to ``/ping``.

    ``status`` is TorchServe's own word ("Healthy", "Partial Healthy", "Unhealthy") or
    "Unreachable"; ``cached`` says the answer is from the last check, not a new one.
    """

    model_config = ConfigDict(frozen=True)

    healthy: bool
    status: str
    detail: str = ""
    checked_at: float = Field(description="time.time() of the check")
    latency_ms: float
    cached: bool = False


class WorkerInfo(BaseModel):
    """One TorchServe worker process of a model."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: str
    status: str
    pid: int | None = None
    memory_usage: int | None = Field(None, alias="memoryUsage")
    gpu: bool = False


class ModelInfo(BaseModel):
    """A model version as TorchServe's management API describes it: workers and queue."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    model_name: str = Field(alias="modelName")
    model_version: str = Field(alias="modelVersion")
    batch_size: int | None = Field(None, alias="batchSize")
    max_batch_delay: int | None = Field(None, alias="maxBatchDelay", description="ms")
    min_workers: int | None = Field(None, alias="minWorkers")
    max_workers: int | None = Field(None, alias="maxWorkers")
    workers: tuple[WorkerInfo, ...] = ()
    pending_requests: int | None = None
    queue_capacity: int | None = Field(None, description="free places in the job queue")

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> ModelInfo:
        """Build from one element of ``GET /models/{name}``'s answer."""
        queue = description.get("jobQueueStatus") or {}
        return cls.model_validate(
            {
                **description,
                "pending_requests": queue.get("pendingRequests"),
                "queue_capacity": queue.get("remainingCapacity"),
            }
        )

    @property
    def ready_workers(self) -> int:
        return sum(worker.status == "READY" for worker in self.workers)
