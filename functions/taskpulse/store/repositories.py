"""Repositories: the domain's objects in, the domain's objects out; rows stay in here."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from taskpulse.domain import Priority, RecurrenceMode, Task, TaskStatus
from taskpulse.domain.series import Series, SeriesStatus
from taskpulse.store.tables import SeriesRow, TaskRow

_TASK_FIELDS = tuple(f.name for f in fields(Task))
_SERIES_FIELDS = tuple(f.name for f in fields(Series))


def _task_from_row(row: TaskRow) -> Task:
    values = {name: getattr(row, name) for name in _TASK_FIELDS}
    values.update(
        status=TaskStatus(row.status),
        recurrence_mode=RecurrenceMode(row.recurrence_mode),
        priority=Priority(row.priority),
        tags=tuple(row.tags),
    )
    return Task(**values)


def _task_values(task: Task) -> dict[str, Any]:
    values = {name: getattr(task, name) for name in _TASK_FIELDS}
    values["tags"] = list(task.tags)
    for name in ("status", "recurrence_mode", "priority"):
        values[name] = str(values[name])
    return values


class TaskRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, task: Task) -> None:
        self._session.add(TaskRow(**_task_values(task)))

    def get(self, task_id: str, *, for_update: bool = False) -> Task | None:
        """``for_update`` locks the row until commit: concurrent changes queue up."""
        statement = select(TaskRow).where(TaskRow.id == task_id)
        if for_update:
            statement = statement.with_for_update()
        row = self._session.exec(statement).first()
        return _task_from_row(row) if row else None

    def save(self, task: Task) -> None:
        """Write a changed task; the version check refuses a lost update."""
        values = _task_values(task)
        result = self._session.execute(
            sa.update(TaskRow)
            .where(sa.column("id") == task.id, sa.column("version") == task.version - 1)
            .values(**{k: v for k, v in values.items() if k != "id"})
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(f"task {task.id} changed under us")

    def open_in_series(self, series_id: str) -> list[Task]:
        statement = (
            select(TaskRow)
            .where(TaskRow.series_id == series_id, TaskRow.status == TaskStatus.OPEN.value)
            .order_by(sa.column("occurrence_at"))
        )
        return [_task_from_row(row) for row in self._session.exec(statement)]

    def in_series_at(self, series_id: str, occurrence_at: datetime) -> Task | None:
        statement = select(TaskRow).where(
            TaskRow.series_id == series_id, TaskRow.occurrence_at == occurrence_at
        )
        row = self._session.exec(statement).first()
        return _task_from_row(row) if row else None


class SeriesRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, series: Series) -> None:
        values = {name: getattr(series, name) for name in _SERIES_FIELDS}
        values["status"] = series.status.value
        values["recurrence_mode"] = series.recurrence_mode.value
        self._session.add(SeriesRow(**values))

    def get(self, series_id: str, *, for_update: bool = False) -> Series | None:
        statement = select(SeriesRow).where(SeriesRow.id == series_id)
        if for_update:
            statement = statement.with_for_update()
        row = self._session.exec(statement).first()
        if row is None:
            return None
        values = {name: getattr(row, name) for name in _SERIES_FIELDS}
        values.update(
            status=SeriesStatus(row.status), recurrence_mode=RecurrenceMode(row.recurrence_mode)
        )
        return Series(**values)

    def save(self, series: Series) -> None:
        values = {name: getattr(series, name) for name in _SERIES_FIELDS if name != "id"}
        values["status"] = series.status.value
        values["recurrence_mode"] = series.recurrence_mode.value
        result = self._session.execute(
            sa.update(SeriesRow)
            .where(sa.column("id") == series.id, sa.column("version") == series.version - 1)
            .values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(f"series {series.id} changed under us")


class ConcurrentUpdate(RuntimeError):
    """Another transaction changed the row first: transient, the event is retried."""
