"""The unit of work: one transaction around the state, its events and its idempotency row.

Usage in a use case::

    with unit_of_work() as uow:
        if (prior := uow.processed.claim(key, result_id=task.id)) is not None:
            return prior            # a repeat: answer as the first time
        uow.tasks.add(task)
        uow.outbox.add(topic, user_id, event)
        uow.commit()

What happens after the commit is the unit of work's, not the use case's: it hands the
ids of the events it committed, per partition key, to ``after_commit`` (the function's
outbox publisher), and a sweep covers a crash in between.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType

import sqlalchemy as sa
from sqlmodel import Session

from taskpulse.store.idempotency import IdempotencyLog
from taskpulse.store.outbox import Outbox
from taskpulse.store.repositories import SeriesRepository, TaskRepository, UserDirectory

AfterCommit = Callable[[Mapping[str, Sequence[int]]], None]
"""Told the outbox ids a transaction committed, per partition key (maybe none)."""

_SAVEPOINT = sa.text("SAVEPOINT unit_of_work")
# To the latest savepoint of that name: this unit of work's, the earlier ones stay.
_ROLLBACK_TO_SAVEPOINT = sa.text("ROLLBACK TO SAVEPOINT unit_of_work")


class UnitOfWork:
    tasks: TaskRepository
    series: SeriesRepository
    outbox: Outbox
    processed: IdempotencyLog
    now: datetime

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        retention: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        after_commit: AfterCommit | None = None,
        savepoint: bool = False,
    ) -> None:
        self._session_factory = session_factory
        self._retention = retention
        self._clock = clock
        self._after_commit = after_commit
        self._savepoint = savepoint
        """Inside a batch's transaction (``session_factory`` gives the batch's session,
        ``after_commit`` the batch's collector)."""
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self._session = self._session_factory()
        if self._savepoint:
            # Inside a batch's transaction: a savepoint gives this unit of work the same
            # all-or-nothing as a transaction of its own, and the batch commits them all.
            # Plain SQL, never released (the commit releases them all): one round trip per
            # unit of work, where SQLAlchemy's nested transaction takes two. Safe because
            # the store writes through Core statements only, no ORM state to keep in step.
            self._session.execute(_SAVEPOINT)
        else:
            self._session.begin()
        self.now = self._clock()
        self.tasks = TaskRepository(self._session)
        self.series = SeriesRepository(self._session)
        self.users = UserDirectory(self._session, now=self.now)
        self.outbox = Outbox(self._session, now=self.now)
        self.processed = IdempotencyLog(self._session, retention=self._retention, now=self.now)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._savepoint:
            _finish(self._session, committed=self._committed)
        elif not self._committed:
            self._session.execute(_ROLLBACK_TO_SAVEPOINT)
        if self._after_commit is not None and (self._committed or exc_type is None):
            # Told after a read-only unit of work too: the publisher also sweeps now and
            # then on the way. Not when the use case failed before committing: nothing of
            # it happened.
            self._after_commit(self.outbox.added if self._committed else {})

    def commit(self) -> None:
        self.outbox.flush()
        if not self._savepoint:
            self._session.commit()
        # else: kept, and made durable by the batch's commit
        self._committed = True


class Batch:
    """One transaction for the units of work of a batch of events (a bulk delivery).

    Each event still runs in a unit of work of its own (a savepoint), with the same
    all-or-nothing; the batch pays for one transaction, one commit and, after it, one
    outbox publish instead of one of each per event. Nothing of it is durable before
    :meth:`commit`.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        unit_of_work: Callable[[Session, AfterCommit], UnitOfWork],
        *,
        after_commit: AfterCommit | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._unit_of_work = unit_of_work
        """A unit of work as a savepoint of the given session, reporting to the batch."""
        self._after_commit = after_commit
        self._committed = False
        self._added: dict[str, list[int]] = {}

    def __enter__(self) -> Batch:
        self._session = self._session_factory()
        self._session.begin()
        return self

    def unit_of_work(self) -> UnitOfWork:
        return self._unit_of_work(self._session, self._collect)

    def _collect(self, added: Mapping[str, Sequence[int]]) -> None:
        for key, ids in added.items():
            self._added.setdefault(key, []).extend(ids)

    def commit(self) -> None:
        """Make every unit of work of the batch durable, then hand on all their events."""
        self._session.commit()
        self._committed = True
        if self._after_commit is not None:
            self._after_commit(self._added)

    def __exit__(self, *exc_info: object) -> None:
        _finish(self._session, committed=self._committed)


def _finish(session: Session, *, committed: bool) -> None:
    """Roll back what was not committed, then give the connection back to the pool."""
    try:
        if not committed:
            session.rollback()
    finally:
        session.close()
