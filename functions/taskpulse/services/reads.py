"""Use cases that only read: a user's own tasks, one page at a time."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from taskpulse.domain import InvalidTask, Task, TaskStatus
from taskpulse.domain.tasks import PagePosition, PageQuery, page_position
from taskpulse.ports import UnitOfWork

StatusFilter = Literal["open", "done", "all"]
STATUSES: dict[StatusFilter, frozenset[TaskStatus]] = {
    "open": frozenset({TaskStatus.OPEN}),
    "done": frozenset({TaskStatus.COMPLETED, TaskStatus.CANCELLED}),
    "all": frozenset(TaskStatus),
}
PAGE_MAX = 200


@dataclass(frozen=True, slots=True)
class Page:
    tasks: list[Task]
    next: str | None
    """The cursor of the following page; ``None`` on the last one."""


def list_tasks(
    unit_of_work: Callable[[], UnitOfWork],
    user_id: str,
    *,
    status: StatusFilter = "open",
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """The user's tasks, due time ascending (tasks without one last)."""
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidTask(f"limit must be 1-{PAGE_MAX} (got {limit})")
    after = _decode(cursor) if cursor else None
    with unit_of_work() as uow:
        # One more than asked tells whether another page follows.
        found = uow.tasks.page(user_id, PageQuery(STATUSES[status], limit + 1, after))
    tasks = found[:limit]
    more = len(found) > limit
    return Page(tasks, _encode(page_position(tasks[-1])) if more else None)


def get_task(unit_of_work: Callable[[], UnitOfWork], user_id: str, task_id: str) -> Task | None:
    """The task when it is the user's; another user's is as absent as a missing one."""
    with unit_of_work() as uow:
        task = uow.tasks.get(task_id)
    return task if task is not None and task.user_id == user_id else None


def _encode(position: PagePosition) -> str:
    due, task_id = position
    raw = json.dumps([due.isoformat(), task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> PagePosition:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        due, task_id = json.loads(raw)
        position = (datetime.fromisoformat(due), str(task_id))
    except (binascii.Error, ValueError, TypeError):
        raise InvalidTask("cursor is not one this API gave: start again without it") from None
    if position[0].tzinfo is None:
        raise InvalidTask("cursor is not one this API gave: start again without it")
    return position
