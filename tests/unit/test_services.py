"""The use cases over the in-memory unit of work (tests/unit/fakes.py): no I/O.

Each rule of a use case is checked here, fast, by what it stored and the whole events it
committed; tests/integration checks the same use cases against PostgreSQL and daprd.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fakes import FakeMailer, FakePusher, FakeStore

from taskpulse.contract import EventType, RecurrenceMode
from taskpulse.domain import (
    InvalidTask,
    InvalidTransition,
    NotOwner,
    Task,
    TaskNotFound,
    TaskStatus,
)
from taskpulse.domain.series import SeriesStatus
from taskpulse.events import (
    ReminderScheduledData,
    ReminderSentData,
    TaskCancelledData,
    TaskCompletedData,
    TaskCreateData,
)
from taskpulse.ports import ChannelError, Mail, MailError, Outcome, PriorResult
from taskpulse.services.commands import Queued, queue_command
from taskpulse.services.create import Created, create_task
from taskpulse.services.emit import task_data
from taskpulse.services.keys import Origin, moment_key
from taskpulse.services.reads import get_task, list_tasks
from taskpulse.services.reminders import RESCHEDULED, Delivery, deliver
from taskpulse.services.series import Result, advance_on_schedule, cancel_task, complete_task
from taskpulse.services.users import remember_email

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
DUE = NOW + timedelta(days=1)
DAY = timedelta(days=1)
CREATED = EventType.TASK_CREATED.value
COMPLETED = EventType.TASK_COMPLETED.value
CANCELLED = EventType.TASK_CANCELLED.value
ENDED = EventType.SERIES_ENDED.value
SCHEDULED = EventType.REMINDER_SCHEDULED.value
SENT = EventType.REMINDER_SENT.value


@pytest.fixture
def store() -> FakeStore:
    return FakeStore(NOW)


def create(store: FakeStore, *, event_id: str | None = None, **fields: Any) -> Created:
    command = TaskCreateData.model_validate({"user_id": "alice", "title": "Standup", **fields})
    return create_task(store.unit_of_work, command, Origin("/app", event_id or str(uuid.uuid4())))


def recurring(store: FakeStore, rrule: str = "FREQ=DAILY", **fields: Any) -> Task:
    """A series' first occurrence, due at DUE; its own events are drained."""
    task = create(store, due_at=DUE, rrule=rrule, **fields).task
    store.drain()
    return task


def complete(
    store: FakeStore, task_id: str, *, user: str = "alice", event_id: str = "done", **data: Any
) -> Result:
    command = TaskCompletedData(task_id=task_id, user_id=user, **data)
    return complete_task(store.unit_of_work, command, Origin("/app", event_id))


def cancel(
    store: FakeStore, task_id: str, *, scope: str = "occurrence", event_id: str = "cancel"
) -> Result:
    command = TaskCancelledData.model_validate(
        {"task_id": task_id, "user_id": "alice", "scope": scope}
    )
    return cancel_task(store.unit_of_work, command, Origin("/app", event_id))


def json(model: Any) -> dict[str, Any]:
    """An event's ``data`` as it goes on the wire."""
    data: dict[str, Any] = model.model_dump(mode="json")
    return data


def created_events(task: Task) -> list[tuple[str, str, dict[str, Any]]]:
    """``task.created`` for a task without a reminder: on both topics."""
    data = json(task_data(task))
    return [("task-events", CREATED, data), ("task-updates", CREATED, data)]


def completed_event(
    done: Task, next_task: Task | None, skipped: int | None
) -> tuple[str, str, dict[str, Any]]:
    data = TaskCompletedData(
        task_id=done.id,
        user_id=done.user_id,
        completed_at=done.completed_at,
        next_task_id=next_task.id if next_task else None,
        next_occurrence_at=next_task.occurrence_at if next_task else None,
        skipped_occurrences=skipped,
        remind_at=done.remind_at,
    )
    return ("task-updates", COMPLETED, json(data))


def cancelled_event(task: Task, scope: str) -> tuple[str, str, dict[str, Any]]:
    data = {"task_id": task.id, "user_id": "alice", "scope": scope, "remind_at": None}
    return ("task-updates", CANCELLED, json(TaskCancelledData.model_validate(data)))


# --- create ---------------------------------------------------------------------------


def test_create_stores_the_task_and_announces_it_with_its_reminder(store: FakeStore) -> None:
    created = create(
        store, due_at=DUE, remind_before=timedelta(minutes=30), tags=["home"], event_id="c1"
    )
    task = created.task
    assert created.new is True
    assert store.state.tasks == {task.id: task}
    assert (task.user_id, task.title, task.due_at, task.status, task.tags) == (
        "alice",
        "Standup",
        DUE,
        TaskStatus.OPEN,
        ("home",),
    )
    assert (task.series_id, task.created_at, task.version) == (None, NOW, 1)
    assert [key for _topic, key, _event in store.state.outbox] == ["alice"] * 3
    assert store.state.outbox[0] == ("task-events", "alice", created.event)
    reminder = ReminderScheduledData(
        task_id=task.id,
        user_id="alice",
        remind_at=DUE - timedelta(minutes=30),
        due_at=DUE,
        title="Standup",
    )
    assert store.drain() == [
        ("task-events", CREATED, json(task_data(task))),
        ("task-updates", CREATED, json(task_data(task))),
        ("reminders", SCHEDULED, json(reminder)),
    ]
    assert store.state.processed == {
        Origin("/app", "c1").key: PriorResult(Outcome.DONE, task.id, None)
    }
    assert [uow.committed for uow in store.units] == [True]


def test_create_of_a_recurring_task_starts_its_series_at_the_due_time(store: FakeStore) -> None:
    created = create(
        store, due_at=DUE, timezone="Europe/Paris", rrule="FREQ=WEEKLY;BYDAY=TU", event_id="c1"
    )
    task = created.task
    assert task.series_id is not None
    series = store.state.series[task.series_id]
    assert (series.rrule, series.timezone, series.series_start, series.last_occurrence_at) == (
        "FREQ=WEEKLY;BYDAY=TU",
        "Europe/Paris",
        DUE,
        DUE,
    )
    assert (series.user_id, series.status, series.recurrence_mode) == (
        "alice",
        SeriesStatus.ACTIVE,
        RecurrenceMode.ON_COMPLETION,
    )
    assert (task.occurrence_at, task.series_start, task.rrule) == (DUE, DUE, series.rrule)
    assert store.state.processed == {
        Origin("/app", "c1").key: PriorResult(Outcome.DONE, task.id, None)
    }


def test_a_repeated_create_answers_the_same_task_and_creates_nothing(store: FakeStore) -> None:
    first = create(store, due_at=DUE, event_id="c1")
    store.drain()
    again = create(store, due_at=DUE, event_id="c1")
    assert (again.task, again.event, again.new) == (first.task, first.event, False)
    assert list(store.state.tasks) == [first.task.id]
    assert store.drain() == []


def test_the_same_command_id_from_another_user_is_refused(store: FakeStore) -> None:
    first = create(store, due_at=DUE, event_id="c1")
    store.drain()
    command = TaskCreateData(user_id="mallory", title="Mine?", due_at=DUE)
    with pytest.raises(NotOwner, match="already created another user's task"):
        create_task(store.unit_of_work, command, Origin("/app", "c1"))
    assert list(store.state.tasks) == [first.task.id]
    assert store.drain() == []


# --- complete -------------------------------------------------------------------------


def test_completing_creates_the_next_occurrence_once(store: FakeStore) -> None:
    first = recurring(store, remind_before=timedelta(minutes=10))
    assert first.series_id is not None
    assert complete(store, first.id) == Result(first.id)

    done, second = store.in_series(first.series_id)
    assert (done.id, done.status, done.completed_at, done.version) == (
        first.id,
        TaskStatus.COMPLETED,
        NOW,
        2,
    )
    assert (second.status, second.due_at, second.occurrence_at, second.remind_before) == (
        TaskStatus.OPEN,
        DUE + DAY,
        DUE + DAY,
        timedelta(minutes=10),
    )
    series = store.state.series[first.series_id]
    assert (series.last_occurrence_at, series.version) == (DUE + DAY, 2)
    reminder = ReminderScheduledData(
        task_id=second.id,
        user_id="alice",
        remind_at=DUE + DAY - timedelta(minutes=10),
        due_at=DUE + DAY,
        title="Standup",
    )
    assert store.drain() == [
        ("task-events", CREATED, json(task_data(second))),
        ("task-updates", CREATED, json(task_data(second))),
        ("reminders", SCHEDULED, json(reminder)),
        completed_event(done, second, skipped=0),
    ]

    # The same command again, and another command for the same task: nothing more.
    assert complete(store, first.id) == Result(first.id, repeated=True)
    assert complete(store, first.id, event_id="done-again") == Result(
        first.id, note="already completed: nothing to do"
    )
    assert store.in_series(first.series_id) == [done, second]
    assert store.state.series[first.series_id] == series
    assert store.drain() == []


def test_another_users_completion_is_refused_and_changes_nothing(store: FakeStore) -> None:
    first = recurring(store)
    before = store.state.copy()
    with pytest.raises(NotOwner, match="does not belong to user 'mallory'"):
        complete(store, first.id, user="mallory", event_id="m1")
    # Nothing of it committed, not even the claim of its command id.
    assert store.state == before
    assert Origin("/app", "m1").key not in store.state.processed
    assert store.units[-1].committed is False


def test_a_command_id_used_again_for_another_task_is_no_repeat(store: FakeStore) -> None:
    mine, other = recurring(store), recurring(store)
    complete(store, mine.id, event_id="c-1")
    store.drain()
    with pytest.raises(InvalidTransition, match="already used for another task"):
        complete(store, other.id, event_id="c-1")
    assert store.task(other.id).status is TaskStatus.OPEN
    assert store.drain() == []


def test_completing_an_unknown_task_is_refused(store: FakeStore) -> None:
    with pytest.raises(TaskNotFound, match="does not exist"):
        complete(store, "00000000-0000-4000-8000-000000000000")
    assert store.state.processed == {}


def test_a_late_completion_skips_to_the_next_future_instance_and_says_so(
    store: FakeStore,
) -> None:
    first = recurring(store)
    assert first.series_id is not None
    store.now = DUE + timedelta(days=10, hours=1)  # DUE + 1 ... DUE + 10 days have passed
    result = complete(store, first.id)
    assert result == Result(first.id, note="completed late: 10 past occurrence(s) skipped")
    done, nxt = store.in_series(first.series_id)
    assert nxt.occurrence_at == DUE + 11 * DAY
    assert store.state.series[first.series_id].last_occurrence_at == DUE + 11 * DAY
    assert store.drain() == [*created_events(nxt), completed_event(done, nxt, skipped=10)]


def test_a_completion_a_little_ahead_of_our_clock_counts_from_its_own_time(
    store: FakeStore,
) -> None:
    first = recurring(store)
    assert first.series_id is not None
    store.now = DUE + DAY - timedelta(minutes=2)
    ahead = store.now + timedelta(minutes=4)  # within the clock skew, past DUE + 1 day
    assert complete(store, first.id, completed_at=ahead).note == (
        "completed late: 1 past occurrence(s) skipped"
    )
    done, nxt = store.in_series(first.series_id)
    assert (done.completed_at, nxt.occurrence_at) == (ahead, DUE + 2 * DAY)


def test_a_completion_time_in_the_future_is_refused(store: FakeStore) -> None:
    first = recurring(store)
    before = store.state.copy()
    with pytest.raises(InvalidTransition, match="is in the future"):
        complete(store, first.id, completed_at=NOW + timedelta(minutes=6))
    assert store.state == before


@pytest.mark.parametrize(
    ("rrule", "reason"),
    [("FREQ=DAILY;COUNT=2", "count"), ("FREQ=DAILY;UNTIL=20260304T090000Z", "until")],
)
def test_completing_the_last_occurrence_ends_the_series(
    store: FakeStore, rrule: str, reason: str
) -> None:
    first = recurring(store, rrule)
    assert first.series_id is not None
    complete(store, first.id)
    _, second = store.in_series(first.series_id)
    store.drain()

    assert complete(store, second.id, event_id="done-2") == Result(second.id)
    assert [t.status for t in store.in_series(first.series_id)] == [TaskStatus.COMPLETED] * 2
    series = store.state.series[first.series_id]
    assert (series.status, series.last_occurrence_at) == (SeriesStatus.ENDED, DUE + DAY)
    ended = {
        "series_id": first.series_id,
        "user_id": "alice",
        "last_task_id": second.id,
        "reason": reason,
    }
    assert store.drain() == [
        ("task-events", ENDED, ended),
        ("task-updates", ENDED, ended),
        completed_event(store.task(second.id), None, skipped=0),
    ]


def test_completing_a_task_of_no_series_creates_nothing_more(store: FakeStore) -> None:
    task = create(store, due_at=DUE).task
    store.drain()
    assert complete(store, task.id) == Result(task.id)
    done = store.task(task.id)
    assert store.drain() == [completed_event(done, None, skipped=None)]


# --- cancel ---------------------------------------------------------------------------


def test_cancelling_an_occurrence_moves_an_on_completion_series_on(store: FakeStore) -> None:
    first = recurring(store)
    assert first.series_id is not None
    assert cancel(store, first.id) == Result(first.id)
    cancelled, second = store.in_series(first.series_id)
    assert (cancelled.status, second.status, second.occurrence_at) == (
        TaskStatus.CANCELLED,
        TaskStatus.OPEN,
        DUE + DAY,
    )
    assert store.state.series[first.series_id].status is SeriesStatus.ACTIVE
    assert store.drain() == [*created_events(second), cancelled_event(cancelled, "occurrence")]


def test_cancelling_the_series_cancels_every_open_occurrence_and_stops_it(
    store: FakeStore,
) -> None:
    first = recurring(store, "FREQ=HOURLY", recurrence_mode="on_schedule")
    assert first.series_id is not None
    store.now = DUE
    advance_on_schedule(store.unit_of_work, series_id=first.series_id, task_id=first.id)
    store.drain()

    assert cancel(store, first.id, scope="series") == Result(first.id)
    one, two = store.in_series(first.series_id)
    assert (one.status, two.status) == (TaskStatus.CANCELLED, TaskStatus.CANCELLED)
    assert store.state.series[first.series_id].status is SeriesStatus.CANCELLED
    assert store.drain() == [cancelled_event(one, "series"), cancelled_event(two, "series")]

    # A later trigger of the series' job, and another cancel, do nothing.
    assert advance_on_schedule(
        store.unit_of_work, series_id=first.series_id, task_id=two.id
    ) == Result(None, note="series is cancelled: nothing to do")
    assert cancel(store, two.id, scope="series", event_id="again") == Result(
        two.id, note="already cancelled: nothing to do"
    )
    assert store.drain() == []


def test_a_series_scope_cancel_of_a_single_task_is_refused(store: FakeStore) -> None:
    task = create(store, due_at=DUE).task
    with pytest.raises(InvalidTransition, match="is not part of a series"):
        cancel(store, task.id, scope="series")


def test_a_completed_task_cannot_be_cancelled(store: FakeStore) -> None:
    first = recurring(store)
    complete(store, first.id)
    store.drain()
    with pytest.raises(InvalidTransition, match="is completed and cannot be cancelled"):
        cancel(store, first.id)
    assert store.drain() == []


# --- on_schedule ----------------------------------------------------------------------


def test_the_job_of_an_on_schedule_series_creates_the_next_occurrence_once(
    store: FakeStore,
) -> None:
    first = recurring(store, "FREQ=HOURLY", recurrence_mode="on_schedule")
    assert first.series_id is not None
    store.now = DUE + timedelta(minutes=1)  # the job fired at the due time
    result = advance_on_schedule(store.unit_of_work, series_id=first.series_id, task_id=first.id)
    still_open, second = store.in_series(first.series_id)
    assert result == Result(second.id)
    assert (still_open.status, second.occurrence_at) == (TaskStatus.OPEN, DUE + timedelta(hours=1))
    assert store.drain() == created_events(second)

    # The scheduler may deliver a trigger twice.
    again = advance_on_schedule(store.unit_of_work, series_id=first.series_id, task_id=first.id)
    assert again == Result(None, repeated=True, note="series already advanced past this task")
    assert len(store.in_series(first.series_id)) == 2
    assert store.drain() == []


def test_a_late_job_skips_the_instances_that_passed(store: FakeStore) -> None:
    first = recurring(store, "FREQ=HOURLY", recurrence_mode="on_schedule")
    assert first.series_id is not None
    store.now = DUE + timedelta(hours=3, minutes=30)  # +1h, +2h and +3h have passed
    result = advance_on_schedule(store.unit_of_work, series_id=first.series_id, task_id=first.id)
    _, nxt = store.in_series(first.series_id)
    assert result == Result(nxt.id)
    assert nxt.occurrence_at == DUE + timedelta(hours=4)


def test_a_job_naming_a_task_of_another_series_is_refused(store: FakeStore) -> None:
    one = recurring(store, "FREQ=HOURLY", recurrence_mode="on_schedule")
    other = recurring(store, "FREQ=HOURLY", recurrence_mode="on_schedule")
    assert one.series_id is not None
    with pytest.raises(InvalidTransition, match="is not an occurrence of series"):
        advance_on_schedule(store.unit_of_work, series_id=one.series_id, task_id=other.id)


# --- reminders ------------------------------------------------------------------------

REMIND_AT = DUE - timedelta(minutes=30)


def reminder(store: FakeStore) -> ReminderScheduledData:
    """A task due at DUE with its reminder, and the clock at the reminder's time."""
    task = create(store, title="Call mum", due_at=DUE, remind_before=timedelta(minutes=30)).task
    store.drain()
    store.now = REMIND_AT
    return ReminderScheduledData(
        task_id=task.id, user_id="alice", remind_at=REMIND_AT, due_at=DUE, title="Call mum"
    )


def send(
    store: FakeStore, data: ReminderScheduledData, pusher: FakePusher, mailer: FakeMailer
) -> Delivery:
    return deliver(
        store.unit_of_work,
        data,
        pusher=pusher,
        mailer=mailer,
        mail_to=lambda user: f"{user}@example.org",
    )


def sent_event(data: ReminderScheduledData, *channels: str) -> tuple[str, str, dict[str, Any]]:
    event = ReminderSentData.model_validate(
        {
            "task_id": data.task_id,
            "user_id": "alice",
            "remind_at": data.remind_at,
            "sent_at": REMIND_AT,
            "channels": list(channels),
        }
    )
    return ("task-updates", SENT, json(event))


def test_a_reminder_is_pushed_and_mailed_once(store: FakeStore) -> None:
    data = reminder(store)
    pusher, mailer = FakePusher(), FakeMailer()
    assert send(store, data, pusher, mailer) == Delivery(("push", "email"))

    key = moment_key("alice", data.task_id, REMIND_AT)
    push = {
        "type": "reminder",
        "task_id": data.task_id,
        "title": "Call mum",
        "due_at": DUE.isoformat(),
        "remind_at": REMIND_AT.isoformat(),
    }
    assert pusher.sent == [("alice", push, key)]
    assert mailer.sent == [
        Mail(
            to="alice@example.org",
            subject="Reminder: Call mum",
            body=f"Call mum\nDue {DUE.isoformat()}\n",
            message_id=f"<{key}@taskpulse>",
        )
    ]
    assert store.drain() == [sent_event(data, "push", "email")]

    # The job fires again: the same answer, nothing sent or announced twice.
    assert send(store, data, pusher, mailer) == Delivery(("push", "email"))
    assert (len(pusher.sent), len(mailer.sent)) == (1, 1)
    assert store.drain() == []


def test_a_recipient_refused_for_good_does_not_hold_the_push(store: FakeStore) -> None:
    data = reminder(store)
    refusal = MailError("SMTP refused: 550 no such user", definitely_not_sent=True, permanent=True)
    pusher, mailer = FakePusher(), FakeMailer(failure=refusal)
    assert send(store, data, pusher, mailer) == Delivery(("push",))
    key = moment_key("alice", data.task_id, REMIND_AT)
    assert store.state.processed[f"reminder:email:{key}"] == PriorResult(
        Outcome.REJECTED, None, "SMTP refused: 550 no such user"
    )
    assert store.drain() == [sent_event(data, "push")]

    mailer.failure = None  # refused for good: not tried again
    assert send(store, data, pusher, mailer) == Delivery(("push",))
    assert (len(pusher.sent), mailer.sent) == (1, [])


def test_a_push_refused_for_good_does_not_hold_the_mail(store: FakeStore) -> None:
    data = reminder(store)
    pusher = FakePusher(failure=ChannelError("400 bad publication", permanent=True))
    mailer = FakeMailer()
    assert send(store, data, pusher, mailer) == Delivery(("email",))
    assert (pusher.sent, len(mailer.sent)) == ([], 1)
    assert store.drain() == [sent_event(data, "email")]


@pytest.mark.parametrize("channel", ["push", "email"])
def test_a_channel_that_certainly_did_not_deliver_is_tried_again(
    store: FakeStore, channel: str
) -> None:
    data = reminder(store)
    pusher, mailer = FakePusher(), FakeMailer()
    failing = pusher if channel == "push" else mailer
    failing.failure = (
        ChannelError("gateway down")
        if channel == "push"
        else MailError("SMTP not reached", definitely_not_sent=True)
    )
    with pytest.raises(ChannelError):
        send(store, data, pusher, mailer)
    key = moment_key("alice", data.task_id, REMIND_AT)
    assert f"reminder:{channel}:{key}" not in store.state.processed  # given back
    assert store.drain() == []  # no reminder.sent before every channel had its say

    failing.failure = None
    assert send(store, data, pusher, mailer) == Delivery(("push", "email"))
    assert (len(pusher.sent), len(mailer.sent)) == (1, 1)
    assert store.drain() == [sent_event(data, "push", "email")]


def test_a_mail_that_may_have_gone_is_not_sent_again(store: FakeStore) -> None:
    data = reminder(store)
    pusher = FakePusher()
    mailer = FakeMailer(failure=MailError("connection lost after DATA", definitely_not_sent=False))
    with pytest.raises(MailError):
        send(store, data, pusher, mailer)
    mailer.failure = None
    # At most once: the claim stays, and the reminder says the mail went.
    assert send(store, data, pusher, mailer) == Delivery(("push", "email"))
    assert (len(pusher.sent), mailer.sent) == (1, [])
    assert store.drain() == [sent_event(data, "push", "email")]


def test_a_stale_reminder_is_not_delivered(store: FakeStore) -> None:
    data = reminder(store)
    pusher, mailer = FakePusher(), FakeMailer()
    moved = data.model_copy(update={"remind_at": REMIND_AT - timedelta(hours=1)})
    assert send(store, moved, pusher, mailer) == Delivery((), skipped=RESCHEDULED)
    complete(store, data.task_id)
    store.drain()
    assert send(store, data, pusher, mailer) == Delivery((), skipped="task is completed")
    gone = data.model_copy(update={"task_id": "00000000-0000-4000-8000-000000000000"})
    assert send(store, gone, pusher, mailer) == Delivery((), skipped="task no longer exists")
    assert (pusher.sent, mailer.sent, store.drain()) == ([], [], [])


def test_a_reminder_for_another_users_task_is_refused(store: FakeStore) -> None:
    data = reminder(store)
    pusher, mailer = FakePusher(), FakeMailer()
    with pytest.raises(NotOwner):
        send(store, data.model_copy(update={"user_id": "mallory"}), pusher, mailer)
    assert (pusher.sent, mailer.sent, store.drain()) == ([], [], [])


# -- the public face's use cases: reads, queued commands, the verified address ----------


def test_pages_list_only_the_users_tasks_by_due_time_then_id(store: FakeStore) -> None:
    late = create(store, due_at=DUE + DAY).task
    undated = create(store).task
    early = create(store, due_at=DUE).task
    create(store, due_at=DUE, user_id="bob")
    done = create(store, due_at=DUE - DAY).task
    complete(store, done.id)
    first = list_tasks(store.unit_of_work, "alice", limit=2)
    assert [t.id for t in first.tasks] == [early.id, late.id] and first.next is not None
    rest = list_tasks(store.unit_of_work, "alice", limit=2, cursor=first.next)
    assert ([t.id for t in rest.tasks], rest.next) == ([undated.id], None)
    everything = list_tasks(store.unit_of_work, "alice", status="all").tasks
    assert [t.id for t in everything] == [done.id, early.id, late.id, undated.id]
    assert [t.id for t in list_tasks(store.unit_of_work, "alice", status="done").tasks] == [done.id]
    with pytest.raises(InvalidTask, match="cursor is not one this API gave"):
        list_tasks(store.unit_of_work, "alice", cursor="bm9wZQ")
    with pytest.raises(InvalidTask, match="limit must be 1-200"):
        list_tasks(store.unit_of_work, "alice", limit=0)
    assert get_task(store.unit_of_work, "alice", early.id) == early
    assert get_task(store.unit_of_work, "bob", early.id) is None


def test_a_command_is_queued_once_and_only_for_the_owner_of_its_task(store: FakeStore) -> None:
    task = create(store).task
    store.drain()
    command = TaskCompletedData(task_id=task.id, user_id="alice")
    event = {"type": COMPLETED, "partitionkey": "alice", "data": json(command)}
    assert queue_command(store.unit_of_work, command, Origin("/app", "q1"), event) == Queued(True)
    assert queue_command(store.unit_of_work, command, Origin("/app", "q1"), event) == Queued(False)
    assert store.drain() == [("task-events", COMPLETED, json(command))]
    # The queue's key is its own: the function that carries the command out claims its own.
    assert Origin("/app", "q1").key not in store.state.processed
    strangers = TaskCompletedData(task_id=task.id, user_id="mallory")
    missing = TaskCompletedData(task_id=str(uuid.uuid4()), user_id="alice")
    for data in (strangers, missing):
        with pytest.raises(TaskNotFound, match=f"task {data.task_id} not found"):
            queue_command(store.unit_of_work, data, Origin("/app", "q2"), event)
    assert store.drain() == []


def test_the_mail_goes_to_the_verified_address_else_the_fallback_else_nowhere(
    store: FakeStore,
) -> None:
    data = reminder(store)
    remember_email(store.unit_of_work, "alice", "alice.w@example.org")
    pusher, mailer = FakePusher(), FakeMailer()
    assert send(store, data, pusher, mailer) == Delivery(("push", "email"))
    assert [m.to for m in mailer.sent] == ["alice.w@example.org"]

    other = FakeStore(NOW)
    data = reminder(other)
    pusher, mailer = FakePusher(), FakeMailer()
    delivery = deliver(other.unit_of_work, data, pusher=pusher, mailer=mailer, mail_to=no_mail)
    assert (delivery, mailer.sent, len(pusher.sent)) == (Delivery(("push",)), [], 1)


def no_mail(_user: str) -> None:
    return None


def test_only_the_trigger_that_finishes_a_delivery_announces_it(store: FakeStore) -> None:
    data = reminder(store)
    pusher, mailer = FakePusher(), FakeMailer()
    first, again = (send(store, data, pusher, mailer) for _ in range(2))
    assert (first.announced, again.announced) == (True, False)
    assert first == again == Delivery(("push", "email"))
