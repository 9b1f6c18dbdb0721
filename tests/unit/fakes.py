"""In-memory adapters for the ports the services use: a store, its units of work, channels.

The service tier runs the use cases over these instead of PostgreSQL, so each rule of a
use case is checked in microseconds; tests/integration keeps checking the same use cases
against the real store. A fake keeps what the services rely on and nothing more:

* a unit of work is a transaction: what it wrote (tasks, series, events, idempotency
  keys) becomes the store's only at ``commit``; leaving the block without it, or with an
  exception, leaves the store as it was;
* the idempotency log claims and records as ``store/idempotency.py`` does: a claim of a
  new key takes it as DONE with its ``result_id``; a claim of a taken key returns what
  the row holds and changes nothing; ``record`` overwrites a row that exists (an UPDATE:
  none is made); ``release`` deletes it;
* writes refuse what the database refuses: a task id or a series' occurrence stored twice
  (the primary key, the unique (series, occurrence) index), a save whose version did not
  follow the stored one (the optimistic check).

Concurrency (row locks, a claim waiting for another transaction) is the real store's,
and stays in the integration tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from taskpulse.domain import Task, TaskStatus
from taskpulse.domain.series import Series
from taskpulse.domain.tasks import PageQuery, page_position
from taskpulse.ports import Mail, Outcome, PriorResult


def by_occurrence(task: Task) -> tuple[bool, datetime]:
    """PostgreSQL's ``ORDER BY occurrence_at``: earliest first, none last."""
    return task.occurrence_at is None, task.occurrence_at or datetime.min.replace(tzinfo=UTC)


class Refused(RuntimeError):
    """What PostgreSQL would refuse: a duplicate key, or a version that moved under us."""


@dataclass
class State:
    """What a transaction sees and changes; a unit of work works on a copy."""

    tasks: dict[str, Task] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    processed: dict[str, PriorResult] = field(default_factory=dict)
    outbox: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """``(topic, partition key, event)`` in the order the use cases added them."""
    emails: dict[str, str] = field(default_factory=dict)

    def copy(self) -> State:
        # Shallow copies do: the domain objects and PriorResult are frozen.
        return State(
            dict(self.tasks),
            dict(self.series),
            dict(self.processed),
            list(self.outbox),
            dict(self.emails),
        )


class _Row(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def version(self) -> int: ...


Row = TypeVar("Row", bound=_Row)


class _FakeRepository(Generic[Row]):
    """Rows by id: an id added twice is refused, and a save must follow the stored version."""

    def __init__(self, rows: dict[str, Row], what: str) -> None:
        self._rows = rows
        self._what = what

    def add(self, row: Row) -> None:
        if row.id in self._rows:
            raise Refused(f"{self._what} {row.id} exists")
        self._rows[row.id] = row

    def get(self, row_id: str, *, for_update: bool = False) -> Row | None:
        return self._rows.get(row_id)

    def save(self, row: Row) -> None:
        stored = self._rows.get(row.id)
        if stored is None or stored.version != row.version - 1:
            raise Refused(f"{self._what} {row.id} changed under us")
        self._rows[row.id] = row


class FakeTaskRepository(_FakeRepository[Task]):
    def __init__(self, state: State) -> None:
        super().__init__(state.tasks, "task")

    def add(self, row: Task) -> None:
        if row.series_id is not None and self.in_series_at(row.series_id, row.occurrence_at):
            raise Refused(f"series {row.series_id} has an occurrence at {row.occurrence_at}")
        super().add(row)

    def page(self, user_id: str, query: PageQuery) -> list[Task]:
        rows = self._rows.values()
        mine = [t for t in rows if t.user_id == user_id and t.status in query.statuses]
        after = query.after
        ordered = [
            t for t in sorted(mine, key=page_position) if not after or page_position(t) > after
        ]
        return ordered[: query.limit]

    def open_in_series(self, series_id: str) -> list[Task]:
        found = [
            t
            for t in self._rows.values()
            if t.series_id == series_id and t.status is TaskStatus.OPEN
        ]
        return sorted(found, key=by_occurrence)

    def in_series_at(self, series_id: str, occurrence_at: datetime | None) -> Task | None:
        return next(
            (
                t
                for t in self._rows.values()
                if t.series_id == series_id and t.occurrence_at == occurrence_at
            ),
            None,
        )


class FakeSeriesRepository(_FakeRepository[Series]):
    def __init__(self, state: State) -> None:
        super().__init__(state.series, "series")


class FakeOutbox:
    def __init__(self, state: State) -> None:
        self._state = state

    def add(self, topic: str, partition_key: str, event: dict[str, Any]) -> None:
        self._state.outbox.append((topic, partition_key, event))


class FakeIdempotencyLog:
    def __init__(self, state: State) -> None:
        self._state = state

    def claim(self, key: str, *, result_id: str | None = None) -> PriorResult | None:
        prior = self._state.processed.get(key)
        if prior is None:
            self._state.processed[key] = PriorResult(Outcome.DONE, result_id, None)
        return prior

    def reject(self, key: str, *, detail: str) -> None:
        if key in self._state.processed:
            prior = self._state.processed[key]
            self._state.processed[key] = PriorResult(Outcome.REJECTED, prior.result_id, detail)

    def release(self, key: str) -> None:
        self._state.processed.pop(key, None)


class FakeUserDirectory:
    def __init__(self, state: State) -> None:
        self._state = state

    def remember_email(self, user_id: str, email: str) -> None:
        self._state.emails[user_id] = email

    def email_of(self, user_id: str) -> str | None:
        return self._state.emails.get(user_id)


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self.committed = False

    def __enter__(self) -> FakeUnitOfWork:
        self.now = self._store.now
        self._state = self._store.state.copy()
        self.tasks = FakeTaskRepository(self._state)
        self.series = FakeSeriesRepository(self._state)
        self.outbox = FakeOutbox(self._state)
        self.processed = FakeIdempotencyLog(self._state)
        self.users = FakeUserDirectory(self._state)
        return self

    def commit(self) -> None:
        # A copy: a write after the commit is no part of it (PostgreSQL would start a
        # new transaction, and roll it back at the end of the block).
        self._store.state = self._state.copy()
        self.committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass  # the work copy is dropped: what was not committed never reached the store


class FakeStore:
    """The committed state, and units of work over it at the time ``now`` (set it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.state = State()
        self.units: list[FakeUnitOfWork] = []
        """Every unit of work handed out, in order: which of them committed."""

    def unit_of_work(self) -> FakeUnitOfWork:
        uow = FakeUnitOfWork(self)
        self.units.append(uow)
        return uow

    def drain(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The committed events as ``(topic, type, data)``, in order, as the relay would
        publish them; the outbox is empty afterwards."""
        drained = [
            (topic, event["type"], event["data"]) for topic, _key, event in self.state.outbox
        ]
        self.state.outbox.clear()
        return drained

    def task(self, task_id: str) -> Task:
        return self.state.tasks[task_id]

    def in_series(self, series_id: str) -> list[Task]:
        tasks = [t for t in self.state.tasks.values() if t.series_id == series_id]
        return sorted(tasks, key=by_occurrence)


@dataclass
class FakePusher:
    """The push gateway: records each publication; ``failure`` is raised instead."""

    failure: Exception | None = None
    sent: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)

    def publish(self, user_id: str, data: Mapping[str, Any], *, idempotency_key: str) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.append((user_id, dict(data), idempotency_key))


@dataclass
class FakeMailer:
    """The mail server: records each mail; ``failure`` is raised instead."""

    failure: Exception | None = None
    sent: list[Mail] = field(default_factory=list)

    def send(self, mail: Mail) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.append(mail)
