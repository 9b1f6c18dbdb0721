"""The alerts and dashboards of charts/taskpulse-monitoring, checked by Prometheus' promtool.

The rules file is the one the PrometheusRule carries; promtool checks it and runs its unit
tests (rules/taskpulse.rules.test.yaml: each alert fires on the series it is about and not
on healthy ones). Every dashboard query compiles as PromQL, and every metric that rules and
dashboards read is one the functions export or one of the exporters the platform installs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from charts_support import render_chart
from prometheus_client import REGISTRY

import taskpulse.observability  # noqa: F401  (registers the functions' metrics)
from devstack import promtool

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "infra" / "terraform" / "modules" / "platform" / "charts"
CHART = CHARTS / "taskpulse-monitoring"
RULES = CHART / "rules" / "taskpulse.rules.yaml"
DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))

EXPORTERS = {
    "kafka_consumergroup_lag": "Strimzi's Kafka Exporter (charts/strimzi-kafka kafkaExporter)",
    "dapr_component_pubsub_egress_count": "daprd's metrics (the taskpulse-daprd PodMonitor)",
}
"""Metrics read from exporters rather than from the functions, and who exports them."""

pytestmark = [
    pytest.mark.timeout(1800),
    pytest.mark.skipif(shutil.which("go") is None, reason="needs the go command to build promtool"),
]


@pytest.fixture(scope="module")
def promtool_bin() -> Path:
    return promtool.binary()


def run(tool: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool), *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=300
    )


def rule_expressions() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard_expressions() -> dict[str, str]:
    found = {}
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                found[f"{path.stem}: {panel['title']}"] = target["expr"]
    return found


def test_the_rules_pass_promtools_check_and_unit_tests(promtool_bin: Path) -> None:
    checked = run(promtool_bin, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rule_expressions())} rules found" in checked.stdout
    tested = run(promtool_bin, "test", "rules", "taskpulse.rules.test.yaml", cwd=RULES.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # Every alert has a unit test that expects it to fire.
    tests = yaml.safe_load((RULES.parent / "taskpulse.rules.test.yaml").read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert firing == set(rule_expressions())


def test_every_alert_says_what_to_do_first() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["runbook"], rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]


def test_every_dashboard_query_compiles(promtool_bin: Path, tmp_path: Path) -> None:
    queries = dashboard_expressions()
    assert len(queries) >= 8
    as_rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [
                    {"record": f"dashboard:query_{n}", "expr": expr}
                    for n, expr in enumerate(queries.values())
                ],
            }
        ]
    }
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump(as_rules))
    checked = run(promtool_bin, "check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (identifiers followed by a selector or range,
    or standing alone before an operator), without functions, keywords and labels."""
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_labels = re.sub(r"\{[^}]*\}", "{}", without_strings)
    without_groupings = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", without_labels)
    names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\b(?!\s*\()", without_groupings))
    return {n for n in names if "_" in n and n not in {"le"}}


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_by_functions() -> set[str]:
    """The series names of every metric the functions register (before any is observed)."""
    return {
        metric.name + suffix
        for metric in REGISTRY.collect()
        if metric.name.startswith("taskpulse_")
        for suffix in SUFFIXES.get(metric.type, ("",))
    }


def test_rules_and_dashboards_read_only_metrics_that_exist() -> None:
    known = exported_by_functions() | set(EXPORTERS)
    for where, expr in {**rule_expressions(), **dashboard_expressions()}.items():
        unknown = metric_names(expr) - known
        assert not unknown, f"{where} reads {sorted(unknown)}, which nothing exports"


def test_the_chart_carries_the_rules_and_the_dashboards_as_they_are(tmp_path: Path) -> None:
    docs = {d["kind"] + "/" + d["metadata"]["name"]: d for d in render_chart(CHART.name, {})}
    rule = docs["PrometheusRule/taskpulse"]
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    dashboards = docs["ConfigMap/taskpulse-dashboards"]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert {name: json.loads(text) for name, text in dashboards["data"].items()} == {
        p.name: json.loads(p.read_text()) for p in DASHBOARDS
    }


def test_the_kafka_chart_exports_consumer_lag_and_scrapes_it_with_prometheus() -> None:
    docs = render_chart("strimzi-kafka", {"exporter": {"podMonitor": True}}, namespace="kafka")
    kafka = next(d for d in docs if d["kind"] == "Kafka")
    assert kafka["spec"]["kafkaExporter"] == {"groupRegex": ".*", "topicRegex": ".*"}
    (monitor,) = [d for d in docs if d["kind"] == "PodMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "strimzi.io/cluster": "taskpulse",
        "strimzi.io/name": "taskpulse-kafka-exporter",
    }
    # Without the Prometheus operator's CRDs there is no PodMonitor to install.
    plain = render_chart("strimzi-kafka", {}, namespace="kafka")
    assert not [d for d in plain if d["kind"] == "PodMonitor"]
