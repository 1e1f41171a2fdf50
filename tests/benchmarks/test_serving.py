"""The serving benchmark's report: the served backend is derived from the figures, and its goals
compare it with float32 and with its own raw forward."""

from __future__ import annotations

from benchmarks.common import serving_backend_choice
from benchmarks.serving import goals, percentile


def result(backend: str, rps: float, overhead_ms: float = 2.0, share: float = 0.8) -> dict:
    return {
        "backend": backend,
        "one_request": {"overhead_ms": overhead_ms},
        "concurrent": {"requests_per_s": rps, "share_of_raw": share},
    }


RESULTS = {
    "tiny": result("torch", 2000.0),
    "minilm/torch": result("torch", 150.0),
    "minilm/torch-int8": result("torch-int8", 320.0),
    "minilm/onnx-int8": result("onnx-int8", 600.0, overhead_ms=3.5, share=0.65),
}


def passed(*backends: str) -> dict:
    return {b: {"backend": b, "passed": True} for b in backends}


def test_the_fastest_backend_that_passed_parity_is_chosen() -> None:
    choice = serving_backend_choice(RESULTS, passed("torch-int8", "onnx-int8"))
    assert choice["chosen"] == "onnx-int8"
    assert {c["name"] for c in choice["candidates"]} == {"torch", "torch-int8", "onnx-int8"}


def test_a_backend_that_failed_parity_is_never_chosen() -> None:
    parity = {**passed("torch-int8"), "onnx-int8": {"backend": "onnx-int8", "passed": False}}
    assert serving_backend_choice(RESULTS, parity)["chosen"] == "torch-int8"


def test_without_parity_figures_only_float32_qualifies() -> None:
    assert serving_backend_choice(RESULTS, None)["chosen"] == "torch"


def test_goals_hold_the_chosen_backend_against_float32_and_its_raw_forward() -> None:
    listed = goals(RESULTS, {"chosen": "onnx-int8"})
    by_name = {g["name"]: g for g in listed}
    speedup = by_name["served throughput vs fp32"]
    assert (speedup["value"], speedup["target"], speedup["met"]) == (4.0, 2.5, True)
    overhead = next(g for g in listed if "one-request" in g["name"])
    assert (overhead["value"], overhead["op"], overhead["met"]) == (3.5, "<=", False)
    share = next(g for g in listed if "share" in g["name"])
    assert (share["value"], share["op"], share["met"]) == (0.65, ">=", False)
    assert all(g["backend"] == "onnx-int8" for g in listed)
    # the tiny model is an overhead figure: no goal names it
    assert not any("tiny" in g["name"] for g in listed)


def test_percentile_picks_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 51.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
