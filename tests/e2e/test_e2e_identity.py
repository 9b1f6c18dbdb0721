"""Identity through the real platform: tokens of the local provider (Hydra, by its real
flows) on create-task's public face, and what reaches a user's screen."""

from __future__ import annotations

from typing import Any

import httpx
from e2e_stack import Platform, PushClient, cloud_event, new_user, of_type

CREATE = "dev.taskpulse.task.create.v1"
CREATED = "dev.taskpulse.task.created.v1"
COMPLETED = "dev.taskpulse.task.completed.v1"
CANCELLED = "dev.taskpulse.task.cancelled.v1"


def call(
    platform: Platform, token: str, method: str, path: str = "/", event: Any = None
) -> httpx.Response:
    url = platform.endpoints["create_task"].rstrip("/") + path
    headers = {"Authorization": f"Bearer {token}"}
    if event is None:
        return httpx.request(method, url, headers=headers, timeout=30)
    headers["content-type"] = "application/cloudevents+json"
    return httpx.request(method, url, json=event, headers=headers, timeout=30)


def test_a_user_cannot_act_as_another_and_nothing_reaches_the_other_users_screen(
    platform: Platform,
) -> None:
    bob, mallory = new_user("bob"), new_user("mallory")
    bobs_token, mallorys_token = platform.oidc.token(bob), platform.oidc.token(mallory)
    with PushClient(platform, bob) as screen:
        screen.wait_subscribed()
        created = call(platform, bobs_token, "POST", event=cloud_event(CREATE, {"title": "mine"}))
        assert created.status_code == 201, created.text
        task_id = created.json()["data"]["id"]
        screen.wait("bob's task.created", of_type(CREATED, id=task_id))

        attempts = {
            "create as bob": cloud_event(CREATE, {"title": "spam", "user_id": bob}),
            "complete as bob": cloud_event(COMPLETED, {"task_id": task_id, "user_id": bob}),
            "cancel as bob": cloud_event(CANCELLED, {"task_id": task_id, "user_id": bob}),
            "complete bob's": cloud_event(COMPLETED, {"task_id": task_id}),
            "cancel bob's": cloud_event(CANCELLED, {"task_id": task_id}),
        }
        answers = {
            name: call(platform, mallorys_token, "POST", event=event).status_code
            for name, event in attempts.items()
        }
        assert answers == {
            "create as bob": 403,
            "complete as bob": 403,
            "cancel as bob": 403,
            "complete bob's": 404,
            "cancel bob's": 404,
        }
        assert call(platform, mallorys_token, "GET", f"/tasks/{task_id}").status_code == 404
        assert call(platform, mallorys_token, "GET", "/tasks").json() == {
            "tasks": [],
            "next": None,
        }
        assert call(platform, "forged", "GET", "/tasks").status_code == 401

        # Bob's own completion over HTTP is queued (202) and carried out through Kafka.
        done = call(
            platform, bobs_token, "POST", event=cloud_event(COMPLETED, {"task_id": task_id})
        )
        assert (done.status_code, done.json()["status"]) == (202, "accepted")
        screen.wait("bob's task.completed", of_type(COMPLETED, task_id=task_id))
        mine = call(platform, bobs_token, "GET", f"/tasks/{task_id}").json()
        assert mine["status"] == "completed"
        # Only bob's own two events reached his screen, and no mail went to him.
        assert [item["type"] for item in screen.received()] == [CREATED, COMPLETED]
        assert platform.mails_for(bob) == []


def test_a_trusted_backend_creates_for_a_user_who_sees_it(platform: Platform) -> None:
    carol = new_user("carol")
    with PushClient(platform, carol) as screen:
        screen.wait_subscribed()
        event = cloud_event(CREATE, {"title": "from the backend", "user_id": carol})
        created = call(platform, platform.oidc.service_token(), "POST", event=event)
        assert created.status_code == 201, created.text
        assert created.json()["data"]["user_id"] == carol
        screen.wait("carol's task.created", of_type(CREATED, id=created.json()["data"]["id"]))
