"""The cpu overlay carries the monitoring of deploy/monitoring: the Grafana dashboard (labelled
for Grafana's sidecar) and the alert rules, byte for byte."""

from __future__ import annotations

from pathlib import Path

from tests.k8s.conftest import of_kind

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"


def _config_map(resources: list[dict], prefix: str) -> dict:
    (found,) = [
        r for r in of_kind(resources, "ConfigMap") if r["metadata"]["name"].startswith(prefix)
    ]
    return found


def test_the_dashboard_ships_as_a_config_map(serving: list[dict]) -> None:
    dashboard = _config_map(serving, "intent-grafana-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    expected = (MONITORING / "grafana" / "intent-api.json").read_text(encoding="utf-8")
    assert dashboard["data"]["intent-api.json"] == expected


def test_the_alert_rules_ship_as_a_config_map(serving: list[dict]) -> None:
    rules = _config_map(serving, "intent-prometheus-rules")
    assert rules["data"]["alerts.yml"] == (MONITORING / "alerts.yml").read_text(encoding="utf-8")
