"""What the serving client costs over a bare aiohttp loop, against the same local stub server.

    python benchmarks/client_overhead.py            # writes reports/bench/client.json

A stub server (aiohttp.web in a separate process, answering every prediction with the same
TorchServe-shaped JSON) stands in for TorchServe, so the figures measure the client, not a model.
Each configuration sends the same request (``{"text": …}`` JSON, bearer token) with a fixed number
of coroutines in flight (concurrency 1 and 64):

- ``bare_aiohttp``: one ``aiohttp.ClientSession`` capped at the client's default pool size (20
  connections), post, read, ``json.loads``; ``bare_aiohttp_uncapped`` keeps aiohttp's default
  connector (up to 100 connections: one per caller here).
- ``client_<transport>``: ``TorchServeClient.classify`` with every feature on (validation,
  deadline, retries, circuit breaker, health cache, Prometheus metrics, typed results) on each
  of its transports (``aiohttp``, ``httpx-aiohttp``, ``httpx``), settings at their defaults.

Runs are interleaved and repeated; the report keeps each configuration's median requests/s and
its client CPU time per request (the process's CPU time: the server runs elsewhere).
Goal: the client reaches at least 0.8x the bare loop's requests/s at concurrency 64, both with
the same connection cap; the ratio to the uncapped loop is reported beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from serving_client import ClientSettings

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "reports" / "bench" / "client.json"
MODEL = "intent_classifier"
TOKEN = "benchmark-token"
PROMPT = "Plan a three-day trip to Lisbon with a museum each morning"
PREDICTION = {
    "intent": "task_planning",
    "confidence": 0.91,
    "top_k": [
        {"intent": "task_planning", "score": 0.91},
        {"intent": "problem_solving", "score": 0.05},
        {"intent": "question_answering", "score": 0.02},
    ],
    "model_version": "1.0",
    "truncated": False,
}
CONCURRENCY = (1, 64)
DEFAULT_POOL = ClientSettings().max_connections
AIOHTTP_DEFAULT_LIMIT = 100
TARGET_RATIO = 0.8


def serve(port: int) -> None:
    """The stub: a fixed prediction for every POST /predictions/<model>, healthy /ping."""
    from aiohttp import web

    body = json.dumps(PREDICTION).encode()

    async def predict(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, content_type="application/json")

    async def ping(request: web.Request) -> web.Response:
        return web.json_response({"status": "Healthy"})

    app = web.Application()
    app.router.add_post(f"/predictions/{MODEL}", predict)
    app.router.add_get("/ping", ping)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def start_stub() -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, port
        except OSError:
            time.sleep(0.05)  # polling a port another process opens: no event to wait on
    process.kill()
    raise RuntimeError("the stub server did not start within 30 s")


async def drive(call: Callable[[], Awaitable[None]], requests: int, concurrency: int) -> dict:
    """Send ``requests`` calls with ``concurrency`` coroutines; rate, latency and CPU cost."""
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    latencies.sort()
    return {
        "requests_per_s": requests / wall,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "client_cpu_us_per_request": cpu / requests * 1e6,
    }


def bare_run(limit: int) -> Callable[[int, int, int], Awaitable[dict]]:
    """The baseline: a bare aiohttp loop holding at most ``limit`` connections."""

    async def run(port: int, requests: int, concurrency: int) -> dict:
        return await bare_aiohttp(port, requests, concurrency, limit)

    return run


async def bare_aiohttp(port: int, requests: int, concurrency: int, limit: int) -> dict:
    url = f"http://127.0.0.1:{port}/predictions/{MODEL}"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit)) as session:

        async def call() -> None:
            body = json.dumps({"text": PROMPT}).encode()
            async with session.post(url, data=body, headers=headers) as response:
                payload = json.loads(await response.read())
                if response.status != 200 or "intent" not in payload:
                    raise RuntimeError(f"stub answered {response.status}")

        await drive(call, min(requests, 200), concurrency)  # warm the pool
        return await drive(call, requests, concurrency)


def client_run(transport: str) -> Callable[[int, int, int], Awaitable[dict]]:
    """``classify`` on ``transport``, every other setting at its default (a pool of 20)."""

    async def run(port: int, requests: int, concurrency: int) -> dict:
        from prometheus_client import CollectorRegistry

        from serving_client import TorchServeClient

        async with TorchServeClient(
            port=port, token=TOKEN, transport=transport, registry=CollectorRegistry()
        ) as client:
            if not (await client.health()).healthy:
                raise RuntimeError("stub server is not healthy")

            async def call() -> None:
                prediction = await client.classify(PROMPT)
                if prediction.intent != PREDICTION["intent"]:
                    raise RuntimeError("unexpected prediction")

            await drive(call, min(requests, 200), concurrency)
            return await drive(call, requests, concurrency)

    return run


# name -> (run, the concurrencies it runs at)
CONFIGS: dict[str, tuple[Callable[[int, int, int], Awaitable[dict]], tuple[int, ...]]] = {
    "bare_aiohttp": (bare_run(DEFAULT_POOL), CONCURRENCY),
    "bare_aiohttp_uncapped": (bare_run(AIOHTTP_DEFAULT_LIMIT), (64,)),
    "client_aiohttp": (client_run("aiohttp"), CONCURRENCY),
    "client_httpx_aiohttp": (client_run("httpx-aiohttp"), CONCURRENCY),
    "client_httpx": (client_run("httpx"), CONCURRENCY),
}


def paired_ratios(runs: dict[tuple[str, int], list[dict]], client: str, bare: str) -> list[float]:
    """Requests/s of ``client`` over ``bare`` at concurrency 64, one ratio per repeat."""
    return [
        mine["requests_per_s"] / theirs["requests_per_s"]
        for mine, theirs in zip(runs[(client, 64)], runs[(bare, 64)], strict=True)
    ]


def requests_per_run(name: str, concurrency: int, requests: int) -> int:
    """Fewer requests where a run is slow (one caller; httpx's own pool), to bound the time."""
    return requests // 4 if concurrency == 1 or name == "client_httpx" else requests


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "aiohttp": aiohttp.__version__,
        "httpx": __import__("httpx").__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per run")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved runs per config")
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0

    at_start = machine()
    process, port = start_stub()
    runs: dict[tuple[str, int], list[dict]] = {}
    try:
        for repeat in range(args.repeats):
            for concurrency in CONCURRENCY:
                for name, (run, concurrencies) in CONFIGS.items():
                    if concurrency not in concurrencies:
                        continue
                    requests = requests_per_run(name, concurrency, args.requests)
                    result = asyncio.run(run(port, requests, concurrency))
                    runs.setdefault((name, concurrency), []).append(result)
                    print(
                        f"run {repeat + 1}/{args.repeats} {name:20} c={concurrency:<3} "
                        f"{result['requests_per_s']:8.0f} req/s "
                        f"{result['client_cpu_us_per_request']:6.0f} us cpu/req",
                        file=sys.stderr,
                    )
    finally:
        process.terminate()
        process.wait(timeout=10)

    results = [
        {
            "config": name,
            "concurrency": concurrency,
            "requests_per_run": requests_per_run(name, concurrency, args.requests),
            "runs": len(samples),
            **{key: round(statistics.median(s[key] for s in samples), 2) for key in samples[0]},
            "requests_per_s_all_runs": [round(s["requests_per_s"], 1) for s in samples],
        }
        for (name, concurrency), samples in runs.items()
    ]
    by_key = {(r["config"], r["concurrency"]): r for r in results}
    # Each repeat ran the bare loop and the client back to back, so their ratio within a repeat
    # cancels most of the drift in what else the machine is doing.
    ratios = paired_ratios(runs, "client_aiohttp", "bare_aiohttp")
    ratio = statistics.median(ratios)
    uncapped = paired_ratios(runs, "client_aiohttp", "bare_aiohttp_uncapped")
    report = {
        "benchmark": "client_overhead",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**at_start, "load_average_at_end": os.getloadavg()},
        "method": (
            "stub aiohttp.web server in its own process; per config and concurrency, 200 warm-up "
            "requests then a timed run; configs interleaved, median of the runs reported; the "
            "goal's value is the median over repeats of client/bare requests/s within a repeat. "
            "The client keeps its defaults (a pool of 20 connections); bare_aiohttp is capped at "
            "the same 20, bare_aiohttp_uncapped opens one connection per caller."
        ),
        "results": sorted(results, key=lambda r: (r["concurrency"], r["config"])),
        "transport_choice": {
            "concurrency": 64,
            "chosen": "aiohttp",
            **{
                f"{transport}_requests_per_s": by_key[(f"client_{transport}", 64)]["requests_per_s"]
                for transport in ("aiohttp", "httpx_aiohttp", "httpx")
            },
        },
        "goals": [
            {
                "name": "client requests/s / bare aiohttp loop's, concurrency 64, 20 connections",
                "value": round(ratio, 3),
                "per_repeat": [round(r, 3) for r in ratios],
                "target": TARGET_RATIO,
                "met": ratio >= TARGET_RATIO,
            }
        ],
        "client_vs_uncapped_bare_at_64": {
            "value": round(statistics.median(uncapped), 3),
            "per_repeat": [round(r, 3) for r in uncapped],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["goals"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
