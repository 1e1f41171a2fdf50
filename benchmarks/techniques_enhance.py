"""Time ``techniques.enhance`` per prompt over a varied set of prompts.

    python -m benchmarks.techniques_enhance        # from the project root; writes
                                                   # reports/bench/techniques.json

The set covers every intent at three sizes (a one-line request, a paragraph with code or data,
a long pasted document of about 8,000 characters), template-like characters, requests below the
confidence threshold, and prompts that are already enhanced (the recognition path, the slowest:
it re-renders the candidate plans to compare). Each call is timed on its own after a warm-up,
the whole set shuffled (fixed seed) for every round. Two clocks per call: wall time
(``perf_counter_ns``), which on a shared machine includes time the process waited for a core,
and the thread's CPU time (``thread_time_ns``), the cost of ``enhance`` itself. The report gives
p50/p90/p99/max per prompt overall and per kind for both, the one-off load time, and the load
average at the start and end (a busy machine shows in the wall-time tail).
Goal: p99 <= 1 ms per prompt.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import time
from collections import defaultdict
from collections.abc import Sequence

from benchmarks.common import REPORT_DIR, goal, machine_info, now_iso, table, versions, write_report
from techniques import TechniqueLibrary

REPORT = REPORT_DIR / "techniques.json"
TARGET_P99_MS = 1.0

SHORT = {
    "question_answering": "Why do onions make people cry?",
    "creative_writing": "Write a limerick about a cat who learns to code.",
    "code_generation": "Python one-liner to reverse the words in a string?",
    "data_analysis": "Sales were 120, 135, 150 and 149 in Q1-Q4. What is the trend?",
    "reasoning": "If 3 pens cost 4.50, what do 7 pens cost?",
    "summarization": "TL;DR: the launch moved to June because QA needs two more weeks.",
    "translation": "How do you say 'see you tomorrow' in Portuguese?",
    "conversation": "Hi there! How's your day going?",
    "task_planning": "Plan a 3-day trip to Rome.",
    "problem_solving": "My sourdough never rises. What can I do?",
}
PARAGRAPH = {
    "code_generation": (
        "Why does this raise KeyError?\n```python\ndef greet(ctx):\n    return "
        '"Hi {name}, you owe ${amount}".format(**ctx)\n```\nAlso make amount default to 0, then '
        "add a test. It must not use globals."
    ),
    "data_analysis": (
        "Monthly sign-ups:\n| month | free | paid |\n|---|---|---|\n| Jan | 410 | 52 |\n"
        "| Feb | 455 | 61 |\n| Mar | 390 | 70 |\nWhat is the paid conversion each month, and is "
        "it improving? Use only these numbers."
    ),
    "task_planning": (
        "Plan my first month learning Spanish: I have 30 minutes on weekdays, must be ready for "
        "a trip on 1 June, want a checkpoint every week, and then a review plan for July."
    ),
}
FILLER = (
    "The committee reviewed {item} and noted that costs rose by 4% while {{ usage }} fell; "
    "several members asked whether $budget should change, and the chair agreed to revisit it. "
)


def prompts(library: TechniqueLibrary) -> list[tuple[str, str, str, float]]:
    """(kind, text, intent, confidence) for every case; deterministic."""
    cases = []
    for intent in library.intents:
        short = SHORT[intent]
        paragraph = PARAGRAPH.get(intent, " ".join([short] * 6) + " Then explain; be brief.")
        long = FILLER * (8000 // len(FILLER)) + "\n" + short
        cases += [
            ("short", short, intent, 0.92),
            ("paragraph", paragraph, intent, 0.81),
            ("long_8k", long, intent, 0.77),
            ("low_confidence", short, intent, 0.21),
        ]
        enhanced = library.enhance(paragraph, intent, 0.81).text
        cases.append(("already_enhanced", enhanced, intent, 0.81))
        enhanced_long = library.enhance(long, intent, 0.77).text
        cases.append(("already_enhanced_long", enhanced_long, intent, 0.77))
    return cases


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, round(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary(times_us: list[float]) -> dict[str, float]:
    values = sorted(times_us)
    return {
        "n": len(values),
        "p50_us": percentile(values, 50),
        "p90_us": percentile(values, 90),
        "p99_us": percentile(values, 99),
        "max_us": values[-1],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="passes over the prompt set")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    library = TechniqueLibrary.load()
    load_ms = (time.perf_counter() - started) * 1000
    cases = prompts(library)
    for kind, text, intent, confidence in cases:  # warm-up, and a check that each case works
        result = library.enhance(text, intent, confidence)
        assert result.user_input == text or result.text == text, kind

    wall: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    rng = random.Random(0)
    order = list(range(len(cases)))
    load_before = os.getloadavg()
    gc.collect()
    for _ in range(args.rounds):
        rng.shuffle(order)
        for i in order:
            kind, text, intent, confidence = cases[i]
            c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
            library.enhance(text, intent, confidence)
            t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
            wall[kind].append((t1 - t0) / 1000)
            cpu[kind].append((c1 - c0) / 1000)
    load_after = os.getloadavg()

    overall = {
        "wall": summary([t for values in wall.values() for t in values]),
        "cpu": summary([t for values in cpu.values() for t in values]),
    }
    by_kind = {kind: {"wall": summary(wall[kind]), "cpu": summary(cpu[kind])} for kind in wall}
    report = {
        "benchmark": "techniques_enhance",
        "created": now_iso(),
        "machine": machine_info(),
        "versions": versions(extra=("pydantic", "pyyaml")),
        "method": (
            f"{len(cases)} prompts ({len(library.intents)} intents x {len(by_kind)} kinds), "
            f"{args.rounds} shuffled rounds, each enhance() call timed alone (wall: "
            "perf_counter_ns, cpu: thread_time_ns) after one warm-up pass; library loaded once "
            "beforehand"
        ),
        "load_average_1m": {"start": load_before[0], "end": load_after[0]},
        "load_ms": round(load_ms, 1),
        "prompt_chars": {kind: max(len(c[1]) for c in cases if c[0] == kind) for kind in by_kind},
        "overall": overall,
        "by_kind": by_kind,
        "goals": [
            goal(
                "enhance p99 wall time per prompt (ms)",
                overall["wall"]["p99_us"] / 1000,
                TARGET_P99_MS,
                False,
            ),
            goal(
                "enhance p99 CPU time per prompt (ms)",
                overall["cpu"]["p99_us"] / 1000,
                TARGET_P99_MS,
                False,
            ),
        ],
    }
    write_report(REPORT, report)
    rows = [
        {"kind": kind, "clock": clock, **figures[clock]}
        for kind, figures in [("all", overall), *by_kind.items()]
        for clock in ("wall", "cpu")
    ]
    print(table(rows))
    print(f"load {load_ms:.0f} ms; load average {load_before[0]:.1f} -> {load_after[0]:.1f}")
    print(f"report written to {REPORT}")


if __name__ == "__main__":
    main()
