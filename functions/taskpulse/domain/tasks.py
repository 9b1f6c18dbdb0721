"""The task aggregate and its rules: validation limits, status transitions, ownership.

Pure code: no HTTP, Dapr or SQL. The store maps these objects to rows, the handlers
turn events into calls of these functions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from taskpulse.contract import RecurrenceMode, user_id_fault
from taskpulse.domain.errors import InvalidTask, InvalidTransition, NotOwner

TITLE_MAX = 500
DESCRIPTION_MAX = 10_000
TAGS_MAX = 20
TAG_MAX = 64
CLOCK_SKEW = timedelta(minutes=5)
"""How far a client's ``completed_at`` may run ahead of ours: a completion time in the
future would skip every instance until then."""


class TaskStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    user_id: str
    title: str
    due_at: datetime | None
    timezone: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    status: TaskStatus = TaskStatus.OPEN
    rrule: str | None = None
    """The client's RRULE value (``FREQ=WEEKLY;BYDAY=FR``); DTSTART is ``series_start``."""
    series_id: str | None = None
    series_start: datetime | None = None
    occurrence_at: datetime | None = None
    recurrence_mode: RecurrenceMode = RecurrenceMode.ON_COMPLETION
    remind_before: timedelta | None = None
    priority: Priority = Priority.MEDIUM
    tags: tuple[str, ...] = field(default_factory=tuple)
    completed_at: datetime | None = None
    version: int = 1

    @property
    def remind_at(self) -> datetime | None:
        if self.due_at is None or self.remind_before is None:
            return None
        return self.due_at - self.remind_before

    def ensure_owner(self, user_id: str) -> None:
        if user_id != self.user_id:
            raise NotOwner(f"task {self.id} does not belong to user {user_id!r}")

    def complete(self, *, by: str, at: datetime) -> Task:
        self.ensure_owner(by)
        if self.status is not TaskStatus.OPEN:
            raise InvalidTransition(f"task {self.id} is {self.status.value}, not open")
        return replace(
            self,
            status=TaskStatus.COMPLETED,
            completed_at=at,
            updated_at=at,
            version=self.version + 1,
        )

    def cancel(self, *, by: str, at: datetime) -> Task:
        self.ensure_owner(by)
        if self.status is not TaskStatus.OPEN:
            raise InvalidTransition(f"task {self.id} is {self.status.value}, not open")
        return replace(self, status=TaskStatus.CANCELLED, updated_at=at, version=self.version + 1)

    def next_occurrence(self, *, occurrence_at: datetime, now: datetime) -> Task:
        """The open task of the same series at ``occurrence_at`` (already computed)."""
        return replace(
            self,
            id=new_id(),
            status=TaskStatus.OPEN,
            due_at=occurrence_at,
            occurrence_at=occurrence_at,
            created_at=now,
            updated_at=now,
            completed_at=None,
            version=1,
        )


def completion_time(reported: datetime | None, *, now: datetime) -> datetime:
    """When a task was completed: the client's time, else ``now``; refused when it runs
    ahead of ``now`` by more than ``CLOCK_SKEW``."""
    completed_at = reported or now
    if completed_at > now + CLOCK_SKEW:
        raise InvalidTransition(
            f"completed_at {completed_at.isoformat()} is in the future: "
            "send the time the task was completed, or leave it out"
        )
    return completed_at


def validate_fields(
    *, user_id: str, title: str, description: str | None, tags: tuple[str, ...]
) -> None:
    """The limits every task obeys; the message names the field at fault."""
    if (fault := user_id_fault(user_id)) is not None:
        raise InvalidTask(f"user_id {fault}")
    if not title.strip() or len(title) > TITLE_MAX:
        raise InvalidTask(f"title must be 1-{TITLE_MAX} characters (got {len(title)})")
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise InvalidTask(
            f"description must be at most {DESCRIPTION_MAX} characters (got {len(description)})"
        )
    if len(tags) > TAGS_MAX:
        raise InvalidTask(f"at most {TAGS_MAX} tags are allowed (got {len(tags)})")
    for tag in tags:
        if not tag.strip() or len(tag) > TAG_MAX:
            raise InvalidTask(f"each tag must be 1-{TAG_MAX} characters (got {tag!r})")


NO_DUE = datetime.max.replace(tzinfo=UTC)
"""Where a task without a due time sorts: after every task that has one."""

PagePosition = tuple[datetime, str]
"""Where a page of a user's tasks ends: (due time or ``NO_DUE``, task id)."""


@dataclass(frozen=True, slots=True)
class PageQuery:
    """A page of a user's tasks in ``statuses``: due time ascending (none last), then id,
    at most ``limit`` of them, those after ``after`` (the last of the previous page)."""

    statuses: frozenset[TaskStatus]
    limit: int
    after: PagePosition | None = None


def page_position(task: Task) -> PagePosition:
    return (task.due_at or NO_DUE, task.id)
