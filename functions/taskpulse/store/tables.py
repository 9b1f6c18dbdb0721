"""SQLModel mappings of the tables that ``migrations/`` creates.

The SQL files are the schema's source of truth (they are what runs in production);
these classes only map it, and a test checks that both agree column for column.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlmodel import Field, SQLModel


def _tz(*, nullable: bool = True) -> Any:
    """A ``timestamptz`` column; a fresh Column per use, as SQLAlchemy requires."""
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class SeriesRow(SQLModel, table=True):
    __tablename__ = "series"

    id: str = Field(primary_key=True)
    user_id: str
    status: str = "active"
    rrule: str
    timezone: str
    series_start: datetime = Field(sa_column=_tz(nullable=False))
    recurrence_mode: str
    last_occurrence_at: datetime = Field(sa_column=_tz(nullable=False))
    created_at: datetime = Field(sa_column=_tz(nullable=False))
    updated_at: datetime = Field(sa_column=_tz(nullable=False))
    version: int = 1


class TaskRow(SQLModel, table=True):
    __tablename__ = "tasks"

    id: str = Field(primary_key=True)
    user_id: str
    title: str
    description: str | None = None
    status: str = "open"
    due_at: datetime | None = Field(default=None, sa_column=_tz())
    timezone: str = "UTC"
    rrule: str | None = None
    series_id: str | None = Field(default=None, foreign_key="series.id")
    series_start: datetime | None = Field(default=None, sa_column=_tz())
    occurrence_at: datetime | None = Field(default=None, sa_column=_tz())
    recurrence_mode: str = "on_completion"
    remind_before: timedelta | None = Field(
        default=None, sa_column=sa.Column(sa.Interval(), nullable=True)
    )
    priority: str = "medium"
    tags: list[str] = Field(
        default_factory=list, sa_column=sa.Column(pg.ARRAY(sa.Text()), nullable=False)
    )
    created_at: datetime = Field(sa_column=_tz(nullable=False))
    updated_at: datetime = Field(sa_column=_tz(nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=_tz())
    version: int = 1


class ProcessedEventRow(SQLModel, table=True):
    __tablename__ = "processed_events"

    idempotency_key: str = Field(primary_key=True)
    status: str
    result_id: str | None = None
    detail: str | None = None
    processed_at: datetime = Field(sa_column=_tz(nullable=False))
    expires_at: datetime = Field(sa_column=_tz(nullable=False))


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    topic: str
    partition_key: str
    event: dict[str, Any] = Field(sa_column=sa.Column(pg.JSONB(), nullable=False))
    created_at: datetime = Field(sa_column=_tz(nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=_tz())
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=_tz(nullable=False))
    last_error: str | None = None
