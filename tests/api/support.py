"""Helpers of the API's tests: apps in this process (httpx over ASGI, lifespan run), a real
``python -m api`` on a free loopback port, and a scripted stand-in for the serving client.

The stand-in exists for faults a real TorchServe cannot produce on demand (each client error
type, a bug in the client); every other test talks to a real TorchServe.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from api import ApiSettings
from contract import load_labels, project_root
from serving_client import (
    CircuitBreaker,
    HealthStatus,
    IntentPrediction,
    IntentScore,
    TorchServeError,
)
from serving_client.metrics import ClientMetrics

KEY = "test-key-0123456789abcdef"
OTHER_KEY = "other-key-fedcba9876543210"
AUTH = {"Authorization": f"Bearer {KEY}"}
LABELS = load_labels()


def prediction_for(text: str) -> IntentPrediction:
    intent = LABELS[sum(map(ord, text)) % len(LABELS)]
    return IntentPrediction(intent, 0.9, (IntentScore(intent, 0.9),), "stub", False, 1.0, 1)


@dataclass
class ScriptedClient:
    """Answers like ``TorchServeClient``: an echo prediction, or ``error`` when one is set."""

    registry: CollectorRegistry
    error: BaseException | None = None
    breaker: CircuitBreaker | None = None
    healthy: bool = True
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        ClientMetrics.of(self.registry)  # the torchserve_* metrics, as the real client registers

    async def __aenter__(self) -> ScriptedClient:
        return self

    async def aclose(self) -> None:
        pass

    async def classify(self, text: str, **_: Any) -> IntentPrediction:
        self.calls.append(text)
        if self.error is not None:
            raise self.error
        return prediction_for(text)

    async def classify_batch(self, texts: list[Any], **_: Any) -> list[Any]:
        from serving_client.validation import check_text

        results: list[Any] = []
        for text in texts:
            try:
                check_text(text, max_chars=2048, overlong="truncate")
                results.append(await self.classify(text))
            except TorchServeError as error:
                results.append(error)
        return results

    async def health(self) -> HealthStatus:
        status = "Healthy" if self.healthy else "Unreachable"
        return HealthStatus(healthy=self.healthy, status=status, checked_at=0.0, latency_ms=0.1)


def settings(**changes: Any) -> ApiSettings:
    return ApiSettings(**{"api_keys": [KEY, OTHER_KEY], **changes})


@asynccontextmanager
async def serve_in_process(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` with its lifespan run, and an httpx client that calls it in this process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
            yield http


def torchserve_env(server: Any, **extra: str) -> dict[str, str]:
    """The serving client's variables for a ``RunningTorchServe``."""
    return {
        "TORCHSERVE_HOST": "127.0.0.1",
        "TORCHSERVE_PORT": str(server.inference_port),
        "TORCHSERVE_MANAGEMENT_PORT": str(server.management_port),
        "TORCHSERVE_KEY_FILE": str(server.key_file),
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ApiProcess:
    """``python -m api`` in a child process; its stderr (the JSON log) goes to ``log``."""

    process: subprocess.Popen
    url: str
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait(timeout=10)
        return self.process.returncode


def start_api_process(env: dict[str, str], log: Path, timeout: float = 60.0) -> ApiProcess:
    port = free_port()
    environ = {
        **os.environ,
        "INTENT_API_HOST": "127.0.0.1",
        "INTENT_API_PORT": str(port),
        "INTENT_API_KEYS": f"{KEY},{OTHER_KEY}",
        **env,
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api"], env=environ, cwd=project_root(),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    api = ApiProcess(process, f"http://127.0.0.1:{port}", port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(api.url + "/health/live", timeout=2).status_code == 200:
                return api
        except httpx.TransportError:
            pass  # not listening yet
        try:
            process.wait(timeout=0.25)  # the poll interval, and notices an early exit
            break
        except subprocess.TimeoutExpired:
            continue
    api.stop()
    raise RuntimeError(f"python -m api did not come up:\n{api.log_text()[-3000:]}")


def record_texts(record: logging.LogRecord) -> list[str]:
    """Everything a handler could print of a record: message, arguments, traceback, extra fields
    (as the API's JSON formatter writes them)."""
    from api.logs import JsonFormatter

    texts = [record.getMessage(), repr(record.args), record.exc_text or "", record.stack_info or ""]
    texts.append(logging.Formatter().format(record))
    texts.append(JsonFormatter().format(record))
    texts.append(repr(record.__dict__))
    return texts


def leaks(secrets: list[str], records: list[logging.LogRecord]) -> list[str]:
    """Which records hold one of ``secrets`` (empty when none does)."""
    return [
        f"{record.name}: {record.getMessage()[:200]!r}"
        for record in records
        if any(secret in text for secret in secrets for text in record_texts(record))
    ]
