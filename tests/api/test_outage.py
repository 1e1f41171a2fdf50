"""TorchServe stopped under a running API: readiness turns 503, liveness stays 200, and calls get
a quick JSON 503, then the breaker's 503 with Retry-After; never a 500 or a hang."""

from __future__ import annotations

import time

import pytest

from api import create_app
from ops.server import start_torchserve
from tests.api.support import AUTH, serve_in_process, settings, torchserve_env

pytestmark = pytest.mark.slow

CALL_TIMEOUT = 3.0


async def test_stopping_torchserve_turns_ready_503_and_calls_503_quickly(
    tiny_archive, tmp_path, monkeypatch
) -> None:
    server = start_torchserve(
        tiny_archive.parent,
        models=f"intent_classifier={tiny_archive.name}",
        workdir=tmp_path / "torchserve",
    )
    try:
        env = torchserve_env(
            server,
            TORCHSERVE_TIMEOUT=str(CALL_TIMEOUT),
            CIRCUIT_BREAKER_FAILURE_THRESHOLD="2",
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        async with serve_in_process(create_app(settings())) as http:
            assert (await http.get("/health/ready")).status_code == 200
            ok = await http.post("/v1/classify", json={"text": "hello"}, headers=AUTH)
            assert ok.status_code == 200

            server.stop()

            started = time.monotonic()
            down = await http.post("/v1/classify", json={"text": "hello"}, headers=AUTH)
            assert time.monotonic() - started < CALL_TIMEOUT + 1.0
            assert down.status_code == 503, down.text
            assert down.json()["error"]["type"] == "unavailable"

            ready = await http.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["status"] == "unready" and ready.json()["reason"]
            assert (await http.get("/health/live")).status_code == 200

            # Failures in a row open the breaker: then calls are refused at once, Retry-After.
            for _ in range(3):
                paused = await http.post(
                    "/v1/enhance", json={"text": "hello"}, headers=AUTH, timeout=CALL_TIMEOUT + 2
                )
                assert paused.status_code == 503
            assert int(paused.headers["Retry-After"]) >= 1
            started = time.monotonic()
            batch = await http.post("/v1/classify/batch", json={"texts": ["a", "b"]}, headers=AUTH)
            assert batch.status_code == 503 and time.monotonic() - started < 1.0
            ready = await http.get("/health/ready")
            assert ready.status_code == 503 and "Retry-After" in ready.headers
            metrics = (await http.get("/metrics")).text
            assert 'status="503"' in metrics and 'status="500"' not in metrics
            assert "torchserve_circuit_breaker_state{" in metrics
    finally:
        server.stop()
