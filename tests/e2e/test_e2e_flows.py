"""The user's paths through the real platform, observed only from outside.

Commands go in as clients send them (HTTP POST to create-task; structured CloudEvents on
Kafka ``task-events`` keyed by user id); what comes out is read by our own Kafka consumer,
a Centrifugo client subscribed as the user, the SMTP server's Maildir and the database.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from e2e_stack import (
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
    wait_for,
)

from devstack.centrifugo import connection_token
from devstack.kafka_access import Brokers
from taskpulse.contract import push_channel

CREATED = "dev.taskpulse.task.created.v1"
COMPLETED = "dev.taskpulse.task.completed.v1"
CANCELLED = "dev.taskpulse.task.cancelled.v1"
REMINDER_SCHEDULED = "dev.taskpulse.reminder.scheduled.v1"
REMINDER_SENT = "dev.taskpulse.reminder.sent.v1"


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_create_over_http_reaches_kafka_and_the_users_screen(platform: Platform) -> None:
    user = new_user("create")
    topics = ["task-events", "task-updates", "reminders"]
    with TopicTail(platform.kafka, topics) as tail, PushClient(platform, user) as push:
        push.wait_subscribed()
        data = {
            "user_id": user,
            "title": "Water the plants",
            # A Friday far ahead of any day the suite runs: its reminder is always due.
            "due_at": "2099-01-02T09:00:00+01:00",
            "timezone": "Europe/Berlin",
            "rrule": "FREQ=WEEKLY;BYDAY=FR",
            "remind_before": "PT15M",
            "tags": ["home"],
        }
        response = platform.create(data, event_id="cmd-1")
        task = created_task(response, data)
        task_id, series_id = task["id"], task["series_id"]
        assert (task["due_at"], task["occurrence_at"]) == ("2099-01-02T09:00:00+01:00",) * 2
        answer = response.json()

        facts = tail.wait("task.created", topic="task-events", type_=CREATED, user=user)
        assert [(e["id"], e["data"]) for e in facts] == [(answer["id"], task)]
        assert facts[0]["subject"] == task_id
        assert facts[0]["partitionkey"] == user
        assert facts[0]["source"] == "/taskpulse/create-task"
        tail.wait("task.created", topic="task-updates", type_=CREATED, user=user)
        tail.wait("reminder.scheduled", topic="reminders", type_=REMINDER_SCHEDULED, user=user)
        pushed = push.wait("task.created", of_type(CREATED, id=task_id))
        assert pushed[0]["data"]["series_id"] == series_id

        # The repeat of the command is answered 200 with the same task.created, but for the
        # times the client gave: the stored task has them in UTC ("Z"), the same instants.
        again = platform.create(data, event_id="cmd-1")
        assert again.status_code == 200, again.text
        repeat = again.json()
        moments = {key: task[key] for key in ("due_at", "occurrence_at")}
        assert {**repeat, "data": {**repeat["data"], **moments}} == answer
        assert {key: instant(repeat["data"][key]) for key in moments} == {
            key: instant(value) for key, value in moments.items()
        }
        time.sleep(2)
        assert len(tail.events(topic="task-events", type_=CREATED, user=user)) == 1
        assert len(platform.tasks_of(user)) == 1


def test_reminder_fires_mail_push_and_reminder_sent(platform: Platform) -> None:
    user = new_user("remind")
    due = now_utc().replace(microsecond=0) + timedelta(minutes=2, seconds=10)
    with (
        TopicTail(platform.kafka, ["task-updates"]) as tail,
        PushClient(platform, user) as push,
    ):
        push.wait_subscribed()
        command = {
            "user_id": user,
            "title": "Call the dentist",
            "due_at": rfc3339(due),
            "remind_before": "PT2M",
        }
        task_id = created_task(platform.create(command), command)["id"]
        log = platform.log("send-reminder")
        sent = tail.wait(
            f"reminder.sent (read {log})", topic="task-updates", type_=REMINDER_SENT, user=user
        )
        assert sent[0]["data"]["task_id"] == task_id
        push.wait(
            "reminder push", lambda d: d.get("type") == "reminder" and d["task_id"] == task_id
        )
        mails = wait_for(lambda: platform.mails_for(user), 30, f"mail for {user} (read {log})")
        assert "Call the dentist" in str(mails[0]["Subject"])
        time.sleep(3)
        assert len(platform.mails_for(user)) == 1
        assert len(tail.events(topic="task-updates", type_=REMINDER_SENT, user=user)) == 1
        assert len(push.received(lambda d: d.get("type") == "reminder")) == 1


def test_completion_creates_the_next_occurrence_in_the_users_zone(
    platform: Platform, kafka: KafkaClient
) -> None:
    user = new_user("complete")
    topics = ["task-events", "task-updates"]
    with TopicTail(platform.kafka, topics) as tail, PushClient(platform, user) as push:
        push.wait_subscribed()
        # The day before New York springs forward (8 March 2099): 09:00 EST, then 09:00
        # EDT. Far ahead of any day the suite runs, so the completion is never late.
        command = {
            "user_id": user,
            "title": "Stand-up",
            "due_at": "2099-03-07T09:00:00-05:00",
            "timezone": "America/New_York",
            "rrule": "FREQ=DAILY",
        }
        first = created_task(platform.create(command), command)
        kafka.send(
            "task-events",
            cloud_event(COMPLETED, {"task_id": first["id"], "user_id": user}, subject=first["id"]),
            key=user,
        )
        kafka.flush()
        log = platform.log("compute-next-occurrence")
        facts = tail.wait(
            f"next task.created (read {log})",
            count=2,
            topic="task-events",
            type_=CREATED,
            user=user,
        )
        nxt = next(e["data"] for e in facts if e["data"]["id"] != first["id"])
        assert nxt["series_id"] == first["series_id"]
        occurrence = instant(nxt["occurrence_at"])
        assert occurrence == instant("2099-03-08T13:00:00+00:00")
        local = occurrence.astimezone(ZoneInfo("America/New_York"))
        assert (local.hour, local.minute, local.utcoffset()) == (9, 0, timedelta(hours=-4))
        push.wait("completed", of_type(COMPLETED, task_id=first["id"]))
        push.wait("next occurrence", of_type(CREATED, id=nxt["id"]))
        rows = platform.tasks_of(user)
        assert [(r.status) for r in rows] == ["completed", "open"]


def test_cancelling_a_series_stops_it_and_removes_the_pending_reminder_job(
    platform: Platform, kafka: KafkaClient
) -> None:
    user = new_user("cancel")
    topics = ["task-events", "task-updates"]
    with TopicTail(platform.kafka, topics) as tail:
        due = now_utc().replace(microsecond=0) + timedelta(days=1)
        command = {
            "user_id": user,
            "title": "Gym",
            "due_at": rfc3339(due),
            "rrule": "FREQ=DAILY",
            "remind_before": "PT1H",
        }
        task = created_task(platform.create(command), command)
        job = f"reminder-{task['id']}"
        log = platform.log("send-reminder")
        wait_for(
            lambda: platform.job("send-reminder", job).status_code == 200,
            30,
            f"reminder job {job} scheduled (read {log})",
        )
        kafka.send(
            "task-events",
            cloud_event(
                CANCELLED,
                {"task_id": task["id"], "user_id": user, "scope": "series"},
                subject=task["id"],
            ),
            key=user,
        )
        kafka.flush()
        tail.wait("task.cancelled", topic="task-updates", type_=CANCELLED, user=user)
        wait_for(
            lambda: platform.job("send-reminder", job).status_code != 200,
            30,
            f"reminder job {job} deleted (read {log})",
        )
        # A late completion of the cancelled occurrence must not revive the series.
        kafka.send(
            "task-events",
            cloud_event(COMPLETED, {"task_id": task["id"], "user_id": user}),
            key=user,
        )
        kafka.flush()
        time.sleep(5)
        assert len(tail.events(topic="task-events", type_=CREATED, user=user)) == 1
        rows = platform.tasks_of(user)
        assert [r.status for r in rows] == ["cancelled"]
        status = platform.sql("SELECT status FROM series WHERE id = :s", s=task["series_id"])
        assert status[0].status == "cancelled"


def test_an_on_schedule_series_advances_on_its_own(platform: Platform) -> None:
    user = new_user("schedule")
    with TopicTail(platform.kafka, ["task-events"]) as tail:
        due = now_utc().replace(microsecond=0) + timedelta(seconds=8)
        command = {
            "user_id": user,
            "title": "Check the backups",
            "due_at": rfc3339(due),
            "rrule": "FREQ=MINUTELY",
            "recurrence_mode": "on_schedule",
        }
        first = created_task(platform.create(command), command)
        log = platform.log("compute-next-occurrence")
        facts = tail.wait(
            f"the next occurrence without any completion (read {log})",
            count=2,
            timeout=60,
            topic="task-events",
            type_=CREATED,
            user=user,
        )
        nxt = next(e["data"] for e in facts if e["data"]["id"] != first["id"])
        assert nxt["series_id"] == first["series_id"]
        assert instant(nxt["occurrence_at"]) == instant(first["occurrence_at"]) + timedelta(
            minutes=1
        )
        # The first occurrence is left open: on_schedule does not wait for the user.
        rows = platform.tasks_of(user)
        assert [r.status for r in rows] == ["open", "open"]


def test_a_user_cannot_subscribe_to_another_users_channel(platform: Platform) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    with PushClient(platform, bob, channel=push_channel(alice)) as intruder:
        assert intruder.unsubscribed.wait(15), "the subscription was neither refused nor ended"
        assert intruder.unsubscribed_code == 103  # permission denied
        assert not intruder.subscribed.is_set()
    with PushClient(platform, alice) as owner:
        owner.wait_subscribed()


def test_the_endpoints_kafka_takes_a_plain_client(platform: Platform) -> None:
    """Contract §5: ``kafka`` in .local/endpoints.json is a bootstrap any Kafka client can
    use. It is the broker's loopback developer listener; the functions log in over SASL_SSL
    on another (decision 0029), and a plain client there is refused."""
    door = platform.endpoints["kafka"]
    assert door.startswith("127.0.0.1:") and door != platform.kafka.bootstrap
    user = new_user("door")
    data = {"user_id": user, "title": "sent by a plain client", "due_at": rfc3339(now_utc())}
    kafka = KafkaClient(Brokers(door))
    kafka.send("task-events", cloud_event("dev.taskpulse.task.create.v1", data), key=user)
    kafka.flush()
    wait_for(lambda: platform.tasks_of(user), 60.0, "the task sent through the door")


def test_a_connection_token_made_with_the_endpoints_secret_gets_the_users_pushes(
    platform: Platform,
) -> None:
    """Contract §5: ``centrifugo_token_secret`` signs (HS256) connection tokens the gateway
    takes beside the provider's access tokens."""
    user = new_user("hmac")
    token = connection_token(platform.endpoints["centrifugo_token_secret"], user)
    with PushClient(platform, user, token=token) as push:
        push.wait_subscribed()
        data = {
            "user_id": user,
            "title": "pushed to an HMAC client",
            "due_at": "2099-01-02T09:00:00Z",
        }
        task = created_task(platform.create(data), data)
        push.wait("task.created for the HMAC client", of_type(CREATED, id=task["id"]))
