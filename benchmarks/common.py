"""What every benchmark report shares: the machine, library versions, goal records, the JSON file
and a plain-text table.

>>> report = {"machine": machine_info(), "versions": versions(), "goals": [goal("x", 1.3, 1.2)]}
>>> write_report(REPORT_DIR / "example.json", report)
>>> print(table([{"name": "x", "value": 1.3}]))
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REPORT_DIR = PROJECT_ROOT / "reports" / "bench"
# Distributions named in every report; a missing one is reported as null, not an error.
VERSIONED = ("torch", "transformers", "pytorch-lightning", "accelerate", "datasets", "torchserve")
# Prompts the serving benchmarks send: one per intent and a few more, short to long.
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


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, and the GPU's name when torch sees one."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "gpu": None,
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    except ImportError:
        pass
    return info


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def versions(extra: Iterable[str] = ()) -> dict[str, str | None]:
    """Python and the installed versions of the libraries that decide the figures."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in (*VERSIONED, *extra):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def goal(name: str, value: float | None, target: float, higher_is_better: bool = True) -> dict:
    """A goal record ``{"name", "value", "target", "met", "op"}``; ``met`` is false when the value
    could not be measured (None)."""
    op = ">=" if higher_is_better else "<="
    met = value is not None and (value >= target if higher_is_better else value <= target)
    return {"name": name, "value": value, "target": target, "met": bool(met), "op": op}


def fastest(
    candidates: Sequence[Mapping[str, Any]], rule: str, fallback: bool = False
) -> dict[str, Any]:
    """A choice derived from measured figures: among ``candidates`` (``{"name", "value",
    "passed"}``, higher value is better) the best one that passed; when none did, None, or with
    ``fallback`` the best of all (``passed_any`` says which happened).

    >>> fastest([{"name": "a", "value": 2.0, "passed": False},
    ...          {"name": "b", "value": 1.0, "passed": True}], rule="fastest passing")["chosen"]
    'b'
    """
    measured = [c for c in candidates if c.get("value") is not None]
    eligible = [c for c in measured if c.get("passed")]
    pool = eligible or (measured if fallback else [])
    best = max(pool, key=lambda c: c["value"]) if pool else None
    return {
        "chosen": best["name"] if best else None,
        "passed_any": bool(eligible),
        "rule": rule,
        "candidates": [dict(c) for c in candidates],
    }


def client_transport_choice(client: Mapping[str, Any], concurrency: int = 64) -> dict[str, Any]:
    """The serving client's transport from ``client.json``: the fastest at ``concurrency`` whose
    requests/s reach the goal's share of the bare aiohttp loop's (same connection cap)."""
    rows = {r["config"]: r for r in client.get("results", []) if r["concurrency"] == concurrency}
    bare = rows.get("bare_aiohttp", {}).get("requests_per_s")
    targets = [g["target"] for g in client.get("goals", []) if "target" in g]
    target = targets[0] if targets else None
    candidates = []
    for config, row in sorted(rows.items()):
        if not config.startswith("client_"):
            continue
        share = row["requests_per_s"] / bare if bare else None
        candidates.append(
            {
                "name": config.removeprefix("client_").replace("_", "-"),
                "value": row["requests_per_s"],
                "share_of_bare": round(share, 3) if share is not None else None,
                "passed": share is not None and target is not None and share >= target,
            }
        )
    rule = (
        f"fastest client requests/s at {concurrency} in flight with >= {target} of bare aiohttp "
        "(the fastest of all when none reaches it)"
    )
    return {**fastest(candidates, rule, fallback=True), "concurrency": concurrency}


def serving_backend_choice(
    results: Mapping[str, Mapping[str, Any]], parity: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, Any]:
    """The served backend from ``serving.json``'s results: the fastest MiniLM backend under load
    (32 in flight) whose parity passed; ``torch`` (float32, the reference) needs none."""
    candidates = []
    for key, result in results.items():
        if not key.startswith("minilm/"):
            continue
        backend = result["backend"]
        check = (parity or {}).get(backend)
        candidates.append(
            {
                "name": backend,
                "value": result["concurrent"]["requests_per_s"],
                "passed": backend == "torch" or bool(check and check.get("passed")),
            }
        )
    return fastest(candidates, rule="fastest served requests/s at 32 in flight, parity passed")


def parity_from_metrics(path: Path) -> dict[str, dict[str, Any]] | None:
    """The parity ``train.evaluate`` recorded in ``reports/metrics.json``, keyed by backend."""
    try:
        record = json.loads(path.read_text()).get("parity") or {}
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    check = record.get("parity")
    return {check["backend"]: check} if check else None


def median(values: Sequence[float]) -> float | None:
    """The median, or None for no values."""
    return statistics.median(values) if values else None


def now_iso() -> str:
    """The current UTC time, to the second, ISO 8601."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def write_report(path: Path, report: Mapping[str, Any]) -> Path:
    """Write ``report`` as indented JSON (creating the folder) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return "-" if value is None else str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as an aligned plain-text table (columns default to the first row's keys)."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)
