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
