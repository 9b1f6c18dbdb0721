"""The whole local platform of ``task up`` (PostgreSQL, Kafka, daprd and its scheduler,
Centrifugo, SMTP, Hydra) with the four functions started from their images instead of from
source, and one user's path through all four of them, observed from outside.

The stack is ``devstack.up.start_stack`` over the repo's dapr.yaml, each app's command
replaced by ``image_entry.py <function>`` (``podman run`` of its image under its Knative
Service's settings); the helpers are the e2e tier's (tests/e2e/e2e_stack.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from image_entry import NAME_PREFIX

from devstack import images, up
from devstack.images import Built
from devstack.supervisor import Supervisor
from e2e.e2e_stack import (
    KafkaClient,
    Platform,
    PushClient,
    TopicTail,
    cloud_event,
    created_task,
    new_user,
    now_utc,
    of_type,
    rfc3339,
    run_file,
    wait_for,
)
from taskpulse.contract import Function

# A fresh machine builds the base and the images in the first test's setup (~3-4 min).
pytestmark = pytest.mark.timeout(1200)

ENTRY = Path(__file__).with_name("image_entry.py")
CREATED = "dev.taskpulse.task.created.v1"
COMPLETED = "dev.taskpulse.task.completed.v1"
REMINDER_SENT = "dev.taskpulse.reminder.sent.v1"


def _remove_containers() -> None:
    """Containers a killed ``podman run`` may have left running."""
    listed = subprocess.run(
        images.podman("ps", "--all", "--format", "{{.Names}}"),
        env=images.podman_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    names = [n for n in listed.stdout.split() if n.startswith(NAME_PREFIX)]
    if names:
        subprocess.run(
            images.podman("rm", "--force", *names),
            env=images.podman_env(),
            capture_output=True,
            check=False,
        )


@pytest.fixture(scope="module")
def platform(
    built_images: dict[Function, Built], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    state = tmp_path_factory.mktemp("image-platform")
    path = run_file(state)
    doc = yaml.safe_load(path.read_text())
    for app in doc["apps"]:
        assert Function(app["appID"]) in built_images
        app["command"] = [sys.executable, str(ENTRY), app["appID"]]
    path.write_text(yaml.safe_dump(doc))
    saved = {
        k: os.environ.pop(k) for k in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL") if k in os.environ
    }
    stack = ExitStack()
    stack.callback(_remove_containers)
    try:
        supervisor = Supervisor(state / "logs")
        endpoints = up.start_stack(stack, supervisor, up.load_run_file(path), state)
        written = stack.enter_context(up.endpoints_file(state / "endpoints.json", endpoints))
        stack_platform = Platform(json.loads(written.read_text()), supervisor, state, stack)
    except BaseException:
        stack.close()
        os.environ.update(saved)
        raise
    try:
        yield stack_platform
    finally:
        stack_platform.close()
        os.environ.update(saved)


def test_one_users_path_through_the_four_images(platform: Platform) -> None:
    """create-task's image takes the command over HTTP; push-update's puts it on the
    user's screen; send-reminder's mails and pushes the reminder; compute-next-occurrence's
    takes the completion from Kafka and creates the next occurrence."""
    for function in Function:
        assert str(ENTRY) in platform.running(function.value).service.argv
    user = new_user("image")
    due = now_utc().replace(microsecond=0) + timedelta(minutes=1, seconds=15)
    topics = ["task-events", "task-updates"]
    with TopicTail(platform.kafka, topics) as tail, PushClient(platform, user) as push:
        push.wait_subscribed()
        command = {
            "user_id": user,
            "title": "Stand-up",
            "due_at": rfc3339(due),
            "rrule": "FREQ=DAILY",
            "remind_before": "PT1M",
        }
        first = created_task(platform.create(command), command)
        push.wait("task.created", of_type(CREATED, id=first["id"]))

        # The reminder, 15 s after the command: mailed and pushed by send-reminder's image.
        log = platform.log("send-reminder")
        tail.wait(f"reminder.sent ({log})", topic="task-updates", type_=REMINDER_SENT, user=user)
        mails = wait_for(lambda: platform.mails_for(user), 30, f"mail for {user} ({log})")
        assert "Stand-up" in str(mails[0]["Subject"])
        push.wait(
            "reminder push", lambda d: d.get("type") == "reminder" and d["task_id"] == first["id"]
        )

        # The completion through Kafka: compute-next-occurrence's image makes the next one.
        kafka = KafkaClient(platform.kafka)
        kafka.send(
            "task-events",
            cloud_event(COMPLETED, {"task_id": first["id"], "user_id": user}, subject=first["id"]),
            key=user,
        )
        kafka.flush()
        log = platform.log("compute-next-occurrence")
        facts = tail.wait(
            f"next task.created ({log})", count=2, topic="task-events", type_=CREATED, user=user
        )
        nxt = next(e["data"] for e in facts if e["data"]["id"] != first["id"])
        assert nxt["series_id"] == first["series_id"]
        push.wait("completed", of_type(COMPLETED, task_id=first["id"]))
        push.wait("next occurrence", of_type(CREATED, id=nxt["id"]))
        assert [r.status for r in platform.tasks_of(user)] == ["completed", "open"]
