"""Use cases of recurring series: complete, cancel, and advance to the next occurrence.

Which occurrence comes next, what was skipped and when the series ends is the domain's
rule (``Series.next_step``: the task's IANA zone, from the anchor, never from DTSTART);
here it is created exactly once: the idempotency key of the occurrence and the unique
(series, occurrence) index both guard it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from taskpulse.contract import TASK_EVENTS, TASK_UPDATES, EventType, Function
from taskpulse.domain import InvalidTransition, Task, TaskNotFound, TaskStatus
from taskpulse.domain.series import Series
from taskpulse.domain.tasks import completion_time
from taskpulse.events import SeriesEndedData, TaskCancelledData, TaskCompletedData
from taskpulse.ports import UnitOfWork
from taskpulse.services.emit import about, emit, emit_created, fact
from taskpulse.services.keys import Origin, moment_key

SOURCE = Function.COMPUTE_NEXT_OCCURRENCE


@dataclass(frozen=True, slots=True)
class Advanced:
    next_task: Task | None
    skipped: int
    ended: bool


@dataclass(frozen=True, slots=True)
class Result:
    """What one event did; a repeat of the event returns the first one's ``task_id``."""

    task_id: str | None
    repeated: bool = False
    note: str | None = None


def advance(
    uow: UnitOfWork,
    series: Series,
    template: Task,
    *,
    completed_at: datetime | None = None,
    traceparent: str | None,
    source: Function = SOURCE,
) -> Advanced:
    """Create the series' next occurrence (``Series.next_step``), or end the series."""
    step = series.next_step(now=uow.now, completed_at=completed_at)
    if step.occurrence_at is None:
        uow.series.save(series.ended(now=uow.now))
        ended = fact(
            EventType.SERIES_ENDED,
            template,
            SeriesEndedData(
                series_id=series.id,
                user_id=series.user_id,
                last_task_id=template.id,
                reason=series.end_reason,
            ),
            source=source,
            traceparent=traceparent,
            key=f"{series.id}:ended",
        )
        emit(uow, ended, TASK_EVENTS, TASK_UPDATES)
        return Advanced(None, step.skipped, ended=True)
    candidate = step.occurrence_at
    next_task = template.next_occurrence(occurrence_at=candidate, now=uow.now)
    key = moment_key(series.user_id, template.id, candidate)
    if uow.processed.claim(key, result_id=next_task.id) is not None:
        return Advanced(uow.tasks.in_series_at(series.id, candidate), step.skipped, ended=False)
    uow.series.save(series.advanced_to(candidate, now=uow.now))
    uow.tasks.add(next_task)
    emit_created(uow, next_task, source=source, traceparent=traceparent)
    return Advanced(next_task, step.skipped, ended=False)


def _load(uow: UnitOfWork, task_id: str, user_id: str) -> Task:
    task = uow.tasks.get(task_id, for_update=True)
    if task is None:
        raise TaskNotFound(f"task {task_id} does not exist")
    task.ensure_owner(user_id)
    return task


Command = TypeVar("Command", TaskCompletedData, TaskCancelledData)


def _on_task(
    unit_of_work: Callable[[], UnitOfWork],
    data: Command,
    origin: Origin,
    change: Callable[[UnitOfWork, Task, Command, Origin], Result],
) -> Result:
    """Run a client command on its task once: claim the command, lock the task, ``change``
    it; a repeat of the command answers what the first delivery did."""
    with unit_of_work() as uow:
        prior = uow.processed.claim(origin.key, result_id=data.task_id)
        if prior is None:
            return change(uow, _load(uow, data.task_id, data.user_id), data, origin)
        if prior.result_id != data.task_id:
            # Not a repeat: the same source + id was another command (another task, maybe
            # another user's). Answering SUCCESS would drop this one without a trace.
            raise InvalidTransition(
                f"command {origin.event_id!r} from {origin.source!r} was already used for "
                "another task: give each command a new CloudEvent id"
            )
        repeated = uow.tasks.get(data.task_id)
        if repeated is not None:
            repeated.ensure_owner(data.user_id)  # a stranger's copy is no repeat either
        return Result(prior.result_id, repeated=True)


def complete_task(
    unit_of_work: Callable[[], UnitOfWork], data: TaskCompletedData, origin: Origin
) -> Result:
    """Record a completion; for an on_completion series, create the next occurrence."""
    return _on_task(unit_of_work, data, origin, _complete)


def cancel_task(
    unit_of_work: Callable[[], UnitOfWork], data: TaskCancelledData, origin: Origin
) -> Result:
    """Cancel one occurrence (an on_completion series moves on) or end the whole series."""
    return _on_task(unit_of_work, data, origin, _cancel)


def _complete(uow: UnitOfWork, task: Task, data: TaskCompletedData, origin: Origin) -> Result:
    if task.status is TaskStatus.COMPLETED:
        uow.commit()
        return Result(task.id, note="already completed: nothing to do")
    completed_at = completion_time(data.completed_at, now=uow.now)
    done = task.complete(by=data.user_id, at=completed_at)
    uow.tasks.save(done)
    advanced = None
    series = uow.series.get(task.series_id, for_update=True) if task.series_id else None
    if series is not None and series.advances_on_completion:
        advanced = advance(
            uow, series, done, completed_at=completed_at, traceparent=origin.traceparent
        )
    _emit_completed(uow, done, advanced, origin.traceparent)
    uow.commit()
    note = None
    if advanced is not None and advanced.skipped:
        note = f"completed late: {advanced.skipped} past occurrence(s) skipped"
    return Result(task.id, note=note)


def _emit_completed(
    uow: UnitOfWork, done: Task, advanced: Advanced | None, traceparent: str | None
) -> None:
    next_task = advanced.next_task if advanced else None
    event = fact(
        EventType.TASK_COMPLETED,
        done,
        TaskCompletedData(
            **about(done),
            completed_at=done.completed_at,
            next_task_id=next_task.id if next_task else None,
            next_occurrence_at=next_task.occurrence_at if next_task else None,
            skipped_occurrences=advanced.skipped if advanced else None,
            remind_at=done.remind_at,
        ),
        source=SOURCE,
        traceparent=traceparent,
        key=f"{done.id}:completed",
    )
    emit(uow, event, TASK_UPDATES)


def _cancel(uow: UnitOfWork, task: Task, data: TaskCancelledData, origin: Origin) -> Result:
    series = uow.series.get(task.series_id, for_update=True) if task.series_id else None
    cancelled: list[Task] = []
    if data.scope == "series":
        if series is None:
            raise InvalidTransition(f"task {task.id} is not part of a series")
        if series.is_active:
            uow.series.save(series.cancelled(now=uow.now))
        for open_task in uow.tasks.open_in_series(series.id):
            cancelled.append(open_task.cancel(by=data.user_id, at=uow.now))
    elif task.status is TaskStatus.OPEN:
        cancelled.append(task.cancel(by=data.user_id, at=uow.now))
        if series is not None and series.advances_on_completion:
            advance(uow, series, task, traceparent=origin.traceparent)
    elif task.status is TaskStatus.COMPLETED:
        raise InvalidTransition(f"task {task.id} is completed and cannot be cancelled")
    for item in cancelled:
        uow.tasks.save(item)
        emit(uow, _cancelled_fact(item, data.scope, origin.traceparent), TASK_UPDATES)
    uow.commit()
    note = None if cancelled else "already cancelled: nothing to do"
    return Result(task.id, note=note)


def _cancelled_fact(task: Task, scope: str, traceparent: str | None) -> dict[str, Any]:
    return fact(
        EventType.TASK_CANCELLED,
        task,
        TaskCancelledData(
            **about(task),
            scope=scope,  # type: ignore[arg-type]
            remind_at=task.remind_at,
        ),
        source=SOURCE,
        traceparent=traceparent,
        key=f"{task.id}:cancelled",
    )


def advance_on_schedule(
    unit_of_work: Callable[[], UnitOfWork],
    *,
    series_id: str,
    task_id: str,
    traceparent: str | None = None,
) -> Result:
    """A job fired at the due time of ``task_id``: create the series' next occurrence."""
    with unit_of_work() as uow:
        series = uow.series.get(series_id, for_update=True)
        task = uow.tasks.get(task_id)
        if series is None or task is None:
            raise TaskNotFound(f"series {series_id} or task {task_id} does not exist")
        if task.series_id != series.id:
            raise InvalidTransition(f"task {task_id} is not an occurrence of series {series_id}")
        if not series.is_active:
            return Result(None, note=f"series is {series.status.value}: nothing to do")
        if series.last_occurrence_at != task.occurrence_at:
            return Result(None, repeated=True, note="series already advanced past this task")
        advanced = advance(uow, series, task, traceparent=traceparent)
        uow.commit()
        next_id = advanced.next_task.id if advanced.next_task else None
        return Result(next_id)
