"""The idempotency keys the use cases claim: what makes two deliveries one effect.

They belong to the use cases, not to the log that stores them: which effect a key names
is a rule of the service, and the log only keeps whichever key it is given.
"""

from __future__ import annotations

import hashlib
from datetime import datetime


def command_key(source: str, event_id: str) -> str:
    """A client command is identified by its CloudEvent ``source`` + ``id``."""
    return f"cmd:{source}:{event_id}"


def moment_key(user_id: str, task_id: str, at: datetime) -> str:
    """Key of one moment of a user's task (``sha256(user:task:time)[:16]``, the seed's):
    an occurrence of a series, a reminder."""
    raw = f"{user_id}:{task_id}:{at.isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]
