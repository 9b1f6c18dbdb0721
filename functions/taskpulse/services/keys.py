"""The idempotency keys the use cases claim: what makes two deliveries one effect.

They belong to the use cases, not to the log that stores them: which effect a key names
is a rule of the service, and the log only keeps whichever key it is given.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskpulse.events import CloudEvent


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a client command came from: its CloudEvent ``source`` + ``id`` identify it
    (sending it again has no new effect), and ``traceparent`` carries its trace on."""

    source: str
    event_id: str
    traceparent: str | None = None

    @classmethod
    def of(cls, event: CloudEvent) -> Origin:
        return cls(event.source, event.id, event.traceparent)

    @property
    def key(self) -> str:
        """The command carried out (by the function whose use case it is)."""
        return f"cmd:{self.source}:{self.event_id}"

    @property
    def queue_key(self) -> str:
        """The command accepted over HTTP and queued; its own key, as the function that
        carries it out claims ``key`` from the same log."""
        return f"queued:{self.source}:{self.event_id}"


def moment_key(user_id: str, task_id: str, at: datetime) -> str:
    """Key of one moment of a user's task (``sha256(user:task:time)[:16]``, the seed's):
    an occurrence of a series, a reminder."""
    raw = f"{user_id}:{task_id}:{at.isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]
