"""PostgreSQL behind a unit of work: repositories, idempotency log, transactional outbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from taskpulse.ports import Outcome, PriorResult, Publisher, PublishError
from taskpulse.store.credentials import PasswordProvider, attach
from taskpulse.store.idempotency import purge_expired
from taskpulse.store.outbox import OutboxRelay, purge_published
from taskpulse.store.repositories import ConcurrentUpdate
from taskpulse.store.uow import AfterCommit, Batch, UnitOfWork

__all__ = [
    "AfterCommit",
    "Batch",
    "ConcurrentUpdate",
    "Outcome",
    "PasswordProvider",
    "PriorResult",
    "PublishError",
    "Publisher",
    "Store",
    "UnitOfWork",
]


class Store:
    """One database: its engine (a pool), units of work, the outbox relay, cleanup."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        retention: timedelta = timedelta(days=7),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        password: PasswordProvider | None = None,
    ) -> None:
        """``password`` gives each new connection its password (store/credentials.py:
        the runtime passes what ``DATABASE_AUTH`` chooses); None: the one in ``url``."""
        self.engine = sa.create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
        if password is not None:
            attach(self.engine, password)
        self._retention = retention
        self._clock = clock

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def unit_of_work(self, after_commit: AfterCommit | None = None) -> UnitOfWork:
        """A unit of work in a transaction of its own; ``after_commit`` hears its events."""
        return self._unit_of_work(self.session, after_commit)

    def batch(self, after_commit: AfterCommit | None = None) -> Batch:
        """One transaction for several events' units of work (see :class:`Batch`);
        ``after_commit`` hears all their events once the batch is committed."""
        return Batch(
            self.session,
            lambda session, collect: self._unit_of_work(lambda: session, collect, savepoint=True),
            after_commit=after_commit,
        )

    def _unit_of_work(
        self,
        sessions: Callable[[], Session],
        after_commit: AfterCommit | None,
        *,
        savepoint: bool = False,
    ) -> UnitOfWork:
        return UnitOfWork(
            sessions,
            retention=self._retention,
            clock=self._clock,
            after_commit=after_commit,
            savepoint=savepoint,
        )

    def relay(
        self,
        publisher: Publisher,
        *,
        batch_size: int = 100,
        max_backoff: timedelta = timedelta(minutes=5),
    ) -> OutboxRelay:
        return OutboxRelay(
            self.session,
            publisher,
            batch_size=batch_size,
            max_backoff=max_backoff,
            clock=self._clock,
        )

    def cleanup(self, *, keep_published: timedelta = timedelta(days=1)) -> tuple[int, int]:
        """Purge expired idempotency rows and old published outbox rows."""
        now = self._clock()
        with self.session() as session, session.begin():
            expired = purge_expired(session, now=now)
            published = purge_published(session, older_than=now - keep_published)
        return expired, published

    def dispose(self) -> None:
        self.engine.dispose()
