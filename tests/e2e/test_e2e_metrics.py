"""The alerts and dashboards mean something: a real Prometheus scrapes the running stack
while users work and things fail, and every query they make finds series.

Prometheus (built from the Go module proxy at the pinned release) scrapes each function's
``/metrics`` (create-task's with its app token, as the cluster's PodMonitor does) and each
daprd's metrics port. The only series it cannot find locally is Kafka consumer lag: Strimzi's
Kafka Exporter is not served by any registry here, so that metric is checked by promtool's
unit tests alone (tests/infra/test_alerts.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from e2e_stack import KafkaClient, Platform, cloud_event, new_user, now_utc, rfc3339, wait_for

from devstack import promtool
from devstack.ports import free_port
from support import Timeout
from taskpulse.contract import Function

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "infra" / "terraform" / "modules" / "platform" / "charts" / "taskpulse-monitoring"
NOT_LOCAL = ("kafka_consumergroup_lag",)
"""Metrics of exporters the local stack does not run (see the module docstring)."""


def alert_queries() -> dict[str, str]:
    """Each alert's expression without its threshold: what it compares must exist."""
    groups = yaml.safe_load((CHART / "rules" / "taskpulse.rules.yaml").read_text())["groups"]
    found = {}
    for rule in (r for g in groups for r in g["rules"]):
        lhs = re.sub(r"\s*>\s*[0-9.e+-]+\s*$", "", rule["expr"].strip(), flags=re.S)
        found[f"alert {rule['alert']}"] = lhs
    return found


def dashboard_queries() -> dict[str, str]:
    found = {}
    for path in sorted((CHART / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                found[f"dashboard {path.stem}: {panel['title']}"] = target["expr"]
    return found


@pytest.fixture
def prometheus(platform: Platform, tmp_path: Path) -> Iterator[str]:
    endpoints = platform.endpoints
    functions = {name: url.rstrip("/") for name, url in endpoints["functions"].items()}

    def target(url: str) -> str:
        return url.removeprefix("http://")

    scrape = [
        {
            "job_name": f"function-{name}",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [target(url)], "labels": {"function": name}}],
            # The public function shows its metrics to its app token only.
            **(
                {"authorization": {"type": "Bearer", "credentials": endpoints["app_api_token"]}}
                if Function(name).is_public
                else {}
            ),
        }
        for name, url in functions.items()
    ]
    scrape.append(
        {
            "job_name": "daprd",
            "metrics_path": "/",
            "static_configs": [
                {"targets": [address], "labels": {"app_id": app_id}}
                for app_id, address in endpoints["dapr_metrics"].items()
            ],
        }
    )
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": scrape,
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            str(promtool.prometheus_binary()),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), 60, "Prometheus to be ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _ready(url: str) -> bool | None:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200 or None
    except httpx.TransportError:
        return None


def query(url: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def targets_up(url: str) -> dict[str, str]:
    answer = httpx.get(f"{url}/api/v1/targets", timeout=10).json()
    return {t["labels"]["job"]: t["health"] for t in answer["data"]["activeTargets"]}


def call(platform: Platform, token: str, event: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        platform.endpoints["create_task"],
        json=event,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def test_every_alert_and_dashboard_query_finds_series_under_load_and_faults(
    platform: Platform, prometheus: str
) -> None:
    wait_for(
        lambda: set(targets_up(prometheus).values()) == {"up"} or None,
        60,
        "every scrape target up",
    )
    user = new_user("metrics")
    token = platform.oidc.token(user)
    soon = now_utc() + timedelta(seconds=8)
    # Users at work: tasks, one with a reminder due in a few seconds, completions over HTTP.
    created = []
    for n in range(5):
        data: dict[str, Any] = {"title": f"task {n}"}
        if n == 0:
            data |= {"due_at": rfc3339(soon), "remind_before": "PT5S"}
        answer = call(platform, token, cloud_event("dev.taskpulse.task.create.v1", data))
        assert answer.status_code == 201, answer.text
        created.append(answer.json()["data"]["id"])
    for task_id in created[1:]:
        event = cloud_event("dev.taskpulse.task.completed.v1", {"task_id": task_id})
        assert call(platform, token, event).status_code == 202
    # Things that go wrong: a record no function can read (a dead letter), PostgreSQL away
    # while an event arrives (RETRY), Kafka away while create-task publishes (Dapr errors).
    kafka = KafkaClient(platform.kafka)
    kafka.send("task-events", b"\xffnot a cloud event", key=user)
    kafka.flush(60)
    platform.stop_postgres()
    try:
        # Completed already over HTTP: once PostgreSQL is back, nothing more to do.
        again = {"task_id": created[1], "user_id": user}
        kafka.send("task-events", cloud_event("dev.taskpulse.task.completed.v1", again), key=user)
        kafka.flush(60)
        time.sleep(6)
    finally:
        platform.start_postgres()
    platform.stop("kafka")
    try:
        answer = call(platform, token, cloud_event("dev.taskpulse.task.create.v1", {"title": "x"}))
        assert answer.status_code == 201, answer.text
        # Until create-task has seen a publish fail and counted it (its call to Dapr gives
        # up after DAPR_TIMEOUT_SECONDS): a count, not a fixed time, whatever the load.
        wait_for(
            lambda: query(prometheus, "taskpulse_dapr_call_errors_total") or None,
            180,
            "a failed publish to be counted while Kafka is away",
        )
    finally:
        platform.start_again("kafka")

    queries = {**alert_queries(), **dashboard_queries()}
    expected = {name for name, expr in queries.items() if not any(m in expr for m in NOT_LOCAL)}
    assert len(expected) >= len(queries) - 2

    def missing() -> list[str]:
        return [name for name in sorted(expected) if not query(prometheus, queries[name])]

    try:
        wait_for(lambda: not missing() or None, 120, "series for every query")
    except Timeout:
        pytest.fail(f"queries without series: {missing()}")
    # The outbox backlog is read live, and the published backlog is gone again.
    wait_for(
        lambda: (
            all(
                float(s["value"][1]) == 0.0
                for s in query(prometheus, "taskpulse_outbox_oldest_pending_seconds")
            )
            or None
        ),
        120,
        "the outbox backlog to drain after Kafka came back",
    )
