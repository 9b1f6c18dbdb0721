"""compute-next-occurrence against real PostgreSQL: completions, cancellations, jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from functions_env import Env, cloud_event, post, post_record, post_records
from taskpulse.contract import TASK_EVENTS, EventType, Function, gate_of
from taskpulse.events import TaskCreateData
from taskpulse.services.create import create_task
from taskpulse.services.keys import Origin
from taskpulse.store import Store

CREATE = EventType.TASK_CREATE.value
COMPLETED = EventType.TASK_COMPLETED.value
CANCELLED = EventType.TASK_CANCELLED.value
NEW_YORK = ZoneInfo("America/New_York")
GATE = gate_of(TASK_EVENTS).path  # this function reads every record of task-events


def make_task(store: Store, **data: Any) -> dict[str, Any]:
    command = TaskCreateData.model_validate({"user_id": "alice", "title": "Standup", **data})
    created = create_task(store.unit_of_work, command, Origin("/test", str(data)))
    return created.event["data"]


def tasks(store: Store, series_id: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT * FROM tasks WHERE series_id = :s ORDER BY occurrence_at"),
            {"s": series_id},
        ).mappings()
        return [dict(row) for row in rows]


FRIDAY_9AM = datetime(2099, 3, 6, 9, tzinfo=NEW_YORK)
"""A Friday, 09:00 EST in New York, two days before its clocks spring forward (Sunday
8 March 2099): the same whatever day the suite runs, and so far ahead that a series
starting then is never completed late (no past instance is skipped)."""


def complete(env: Env, task: dict[str, Any], *, user: str = "alice", **extra: Any) -> Any:
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    data = {"task_id": task["id"], "user_id": user, **extra}
    return post(client, GATE, cloud_event(COMPLETED, data, user=user))


def test_completing_a_weekly_task_creates_the_next_one_at_the_local_time(
    env: Env, store: Store
) -> None:
    first_due = FRIDAY_9AM
    task = make_task(
        store,
        due_at=first_due.isoformat(),
        timezone="America/New_York",
        rrule="FREQ=WEEKLY;BYDAY=FR",
        remind_before="PT10M",
    )
    response = complete(env, task)
    assert response.get_json() == {"status": "SUCCESS"}

    first, second = tasks(store, task["series_id"])
    assert first["status"] == "completed"
    assert second["status"] == "open"
    # 09:00 New York wall time a week later, across the change to summer time: 09:00
    # EDT, which is 13:00 UTC where the first was 14:00 UTC.
    assert second["due_at"] == datetime(2099, 3, 13, 9, tzinfo=NEW_YORK)
    assert second["due_at"] == datetime(2099, 3, 13, 13, tzinfo=UTC)
    created = [
        e for e in env.dapr.published("task-events") if e["type"] == EventType.TASK_CREATED.value
    ]
    # (the first task's own event may also appear: the function's sweep publishes it)
    assert [e["data"]["id"] for e in created].count(second["id"]) == 1
    (update,) = [e for e in env.dapr.published("task-updates") if e["type"] == COMPLETED]
    assert update["data"]["next_task_id"] == second["id"]
    assert update["source"] == "/taskpulse/compute-next-occurrence"
    # What send-reminder's subscription matches on: this task's reminder job is void.
    assert datetime.fromisoformat(update["data"]["remind_at"]) == first_due - timedelta(minutes=10)
    reminders = [e["data"]["task_id"] for e in env.dapr.published("reminders")]
    assert reminders.count(second["id"]) == 1


def test_the_same_completion_delivered_twice_creates_one_occurrence(env: Env, store: Store) -> None:
    task = make_task(
        store,
        due_at=FRIDAY_9AM.isoformat(),
        timezone="America/New_York",
        rrule="FREQ=DAILY",
    )
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    event = cloud_event(COMPLETED, {"task_id": task["id"], "user_id": "alice"})
    answers = [post(client, GATE, event).get_json() for _ in range(3)]
    assert answers == [{"status": "SUCCESS"}] * 3
    assert len(tasks(store, task["series_id"])) == 2


def processed_keys(store: Store, fragment: str) -> list[str]:
    with store.engine.connect() as conn:
        query = "SELECT idempotency_key FROM processed_events WHERE idempotency_key LIKE :f"
        return list(conn.execute(sa.text(query), {"f": f"%{fragment}%"}).scalars())


def test_completions_delivered_in_bulk_are_each_recorded_and_answered(
    env: Env, store: Store
) -> None:
    """daprd's bulk delivery of records, handled in one transaction: each entry
    as if alone (a repeat inside the batch too), and a refused one dead-lettered with
    nothing of it kept, while the others commit."""
    due = FRIDAY_9AM.isoformat()
    first, second = (make_task(store, due_at=due, rrule="FREQ=DAILY", title=t) for t in "AB")
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    one = cloud_event(COMPLETED, {"task_id": first["id"], "user_id": "alice"})
    other = cloud_event(COMPLETED, {"task_id": second["id"], "user_id": "alice"})
    stranger = cloud_event(COMPLETED, {"task_id": second["id"], "user_id": "mallory"})
    answers = post_records(client, GATE, [one, stranger, other, one])
    assert answers == ["SUCCESS"] * 4
    assert len(tasks(store, first["series_id"])) == 2
    assert len(tasks(store, second["series_id"])) == 2
    (letter,) = env.dapr.published("task-events-dlq")
    assert letter["id"] == stranger["id"]
    # The stranger's unit of work (its savepoint) rolled back, its command claim with it.
    assert processed_keys(store, stranger["id"]) == []
    assert len(processed_keys(store, one["id"])) == 1
    # Published after the batch committed: each next occurrence announced once.
    created = [
        e["data"]["id"]
        for e in env.dapr.published("task-updates")
        if e["type"] == EventType.TASK_CREATED.value
    ]
    assert created.count(tasks(store, first["series_id"])[1]["id"]) == 1


def test_in_a_bulk_delivery_a_failure_keeps_what_came_before_and_retries_the_rest(
    env: Env, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transient failure (here: the database refusing one task's update) is RETRY for
    that entry and, unhandled, for the ones after it; the ones before it are committed."""
    from taskpulse.store import repositories

    due = FRIDAY_9AM.isoformat()
    tasks_ = [make_task(store, due_at=due, rrule="FREQ=DAILY", title=t) for t in "ABC"]
    failing = tasks_[1]["id"]
    save = repositories.TaskRepository.save

    def flaky(self: repositories.TaskRepository, task: Any) -> None:
        if task.id == failing:
            raise sa.exc.OperationalError("UPDATE tasks", {}, Exception("connection reset"))
        save(self, task)

    monkeypatch.setattr(repositories.TaskRepository, "save", flaky)
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    events = [cloud_event(COMPLETED, {"task_id": t["id"], "user_id": "alice"}) for t in tasks_]
    assert post_records(client, GATE, events) == ["SUCCESS", "RETRY", "RETRY"]
    assert [len(tasks(store, t["series_id"])) for t in tasks_] == [2, 1, 1]

    monkeypatch.setattr(repositories.TaskRepository, "save", save)
    assert post_records(client, GATE, events) == ["SUCCESS"] * 3
    assert [len(tasks(store, t["series_id"])) for t in tasks_] == [2, 2, 2]


def test_a_bulk_delivery_whose_commit_fails_is_retried_whole(
    env: Env, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskpulse.store import uow

    due = FRIDAY_9AM.isoformat()
    first, second = (make_task(store, due_at=due, rrule="FREQ=DAILY", title=t) for t in "AB")
    commit = uow.Batch.commit

    def lost(self: uow.Batch) -> None:
        raise sa.exc.OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(uow.Batch, "commit", lost)
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    events = [
        cloud_event(COMPLETED, {"task_id": t["id"], "user_id": "alice"}) for t in (first, second)
    ]
    assert post_records(client, GATE, events) == ["RETRY", "RETRY"]
    assert len(tasks(store, first["series_id"])) == 1
    assert len(tasks(store, second["series_id"])) == 1
    assert env.dapr.published("task-updates") == []

    monkeypatch.setattr(uow.Batch, "commit", commit)
    assert post_records(client, GATE, events) == ["SUCCESS", "SUCCESS"]
    assert len(tasks(store, first["series_id"])) == 2


def test_a_late_completion_skips_past_instances_and_says_so(env: Env, store: Store) -> None:
    # Late by the clock the function reads, so the start is fixed against one reading of
    # it: ten days and an hour ago. The instances start + 1 day ... start + 10 days (an
    # hour ago) have passed; start + 11 days (in 23 hours) is the next one.
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=10, hours=1)
    task = make_task(store, due_at=start.isoformat(), rrule="FREQ=DAILY")
    assert complete(env, task).get_json() == {"status": "SUCCESS"}
    _, nxt = tasks(store, task["series_id"])
    assert nxt["due_at"] == start + timedelta(days=11)
    (update,) = [e for e in env.dapr.published("task-updates") if e["type"] == COMPLETED]
    assert update["data"]["skipped_occurrences"] == 10
    assert update["data"]["next_task_id"] == nxt["id"]
    assert datetime.fromisoformat(update["data"]["next_occurrence_at"]) == nxt["due_at"]


def test_a_count_series_ends_with_series_ended(env: Env, store: Store) -> None:
    task = make_task(store, due_at=FRIDAY_9AM.isoformat(), rrule="FREQ=DAILY;COUNT=2")
    assert complete(env, task).get_json() == {"status": "SUCCESS"}
    _, second = tasks(store, task["series_id"])
    assert complete(env, {"id": second["id"]}).get_json() == {"status": "SUCCESS"}
    assert len(tasks(store, task["series_id"])) == 2
    ended = {
        "series_id": task["series_id"],
        "user_id": "alice",
        "last_task_id": second["id"],
        "reason": "count",
    }
    for topic in ("task-events", "task-updates"):
        facts = [e for e in env.dapr.published(topic) if e["type"] == EventType.SERIES_ENDED.value]
        assert [e["data"] for e in facts] == [ended], topic


def test_another_users_completion_changes_nothing_and_is_dead_lettered(
    env: Env, store: Store
) -> None:
    task = make_task(store, due_at=FRIDAY_9AM.isoformat(), rrule="FREQ=DAILY")
    response = complete(env, task, user="mallory")
    assert response.get_json() == {"status": "SUCCESS"}
    (only,) = tasks(store, task["series_id"])
    assert only["status"] == "open"
    (letter,) = env.dapr.published("task-events-dlq")
    assert "does not belong to user 'mallory'" in letter["deadletterreason"]
    assert env.dapr.published("task-updates") == []


def test_a_command_id_used_again_by_someone_else_is_no_repeat(env: Env, store: Store) -> None:
    """Idempotency is by source + id; a copy of that pair with another task, or from
    another user, must not pass for a repeat that silently succeeds."""
    due = FRIDAY_9AM.isoformat()
    mine, other = make_task(store, due_at=due), make_task(store, due_at=due, title="Other")
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)

    def send(task: dict[str, Any], user: str) -> Any:
        data = {"task_id": task["id"], "user_id": user}
        event = cloud_event(COMPLETED, data, user=user, event_id="c-1", source="/app")
        return post(client, GATE, event).get_json()

    assert send(mine, "alice") == {"status": "SUCCESS"}
    assert send(mine, "alice") == {"status": "SUCCESS"}  # a true repeat
    assert send(other, "alice") == {"status": "SUCCESS"}  # answered, and dead-lettered
    assert send(mine, "mallory") == {"status": "SUCCESS"}
    reasons = [x["deadletterreason"] for x in env.dapr.published("task-events-dlq")]
    assert len(reasons) == 2, reasons
    assert "already used for another task" in reasons[0]
    assert "does not belong to user 'mallory'" in reasons[1]
    assert [t["status"] for t in tasks_of(store, other)] == ["open"]


def test_a_completion_time_in_the_future_is_refused(env: Env, store: Store) -> None:
    """It would skip every instance until then (ten years of a daily series)."""
    task = make_task(store, due_at=FRIDAY_9AM.isoformat(), rrule="FREQ=DAILY")
    # Ten years after the first instance: in the future whatever day the suite runs.
    response = complete(env, task, completed_at="2109-03-06T14:00:00Z")
    assert response.get_json() == {"status": "SUCCESS"}
    (letter,) = env.dapr.published("task-events-dlq")
    assert "completed_at 2109-03-06T14:00:00+00:00 is in the future" in letter["deadletterreason"]
    (only,) = tasks(store, task["series_id"])
    assert only["status"] == "open"


def tasks_of(store: Store, task: dict[str, Any]) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM tasks WHERE id = :i"), {"i": task["id"]})
        return [dict(row) for row in rows.mappings()]


def test_completing_an_unknown_task_is_dead_lettered(env: Env) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert complete(env, {"id": missing}).get_json() == {"status": "SUCCESS"}
    assert complete(env, {"id": "../no-such-task"}).get_json() == {"status": "SUCCESS"}
    first, second = env.dapr.published("task-events-dlq")
    assert first["deadletterreason"] == f"task {missing} does not exist"
    assert "'../no-such-task' is not a UUID" in second["deadletterreason"]


def test_cancelling_the_series_stops_it(env: Env, store: Store) -> None:
    task = make_task(store, due_at=FRIDAY_9AM.isoformat(), rrule="FREQ=DAILY")
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    cancel = cloud_event(CANCELLED, {"task_id": task["id"], "user_id": "alice", "scope": "series"})
    assert post(client, GATE, cancel).get_json() == {"status": "SUCCESS"}
    # Too late: the task is cancelled (answered, and dead-lettered).
    assert complete(env, task).get_json() == {"status": "SUCCESS"}
    (only,) = tasks(store, task["series_id"])
    assert only["status"] == "cancelled"
    with store.engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM series")).scalar_one()
    assert status == "cancelled"
    updates = env.dapr.published("task-updates")
    assert [e["data"]["scope"] for e in updates if e["type"] == CANCELLED] == ["series"]
    # No reminder, no job: send-reminder's subscription does not match this fact.
    assert [e["data"]["remind_at"] for e in updates if e["type"] == CANCELLED] == [None]


def test_cancelling_one_occurrence_moves_the_series_on(env: Env, store: Store) -> None:
    task = make_task(store, due_at=FRIDAY_9AM.isoformat(), rrule="FREQ=DAILY")
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    cancel = cloud_event(CANCELLED, {"task_id": task["id"], "user_id": "alice"})
    assert post(client, GATE, cancel).get_json() == {"status": "SUCCESS"}
    first, second = tasks(store, task["series_id"])
    assert (first["status"], second["status"]) == ("cancelled", "open")


def test_on_schedule_series_advance_on_their_own_job(env: Env, store: Store) -> None:
    due = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    task = make_task(
        store, due_at=due.isoformat(), rrule="FREQ=HOURLY", recurrence_mode="on_schedule"
    )
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    created = cloud_event(EventType.TASK_CREATED.value, task, user="alice")
    assert post(client, GATE, created).get_json() == {"status": "SUCCESS"}

    (job,) = env.dapr.matching("POST", "/v1.0/jobs/")
    name = job.path.rsplit("/", 1)[-1]
    body = job.json()
    assert body["dueTime"] == due.isoformat().replace("+00:00", "Z")
    assert body["overwrite"] is True

    for _ in range(2):  # the scheduler may deliver a trigger more than once
        trigger = client.post(f"/job/{name}", json=body["data"])
        assert (trigger.status_code, trigger.get_json()) == (200, {"status": "SUCCESS"})
    first, second = tasks(store, task["series_id"])
    assert first["status"] == "open"  # on_schedule: the next one comes, done or not
    # Each trigger ends the job (the second finds the series advanced already).
    deletes = env.dapr.matching("DELETE", "/v1.0/jobs/")
    assert [d.path for d in deletes] == [f"/v1.0/jobs/{name}"] * 2
    assert second["due_at"] == due + timedelta(hours=1)


def test_a_forged_task_created_schedules_nothing(env: Env, store: Store) -> None:
    """task-events takes writes from clients: a task.created that does not describe the
    stored task (another user's, a moved occurrence, an unknown id) makes no job, since
    the job would advance or stall the victim's series."""
    due = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    task = make_task(
        store, due_at=due.isoformat(), rrule="FREQ=HOURLY", recurrence_mode="on_schedule"
    )
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    forgeries = [
        {**task, "user_id": "mallory"},
        {**task, "occurrence_at": (due - timedelta(days=1)).isoformat()},
        {**task, "id": "no-such-task"},
    ]
    for data in forgeries:
        event = cloud_event(EventType.TASK_CREATED.value, data, user=data["user_id"])
        assert post(client, GATE, event).get_json() == {"status": "SUCCESS"}
    assert env.dapr.matching("POST", "/v1.0/jobs/") == []
    reasons = [x["deadletterreason"] for x in env.dapr.published("task-events-dlq")]
    assert len(reasons) == 3, reasons
    assert "does not belong to user 'mallory'" in reasons[0]
    assert "does not match the stored task" in reasons[1]
    assert "does not exist" in reasons[2]


def test_on_completion_tasks_schedule_no_job(env: Env, store: Store) -> None:
    task = make_task(store, due_at=FRIDAY_9AM.isoformat(), rrule="FREQ=DAILY")
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    answer = post(client, GATE, cloud_event(EventType.TASK_CREATED.value, task))
    assert answer.get_json() == {"status": "SUCCESS"}
    assert env.dapr.matching("POST", "/v1.0/jobs/") == []


def test_an_unknown_job_is_acknowledged_not_retried(env: Env) -> None:
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    response = client.post("/job/what-is-this", json={})
    assert (response.status_code, response.get_json()) == (200, {"status": "DROP"})


def test_an_event_on_a_route_that_does_not_take_its_type_is_dead_lettered(env: Env) -> None:
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    event = cloud_event(EventType.REMINDER_SENT.value, {"task_id": "t"})
    assert post(client, GATE, event).get_json() == {"status": "SUCCESS"}
    (letter,) = env.dapr.published("task-events-dlq")
    assert "does not handle" in letter["deadletterreason"]


@pytest.mark.parametrize("bulk", [False, True], ids=["one by one", "in bulk"])
def test_as_the_gate_of_task_events_it_reads_every_record_of_the_topic(
    env: Env, store: Store, bulk: bool
) -> None:
    """daprd hands the gate each record in its rawPayload envelope, or several at once
    (bulkSubscribe): a completion is handled, the other contract events of the topic pass
    (a create command is create-task's, a plain task.created is nobody's here) whatever
    their size, since the function that consumes them judges them, and everything else is
    dead-lettered with the reason (the record itself, not daprd's envelope)."""
    task = make_task(store, due_at=FRIDAY_9AM.isoformat(), rrule="FREQ=DAILY")
    client = env.client(Function.COMPUTE_NEXT_OCCURRENCE)
    path = GATE
    completed = cloud_event(COMPLETED, {"task_id": task["id"], "user_id": "alice"})
    command = cloud_event(CREATE, {"user_id": "alice", "title": "not mine to create"})
    created = cloud_event(EventType.TASK_CREATED.value, {**task, "title": "announced"})
    unknown = cloud_event("dev.example.task.deleted.v1", {"user_id": "alice"}, user="alice")
    padding = "x" * (100 * 1024)  # over the functions' 64 KiB, under the topic's 2 MiB
    big_command = cloud_event(CREATE, {"user_id": "alice", "title": "t", "description": padding})
    big_completion = cloud_event(COMPLETED, {"task_id": padding, "user_id": "alice"})
    # daprd's rule for create-task reads only the type: create-task judges the envelope.
    broken_command = {"type": CREATE, "data": {"user_id": "alice"}}
    batch = [
        json.dumps(completed).encode(),
        json.dumps(command).encode(),
        json.dumps(created).encode(),
        b"{this is not json",
        json.dumps(unknown).encode(),
        b"[1, 2]",
        b"[" * 10_000,  # deeper than Python's JSON parser goes
        json.dumps(big_command).encode(),
        json.dumps(broken_command).encode(),
        json.dumps(big_completion).encode(),
    ]
    if bulk:
        assert post_records(client, path, batch) == ["SUCCESS"] * len(batch)
    for record in [] if bulk else batch:
        assert post_record(client, path, record).get_json() == {"status": "SUCCESS"}
    with store.engine.connect() as conn:
        titles = conn.execute(sa.text("SELECT title FROM tasks ORDER BY created_at")).scalars()
        assert list(titles) == [task["title"]] * 2  # the next occurrence, nothing else
    not_json, other, not_object, nested, big = env.dapr.published(TASK_EVENTS.dead_letter)
    assert "not JSON" in not_json["deadletterreason"]
    assert not_json["deadletterbody"] == "{this is not json"
    assert "nested too deeply" in nested["deadletterreason"]
    assert nested["deadletterbytes"] == 10_000
    assert "unknown event type 'dev.example.task.deleted.v1'" in other["deadletterreason"]
    assert other["id"] == unknown["id"]
    assert "JSON object" in not_object["deadletterreason"]
    assert "the limit is 65536" in big["deadletterreason"]
    assert big["deadletterbytes"] == len(json.dumps(big_completion))
    letters = (not_json, other, not_object, nested, big)
    assert all(x["deadletterfunction"] == Function.COMPUTE_NEXT_OCCURRENCE.value for x in letters)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'outcome="passed",type="{CREATE}"' in metrics
