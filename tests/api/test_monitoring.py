"""deploy/monitoring/: promtool accepts the config and the rules, and a real Prometheus scraping a
live TorchServe and a live API (under a short load) returns data for every PromQL expression of
the rules and of the Grafana dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from contract import project_root
from tests.api.support import AUTH, free_port

MONITORING = project_root() / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "intent-api.json"
NEEDS_PROMETHEUS = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="prometheus/promtool not installed: `apt-get install prometheus` (make setup does it "
    "where apt-get exists)",
)
# Short windows for a test that scrapes every second: 10 s hold about ten samples.
WINDOW = "10s"
TEMPLATE_VALUES = {
    "api_job": "intent-api",
    "torchserve_job": "torchserve",
    "__rate_interval": WINDOW,
    "__range": "30s",
}


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel title, expr) of every target of every panel, rows' panels included."""
    found = []
    pending = list(json.loads(DASHBOARD.read_text())["panels"])
    while pending:
        panel = pending.pop()
        pending.extend(panel.get("panels", []))
        found += [(panel["title"], t["expr"]) for t in panel.get("targets", [])]
    return found


def rule_expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [(rule["alert"], rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


def substitute(expr: str) -> str:
    """Grafana's template variables replaced by values a test Prometheus understands."""
    for name, value in sorted(TEMPLATE_VALUES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in expr, f"unknown template variable in {expr}"
    return expr


def as_data_query(expr: str) -> str:
    """An alert's expression with short windows and its final comparison made ``bool``: it then
    returns 0 or 1 wherever its left side has data, firing or not."""
    expr = re.sub(r"\[\d+[smhd]\]", f"[{WINDOW}]", expr)
    depth, last = 0, None
    i = 0
    while i < len(expr):
        char = expr[i]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == '"':
            i = expr.index('"', i + 1)
        elif depth == 0 and char in "<>=!" and expr[i : i + 2] not in ("=~", "!~"):
            width = 2 if expr[i : i + 2] in ("==", "!=", ">=", "<=") else 1
            last = (i, width)
            i += width
            continue
        i += 1
    assert last is not None, f"no comparison at the top of {expr}"
    at, width = last
    return f"{expr[: at + width]} bool{expr[at + width :]}"


def test_the_dashboard_is_self_contained_and_uses_its_variables() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "api_job", "torchserve_job"}
    expressions = dashboard_expressions()
    assert len(expressions) >= 15
    for title, expr in expressions:
        assert "$api_job" in expr or "$torchserve_job" in expr, title
        substitute(expr)
    assert "__inputs" not in dashboard  # no import-time placeholders: a ConfigMap can carry it


def test_as_data_query_neutralises_only_the_final_comparison() -> None:
    assert as_data_query('up{job="x"} == 0') == 'up{job="x"} == bool 0'
    query = as_data_query('sum(rate(a{s=~"5.."}[5m])) / sum(rate(a[1h])) > 0.05')
    assert query == 'sum(rate(a{s=~"5.."}[10s])) / sum(rate(a[10s])) > bool 0.05'


@NEEDS_PROMETHEUS
def test_promtool_accepts_the_rules_and_the_config() -> None:
    for command in (["check", "rules", "alerts.yml"], ["check", "config", "prometheus.yml"]):
        result = subprocess.run(
            ["promtool", *command], cwd=MONITORING, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def prometheus(torchserve, api_process, tmp_path: Path) -> Iterator[str]:
    """A Prometheus with deploy/monitoring's jobs and rules, pointed at the live services and
    scraping every second; its base URL."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(MONITORING / "alerts.yml")]
    targets = {
        "intent-api": f"127.0.0.1:{api_process.port}",
        "torchserve": f"127.0.0.1:{torchserve.metrics_port}",
    }
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    assert {job["job_name"] for job in config["scrape_configs"]} == set(targets)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "prometheus.log").read_text()[-3000:])
            time.sleep(0.2)  # another process's port: nothing to wait on but polling
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _load(url: str, stop: threading.Event, deadline: float) -> None:
    """Every kind of request the dashboard shows, until ``stop`` (or the deadline)."""
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as http:
        i = 0
        while not stop.is_set() and time.monotonic() < deadline:
            http.post("/v1/classify", json={"text": f"Translate 'good morning {i}' into Welsh"})
            http.post("/v1/classify/batch", json={"texts": [f"plan week {i}", "", "hi"]})
            http.post("/v1/enhance", json={"text": f"Write a poem about the number {i}"})
            http.post("/v1/classify", json={"text": "   "})
            http.post("/v1/classify", json={"text": "x"}, headers={"Authorization": "Bearer no"})
            i += 1


def _query(url: str, expr: str) -> dict[str, Any]:
    response = httpx.get(url + "/api/v1/query", params={"query": expr}, timeout=10)
    return response.json()


@pytest.mark.slow
@NEEDS_PROMETHEUS
def test_every_dashboard_and_alert_expression_returns_data(
    prometheus: str, torchserve, api_process
) -> None:
    # TorchServe 0.12 serves its metrics without a token, token authorization on or not.
    assert httpx.get(f"{torchserve.metrics_url}/metrics").status_code == 200
    queries = [(f"panel {t!r}", substitute(e)) for t, e in dashboard_expressions()]
    queries += [(f"alert {name}", as_data_query(e)) for name, e in rule_expressions()]

    stop = threading.Event()
    load = threading.Thread(
        target=_load, args=(api_process.url, stop, time.monotonic() + 60), daemon=True
    )
    load.start()
    try:
        time.sleep(5)  # a few scrapes under load before the first rate() can have two samples
        missing: dict[str, str] = dict(queries)
        errors: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while missing and time.monotonic() < deadline:
            for name, expr in list(missing.items()):
                answer = _query(prometheus, expr)
                if answer.get("status") != "success":
                    errors[name] = f"{expr}: {answer.get('error')}"
                    del missing[name]
                elif answer["data"]["result"]:
                    del missing[name]
            time.sleep(1)  # the next scrape
    finally:
        stop.set()
        load.join(timeout=30)
    assert errors == {}, errors
    assert missing == {}, f"no data for: {json.dumps(missing, indent=1)}"
    targets = httpx.get(prometheus + "/api/v1/targets").json()["data"]["activeTargets"]
    assert {t["labels"]["job"]: t["health"] for t in targets} == {
        "intent-api": "up",
        "torchserve": "up",
    }
