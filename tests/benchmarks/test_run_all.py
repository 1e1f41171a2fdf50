"""``make bench``'s runner: which goals it collects and what its summary says."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from benchmarks import run_all


def _report(path: Path, goals: list[dict], age_s: float = 0.0) -> None:
    path.write_text(json.dumps({"machine": {}, "versions": {}, "goals": goals}))
    if age_s:
        stamp = time.time() - age_s
        os.utime(path, (stamp, stamp))


def test_goals_are_collected_from_every_report_and_stale_ones_marked(tmp_path: Path) -> None:
    _report(tmp_path / "train.json", [{"name": "a", "value": 1.5, "target": 1.2, "met": True}])
    _report(
        tmp_path / "serving.json",
        [{"name": "b", "value": 9.0, "target": 3.0, "met": False, "op": "<="}],
        age_s=3600,
    )
    _report(tmp_path / "summary.json", [{"name": "old summary", "met": True}])
    (tmp_path / "client.json").write_text("{not json")

    goals = run_all.collect_goals(tmp_path, since=time.time() - 60)

    by_name = {g["name"]: g for g in goals}
    assert "old summary" not in by_name
    assert by_name["a"]["fresh"] is True and by_name["a"]["met"] is True
    assert by_name["b"]["fresh"] is False and by_name["b"]["op"] == "<="
    (broken,) = [g for g in goals if g["report"] == "client.json"]
    assert broken["met"] is False and "unreadable" in broken["name"]


def test_a_missing_benchmark_is_skipped_with_a_note(capsys) -> None:
    record = run_all.run_one("no_such_benchmark", timeout=5)
    assert record["status"] == "missing"
    assert "does not exist yet" in capsys.readouterr().out


def test_summary_only_writes_summary_json_and_the_table(tmp_path: Path, capsys) -> None:
    _report(tmp_path / "train.json", [{"name": "a", "value": 1.5, "target": 1.2, "met": True}])
    _report(tmp_path / "client.json", [{"name": "c", "value": 0.5, "target": 1.0, "met": False}])

    assert run_all.main(["--summary-only", "--report-dir", str(tmp_path)]) == 0

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["runs"] == []
    assert [g["name"] for g in summary["goals"]] == ["c", "a"]  # sorted by report file
    assert summary["all_met"] is False
    assert summary["machine"]["cores"] >= 1 and summary["versions"]["python"]
    printed = capsys.readouterr().out
    assert "train.json" in printed and "client.json" in printed


def _client_report(path: Path, rps: dict[str, float], chosen: str = "hand-written") -> None:
    results = [{"config": c, "concurrency": 64, "requests_per_s": v} for c, v in rps.items()]
    report = {"results": results, "transport_choice": {"chosen": chosen}}
    path.write_text(json.dumps({**report, "goals": [{"name": "c", "target": 0.8, "met": True}]}))


def test_chosen_values_are_derived_from_the_figures_and_written_back(tmp_path: Path) -> None:
    rps = {"bare_aiohttp": 1000.0, "client_aiohttp": 900.0, "client_httpx": 950.0}
    _client_report(tmp_path / "client.json", rps)
    serving = {
        "results": {
            "minilm/torch": {"backend": "torch", "concurrent": {"requests_per_s": 150.0}},
            "minilm/onnx-int8": {"backend": "onnx-int8", "concurrent": {"requests_per_s": 600.0}},
        },
        "parity": {"onnx-int8": {"backend": "onnx-int8", "passed": True}},
        "goals": [],
    }
    (tmp_path / "serving.json").write_text(json.dumps(serving))
    before = (tmp_path / "client.json").stat().st_mtime_ns

    choices = run_all.derive_choices(tmp_path)

    # httpx is fastest here, and 0.95 of the bare loop meets the 0.8 goal
    assert choices["client_transport"]["chosen"] == "httpx"
    assert choices["serving_backend"]["chosen"] == "onnx-int8"
    assert {"configured", "matches", "rule", "candidates"} <= set(choices["serving_backend"])
    client = json.loads((tmp_path / "client.json").read_text())
    assert client["transport_choice"]["chosen"] == "httpx"  # no longer the hand-written value
    assert (tmp_path / "client.json").stat().st_mtime_ns == before  # freshness still means measured


def test_a_transport_below_the_goal_is_not_chosen_however_fast(tmp_path: Path) -> None:
    rps = {"bare_aiohttp": 1000.0, "client_aiohttp": 850.0, "client_httpx": 700.0}
    _client_report(tmp_path / "client.json", rps)
    assert run_all.derive_choices(tmp_path)["client_transport"]["chosen"] == "aiohttp"
    rps = {"bare_aiohttp": 1000.0, "client_aiohttp": 500.0, "client_httpx": 300.0}
    _client_report(tmp_path / "client.json", rps)
    choice = run_all.derive_choices(tmp_path)["client_transport"]
    assert (choice["chosen"], choice["passed_any"]) == ("aiohttp", False)  # fastest, flagged
