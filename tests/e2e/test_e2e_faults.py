"""Faults under load: a function SIGKILLed mid-stream, Kafka, PostgreSQL and one daprd
stopped for 30 s, a reminder whose function was down when its job fired.

Each test counts at the end, against PostgreSQL (tasks per series, the UNIQUE
(series_id, occurrence_at) index) and against the topics (distinct CloudEvent ids, one
task.created per task): nothing lost, nothing doubled.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from e2e_stack import (
    KafkaClient,
    Platform,
    TopicTail,
    cloud_event,
    created_task,
    duplicates_by_id,
    new_user,
    now_utc,
    rfc3339,
    wait_for,
)

CREATE = "dev.taskpulse.task.create.v1"
CREATED = "dev.taskpulse.task.created.v1"
COMPLETED = "dev.taskpulse.task.completed.v1"
REMINDER_SENT = "dev.taskpulse.reminder.sent.v1"
OUTAGE = 30.0


def _series(
    platform: Platform, tail: TopicTail, users: list[str], per_user: int
) -> list[dict[str, Any]]:
    """``per_user`` daily series for each user, created over Kafka; their first tasks."""
    kafka = KafkaClient(platform.kafka)
    due = now_utc().replace(microsecond=0) + timedelta(days=2)
    for user in users:
        for n in range(per_user):
            data = {
                "user_id": user,
                "title": f"series {n}",
                "due_at": rfc3339(due),
                "rrule": "FREQ=DAILY",
            }
            kafka.send("task-events", cloud_event(CREATE, data), key=user)
    kafka.flush()
    total = len(users) * per_user

    def firsts() -> list[dict[str, Any]] | None:
        found = {
            e["data"]["id"]: e["data"]
            for e in tail.events(topic="task-events", type_=CREATED)
            if e["data"]["user_id"] in users
        }
        return list(found.values()) if len(found) >= total else None

    return wait_for(firsts, 120, f"{total} first tasks (read {platform.log('create-task')})")


def _complete(
    platform: Platform,
    tasks: list[dict[str, Any]],
    per_second: float,
    during: Callable[[int], None] | None = None,
) -> threading.Thread:
    """Produce a completion of each task at ``per_second``, in the background."""

    def run() -> None:
        kafka = KafkaClient(platform.kafka)
        start = time.monotonic()
        for n, task in enumerate(tasks):
            if during:
                during(n)
            pause = start + n / per_second - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            data = {"task_id": task["id"], "user_id": task["user_id"]}
            kafka.send("task-events", cloud_event(COMPLETED, data), key=task["user_id"])
        kafka.flush(240)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _count(
    platform: Platform, tail: TopicTail, users: list[str], firsts: list[dict[str, Any]], log: str
) -> dict[str, int]:
    """Wait for every next occurrence, then count: exactly two tasks per series."""
    total = len(firsts)
    first_ids = {t["id"] for t in firsts}

    def nexts() -> list[dict[str, Any]]:
        return [
            e
            for e in tail.events(topic="task-events", type_=CREATED)
            if e["data"]["user_id"] in users and e["data"]["id"] not in first_ids
        ]

    wait_for(
        lambda: len({e["data"]["id"] for e in nexts()}) >= total,
        240,
        f"{total} next occurrences (read {log})",
        every=0.5,
    )
    time.sleep(5)  # anything doubled would arrive by now
    created = nexts()
    ids_per_task = Counter()
    for task_id in {e["data"]["id"] for e in created}:
        ids_per_task[task_id] = len({e["id"] for e in created if e["data"]["id"] == task_id})
    assert len(ids_per_task) == total, f"{len(ids_per_task)} next occurrences, not {total}"
    assert set(ids_per_task.values()) == {1}, "a task announced under two event ids"
    rows = platform.sql(
        "SELECT series_id, count(*) AS n, count(*) FILTER (WHERE status = 'completed') AS done "
        "FROM tasks WHERE user_id = ANY(:users) GROUP BY series_id",
        users=users,
    )
    assert len(rows) == total, f"{len(rows)} series in PostgreSQL, not {total}"
    assert {(r.n, r.done) for r in rows} == {(2, 1)}, Counter((r.n, r.done) for r in rows)
    updates = [e for e in tail.events(topic="task-updates", type_=COMPLETED) if _user(e) in users]
    assert len({e["data"]["task_id"] for e in updates}) == total
    assert len({e["id"] for e in updates}) == total, "a completion announced twice"
    return {
        "series": total,
        "duplicate records on task-events (same id)": sum(duplicates_by_id(created).values()),
        "duplicate records on task-updates (same id)": sum(duplicates_by_id(updates).values()),
    }


def _user(event: dict[str, Any]) -> str | None:
    data = event.get("data") or {}
    return data.get("user_id") if isinstance(data, dict) else None


def test_a_function_killed_mid_stream_of_500_events_loses_and_doubles_nothing(
    platform: Platform,
) -> None:
    users = [new_user("kill") for _ in range(5)]
    victim = "compute-next-occurrence"
    with TopicTail(platform.kafka, ["task-events", "task-updates"]) as tail:
        firsts = _series(platform, tail, users, 100)
        killed = threading.Event()

        def kill_at(n: int) -> None:
            if n == 200 and not killed.is_set():
                platform.stop(victim, signal.SIGKILL)
                killed.set()

        stream = _complete(platform, firsts, per_second=100, during=kill_at)
        assert killed.wait(60)
        time.sleep(3)
        platform.start_again(victim)
        stream.join(240)
        figures = _count(platform, tail, users, firsts, str(platform.log(victim)))
    print(f"SIGKILL {victim} at event 200 of 500: {figures}")


def _outage(platform: Platform, stop: Callable[[], None], start: Callable[[], None]) -> None:
    users = [new_user("outage") for _ in range(3)]
    with TopicTail(platform.kafka, ["task-events", "task-updates"]) as tail:
        firsts = _series(platform, tail, users, 40)
        stream = _complete(platform, firsts, per_second=3)  # 40 s of load
        time.sleep(5)
        stop()
        time.sleep(OUTAGE)
        start()
        stream.join(240)
        assert not stream.is_alive()
        logs = platform.supervisor.log_dir
        figures = _count(platform, tail, users, firsts, f"the logs in {logs}")
    print(f"after a {OUTAGE:.0f}s outage: {figures}")


def test_kafka_stopped_for_30s_under_load(platform: Platform) -> None:
    _outage(platform, lambda: platform.stop("kafka"), lambda: platform.start_again("kafka"))


def test_postgresql_stopped_for_30s_under_load(platform: Platform) -> None:
    _outage(platform, platform.stop_postgres, platform.start_postgres)


def test_one_daprd_stopped_for_30s_under_load(platform: Platform) -> None:
    name = "daprd-compute-next-occurrence"
    _outage(platform, lambda: platform.stop(name), lambda: platform.start_again(name))


def test_a_reminder_fired_while_its_function_was_down_is_delivered_when_it_is_back(
    platform: Platform,
) -> None:
    user = new_user("down")
    due = now_utc().replace(microsecond=0) + timedelta(minutes=1, seconds=15)
    with TopicTail(platform.kafka, ["task-updates"]) as tail:
        command = {
            "user_id": user,
            "title": "Pay rent",
            "due_at": rfc3339(due),
            "remind_before": "PT1M",
        }
        task_id = created_task(platform.create(command), command)["id"]
        log = platform.log("send-reminder")
        wait_for(
            lambda: platform.job("send-reminder", f"reminder-{task_id}").status_code == 200,
            30,
            f"the reminder job (read {log})",
        )
        platform.stop("send-reminder", signal.SIGKILL)
        try:
            remind_at = due - timedelta(minutes=1)
            time.sleep(max(0.0, (remind_at - now_utc()).total_seconds()) + 5)
            assert not platform.mails_for(user)
        finally:
            platform.start_again("send-reminder")
        try:
            sent = tail.wait(
                "reminder.sent after the restart",
                topic="task-updates",
                type_=REMINDER_SENT,
                user=user,
                timeout=75,
            )
        except AssertionError as error:
            daprd_log = platform.log("daprd-send-reminder")
            lost = [
                line
                for line in daprd_log.read_text(errors="replace").splitlines()
                if f"reminder-{task_id}" in line and "failed to invoke" in line
            ]
            raise AssertionError(
                f"the reminder was lost: {error}. daprd tried the trigger "
                f"{len(lost)} time(s) while the function was down and gave up ({daprd_log}): "
                f"{lost[-1][:300] if lost else 'no trigger logged'}"
            ) from None
        assert sent[0]["data"]["task_id"] == task_id
        wait_for(lambda: platform.mails_for(user), 30, f"the mail (read {log})")
        time.sleep(3)
        assert len(platform.mails_for(user)) == 1
        assert len(tail.events(topic="task-updates", type_=REMINDER_SENT, user=user)) == 1
