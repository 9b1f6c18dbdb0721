"""Use case: create a task (or the first occurrence of a series) from a client command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskpulse.contract import Function
from taskpulse.domain import InvalidTask, NotOwner, Task, TaskNotFound, validate_fields
from taskpulse.domain.series import Series
from taskpulse.domain.tasks import new_id
from taskpulse.events import TaskCreateData
from taskpulse.ports import Outcome, UnitOfWork
from taskpulse.services.emit import emit_created, task_created_event
from taskpulse.services.keys import Origin

SOURCE = Function.CREATE_TASK
AS_GIVEN: set[str] = {
    *("user_id", "title", "description", "due_at", "timezone"),
    *("recurrence_mode", "remind_before", "priority"),
}
"""What a new task takes from its command as the client gave it."""


@dataclass(frozen=True, slots=True)
class Created:
    task: Task
    event: dict[str, Any]
    """The ``task.created`` event: the HTTP answer."""
    new: bool
    """False when the command was seen before: nothing was created this time."""


def _recurrence(command: TaskCreateData) -> str | None:
    """Validate the RRULE against its DTSTART (the due time in the task's zone)."""
    if command.rrule is None:
        return None
    if command.due_at is None:
        raise InvalidTask("a recurring task needs due_at: it is the first occurrence")
    from taskpulse.recurrence import RecurrenceError, build_rule

    try:
        build_rule(command.rrule, command.due_at, command.timezone)
    except RecurrenceError as error:
        raise InvalidTask(f"rrule: {error}") from None
    return command.rrule


def create_task(
    unit_of_work: Callable[[], UnitOfWork],
    command: TaskCreateData,
    origin: Origin,
) -> Created:
    """Create the task once per command (CloudEvent ``source`` + ``id``)."""
    tags = tuple(command.tags)
    validate_fields(
        user_id=command.user_id, title=command.title, description=command.description, tags=tags
    )
    if command.remind_before is not None and command.due_at is None:
        raise InvalidTask("remind_before needs due_at")
    rrule = _recurrence(command)
    task_id = new_id()
    with unit_of_work() as uow:
        prior = uow.processed.claim(origin.key, result_id=task_id)
        if prior is not None:
            if prior.outcome is not Outcome.DONE or prior.result_id is None:
                raise InvalidTask(prior.detail or "this command was rejected before")
            task = uow.tasks.get(prior.result_id)
            if task is None:
                raise TaskNotFound(f"task {prior.result_id} of this command no longer exists")
            if task.user_id != command.user_id:
                # The same source + id from another user is not a repeat: answering it
                # with the first user's task would show that task to a stranger.
                raise NotOwner(
                    f"command {origin.event_id!r} from {origin.source!r} already created "
                    "another user's task: give each command a new CloudEvent id"
                )
            event = task_created_event(task, source=SOURCE, traceparent=origin.traceparent)
            return Created(task, event, new=False)
        series_id = new_id() if rrule else None
        task = Task(
            **command.model_dump(include=AS_GIVEN),
            id=task_id,
            rrule=rrule,
            series_id=series_id,
            series_start=command.due_at if rrule else None,
            occurrence_at=command.due_at if rrule else None,
            tags=tags,
            created_at=uow.now,
            updated_at=uow.now,
        )
        if series_id is not None:
            uow.series.add(Series.begun_by(task))
        uow.tasks.add(task)
        event = emit_created(uow, task, source=SOURCE, traceparent=origin.traceparent)
        uow.commit()
        return Created(task, event, new=True)
