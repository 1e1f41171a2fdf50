"""TorchServe handler: a batch of prompts in, one intent prediction (or error) per request out.

Packed into the .mar by ``python -m train.package``; the archive also carries ``handlers/``, so the
imports below find the code that was packed with the model.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from pathlib import Path
from typing import Any

import torch
from ts.torch_handler.base_handler import BaseHandler

from handlers.payloads import ParsedBatch, parse_batch
from handlers.prediction import HandlerSettings, IntentPredictor

# Response header carrying how many requests shared the forward pass, so load tests (and curious
# operators) can see the server's batching.
BATCH_SIZE_HEADER = "x-intent-batch-size"


# What the worker logs for every batch: a line saying it received one (TorchServe's own), and,
# when enabled, one line per model metric. Each goes through the worker's stdout to the frontend,
# which parses or logs it: CPU on both sides of every request.
RECEIVED_LINE = "Backend received inference"
METRICS_LOGGER = "ts.metrics"


def _not_received_line(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(RECEIVED_LINE)


def quiet_per_batch_logging(*, model_metrics: bool) -> None:
    """Drop the worker's per-batch "received" line and, unless ``model_metrics``, its per-batch
    model metrics (HandlerTime, PredictionTime). Start-up lines, warnings and errors still go to
    the model log; the frontend's metrics are untouched."""
    root = logging.getLogger()
    if _not_received_line not in root.filters:
        root.addFilter(_not_received_line)
    logging.getLogger(METRICS_LOGGER).setLevel(logging.INFO if model_metrics else logging.WARNING)


class IntentHandler(BaseHandler):
    """Classifies prompts; bad requests get a 4xx of their own and never fail their batch."""

    def initialize(self, context: Any) -> None:
        properties = context.system_properties
        self.settings = HandlerSettings.from_model_config(context.model_yaml_config)
        if self.settings.torch_threads is not None:
            # The worker process is this model's alone, so the process-wide setting is ours.
            torch.set_num_threads(self.settings.torch_threads)
        quiet_per_batch_logging(model_metrics=self.settings.model_metrics)
        gpu_id = properties.get("gpu_id")
        device = f"cuda:{gpu_id}" if torch.cuda.is_available() and gpu_id is not None else "cpu"
        version = (context.manifest or {}).get("model", {}).get("modelVersion", "unknown")
        self.predictor = IntentPredictor.from_pretrained(
            Path(properties["model_dir"]) / self.settings.model_dir,
            device=device,
            model_version=version,
            **self.settings.predictor_kwargs(),
        )
        self.initialized = True

    def preprocess(self, data: list[dict[str, Any]]) -> tuple[ParsedBatch, Any]:
        batch = parse_batch(data, max_body_bytes=self.settings.max_body_bytes)
        encoded = self.predictor.encode(batch.texts) if batch.texts else None
        return batch, encoded

    def inference(self, data: tuple[ParsedBatch, Any], *args: Any, **kwargs: Any) -> Any:
        batch, encoded = data
        probabilities = self.predictor.forward(encoded) if encoded is not None else None
        return batch, encoded, probabilities

    def postprocess(self, data: Any) -> list[str]:
        batch, encoded, probabilities = data
        bodies: list[dict[str, Any]] = [{}] * batch.size
        if probabilities is not None:
            results = self.predictor.decode(probabilities, encoded.truncated)
            for position, result in zip(batch.positions, results, strict=True):
                bodies[position] = result
        for position, error in batch.errors.items():
            self.context.set_response_status(
                error.status, HTTPStatus(error.status).phrase, position
            )
            bodies[position] = error.to_json()
        for position in range(batch.size):
            self.context.set_response_content_type(position, "application/json")
            self.context.set_response_header(position, BATCH_SIZE_HEADER, str(batch.size))
        # Compact JSON here: TorchServe would otherwise pretty-print a dict with indent=2.
        return [json.dumps(body, separators=(",", ":")) for body in bodies]
