"""``make bench``: run every benchmark, then print and save one table of all their goals.

    python -m benchmarks.run_all                     # all of them (about 20 minutes on CPU)
    python -m benchmarks.run_all --only train_throughput
    python -m benchmarks.run_all --summary-only      # re-read reports/bench/*.json

Each benchmark runs as ``python -m benchmarks.<name>`` in its own process and writes
``reports/bench/<report>.json`` with a ``goals`` list; one that does not exist yet is skipped with a
note. The summary (``reports/bench/summary.json``) lists every run and every goal, and marks a goal
stale when its report was not rewritten by this run.

Every "chosen" value is derived here from the measured figures (``derive_choices``), written back
into its report and listed in the summary beside what the code or conf/ is set to: the client's
transport (``client.json``) and the served backend (``serving.json``). The GPU benchmark runs
apart (``make bench-gpu``); its report joins the summary when there is one.
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
    client_transport_choice,
    machine_info,
    now_iso,
    parity_from_metrics,
    serving_backend_choice,
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
    "api": "api.json",
    "batch_scoring": "batch_scoring.json",
}
SUMMARY = "summary.json"
METRICS = Path("reports") / "metrics.json"  # train.evaluate's, with the served backend's parity
MODEL_CONFIG = Path("conf") / "serve" / "model-config.yaml"


def run_one(name: str, timeout: float, args: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run ``benchmarks.<name>`` with its output on this console; its outcome as a record."""
    if not (PROJECT_ROOT / "benchmarks" / f"{name}.py").is_file():
        print(f"[bench] {name}: skipped, benchmarks/{name}.py does not exist yet", flush=True)
        return {"name": name, "status": "missing", "returncode": None, "seconds": 0.0}
    print(f"[bench] {name}: running", flush=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    try:
        rc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", *args],
            cwd=PROJECT_ROOT,
            env=env,
            timeout=timeout,
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


def derive_choices(report_dir: Path) -> dict[str, dict[str, Any]]:
    """Each "chosen" value from its report's figures, written back into the report (its
    modification time kept, so freshness still says when it was measured) and returned with
    the value the code or conf/ uses (``configured``) and whether they agree."""
    choices: dict[str, dict[str, Any]] = {}
    client = _read_report(report_dir / "client.json")
    if client and client.get("results"):
        choice = client_transport_choice(client)
        choices["client_transport"] = {**choice, **_configured(choice, _client_transport())}
        client["transport_choice"] = {**client.get("transport_choice", {}), **choice}
        _rewrite_report(report_dir / "client.json", client)
    serving = _read_report(report_dir / "serving.json")
    if serving and serving.get("results"):
        parity = serving.get("parity") or parity_from_metrics(PROJECT_ROOT / METRICS)
        choice = serving_backend_choice(serving["results"], parity)
        choices["serving_backend"] = {**choice, **_configured(choice, _served_backend())}
        serving["backend_choice"] = choice
        _rewrite_report(report_dir / "serving.json", serving)
    return choices


def _configured(choice: dict[str, Any], configured: str | None) -> dict[str, Any]:
    return {"configured": configured, "matches": choice.get("chosen") == configured}


def _client_transport() -> str | None:
    try:
        from serving_client import ClientSettings
    except ImportError:
        return None
    return ClientSettings().transport


def _served_backend() -> str | None:
    import yaml

    try:
        config = yaml.safe_load((PROJECT_ROOT / MODEL_CONFIG).read_text(encoding="utf-8"))
    except OSError:
        return None
    return (config.get("handler") or {}).get("backend", "torch")


def _read_report(path: Path) -> dict[str, Any] | None:
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return report if isinstance(report, dict) else None


def _rewrite_report(path: Path, report: dict[str, Any]) -> None:
    stat = path.stat()
    write_report(path, report)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def summarise(
    runs: list[dict], goals: list[dict], started: str, choices: dict | None = None
) -> dict[str, Any]:
    """The ``summary.json`` content."""
    return {
        "benchmark": "summary",
        "started_at": started,
        "generated_at": now_iso(),
        "machine": machine_info(),
        "versions": versions(),
        "runs": runs,
        "choices": choices or {},
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
    p.add_argument(
        "--model-dir",
        type=Path,
        help="a trained MiniLM for the serving benchmark (default: models/intent_classifier)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run, summarise, print; exit status 1 when a benchmark failed or timed out."""
    args = parse_args(argv)
    started, since = now_iso(), time.time()
    names = [n for n in (args.only or BENCHMARKS) if n not in args.skip]
    extra = {"serving": ("--model-dir", str(args.model_dir))} if args.model_dir else {}
    runs = [] if args.summary_only else [run_one(n, args.timeout, extra.get(n, ())) for n in names]
    choices = derive_choices(args.report_dir)
    goals = collect_goals(args.report_dir, None if args.summary_only else since)
    summary = summarise(runs, goals, started, choices)
    write_report(args.report_dir / SUMMARY, summary)
    if runs:
        print(table(runs, ["name", "status", "seconds"]))
    print(table(goals, ["report", "name", "value", "op", "target", "met", "fresh"]))
    for name, choice in choices.items():
        print(f"{name}: {choice['chosen']} ({choice['rule']}); configured {choice['configured']}")
    print(f"wrote {args.report_dir / SUMMARY}")
    return 1 if any(r["status"] in {"failed", "timed out"} for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
