"""The processed-events log: each effect happens once, however often its event comes.

Insert first, inside the transaction of the effect: ``INSERT ... ON CONFLICT DO NOTHING``
on the primary key. A concurrent duplicate blocks on that insert until the first
transaction ends, then sees its row (commit) or takes over (rollback). Check-then-insert
would let both through.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from taskpulse.ports import Outcome, PriorResult
from taskpulse.store.tables import ProcessedEventRow

_T = ProcessedEventRow.__table__  # type: ignore[attr-defined]
# Built once, values given at execution: a statement made per call costs more CPU to
# build and look up in the compiled cache than the database spends running it.
_CLAIM = (
    insert(_T)
    .on_conflict_do_nothing(index_elements=["idempotency_key"])
    .returning(_T.c.idempotency_key)
)
_PRIOR = sa.select(_T.c.status, _T.c.result_id, _T.c.detail).where(
    _T.c.idempotency_key == sa.bindparam("key")
)


class IdempotencyLog:
    """The log in PostgreSQL (implements :class:`taskpulse.ports.IdempotencyLog`)."""

    def __init__(self, session: Session, *, retention: timedelta, now: datetime) -> None:
        self._session = session
        self._retention = retention
        self._now = now

    def claim(self, key: str, *, result_id: str | None = None) -> PriorResult | None:
        """Take ``key`` for this transaction; ``None`` means we are first and must act.

        ``result_id``, when already known, is stored with the claim (one round trip less
        than a later ``record``); the claim rolls back with the effect if it fails.
        """
        inserted = self._session.execute(
            _CLAIM,
            {
                "idempotency_key": key,
                "status": Outcome.DONE.value,
                "result_id": result_id,
                "processed_at": self._now,
                "expires_at": self._now + self._retention,
            },
        ).first()
        if inserted is not None:
            return None
        row = self._session.execute(_PRIOR, {"key": key}).one()
        return PriorResult(Outcome(row.status), row.result_id, row.detail)

    def reject(self, key: str, *, detail: str) -> None:
        self._session.execute(
            sa.update(_T)
            .where(_T.c.idempotency_key == key)
            .values(status=Outcome.REJECTED.value, detail=detail)
        )

    def release(self, key: str) -> None:
        """Forget ``key`` so that a later delivery acts again (the effect did not happen)."""
        self._session.execute(sa.delete(_T).where(_T.c.idempotency_key == key))


def purge_expired(session: Session, *, now: datetime) -> int:
    result = session.execute(sa.delete(_T).where(_T.c.expires_at < now))
    count: int = result.rowcount  # type: ignore[attr-defined]
    return count
