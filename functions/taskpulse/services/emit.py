"""Build the system's events from domain objects and put them in the outbox."""

from __future__ import annotations

import uuid
from typing import Any

from taskpulse.contract import REMINDERS, TASK_EVENTS, TASK_UPDATES, EventType, Function, Topic
from taskpulse.domain import Task
from taskpulse.events import (
    ReminderScheduledData,
    TaskData,
    _Data,
    new_event,
)
from taskpulse.ports import UnitOfWork

_EVENT_IDS = uuid.UUID("6f1c7d38-1f43-4c52-9d36-6a0f1b5e2a10")


def derived_event_id(*parts: str) -> str:
    """A stable id for the event one effect causes, so every repeat answers the same."""
    return str(uuid.uuid5(_EVENT_IDS, ":".join(parts)))


def about(task: Task) -> dict[str, str]:
    """The fields of an event's data that name the task it is about, and its user."""
    return {"task_id": task.id, "user_id": task.user_id}


def task_data(task: Task) -> TaskData:
    return TaskData.model_validate(task, from_attributes=True)


def task_created_event(task: Task, *, source: Function, traceparent: str | None) -> dict[str, Any]:
    return new_event(
        EventType.TASK_CREATED,
        source=source,
        partition_key=task.user_id,
        subject=task.id,
        data=task_data(task),
        traceparent=traceparent,
        event_id=derived_event_id(task.id, "created"),
        time=task.created_at,
    )


def emit(uow: UnitOfWork, event: dict[str, Any], *topics: Topic) -> None:
    for topic in topics:
        uow.outbox.add(topic.name, event["partitionkey"], event)


def emit_created(
    uow: UnitOfWork, task: Task, *, source: Function, traceparent: str | None
) -> dict[str, Any]:
    """``task.created`` on task-events and task-updates, and its reminder if one is due."""
    event = task_created_event(task, source=source, traceparent=traceparent)
    emit(uow, event, TASK_EVENTS, TASK_UPDATES)
    remind_at = task.remind_at
    if remind_at is not None and task.due_at is not None and task.due_at > uow.now:
        emit(
            uow,
            fact(
                EventType.REMINDER_SCHEDULED,
                task,
                ReminderScheduledData(
                    **about(task),
                    remind_at=remind_at,
                    due_at=task.due_at,
                    title=task.title,
                ),
                source=source,
                traceparent=traceparent,
                key=f"{task.id}:reminder:{remind_at.isoformat()}",
            ),
            REMINDERS,
        )
    return event


def fact(
    event_type: EventType,
    task: Task,
    data: _Data,
    *,
    source: Function,
    traceparent: str | None,
    key: str,
) -> dict[str, Any]:
    """An event about ``task`` whose id is derived from ``key`` (stable across repeats)."""
    return new_event(
        event_type,
        source=source,
        partition_key=task.user_id,
        subject=task.id,
        data=data,
        traceparent=traceparent,
        event_id=derived_event_id(key),
    )
