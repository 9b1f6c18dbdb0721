"""A whole flow through a function started from its image, not from source: create-task's
image, under its Knative Service's settings, against the real PostgreSQL and a real
OpenID Connect provider (ORY Hydra, ``oidc_provider``), with a recording stand-in for its
Dapr (what it publishes after the commit)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from images_support import run_container

from devstack.images import Built
from devstack.oidc import OidcProvider
from recording import RecordingServer
from support import wait_for
from taskpulse.contract import Function

# A fresh machine builds the base and the images in the first test's setup (~3-4 min).
pytestmark = pytest.mark.timeout(1200)


def command(user: str, event_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/clients/image-test",
        "type": "dev.taskpulse.task.create.v1",
        "datacontenttype": "application/json",
        "data": {
            "user_id": user,
            "title": "Stand-up",
            "due_at": "2030-01-07T09:00:00-05:00",
            "timezone": "America/New_York",
            "rrule": "FREQ=WEEKLY;BYDAY=MO",
            "remind_before": "PT10M",
        },
    }


def test_a_user_creates_a_task_through_create_tasks_image(
    built_images: dict[Function, Built],
    database_url: str,
    oidc_provider: OidcProvider,
    fake_dapr: RecordingServer,
    tmp_path: Path,
) -> None:
    user = f"img-{uuid.uuid4().hex[:8]}"
    token = oidc_provider.token(user)
    with run_container(
        built_images[Function.CREATE_TASK],
        tmp_path,
        database_url=database_url,
        dapr_url=fake_dapr.url,
        oidc_issuer=oidc_provider.issuer,
    ) as container:
        container.wait_listening()
        event = command(user, str(uuid.uuid4()))
        headers = {
            "content-type": "application/cloudevents+json",
            "authorization": f"Bearer {token}",
        }
        created = httpx.post(container.url("/"), content=json.dumps(event), headers=headers)
        assert created.status_code == 201, f"{created.text}\n{container.log_tail()}"
        task = created.json()["data"]
        assert (task["user_id"], task["title"]) == (user, "Stand-up")

        # The same command again: the same task, nothing new.
        again = httpx.post(container.url("/"), content=json.dumps(event), headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["data"]["id"] == task["id"]

        # Another user's token cannot act for this one.
        other = httpx.post(
            container.url("/"),
            content=json.dumps(command(user, str(uuid.uuid4()))),
            headers={**headers, "authorization": f"Bearer {oidc_provider.token('mallory')}"},
        )
        assert other.status_code == 403, other.text

        # The row is in the database, once.
        engine = sa.create_engine(database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text("SELECT id::text, title FROM tasks WHERE user_id = :user"),
                    {"user": user},
                ).all()
        finally:
            engine.dispose()
        assert [tuple(r) for r in rows] == [(task["id"], "Stand-up")]

        # After the commit the container's publisher hands the events to its Dapr.
        def published() -> list[dict[str, Any]]:
            return [e for e in fake_dapr.published("task-events") if e["partitionkey"] == user]

        (sent,) = wait_for(published, 30)
        assert (sent["type"], sent["data"]["id"]) == ("dev.taskpulse.task.created.v1", task["id"])
