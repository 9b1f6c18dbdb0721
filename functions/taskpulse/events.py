"""The events of the contract: one typed definition per type, and their envelope.

Everything that crosses a topic is a CloudEvents 1.0 JSON event whose ``data`` is one
of the models below. JSON Schemas and the AsyncAPI document under ``docs/`` are
generated from these models (``python -m taskpulse.schemas``), never written by hand.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from taskpulse.contract import (
    USER_ID_MAX,
    USER_ID_PATTERN,
    EventType,
    Function,
    RecurrenceMode,
    user_id_fault,
)
from taskpulse.domain.tasks import DESCRIPTION_MAX, TAG_MAX, TAGS_MAX, TITLE_MAX, Priority
from taskpulse.errors import Permanent

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"


class InvalidEvent(Permanent, ValueError):
    """An event that can never be processed; ``reason`` goes to the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _user_id(value: str) -> str:
    if (fault := user_id_fault(value)) is not None:
        raise ValueError(f"user_id {fault}")
    return value


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"{value[:64]!r} is not a UUID") from None


UserId = Annotated[
    str,
    AfterValidator(_user_id),
    # In the schema only: the validator's message says which character is at fault.
    Field(json_schema_extra={"minLength": 1, "maxLength": USER_ID_MAX, "pattern": USER_ID_PATTERN}),
]
"""Checked where it enters (docs/contract.md#3-the-functions), so that a channel name, a
mail recipient or a job name built from it cannot name anything else."""
TaskId = Annotated[str, AfterValidator(_uuid), Field(json_schema_extra={"format": "uuid"})]


class _Data(BaseModel):
    # defer_build: a cold start builds the validators of the types it meets, not all.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class TaskCreateData(_Data):
    """``dev.taskpulse.task.create.v1``: a client asks for a new task."""

    user_id: UserId
    title: Annotated[str, Field(min_length=1, max_length=TITLE_MAX)]
    description: Annotated[str, Field(max_length=DESCRIPTION_MAX)] | None = None
    due_at: AwareDatetime | None = None
    timezone: str = "UTC"
    rrule: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    recurrence_mode: RecurrenceMode = RecurrenceMode.ON_COMPLETION
    remind_before: timedelta | None = None
    priority: Priority = Priority.MEDIUM
    tags: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=TAG_MAX)]], Field(max_length=TAGS_MAX)
    ] = []

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from taskpulse.recurrence import validate_timezone

        validate_timezone(value)  # RecurrenceError is a ValueError: a validation error
        return value

    @field_validator("remind_before")
    @classmethod
    def _not_negative(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError("remind_before must not be negative")
        return value


class TaskCompletedData(_Data):
    """``dev.taskpulse.task.completed.v1`` (command on task-events, fact on task-updates)."""

    task_id: TaskId
    user_id: UserId
    completed_at: AwareDatetime | None = None
    next_task_id: str | None = None
    next_occurrence_at: AwareDatetime | None = None
    skipped_occurrences: int | None = None
    remind_at: AwareDatetime | None = None
    """In the fact: the closed task's reminder, when it had one (its job is now void)."""


class TaskCancelledData(_Data):
    """``dev.taskpulse.task.cancelled.v1``: one occurrence, or the whole series."""

    task_id: TaskId
    user_id: UserId
    scope: Literal["occurrence", "series"] = "occurrence"
    remind_at: AwareDatetime | None = None
    """In the fact: the cancelled task's reminder, when it had one (its job is now void)."""


class TaskData(_Data):
    """``dev.taskpulse.task.created.v1``: the whole task."""

    id: str
    user_id: str
    title: str
    description: str | None
    status: str
    due_at: AwareDatetime | None
    timezone: str
    rrule: str | None
    series_id: str | None
    occurrence_at: AwareDatetime | None
    recurrence_mode: RecurrenceMode
    remind_before: timedelta | None
    priority: Priority
    tags: list[str]
    created_at: AwareDatetime
    updated_at: AwareDatetime
    completed_at: AwareDatetime | None
    version: int


class ReminderScheduledData(_Data):
    """``dev.taskpulse.reminder.scheduled.v1``: a reminder is due at ``remind_at``."""

    task_id: TaskId
    user_id: UserId
    remind_at: AwareDatetime
    due_at: AwareDatetime
    title: str


class ReminderSentData(_Data):
    """``dev.taskpulse.reminder.sent.v1``: a reminder was delivered."""

    task_id: str
    user_id: str
    remind_at: AwareDatetime
    sent_at: AwareDatetime
    channels: list[Literal["push", "email"]]


class SeriesEndedData(_Data):
    """``dev.taskpulse.series.ended.v1``: a recurring series has no further occurrence."""

    series_id: str
    user_id: str
    last_task_id: str
    reason: Literal["count", "until", "no-further-instance", "cancelled"]


DATA_MODELS: dict[EventType, type[_Data]] = {
    EventType.TASK_CREATE: TaskCreateData,
    EventType.TASK_CREATED: TaskData,
    EventType.TASK_COMPLETED: TaskCompletedData,
    EventType.TASK_CANCELLED: TaskCancelledData,
    EventType.REMINDER_SCHEDULED: ReminderScheduledData,
    EventType.REMINDER_SENT: ReminderSentData,
    EventType.SERIES_ENDED: SeriesEndedData,
}


class CloudEvent(BaseModel):
    """The attributes we read and write; unknown extensions are kept as they came."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    specversion: Literal["1.0"]
    id: Annotated[str, Field(min_length=1, max_length=256)]
    source: Annotated[str, Field(min_length=1, max_length=1024)]
    type: str
    subject: str | None = None
    time: AwareDatetime | None = None
    datacontenttype: str | None = None
    partitionkey: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    data: Any = None

    @property
    def event_type(self) -> EventType:
        try:
            return EventType(self.type)
        except ValueError:
            raise InvalidEvent(f"unknown event type {self.type!r}") from None


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "data"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_envelope(payload: dict[str, Any]) -> CloudEvent:
    try:
        return CloudEvent.model_validate(payload)
    except ValidationError as error:
        raise InvalidEvent(f"not a CloudEvents 1.0 event: {_describe(error)}") from None


M = TypeVar("M", bound=_Data)


def parse_data(event: CloudEvent, model: type[M]) -> M:
    """The event's ``data`` as ``model``, or InvalidEvent naming each bad field."""
    data = event.data
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError:
            raise InvalidEvent("data is not JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidEvent(f"invalid {event.type} data: {_describe(error)}") from None


def new_event(
    event_type: EventType,
    *,
    source: Function,
    partition_key: str,
    data: _Data,
    subject: str | None = None,
    traceparent: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """A structured-mode CloudEvent as the JSON object that goes on the wire."""
    event: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": event_id or str(uuid.uuid4()),
        "source": source.source,
        "type": event_type.value,
        "time": (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "partitionkey": partition_key,
        "data": data.model_dump(mode="json"),
    }
    if subject is not None:
        event["subject"] = subject
    if traceparent is not None:
        event["traceparent"] = traceparent
    return event
