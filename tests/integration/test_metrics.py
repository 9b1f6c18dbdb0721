"""The metrics the alerts and dashboards read, from the functions that make them."""

from __future__ import annotations

import time

from prometheus_client import REGISTRY
from test_send_reminder import fire, reminder_for, schedule

from functions_env import Env, cloud_event, post
from recording import BrokerSwitch
from support import wait_for
from taskpulse.contract import Function
from taskpulse.store import Store

CREATE = "dev.taskpulse.task.create.v1"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_dead_letters_are_counted_by_function_and_topic(env: Env) -> None:
    labels = {"function": "create-task", "topic": "task-events"}
    before = sample("taskpulse_dead_letters_total", **labels)
    client = env.client(Function.CREATE_TASK)
    invalid = cloud_event(CREATE, {"user_id": "alice"})  # no title
    assert post(client, "/events/task-create", invalid).get_json() == {"status": "SUCCESS"}
    assert sample("taskpulse_dead_letters_total", **labels) == before + 1


def test_the_outbox_backlog_shows_its_age_until_it_is_published(env: Env) -> None:
    broker = BrokerSwitch()
    env.dapr.responder = broker
    client = env.client(Function.CREATE_TASK)
    assert post(client, "/", cloud_event(CREATE, {"title": "backlog"})).status_code == 201
    time.sleep(1.1)
    age = sample("taskpulse_outbox_oldest_pending_seconds", function="create-task")
    assert 1.0 <= age < 60, age
    broker.ok = True
    wait_for(
        lambda: client.post("/job/outbox-sweep").status_code == 200 or None,
        10,
        "the sweep to publish the backlog",
    )
    assert sample("taskpulse_outbox_oldest_pending_seconds", function="create-task") == 0.0


def test_a_delivered_reminder_is_timed_once_against_its_remind_at(env: Env, store: Store) -> None:
    before = sample("taskpulse_reminder_lateness_seconds_count")
    name, body = schedule(env, reminder_for(store))
    client = env.client(Function.SEND_REMINDER)
    for _ in range(2):  # the repeat delivers nothing new, so it is not timed again
        assert fire(client, name, body) == (200, {"status": "SUCCESS"})
    assert sample("taskpulse_reminder_lateness_seconds_count") == before + 1
    # Its remind_at lies far ahead of any day the suite runs: "late" by nothing.
    assert sample("taskpulse_reminder_lateness_seconds_bucket", le="1.0") >= 1
