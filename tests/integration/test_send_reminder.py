"""send-reminder: one job per reminder, delivered once by push and by real SMTP."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient

from devstack.ports import free_port
from functions_env import Env, cloud_event, post
from platform_fixtures import TokenMinter
from recording import Recorded
from taskpulse.contract import EventType, Function
from taskpulse.events import TaskCreateData
from taskpulse.services.create import create_task
from taskpulse.services.keys import Origin
from taskpulse.store import Store

SCHEDULED = EventType.REMINDER_SCHEDULED.value
DUE = datetime(2099, 6, 5, 17, 30, tzinfo=UTC)
"""When the reminded task is due: the same whatever day the suite runs (no test waits for
it: each fires the reminder's job itself), and ahead of any day it runs."""
REMIND_AT = DUE - timedelta(minutes=30)
DONE = (200, {"status": "SUCCESS"})
"""A trigger's answer when the job is done (delivered now, before, or not at all)."""


def reminder_for(store: Store, user: str = "alice", title: str = "Call mum") -> dict[str, Any]:
    command = TaskCreateData(
        user_id=user, title=title, due_at=DUE, remind_before=timedelta(minutes=30)
    )
    created = create_task(store.unit_of_work, command, Origin("/t", user))
    task = created.event["data"]
    return {
        "task_id": task["id"],
        "user_id": user,
        "title": task["title"],
        "due_at": task["due_at"],
        "remind_at": REMIND_AT.isoformat(),
    }


def fire(client: FlaskClient, name: str, body: dict[str, Any]) -> tuple[int, Any]:
    """Dapr's trigger of the job: the status and the JSON body of the function's answer."""
    answer = client.post(f"/job/{name}", json=body["data"])
    return answer.status_code, answer.get_json()


def retried(reason: str) -> tuple[int, dict[str, str]]:
    """A trigger's answer when Dapr must try again: 500, and why."""
    return 500, {"status": "RETRY", "reason": reason}


def not_reached(host: str, port: int) -> str:
    """The reason send-reminder gives when no SMTP server listens at ``host:port``: the
    error this machine's network stack gives for it."""
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as error:
        return f"MailError: SMTP not reached: {error}"
    raise AssertionError(f"something listens at {host}:{port}")


def schedule(env: Env, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    client = env.client(Function.SEND_REMINDER)
    answer = post(client, "/events/reminder-scheduled", cloud_event(SCHEDULED, data))
    assert answer.get_json() == {"status": "SUCCESS"}
    job = env.dapr.matching("POST", "/v1.0/jobs/")[-1]
    return job.path.rsplit("/", 1)[-1], job.json()


def pushes(env: Env) -> list[dict[str, Any]]:
    return [r.json() for r in env.centrifugo.matching("POST", "/api/publish")]


def test_a_reminder_becomes_a_one_shot_job_at_remind_at_in_utc(env: Env, store: Store) -> None:
    data = reminder_for(store)
    name, body = schedule(env, data)
    assert name == f"reminder-{data['task_id']}"
    assert body == {
        "dueTime": "2099-06-05T17:00:00Z",
        # Not a cron translated from a rule: only redeliveries (every 15 s, 40 of them
        # after the first trigger) until the app deletes the job.
        "schedule": "@every 15s",
        "repeats": 41,
        "data": {
            "task_id": data["task_id"],
            "user_id": "alice",
            "remind_at": "2099-06-05T17:00:00Z",
            "due_at": "2099-06-05T17:30:00Z",
            "title": "Call mum",
        },
        "overwrite": True,
        "failurePolicy": {"constant": {"interval": "15s", "maxRetries": 3}},
    }


def test_the_trigger_delivers_push_and_mail_once_and_emits_reminder_sent(
    env: Env, store: Store
) -> None:
    data = reminder_for(store)
    name, body = schedule(env, data)
    client = env.client(Function.SEND_REMINDER)
    for _ in range(3):  # repeated triggers
        assert fire(client, name, body) == DONE

    (push,) = pushes(env)
    assert push["channel"] == "tasks:user#alice"
    assert push["data"]["task_id"] == data["task_id"]
    assert push["idempotency_key"]
    assert env.centrifugo.requests[0].headers["x-api-key"] == "test-key"
    (mail,) = env.inbox.messages()
    assert mail["To"] == "alice@taskpulse.local"
    # Done: the job is deleted, so its redeliveries stop.
    assert [d.path for d in env.dapr.matching("DELETE", "/v1.0/jobs/")][-1].endswith(name)
    assert mail["Subject"] == "Reminder: Call mum"
    sent = [
        e for e in env.dapr.published("task-updates") if e["type"] == EventType.REMINDER_SENT.value
    ]
    assert len(sent) == 1
    assert sent[0]["data"]["channels"] == ["push", "email"]


def test_a_stale_reminder_is_not_delivered(env: Env, store: Store) -> None:
    data = reminder_for(store)
    name, body = schedule(env, data)
    done = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    completed = post(
        done,
        "/events/task-events",
        cloud_event(
            EventType.TASK_COMPLETED.value, {"task_id": data["task_id"], "user_id": "alice"}
        ),
    )
    assert completed.get_json() == {"status": "SUCCESS"}
    client = env.client(Function.SEND_REMINDER)
    assert fire(client, name, body) == DONE  # nothing to deliver: the job ends
    assert pushes(env) == []
    assert env.inbox.messages() == []


def test_completion_and_cancellation_delete_the_job(env: Env, store: Store) -> None:
    data = reminder_for(store)
    client = env.client(Function.SEND_REMINDER)
    for event_type, extra in (
        (EventType.TASK_COMPLETED, {}),
        (EventType.TASK_CANCELLED, {"scope": "occurrence"}),
    ):
        event = cloud_event(
            event_type.value, {"task_id": data["task_id"], "user_id": "alice", **extra}
        )
        assert post(client, "/events/task-closed", event).get_json() == {"status": "SUCCESS"}
    deletes = env.dapr.matching("DELETE", "/v1.0/jobs/")
    assert [d.path for d in deletes] == [f"/v1.0/jobs/reminder-{data['task_id']}"] * 2


def test_a_failing_gateway_is_retried_and_delivers_once_it_is_back(env: Env, store: Store) -> None:
    data = reminder_for(store)
    name, body = schedule(env, data)

    def down(request: Recorded) -> tuple[int, bytes]:
        return (503, b"down") if request.path.startswith("/api") else (204, b"")

    env.centrifugo.responder = down
    client = env.client(Function.SEND_REMINDER)
    # Dapr retries
    assert fire(client, name, body) == retried("PushError: push gateway answered 503: down")
    assert env.inbox.messages() == []
    env.centrifugo.responder = lambda request: (200, b'{"result": {}}')
    assert fire(client, name, body) == DONE
    assert fire(client, name, body) == DONE
    assert len(env.inbox.messages()) == 1
    keys = {p["idempotency_key"] for p in pushes(env)}
    assert len(keys) == 1  # the gateway folds the retried publish into one


def test_mail_not_reached_is_retried_and_sent_once_the_server_is_back(
    env: Env, store: Store
) -> None:
    """A refused connection or an unknown host means the message was never accepted: the
    channel's claim goes back and the next trigger sends it (it used to stay claimed, and
    the reminder's mail was lost)."""
    data = reminder_for(store)
    name, body = schedule(env, data)
    for host in ("127.0.0.1", "no-such-host.invalid"):
        port = free_port()
        closed = env.client(Function.SEND_REMINDER, smtp_host=host, smtp_port=port)
        assert fire(closed, name, body) == retried(not_reached(host, port))
    assert env.inbox.messages() == []
    client = env.client(Function.SEND_REMINDER)
    for _ in range(2):
        assert fire(client, name, body) == DONE
    assert len(env.inbox.messages()) == 1
    assert len({p["idempotency_key"] for p in pushes(env)}) == 1


def test_a_recipient_the_server_refuses_for_good_does_not_hold_the_reminder(
    env: Env, store: Store
) -> None:
    """550 for the recipient: retrying is pointless, so the push goes out, the mail is
    recorded as refused, the job ends, and reminder.sent names the push only."""
    data = reminder_for(store)
    name, body = schedule(env, data)
    env.inbox.refused["alice@taskpulse.local"] = "550 5.1.1 no such user"
    client = env.client(Function.SEND_REMINDER)
    for _ in range(2):
        assert fire(client, name, body) == DONE
    assert env.inbox.messages() == []
    assert len(pushes(env)) == 1
    # Each trigger ends the job.
    assert [d.path for d in env.dapr.matching("DELETE", "/v1.0/jobs/")] == [
        f"/v1.0/jobs/{name}"
    ] * 2
    sent = [
        e for e in env.dapr.published("task-updates") if e["type"] == EventType.REMINDER_SENT.value
    ]
    assert [e["data"]["channels"] for e in sent] == [["push"]]


def test_a_push_the_gateway_refuses_for_good_does_not_hold_the_reminder(
    env: Env, store: Store
) -> None:
    """The gateway refusing the publication itself (400): the mail goes out, the push is
    recorded as refused and not tried again, and reminder.sent names the mail only."""
    data = reminder_for(store)
    name, body = schedule(env, data)
    env.centrifugo.responder = lambda request: (400, b'{"code": 107, "message": "bad request"}')
    client = env.client(Function.SEND_REMINDER)
    for _ in range(2):
        assert fire(client, name, body) == DONE
    assert len(pushes(env)) == 1
    assert len(env.inbox.messages()) == 1
    assert [d.path for d in env.dapr.matching("DELETE", "/v1.0/jobs/")] == [
        f"/v1.0/jobs/{name}"
    ] * 2
    sent = [
        e for e in env.dapr.published("task-updates") if e["type"] == EventType.REMINDER_SENT.value
    ]
    assert [e["data"]["channels"] for e in sent] == [["email"]]


def test_a_recipient_refused_for_now_is_retried(env: Env, store: Store) -> None:
    data = reminder_for(store)
    name, body = schedule(env, data)
    env.inbox.refused["alice@taskpulse.local"] = "450 4.2.1 mailbox busy"
    client = env.client(Function.SEND_REMINDER)
    assert fire(client, name, body) == retried(
        "MailError: SMTP refused: {'alice@taskpulse.local': (450, b'4.2.1 mailbox busy')}"
    )
    del env.inbox.refused["alice@taskpulse.local"]
    assert fire(client, name, body) == DONE
    assert len(env.inbox.messages()) == 1


def test_a_title_with_line_breaks_is_one_subject_line(env: Env, store: Store) -> None:
    data = reminder_for(store, title="Call mum\r\nBcc: everyone@example.com")
    name, body = schedule(env, data)
    client = env.client(Function.SEND_REMINDER)
    assert fire(client, name, body) == DONE
    (mail,) = env.inbox.messages()
    assert mail["Subject"] == "Reminder: Call mum Bcc: everyone@example.com"
    assert mail["Bcc"] is None


def test_a_gateway_answer_that_is_not_json_is_retried(env: Env, store: Store) -> None:
    data = reminder_for(store)
    name, body = schedule(env, data)
    env.centrifugo.responder = lambda request: (200, b"<html>proxy error</html>")
    client = env.client(Function.SEND_REMINDER)
    assert fire(client, name, body) == retried(
        "PushError: push gateway answered 200 without JSON: <html>proxy error</html>"
    )
    env.centrifugo.responder = lambda request: (200, b'{"result": {}}')
    assert fire(client, name, body) == DONE
    assert len(pushes(env)) == 2  # published again: the first answer proved nothing
    assert len(env.inbox.messages()) == 1


def test_a_reminder_for_another_users_task_is_not_delivered(env: Env, store: Store) -> None:
    data = {**reminder_for(store), "user_id": "mallory"}
    name, body = schedule(env, data)
    client = env.client(Function.SEND_REMINDER)
    assert fire(client, name, body) == (200, {"status": "DROP"})
    assert pushes(env) == []
    assert env.inbox.messages() == []


def test_the_jobs_api_falls_back_to_alpha1_on_older_dapr(env: Env, store: Store) -> None:
    def old_dapr(request: Recorded) -> tuple[int, bytes]:
        return (404, b"404 page not found") if request.path.startswith("/v1.0/jobs") else (204, b"")

    env.dapr.responder = old_dapr
    data = reminder_for(store)
    client = env.client(Function.SEND_REMINDER)
    for _ in range(2):
        answer = post(client, "/events/reminder-scheduled", cloud_event(SCHEDULED, data))
        assert answer.get_json() == {"status": "SUCCESS"}
    paths = [r.path for r in env.dapr.requests if "/jobs/" in r.path]
    # Learned once: the second schedule goes straight to alpha1.
    assert paths == [
        f"/v1.0/jobs/reminder-{data['task_id']}",
        f"/v1.0-alpha1/jobs/reminder-{data['task_id']}",
        f"/v1.0-alpha1/jobs/reminder-{data['task_id']}",
    ]


def test_the_mail_goes_to_the_address_the_users_issuer_verified(
    env: Env, store: Store, oidc_minter: TokenMinter
) -> None:
    """create-task keeps the token's verified ``email``; an unverified one, or a trusted
    backend's, changes nothing; with no address and no MAIL_DOMAIN there is no mail."""
    public = env.client(Function.CREATE_TASK)
    create = cloud_event("dev.taskpulse.task.create.v1", {"title": "hello"})
    for token in (
        oidc_minter.mint("erin", email="erin.w@example.org", email_verified=True),
        oidc_minter.mint("erin", email="mallory@evil.example", email_verified=False),
        oidc_minter.mint(
            "erin", email="mallory@evil.example", email_verified=True, scp=["taskpulse.service"]
        ),
    ):
        answer = post(public, "/", {**create, "id": token[-12:]}, Authorization=f"Bearer {token}")
        assert answer.status_code == 201, answer.get_json()
    name, body = schedule(env, reminder_for(store, user="erin"))
    assert fire(env.client(Function.SEND_REMINDER), name, body) == DONE
    (mail,) = env.inbox.messages()
    assert mail["To"] == "erin.w@example.org"

    name, body = schedule(env, reminder_for(store, user="frank"))
    assert fire(env.client(Function.SEND_REMINDER, mail_domain=""), name, body) == DONE
    assert len(env.inbox.messages()) == 1  # frank: no verified address, no domain: no mail
    assert [p["channel"] for p in pushes(env)] == ["tasks:user#erin", "tasks:user#frank"]
