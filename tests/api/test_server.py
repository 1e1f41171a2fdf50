"""``python -m api`` as a real uvicorn process: raw HTTP limits, JSON logs, load, shutdown, and
``make api`` / ``make api-stop`` (``python -m api.background``)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import httpx
import pytest

from api.background import is_our_api
from contract import project_root
from ops.processes import start_ticks
from tests.api.support import AUTH, KEY, OTHER_KEY, free_port, torchserve_env


def _raw_request(port: int, head: str, body_chunks: list[bytes]) -> tuple[int, bytes]:
    """Send a hand-written request; the status and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading it all: allowed
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                break
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


@pytest.mark.slow
def test_oversized_bodies_are_413_chunked_or_not(api_process) -> None:
    head = (
        "POST /v1/classify HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {KEY}\r\n"
    )
    chunk = b"x" * 8192
    chunked = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 10 + [b"0\r\n\r\n"]
    status, body = _raw_request(
        api_process.port, head + "Transfer-Encoding: chunked\r\n\r\n", chunked
    )
    assert status == 413 and json.loads(body)["error"]["type"] == "payload_too_large"

    status, body = _raw_request(api_process.port, head + "Content-Length: 70000\r\n\r\n", [chunk])
    assert status == 413

    # A chunked body under the limit is read and answered.
    small = json.dumps({"text": "hello there"}).encode()
    ok = [b"%x\r\n%s\r\n" % (len(small), small), b"0\r\n\r\n"]
    status, body = _raw_request(api_process.port, head + "Transfer-Encoding: chunked\r\n\r\n", ok)
    assert status == 200 and "intent" in json.loads(body)


@pytest.mark.slow
def test_logs_are_json_lines_with_request_ids_and_no_secrets(api_process, torchserve) -> None:
    from contract import read_key

    with httpx.Client(base_url=api_process.url) as http:
        ok = http.post(
            "/v1/classify",
            json={"text": "a private prompt"},
            headers={**AUTH, "X-Request-ID": "r-1"},
        )
        refused = http.post(
            "/v1/classify",
            json={"text": "x"},
            headers={"Authorization": "Bearer nope-nope-nope-nope"},
        )
    assert ok.status_code == 200 and ok.headers["X-Request-ID"] == "r-1"
    assert refused.status_code == 401
    api_process.stop()
    lines = [json.loads(line) for line in api_process.log_text().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "api.access"]
    (mine,) = [line for line in access if line["request_id"] == "r-1"]
    assert mine["status"] == 200 and mine["path"] == "/v1/classify" and mine["intent"]
    assert mine["key_id"].startswith("key-") and mine["duration_ms"] > 0
    assert any(line["status"] == 401 for line in access)
    text = api_process.log_text()
    for secret in (
        KEY,
        OTHER_KEY,
        "nope-nope-nope-nope",
        read_key(torchserve.key_file, "inference"),
    ):
        assert secret not in text
    assert "a private prompt" not in text
    assert any("Application shutdown complete" in line["message"] for line in lines)


async def _load(url: str, callers: int, seconds: float) -> Counter:
    """``callers`` coroutines posting /v1/classify for ``seconds``; the statuses seen."""
    statuses: Counter = Counter()
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=callers)
    async with aiohttp.ClientSession(connector=connector, headers=AUTH) as session:

        async def caller(n: int) -> None:
            i = 0
            while time.monotonic() < deadline:
                body = {"text": f"caller {n} asks question {i}: what is a monad?"}
                async with session.post(f"{url}/v1/classify", json=body) as response:
                    await response.read()
                    statuses[response.status] += 1
                i += 1

        await asyncio.gather(*(caller(n) for n in range(callers)))
    return statuses


@pytest.mark.slow
async def test_64_concurrent_callers_get_no_5xx(api_process) -> None:
    statuses = await _load(api_process.url, callers=64, seconds=4.0)
    assert sum(statuses.values()) > 64
    assert set(statuses) == {200}, statuses


def test_python_m_api_refuses_to_start_without_keys() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_API_")}
    result = subprocess.run(
        [sys.executable, "-m", "api"], env=env, capture_output=True, text=True, timeout=60,
        cwd=project_root(),
    )  # fmt: skip
    assert result.returncode == 2
    assert "INTENT_API_KEYS" in result.stderr and "INTENT_API_AUTH=off" in result.stderr


def _background(command: str, state_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "api.background", command, "--state-dir", str(state_dir)],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
        cwd=project_root(),
    )  # fmt: skip


@pytest.mark.slow
def test_background_start_and_stop_signal_only_the_api_they_started(torchserve, tmp_path) -> None:
    state_dir = tmp_path / ".api"
    port = free_port()
    env = {**torchserve_env(torchserve), "INTENT_API_KEYS": KEY, "INTENT_API_PORT": str(port)}
    started = _background("start", state_dir, env)
    assert started.returncode == 0, started.stderr
    assert f"http://127.0.0.1:{port}" in started.stdout and "/v1/classify" in started.stdout
    state = json.loads((state_dir / "api.json").read_text())
    assert (state_dir / ".gitignore").read_text() == "*\n"
    assert is_our_api(state["pid"], state["started"])
    answer = httpx.post(f"http://127.0.0.1:{port}/v1/classify", json={"text": "hi"}, headers=AUTH)
    assert answer.status_code == 200
    again = _background("start", state_dir, env)
    assert again.returncode == 1 and "already running" in again.stderr

    stopped = _background("stop", state_dir, env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not is_our_api(state["pid"], state["started"]) and not (state_dir / "api.json").exists()
    assert "Application shutdown complete" in (state_dir / "api.log").read_text()

    # A state whose pid now belongs to another process (here: this test) is stale: no signal.
    (state_dir / "api.json").write_text(
        json.dumps({"pid": os.getpid(), "started": start_ticks(os.getpid()), "url": "x"})
    )
    stale = _background("stop", state_dir, env)
    assert stale.returncode == 0 and "was not running" in stale.stdout
    assert start_ticks(os.getpid()) is not None  # still here
