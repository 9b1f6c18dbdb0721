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
from taskpulse.domain.series import Series, SeriesStatus

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


def test_a_series_advances_only_while_active() -> None:
    series = Series(
        id="s1",
        user_id="alice",
        rrule="FREQ=DAILY",
        timezone="UTC",
        series_start=NOW,
        recurrence_mode=RecurrenceMode.ON_COMPLETION,
        last_occurrence_at=NOW,
        created_at=NOW,
        updated_at=NOW,
    )
    moved = series.advanced_to(NOW + timedelta(days=1), now=NOW)
    assert (moved.last_occurrence_at, moved.version) == (NOW + timedelta(days=1), 2)
    cancelled = moved.cancelled(now=NOW)
    assert cancelled.status is SeriesStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        cancelled.advanced_to(NOW, now=NOW)
    with pytest.raises(InvalidTransition):
        cancelled.cancelled(now=NOW)
    assert series.ended(now=NOW).status is SeriesStatus.ENDED
