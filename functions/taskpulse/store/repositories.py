"""Repositories: the domain's objects in, the domain's objects out; rows stay in here.

Statements are Core statements on the mapped tables, run through the unit of work's
SQLModel session: the domain objects are the identity here, so the ORM's identity map,
change tracking and flush ordering would only cost CPU on every event (about a third of
compute-next-occurrence's time per completion went there). Each write goes out when it is
called, so a series is added before the tasks that refer to it.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from taskpulse.domain import Priority, RecurrenceMode, Task, TaskStatus
from taskpulse.domain.series import Series, SeriesStatus
from taskpulse.domain.tasks import NO_DUE, PageQuery
from taskpulse.errors import Transient
from taskpulse.store.tables import SeriesRow, TaskRow

_TASK_FIELDS = tuple(f.name for f in fields(Task))
_SERIES_FIELDS = tuple(f.name for f in fields(Series))
_TASKS: sa.Table = TaskRow.__table__  # type: ignore[attr-defined]
_SERIES: sa.Table = SeriesRow.__table__  # type: ignore[attr-defined]


def _versioned_update(table: sa.Table) -> sa.Update:
    """UPDATE of the row ``b_id`` still at version ``b_version`` (the optimistic check);
    the SET columns are the parameters given at execution."""
    return sa.update(table).where(
        table.c.id == sa.bindparam("b_id"), table.c.version == sa.bindparam("b_version")
    )


# Built once, values given at execution: a statement made per call costs more CPU to
# build and look up in the compiled cache than the database spends running it.
_INSERT_TASK = sa.insert(_TASKS)
_UPDATE_TASK = _versioned_update(_TASKS)
_GET_TASK = sa.select(_TASKS).where(_TASKS.c.id == sa.bindparam("b_id"))
_LOCK_TASK = _GET_TASK.with_for_update()
_INSERT_SERIES = sa.insert(_SERIES)
_UPDATE_SERIES = _versioned_update(_SERIES)
_GET_SERIES = sa.select(_SERIES).where(_SERIES.c.id == sa.bindparam("b_id"))
_LOCK_SERIES = _GET_SERIES.with_for_update()


def _task_from_row(row: sa.Row[Any]) -> Task:
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


def _series_from_row(row: sa.Row[Any]) -> Series:
    values = {name: getattr(row, name) for name in _SERIES_FIELDS}
    values.update(
        status=SeriesStatus(row.status), recurrence_mode=RecurrenceMode(row.recurrence_mode)
    )
    return Series(**values)


def _save_versioned(
    session: Session, update: sa.Update, values: dict[str, Any], *, version: int, what: str
) -> None:
    """Write ``values`` (with ``id``) over the row still at ``version - 1``; the version
    check refuses a lost update."""
    row_id = values.pop("id")
    result = session.execute(update, {**values, "b_id": row_id, "b_version": version - 1})
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConcurrentUpdate(f"{what} {row_id} changed under us")


def _series_values(series: Series) -> dict[str, Any]:
    values = {name: getattr(series, name) for name in _SERIES_FIELDS}
    values["status"] = series.status.value
    values["recurrence_mode"] = series.recurrence_mode.value
    return values


class TaskRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, task: Task) -> None:
        self._session.execute(_INSERT_TASK, _task_values(task))

    def get(self, task_id: str, *, for_update: bool = False) -> Task | None:
        """``for_update`` locks the row until commit: concurrent changes queue up."""
        statement = _LOCK_TASK if for_update else _GET_TASK
        row = self._session.execute(statement, {"b_id": task_id}).first()
        return _task_from_row(row) if row else None

    def save(self, task: Task) -> None:
        """Write a changed task; the version check refuses a lost update."""
        _save_versioned(
            self._session, _UPDATE_TASK, _task_values(task), version=task.version, what="task"
        )

    def open_in_series(self, series_id: str) -> list[Task]:
        statement = (
            sa.select(_TASKS)
            .where(_TASKS.c.series_id == series_id, _TASKS.c.status == TaskStatus.OPEN.value)
            .order_by(_TASKS.c.occurrence_at)
        )
        return [_task_from_row(row) for row in self._session.execute(statement)]

    def in_series_at(self, series_id: str, occurrence_at: datetime) -> Task | None:
        statement = sa.select(_TASKS).where(
            _TASKS.c.series_id == series_id, _TASKS.c.occurrence_at == occurrence_at
        )
        row = self._session.execute(statement).first()
        return _task_from_row(row) if row else None

    def page(self, user_id: str, query: PageQuery) -> list[Task]:
        due = sa.func.coalesce(_TASKS.c.due_at, sa.literal(NO_DUE, sa.DateTime(timezone=True)))
        statement = (
            sa.select(_TASKS)
            .where(
                _TASKS.c.user_id == user_id,
                _TASKS.c.status.in_([s.value for s in query.statuses]),
            )
            .order_by(due, _TASKS.c.id)
            .limit(query.limit)
        )
        if query.after is not None:
            statement = statement.where(sa.tuple_(due, _TASKS.c.id) > sa.tuple_(*query.after))
        return [_task_from_row(row) for row in self._session.execute(statement)]


class SeriesRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, series: Series) -> None:
        self._session.execute(_INSERT_SERIES, _series_values(series))

    def get(self, series_id: str, *, for_update: bool = False) -> Series | None:
        statement = _LOCK_SERIES if for_update else _GET_SERIES
        row = self._session.execute(statement, {"b_id": series_id}).first()
        return _series_from_row(row) if row else None

    def save(self, series: Series) -> None:
        _save_versioned(
            self._session,
            _UPDATE_SERIES,
            _series_values(series),
            version=series.version,
            what="series",
        )


class ConcurrentUpdate(Transient, RuntimeError):
    """Another transaction changed the row first: transient, the event is retried."""


_USERS = sa.table("users", sa.column("id"), sa.column("email"), sa.column("verified_at"))


class UserDirectory:
    def __init__(self, session: Session, *, now: datetime) -> None:
        self._session = session
        self._now = now

    def remember_email(self, user_id: str, email: str) -> None:
        from sqlalchemy.dialects.postgresql import insert

        row = {"id": user_id, "email": email, "verified_at": self._now}
        statement = insert(_USERS).values(row)
        self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["id"],
                set_={"email": statement.excluded.email, "verified_at": self._now},
            )
        )

    def email_of(self, user_id: str) -> str | None:
        statement = sa.select(_USERS.c.email).where(_USERS.c.id == user_id)
        email: str | None = self._session.execute(statement).scalar()
        return email
