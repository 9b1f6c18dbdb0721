"""Transactional outbox and its relay.

A handler adds its events to ``outbox`` in the transaction that changes the state, so
both commit or neither does. After the commit the relay publishes them; a sweep
publishes whatever a crash left pending. Publishing is at-least-once (a crash between
publish and mark repeats it); consumers deduplicate on the CloudEvent id.

Order per partition key (the user id) is kept: a row is eligible only when every
earlier pending row of its key is eligible too, a relay holds an advisory lock per key
while it publishes, and within a batch a key stops at its first failure.

A batch goes out as one request per topic (Dapr's bulk publish: one Kafka produce for
many events), which is what a busy function can afford. The rows of one key in one
request land in one partition, and Kafka answers for a partition's records in a produce
request as a whole (sarama returns that one answer for each of them; retries go in
order), so a failure there fails the key's later rows too. Should a later row be
accepted all the same, it stays pending and is published again after the failed one: a
duplicate that consumers drop, never a gap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from taskpulse.ports import Publisher, PublishError
from taskpulse.store.tables import OutboxRow

log = logging.getLogger(__name__)

_T = OutboxRow.__table__  # type: ignore[attr-defined]
_KEY_LOCK_CLASS = 0x7A5C  # first half of the two-int advisory lock: "outbox key"


@dataclass(frozen=True, slots=True)
class PendingEvent:
    topic: str
    partition_key: str
    event: dict[str, Any]


class Outbox:
    """The write side, used inside a unit of work.

    Rows are buffered and written with one INSERT when the unit of work commits: one
    round trip however many events a change causes.
    """

    def __init__(self, session: Session, *, now: datetime) -> None:
        self._session = session
        self._now = now
        self._pending: list[dict[str, Any]] = []
        self.added: dict[str, list[int]] = {}
        """Ids of the rows written, per partition key, in commit order."""

    def add(self, topic: str, partition_key: str, event: dict[str, Any]) -> None:
        self._pending.append(
            {
                "topic": topic,
                "partition_key": partition_key,
                "event": event,
                "created_at": self._now,
                "next_attempt_at": self._now,
            }
        )

    def flush(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        # Parameter sets, not a multi-row VALUES clause: one compiled statement serves
        # every batch (a VALUES list is compiled anew for each), and SQLAlchemy still
        # sends the batch as one INSERT, its ids in the order of the rows.
        inserted = self._session.execute(
            sa.insert(_T).returning(_T.c.id, sort_by_parameter_order=True), rows
        )
        for row, row_id in zip(rows, inserted.scalars(), strict=True):
            self.added.setdefault(row["partition_key"], []).append(row_id)


@dataclass
class RelayReport:
    published: int = 0
    failed: int = 0
    skipped_keys: set[str] = field(default_factory=set)
    busy_keys: set[str] = field(default_factory=set)
    """Keys another relay was publishing: nothing failed, their rows wait for a retry."""


_ELIGIBLE = sa.text(
    """
    WITH wanted AS (
        SELECT partition_key, max(id) AS upto
        FROM outbox
        WHERE id = ANY(CAST(:ids AS bigint[]))
        GROUP BY partition_key
    ),
    pending AS (
        SELECT id, partition_key,
               bool_and(next_attempt_at <= :now)
                   OVER (PARTITION BY partition_key ORDER BY id) AS ready
        FROM outbox
        WHERE published_at IS NULL
          -- Only the keys asked for: a backlog of other keys is not read on every publish.
          AND (
              CAST(:ids AS bigint[]) IS NULL
              OR partition_key IN (SELECT partition_key FROM wanted)
          )
    )
    SELECT p.id, p.partition_key FROM pending p
    WHERE p.ready AND (
        CAST(:ids AS bigint[]) IS NULL
        OR EXISTS (
            SELECT 1 FROM wanted w WHERE w.partition_key = p.partition_key AND p.id <= w.upto
        )
    )
    ORDER BY p.id
    LIMIT :limit
    """
)
"""Rows to publish, oldest first. Given ``ids``, those rows and every earlier pending row
of their keys: a row left behind (its key was busy in another relay) leaves before the
rows that follow it, never after."""


# Built once, values given at execution (see store/repositories.py).
_LOCK_ROWS = (
    sa.select(_T.c.id, _T.c.topic, _T.c.partition_key, _T.c.event, _T.c.attempts)
    .where(_T.c.id.in_(sa.bindparam("ids", expanding=True)), _T.c.published_at.is_(None))
    .order_by(_T.c.id)
    .with_for_update()
)
_MARK_PUBLISHED = (
    sa.update(_T)
    .where(_T.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(published_at=sa.bindparam("at"), attempts=_T.c.attempts + 1, last_error=None)
)
_END = 2**63  # above every row id
_LOCK_KEYS = sa.text(
    """
    SELECT key FROM unnest(CAST(:keys AS text[])) AS key
    WHERE pg_try_advisory_xact_lock(CAST(:lock_class AS integer), hashtext(key))
    """
).bindparams(lock_class=_KEY_LOCK_CLASS)


_OLDEST_PENDING = (
    sa.select(sa.func.extract("epoch", sa.func.now() - _T.c.created_at))
    .where(_T.c.published_at.is_(None))
    .order_by(_T.c.id)
    .limit(1)
)
"""Ids grow with commits, and the pending rows are a partial index: one row read."""


def _by_topic(rows: Sequence[Any]) -> list[tuple[str, list[Any]]]:
    """Rows grouped by topic, each group in id order, groups in order of their first row."""
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(row.topic, []).append(row)
    return list(groups.items())


def backoff(attempts: int, *, cap: timedelta) -> timedelta:
    """1 s, 2 s, 4 s, ... up to ``cap``."""
    return min(timedelta(seconds=2 ** min(attempts - 1, 20)), cap)


class OutboxRelay:
    def __init__(
        self,
        session_factory: Callable[[], Session],
        publisher: Publisher,
        *,
        batch_size: int = 100,
        max_backoff: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session_factory = session_factory
        self._publisher = publisher
        self._batch_size = batch_size
        self._max_backoff = max_backoff
        self._clock = clock

    def publish(self, ids: Sequence[int] | None = None) -> RelayReport:
        """Publish eligible pending rows (``ids`` and what precedes them when given),
        oldest first.

        A key is taken with its advisory lock before any of its rows is read for update,
        so a relay that holds the lock holds every pending row of that key: no other relay
        can have read some of them and publish them later, out of order.
        """
        report = RelayReport()
        with self._session_factory() as session, session.begin():
            now = self._clock()
            candidates = session.execute(
                _ELIGIBLE,
                {
                    "now": now,
                    "ids": list(ids) if ids is not None else None,
                    "limit": self._batch_size,
                },
            ).all()
            if not candidates:
                return report
            by_key: dict[str, list[int]] = {}
            for candidate in candidates:
                by_key.setdefault(candidate.partition_key, []).append(candidate.id)
            locked = self._lock_keys(session, list(by_key))
            mine: list[int] = []
            for key, key_ids in by_key.items():
                if key in locked:
                    mine += key_ids
                else:
                    report.busy_keys.add(key)
                    report.skipped_keys.add(key)
            rows = session.execute(_LOCK_ROWS, {"ids": mine}).all()
            published = self._send_all(session, rows, report, now=now)
            if published:  # one statement for the batch, not one per row
                session.execute(_MARK_PUBLISHED, {"ids": published, "at": self._clock()})
            report.published = len(published)
        return report

    def _send_all(
        self, session: Session, rows: Sequence[Any], report: RelayReport, *, now: datetime
    ) -> list[int]:
        """Send ``rows`` (id order), one request per topic: the ids that were published.

        A key stops at its first failed row, in id order across topics."""
        published: list[int] = []
        failed_at: dict[str, int] = {}  # key -> its first failed row: later ones wait
        for topic, batch in _by_topic(rows):
            batch = [row for row in batch if row.id < failed_at.get(row.partition_key, _END)]
            failures = self._send(topic, batch) if batch else {}
            for n, row in enumerate(batch):
                key = row.partition_key
                if row.id > failed_at.get(key, _END):  # sent after its key's failure
                    continue  # stays pending: goes again after the failed row
                if n in failures:
                    self._failed(session, row, failures[n], now)
                    report.failed += 1
                    failed_at[key] = row.id
                    continue
                published.append(row.id)
        report.skipped_keys |= failed_at.keys()
        return published

    def _send(self, topic: str, batch: Sequence[Any]) -> Mapping[int, str]:
        """One request for a topic's rows: the failed ones by index (all when the
        request itself failed)."""
        try:
            return self._publisher.publish_many(
                topic, [(row.partition_key, row.event) for row in batch]
            )
        except PublishError as error:
            return dict.fromkeys(range(len(batch)), str(error))

    def _failed(self, session: Session, row: Any, reason: str, now: datetime) -> None:
        attempts = row.attempts + 1
        session.execute(
            sa.update(_T)
            .where(_T.c.id == row.id)
            .values(
                attempts=attempts,
                last_error=reason[:2000],
                next_attempt_at=now + backoff(attempts, cap=self._max_backoff),
            )
        )
        log.warning("outbox row %s not published (attempt %s): %s", row.id, attempts, reason)

    @staticmethod
    def _lock_keys(session: Session, keys: list[str]) -> set[str]:
        """The keys whose advisory lock this transaction took (one round trip); another
        relay holds the others. Trying never waits, so two relays cannot deadlock."""
        return set(session.execute(_LOCK_KEYS, {"keys": keys}).scalars())

    def oldest_pending_age(self) -> float:
        """Seconds since the oldest unpublished row was committed; 0 when none is."""
        with self._session_factory() as session:
            age = session.execute(_OLDEST_PENDING).scalar()
            return float(age or 0.0)

    def pending(self) -> int:
        """Rows not published yet, those waiting out a failure's backoff included."""
        with self._session_factory() as session:
            query = sa.select(sa.func.count()).select_from(_T).where(_T.c.published_at.is_(None))
            return int(session.execute(query).scalar_one())

    def sweep(self) -> RelayReport:
        """Publish everything pending, batch after batch, until a batch makes no progress."""
        total = RelayReport()
        while True:
            report = self.publish()
            total.published += report.published
            total.failed += report.failed
            total.skipped_keys |= report.skipped_keys
            if report.published == 0:
                return total


def purge_published(session: Session, *, older_than: datetime) -> int:
    result = session.execute(
        sa.delete(_T).where(_T.c.published_at.is_not(None), _T.c.published_at < older_than)
    )
    count: int = result.rowcount  # type: ignore[attr-defined]
    return count
