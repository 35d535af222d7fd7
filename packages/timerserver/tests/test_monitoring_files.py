"""The Grafana dashboard and the alert rules name only metrics the server has."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

OPERATIONS = Path(__file__).parents[3] / "docs" / "operations"
METRIC_NAME = re.compile(r"\btimerserver_[a-z_]+\b")
RECORDED_NAME = re.compile(r"\btimerserver:[a-z_0-9:]+\b")
TYPE_LINE = re.compile(r"# TYPE (\S+) (\S+)")
# The series each kind of metric exposes beside its declared name, by
# suffix (a counter is declared with its _total already).
SUFFIXES = {"histogram": ("_bucket", "_count", "_sum")}


def served_series(client: httpx.Client) -> set[str]:
    """Every series name the server's /metrics declares, samples or not."""
    response = client.get("/metrics")
    assert response.status_code == 200
    names: set[str] = set()
    for name, kind in TYPE_LINE.findall(response.text):
        names.add(name)
        names.update(name + suffix for suffix in SUFFIXES.get(kind, ()))

    return names


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((OPERATIONS / "grafana-dashboard.json").read_text())
    return [
        target["expr"] for panel in dashboard["panels"] for target in panel["targets"]
    ]


def alert_rules() -> list[dict[str, Any]]:
    rules = yaml.safe_load((OPERATIONS / "alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def balanced(expr: str) -> bool:
    depth = 0
    for char in expr:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False

    return depth == 0


class TestDashboard:
    def test_every_panel_queries_series_the_server_exposes(
        self, client: httpx.Client
    ) -> None:
        served = served_series(client)
        used = {
            name
            for expr in dashboard_expressions()
            for name in METRIC_NAME.findall(expr)
        }

        assert used
        assert used - served == set()

    def test_every_query_is_balanced_and_panels_have_unique_ids(self) -> None:
        dashboard = json.loads((OPERATIONS / "grafana-dashboard.json").read_text())
        ids = [panel["id"] for panel in dashboard["panels"]]

        assert [expr for expr in dashboard_expressions() if not balanced(expr)] == []
        assert len(ids) == len(set(ids))


class TestAlertRules:
    def test_every_rule_uses_series_the_server_exposes(
        self, client: httpx.Client
    ) -> None:
        served = served_series(client)
        used = {
            name for rule in alert_rules() for name in METRIC_NAME.findall(rule["expr"])
        }

        assert used - served == set()

    @pytest.mark.parametrize(
        "alert",
        [
            "TimerDeliveriesLate",
            "TimerDeliveryFailureRate",
            "TimerShardsWithoutOwner",
            "TimerStorageErrors",
            "TimerApiErrorBudgetBurn",
            "TimerApiErrorBudgetSlowBurn",
            "TimerLatenessBudgetBurn",
            "TimerLatenessBudgetSlowBurn",
        ],
    )
    def test_the_documented_alerts_exist_and_are_complete(self, alert: str) -> None:
        rules = {rule["alert"]: rule for rule in alert_rules() if "alert" in rule}

        rule = rules[alert]
        assert balanced(rule["expr"])
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]

    def test_every_recorded_series_an_alert_reads_is_recorded(self) -> None:
        recorded = {rule["record"] for rule in alert_rules() if "record" in rule}
        read = {
            name
            for rule in alert_rules()
            for name in RECORDED_NAME.findall(rule["expr"])
        }

        assert read
        assert read <= recorded
        assert all(balanced(rule["expr"]) for rule in alert_rules())
