"""The serving benchmark's report: goals a reader or a script can check at a glance."""

from __future__ import annotations

from benchmarks.serving import goals, percentile


def result(overhead_ms: float, share: float) -> dict:
    return {"one_request": {"overhead_ms": overhead_ms}, "concurrent": {"share_of_raw": share}}


def test_goals_compare_each_figure_with_its_target() -> None:
    listed = goals({"minilm": result(2.5, 0.65), "tiny": result(3.5, 0.9)})
    assert [set(goal) for goal in listed] == [{"name", "value", "target", "met"}] * 4
    assert [(g["value"], g["target"], g["met"]) for g in listed] == [
        (2.5, 3.0, True),
        (0.65, 0.7, False),
        (3.5, 3.0, False),
        (0.9, 0.7, True),
    ]
    assert all(g["name"].startswith(("minilm:", "tiny:")) for g in listed)


def test_percentile_picks_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 51.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
