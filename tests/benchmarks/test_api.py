"""The API benchmark in a tiny dry configuration: both sides run against a real TorchServe and
the report has their figures and the goals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract import project_root


@pytest.mark.slow
def test_a_tiny_dry_run_writes_both_sides_and_the_goals(tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    command = [sys.executable, "-m", "benchmarks.api", "--model", "tiny", "--seconds", "1"]
    command += ["--repeats", "1", "--concurrency", "8", "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        command, cwd=project_root(), env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "requests_per_s" in done.stdout  # the printed table

    report = json.loads(out.read_text())
    assert report["benchmark"] == "api" and report["plan"]["model"] == "tiny"
    assert report["plan"]["model_source"].startswith("tiny")
    assert report["machine"]["cores"] >= 1 and report["versions"]["fastapi"]
    assert len(report["load_average"]["start"]) == 3
    for side in ("client", "api"):
        result = report["results"][side]
        assert result["runs"] == 1 and result["requests_per_s"] > 0, side
        assert 0 < result["p50_ms"] <= result["p99_ms"], side
        assert set(result["statuses"]) == {"200"}, (side, result["statuses"])
    share, errors = report["goals"]
    assert share["target"] == 0.8 and share["op"] == ">="
    assert share["value"] == pytest.approx(
        report["results"]["api"]["requests_per_s"] / report["results"]["client"]["requests_per_s"],
        rel=0.01,
    )
    assert errors["value"] == 0 and errors["met"] is True and errors["op"] == "<="
    assert report["api_process_cpu_ms_per_request"][0] > 0
