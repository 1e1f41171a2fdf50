"""``make bench``: run every benchmark, then print and save one table of all their goals.

    python -m benchmarks.run_all                     # all of them (about 15 minutes on CPU)
    python -m benchmarks.run_all --only train_throughput
    python -m benchmarks.run_all --summary-only      # re-read reports/bench/*.json

Each benchmark runs as ``python -m benchmarks.<name>`` in its own process and writes
``reports/bench/<report>.json`` with a ``goals`` list; one that does not exist yet is skipped with a
note. The summary (``reports/bench/summary.json``) lists every run and every goal, and marks a goal
stale when its report was not rewritten by this run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    PROJECT_ROOT,
    REPORT_DIR,
    machine_info,
    now_iso,
    table,
    versions,
    write_report,
)

# name -> the report it writes; run in this order (training first: it is the heaviest on CPU).
BENCHMARKS = {
    "train_throughput": "train.json",
    "serving": "serving.json",
    "client_overhead": "client.json",
    "techniques_enhance": "techniques.json",
}
SUMMARY = "summary.json"


def run_one(name: str, timeout: float) -> dict[str, Any]:
    """Run ``benchmarks.<name>`` with its output on this console; its outcome as a record."""
    if not (PROJECT_ROOT / "benchmarks" / f"{name}.py").is_file():
        print(f"[bench] {name}: skipped, benchmarks/{name}.py does not exist yet", flush=True)
        return {"name": name, "status": "missing", "returncode": None, "seconds": 0.0}
    print(f"[bench] {name}: running", flush=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    try:
        rc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}"], cwd=PROJECT_ROOT, env=env, timeout=timeout
        ).returncode
        status = "ok" if rc == 0 else "failed"
    except subprocess.TimeoutExpired:
        rc, status = None, "timed out"
    seconds = time.perf_counter() - started
    print(f"[bench] {name}: {status} in {seconds:.0f} s", flush=True)
    return {"name": name, "status": status, "returncode": rc, "seconds": round(seconds, 1)}


def collect_goals(report_dir: Path, since: float | None) -> list[dict[str, Any]]:
    """Every goal of every ``*.json`` report in ``report_dir`` (the summary aside), each tagged
    with its report file and whether this run wrote it (``fresh``; None without a run)."""
    goals = []
    for path in sorted(report_dir.glob("*.json")):
        if path.name == SUMMARY:
            continue
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            goals.append({"report": path.name, "name": f"unreadable report: {err}", "met": False})
            continue
        fresh = None if since is None else path.stat().st_mtime >= since
        for item in report.get("goals", []) if isinstance(report, dict) else []:
            goals.append(
                {
                    "report": path.name,
                    "name": item.get("name"),
                    "value": item.get("value"),
                    "op": item.get("op", ""),
                    "target": item.get("target"),
                    "met": bool(item.get("met")),
                    "fresh": fresh,
                }
            )
    return goals


def summarise(runs: list[dict], goals: list[dict], started: str) -> dict[str, Any]:
    """The ``summary.json`` content."""
    return {
        "benchmark": "summary",
        "started_at": started,
        "generated_at": now_iso(),
        "machine": machine_info(),
        "versions": versions(),
        "runs": runs,
        "goals": goals,
        "all_met": bool(goals) and all(g["met"] for g in goals),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run just these")
    p.add_argument(
        "--skip", nargs="+", choices=list(BENCHMARKS), default=[], help="leave these out"
    )
    p.add_argument("--summary-only", action="store_true", help="run nothing; summarise the reports")
    # A guard against a hung benchmark, not a budget: on two busy cores training alone can take
    # ten minutes.
    p.add_argument("--timeout", type=float, default=1200.0, help="seconds per benchmark")
    p.add_argument("--report-dir", type=Path, default=REPORT_DIR)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run, summarise, print; exit status 1 when a benchmark failed or timed out."""
    args = parse_args(argv)
    started, since = now_iso(), time.time()
    names = [n for n in (args.only or BENCHMARKS) if n not in args.skip]
    runs = [] if args.summary_only else [run_one(name, args.timeout) for name in names]
    goals = collect_goals(args.report_dir, None if args.summary_only else since)
    summary = summarise(runs, goals, started)
    write_report(args.report_dir / SUMMARY, summary)
    if runs:
        print(table(runs, ["name", "status", "seconds"]))
    print(table(goals, ["report", "name", "value", "op", "target", "met", "fresh"]))
    print(f"wrote {args.report_dir / SUMMARY}")
    return 1 if any(r["status"] in {"failed", "timed out"} for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
