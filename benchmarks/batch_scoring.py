"""Batch-scoring benchmark: ``make score``'s path against the raw batched forward pass.

``python -m benchmarks.batch_scoring`` builds an archive of the offline MiniLM encoder (untrained
intent head: speed does not depend on training, as in benchmarks/serving.py), writes N prompts
drawn from data/raw (their real length mix) to a CSV, and measures, alternating:

- ``make score``: ``python -m train.score IN.csv OUT.csv`` in a fresh process, timed from launch
  to exit (interpreter and imports, Ray's start, actors loading the model, reading, scoring,
  writing), one actor per core with one torch thread each (the command's defaults), at N and at
  N/4 prompts: the difference is its steady rate, the rest its fixed start-up cost;
- raw forward: ``IntentPredictor.encode`` + ``forward`` in this process over the same N prompts,
  in consecutive batches of the same size, the model already loaded, at torch's stock thread
  count (every core) and at one thread, the faster counting; and, for reference, the same with
  the scorer's length sorting.

Writes ``reports/bench/batch_scoring.json`` with two goals, each ``make score`` ≥ 0.85 of raw
forward's prompts/s: once running (steady), and launch to exit at N. ``--dry-run`` does the
same with the tiny DeBERTa and 64 prompts (tests).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pandas as pd
import torch

from benchmarks.common import (
    REPORT_DIR,
    goal,
    machine_info,
    median,
    now_iso,
    table,
    versions,
    write_report,
)
from benchmarks.serving import minilm_model, tiny_model
from contract import project_root
from train.package import build_archive
from train.score.pipeline import BATCHES_PER_CALL, DEFAULT_BATCH_SIZE

OUTPUT = REPORT_DIR / "batch_scoring.json"
SHARE_GOAL = 0.85
STEADY = "make_score_steady_prompts_per_s"
RAW_CSV = project_root() / "data" / "raw" / "prompt_intents.csv"


def prompts(count: int, seed: int = 0) -> list[str]:
    """``count`` prompts drawn with replacement from the raw data set: its real length mix."""
    texts = pd.read_csv(RAW_CSV, usecols=["text"])["text"].dropna().tolist()
    rng = random.Random(seed)
    return [rng.choice(texts) for _ in range(count)]


def raw_forward(
    archive: Path, texts: list[str], batch_size: int, threads: int, grouped: bool = False
) -> dict:
    """Prompts/s of encode + forward over ``texts`` in consecutive batches, model loaded;
    ``grouped``: each ``BATCHES_PER_CALL`` batches' worth sorted by length first, as the scoring
    actors do (what the sorting alone gains, without Ray)."""
    from handlers.prediction import IntentPredictor

    torch.set_num_threads(threads)
    predictor = IntentPredictor.from_archive(archive)
    batches = []
    step = batch_size * (BATCHES_PER_CALL if grouped else 1)
    for start in range(0, len(texts), step):
        rows = texts[start : start + step]
        rows = sorted(rows, key=len) if grouped else rows
        batches += [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    predictor.forward(predictor.encode(texts[:batch_size]))  # warm-up: allocator, kernels
    started = time.perf_counter()
    for batch in batches:
        predictor.forward(predictor.encode(batch))
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "prompts_per_s": round(len(texts) / seconds, 2)}


def make_score(archive: Path, source: Path, out: Path, batch_size: int) -> dict:
    """Prompts/s of ``python -m train.score`` from launch to exit."""
    command = [
        sys.executable, "-m", "train.score", str(source), str(out),
        "--archive", str(archive), "--batch-size", str(batch_size), "--no-progress",
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=1800, check=False, cwd=project_root()
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"train.score exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    rows = len(pd.read_csv(out, usecols=["id"]))  # prompts may hold quoted newlines
    summary = next((line for line in proc.stderr.splitlines() if line.startswith("scored")), "")
    return {
        "seconds": round(seconds, 3),
        "prompts_per_s": round(rows / seconds, 2),
        "rows_written": rows,
        "summary": summary,
    }


def run(args: argparse.Namespace) -> dict:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    texts = prompts(args.prompts)
    small = texts[: max(args.batch_size, args.prompts // 4)]
    load_start = os.getloadavg()
    rounds: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        work = Path(tmp)
        model_dir = (tiny_model if args.dry_run else minilm_model)(work / "model")
        archive = build_archive(model_dir, work / "store", version="bench")
        sources = {}
        for name, rows in (("small", small), ("full", texts)):
            sources[name] = work / f"{name}.csv"
            pd.DataFrame({"id": range(len(rows)), "text": rows}).to_csv(sources[name], index=False)
        # The baseline at its best stock setting: torch's default threads (every core), or one
        # thread, which stalls less when other work shares the cores; the faster one counts.
        thread_counts = [args.threads] if args.threads else sorted({cores, 1}, reverse=True)

        def score() -> dict:
            return {
                name: make_score(archive, source, work / f"out-{name}.csv", args.batch_size)
                for name, source in sources.items()
            }

        def baseline() -> dict:
            by_threads = {n: raw_forward(archive, texts, args.batch_size, n) for n in thread_counts}
            best = max(by_threads, key=lambda n: by_threads[n]["prompts_per_s"])
            return {
                **by_threads[best],
                "threads": best,
                "prompts_per_s_by_threads": {
                    str(n): r["prompts_per_s"] for n, r in by_threads.items()
                },
                "grouped": raw_forward(archive, texts, args.batch_size, best, grouped=True),
            }

        for i in range(args.rounds):
            # Sides alternate which goes first, so other work on a shared machine weighs on
            # both alike.
            if i % 2:
                raw = baseline()
                runs = score()
            else:
                runs = score()
                raw = baseline()
            grouped = raw.pop("grouped")
            # t(n) = start-up + n / rate: two sizes give both (none when noise hides the gap).
            gap = runs["full"]["seconds"] - runs["small"]["seconds"]
            steady = (len(texts) - len(small)) / gap if gap > 0 else None
            rounds.append(
                {
                    "make_score": runs["full"],
                    "make_score_small": runs["small"],
                    "make_score_steady_prompts_per_s": steady and round(steady, 2),
                    "make_score_startup_s": steady
                    and round(runs["full"]["seconds"] - len(texts) / steady, 2),
                    "raw_forward": raw,
                    "raw_forward_length_grouped": grouped,
                }
            )
    end_to_end = statistics.median(r["make_score"]["prompts_per_s"] for r in rounds)
    steady = median([r["make_score_steady_prompts_per_s"] for r in rounds if r[STEADY]])
    startup = median([r["make_score_startup_s"] for r in rounds if r[STEADY]])
    raw_rate = statistics.median(r["raw_forward"]["prompts_per_s"] for r in rounds)
    grouped_rate = statistics.median(
        r["raw_forward_length_grouped"]["prompts_per_s"] for r in rounds
    )
    return {
        "benchmark": "batch_scoring",
        "measured_at": now_iso(),
        "machine": machine_info(),
        "versions": versions(["ray", "pyarrow", "tokenizers"]),
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "plan": {
            "model": "tiny" if args.dry_run else "minilm",
            "backend": "torch float32 (the archive carries no int8 export)",
            "prompts": len(texts),
            "prompts_small_run": len(small),
            "mean_chars": round(statistics.fmean(len(t) for t in texts), 1),
            "batch_size": args.batch_size,
            "rounds": args.rounds,
            "make_score": f"{cores} actor(s) x 1 torch thread, Ray started by the command, "
            f"{BATCHES_PER_CALL} batches' worth of rows per call sorted by length",
            "raw_forward_threads": thread_counts,
        },
        "method": (
            "make score is timed from launch to exit at two sizes; the difference gives its "
            "steady rate (prompts/s once running) and the intercept its fixed start-up cost "
            "(interpreter, imports, Ray, actors loading the model). Raw forward: the same "
            "prompts in the same batches in this process, model loaded, the faster of torch's "
            "stock threads (every core) and one thread."
        ),
        "make_score_prompts_per_s": end_to_end,
        "make_score_steady_prompts_per_s": steady,
        "make_score_startup_s": startup,
        "raw_forward_prompts_per_s": raw_rate,
        # Not a goal: the scorer sorts by length and the stock baseline does not; this shows how
        # much of the difference is the sorting and how much Ray costs.
        "raw_forward_length_grouped_prompts_per_s": grouped_rate,
        "make_score_steady_share_of_grouped": steady and round(steady / grouped_rate, 3),
        "rounds": rounds,
        "goals": [
            goal(
                "make score steady prompts/s / raw batched forward's (same prompts, batch, cores)",
                steady and round(steady / raw_rate, 3),
                SHARE_GOAL,
            ),
            goal(
                f"make score prompts/s launch to exit, {len(texts)} prompts / raw forward's",
                round(end_to_end / raw_rate, 3),
                SHARE_GOAL,
            ),
        ],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.batch_scoring", description=__doc__)
    p.add_argument("--prompts", type=int, default=None, help="prompts scored (default 2000)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    p.add_argument("--rounds", type=int, default=1, help="alternations")
    p.add_argument(
        "--threads", type=int, default=0, help="raw forward's threads (0: the faster of 1, cores)"
    )
    p.add_argument("--dry-run", action="store_true", help="tiny model, 64 prompts")
    p.add_argument("--out", type=Path, default=OUTPUT)
    args = p.parse_args(argv)
    args.prompts = args.prompts or (64 if args.dry_run else 2000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    write_report(args.out, report)
    print(
        table(
            [
                {
                    "side": side,
                    "prompts/s": report[f"{side}_prompts_per_s"],
                    "rounds": [r[side]["prompts_per_s"] for r in report["rounds"]],
                }
                for side in ("make_score", "raw_forward")
            ]
        )
    )
    print(
        f"make score: {report[STEADY]} prompts/s once running, "
        f"{report['make_score_startup_s']} s to start"
    )
    print(table(report["goals"], ["name", "value", "op", "target", "met"]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
