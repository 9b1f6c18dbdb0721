"""The unit of work: one transaction around the state, its events and its idempotency row.

Usage in a handler::

    with store.unit_of_work() as uow:
        if (prior := uow.processed.claim(key)) is not None:
            return prior            # a repeat: answer as the first time
        uow.tasks.add(task)
        uow.outbox.add(topic, user_id, event)
        uow.processed.record(key, outcome=Outcome.DONE, result_id=task.id)
        uow.commit()
    store.relay.publish(uow.outbox.added_ids)   # after commit; the sweep covers a crash
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType

from sqlmodel import Session

from taskpulse.store.idempotency import IdempotencyLog
from taskpulse.store.outbox import Outbox
from taskpulse.store.repositories import SeriesRepository, TaskRepository


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
    ) -> None:
        self._session_factory = session_factory
        self._retention = retention
        self._clock = clock
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self._session = self._session_factory()
        self._session.begin()
        self.now = self._clock()
        self.tasks = TaskRepository(self._session)
        self.series = SeriesRepository(self._session)
        self.outbox = Outbox(self._session, now=self.now)
        self.processed = IdempotencyLog(self._session, retention=self._retention, now=self.now)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                self._session.rollback()
        finally:
            self._session.close()

    def commit(self) -> None:
        self.outbox.flush()
        self._session.commit()
        self._committed = True

    def rollback(self) -> None:
        self._session.rollback()
