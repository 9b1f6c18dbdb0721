"""Task and series rules, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taskpulse.domain import (
    InvalidTask,
    InvalidTransition,
    NotOwner,
    RecurrenceMode,
    Task,
    TaskStatus,
    validate_fields,
)
from taskpulse.domain import series as series_rules
from taskpulse.domain.series import Series, SeriesStatus, Step
from taskpulse.domain.tasks import CLOCK_SKEW, completion_time

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def task(**changes: object) -> Task:
    values: dict[str, object] = {
        "id": "t1",
        "user_id": "alice",
        "title": "Pay rent",
        "due_at": NOW + timedelta(days=1),
        "timezone": "UTC",
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    return Task(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": ""}, "title must be 1-500"),
        ({"title": "x" * 501}, "title must be 1-500"),
        ({"description": "x" * 10_001}, "description must be at most 10000"),
        ({"tags": tuple(f"t{n}" for n in range(21))}, "at most 20 tags"),
        ({"tags": ("",)}, "each tag"),
        ({"user_id": ""}, "user_id"),
    ],
)
def test_limits_name_the_field(fields: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"user_id": "alice", "title": "ok", "description": None, "tags": ()}
    values.update(fields)
    with pytest.raises(InvalidTask, match=message):
        validate_fields(**values)  # type: ignore[arg-type]


def test_limits_accept_the_boundaries() -> None:
    validate_fields(
        user_id="a",
        title="x" * 500,
        description="y" * 10_000,
        tags=tuple(f"t{n}" for n in range(20)),
    )


def test_only_the_owner_completes_and_only_once() -> None:
    with pytest.raises(NotOwner, match="does not belong"):
        task().complete(by="mallory", at=NOW)
    done = task().complete(by="alice", at=NOW)
    assert (done.status, done.completed_at, done.version) == (TaskStatus.COMPLETED, NOW, 2)
    with pytest.raises(InvalidTransition, match="completed, not open"):
        done.complete(by="alice", at=NOW)
    with pytest.raises(InvalidTransition):
        done.cancel(by="alice", at=NOW)


def test_the_next_occurrence_is_a_fresh_open_task_of_the_same_series() -> None:
    done = task(series_id="s1", rrule="FREQ=DAILY").complete(by="alice", at=NOW)
    at = NOW + timedelta(days=2)
    nxt = done.next_occurrence(occurrence_at=at, now=NOW)
    assert nxt.id != done.id
    assert (nxt.status, nxt.due_at, nxt.occurrence_at, nxt.version) == (TaskStatus.OPEN, at, at, 1)
    assert (nxt.series_id, nxt.title, nxt.completed_at) == ("s1", done.title, None)


def test_remind_at_is_due_minus_remind_before() -> None:
    assert task(remind_before=timedelta(minutes=15)).remind_at == (
        NOW + timedelta(days=1) - timedelta(minutes=15)
    )
    assert task().remind_at is None


def daily(**changes: object) -> Series:
    """A daily series that started at NOW and has not moved on from there."""
    values: dict[str, object] = {
        "id": "s1",
        "user_id": "alice",
        "rrule": "FREQ=DAILY",
        "timezone": "UTC",
        "series_start": NOW,
        "recurrence_mode": RecurrenceMode.ON_COMPLETION,
        "last_occurrence_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    return Series(**values)  # type: ignore[arg-type]


def test_a_series_advances_only_while_active() -> None:
    series = daily()
    moved = series.advanced_to(NOW + timedelta(days=1), now=NOW)
    assert (moved.last_occurrence_at, moved.version) == (NOW + timedelta(days=1), 2)
    cancelled = moved.cancelled(now=NOW)
    assert cancelled.status is SeriesStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        cancelled.advanced_to(NOW, now=NOW)
    with pytest.raises(InvalidTransition):
        cancelled.cancelled(now=NOW)
    assert series.ended(now=NOW).status is SeriesStatus.ENDED


DAY = timedelta(days=1)


def test_the_next_step_is_the_next_instance_after_the_anchor() -> None:
    assert daily().next_step(now=NOW + timedelta(hours=1)) == Step(NOW + DAY, skipped=0)
    # From the anchor, not from DTSTART: a series that moved on steps from where it is.
    moved = daily(last_occurrence_at=NOW + 5 * DAY)
    assert moved.next_step(now=NOW) == Step(NOW + 6 * DAY, skipped=0)


def test_instances_that_passed_are_skipped_and_counted() -> None:
    late = NOW + 10 * DAY + timedelta(hours=1)
    assert daily().next_step(now=late) == Step(NOW + 11 * DAY, skipped=10)
    # An instance exactly at the time has passed too.
    assert daily().next_step(now=NOW + 2 * DAY) == Step(NOW + 3 * DAY, skipped=2)


def test_a_completion_ahead_of_now_counts_from_the_completion() -> None:
    ahead = NOW + DAY + timedelta(minutes=2)
    step = daily().next_step(now=NOW + DAY - timedelta(minutes=2), completed_at=ahead)
    assert step == Step(NOW + 2 * DAY, skipped=1)
    # One in the past changes nothing: what passed is what passed by now.
    assert daily().next_step(now=NOW + timedelta(hours=1), completed_at=NOW - DAY) == Step(
        NOW + DAY, skipped=0
    )


def test_past_the_skip_limit_the_count_stops_and_the_instance_stays_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(series_rules, "SKIP_LIMIT", 3)
    late = NOW + 10 * DAY + timedelta(hours=1)
    assert daily().next_step(now=late) == Step(NOW + 11 * DAY, skipped=3)


@pytest.mark.parametrize(
    ("rrule", "reason"),
    [
        ("FREQ=DAILY;COUNT=2", "count"),
        ("FREQ=DAILY;UNTIL=20261128T120000Z", "until"),
    ],
)
def test_a_series_with_nothing_left_ends_and_says_why(rrule: str, reason: str) -> None:
    last = daily(rrule=rrule, last_occurrence_at=NOW + DAY)
    assert last.next_step(now=NOW) == Step(None, skipped=0)
    assert last.end_reason == reason
    assert daily().end_reason == "no-further-instance"


def test_only_an_active_on_completion_series_moves_on_when_an_occurrence_closes() -> None:
    assert daily().advances_on_completion
    assert not daily(recurrence_mode=RecurrenceMode.ON_SCHEDULE).advances_on_completion
    assert not daily(status=SeriesStatus.ENDED).advances_on_completion


def test_a_completion_time_may_run_ahead_of_ours_only_by_the_clock_skew() -> None:
    assert completion_time(None, now=NOW) == NOW
    assert completion_time(NOW - DAY, now=NOW) == NOW - DAY
    assert completion_time(NOW + CLOCK_SKEW, now=NOW) == NOW + CLOCK_SKEW
    with pytest.raises(InvalidTransition, match="is in the future"):
        completion_time(NOW + CLOCK_SKEW + timedelta(seconds=1), now=NOW)


def test_a_stored_rule_the_engine_no_longer_accepts_ends_the_series() -> None:
    # Stored when BYWEEKNO took all seven days of the week; read as RFC 5545 says (the
    # day is DTSTART's), week 20 holds one instance, so position 2 never occurs. Every
    # completion would otherwise be refused behind it: the series ends instead.
    series = daily(rrule="FREQ=YEARLY;BYWEEKNO=20;BYSETPOS=2")
    assert series.next_step(now=NOW) == Step(None, 0)
    assert series.end_reason == "no-further-instance"
