"""What became of an event: Dapr's pub/sub answer, and the one table that decides it.

A handler returns a :class:`Verdict` or raises. What it raises is judged here, once for
every function, by the root of its error (the tree is drawn in :mod:`taskpulse.errors`):
``Permanent`` -> DROP, ``Transient`` -> RETRY, anything else -> RETRY, logged with its
traceback, since nobody expected it.

DROP sends the event to its topic's dead-letter topic with the reason (see
:mod:`taskpulse.dapr_app.dead_letters`); RETRY asks daprd to deliver it again. Adapters
sort their own failures before they reach this table: a push gateway or mail server
that refuses a message for good says so (``ChannelError.permanent``,
``MailError.definitely_not_sent``) and the use case records it rather than raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from taskpulse.errors import Permanent, Transient

log = logging.getLogger("taskpulse.dapr_app")
T = TypeVar("T")

Status = Literal["SUCCESS", "RETRY", "DROP"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a handler decided; ``reason`` is logged and travels with a dead letter."""

    status: Status
    reason: str | None = None

    @classmethod
    def success(cls) -> Verdict:
        return cls("SUCCESS")

    @classmethod
    def retry(cls, reason: str) -> Verdict:
        return cls("RETRY", reason)

    @classmethod
    def drop(cls, reason: str) -> Verdict:
        return cls("DROP", reason)


def guarded(call: Callable[[], T]) -> T | Verdict:
    """``call()``, or the verdict on what it raised (the table above)."""
    try:
        return call()
    except Permanent as error:
        return Verdict.drop(str(error))
    except Transient as error:
        log.warning("handler: %s; asking Dapr to retry", error)
        return Verdict.retry(f"{type(error).__name__}: {error}")
    except Exception as error:
        log.exception("handler failed; asking Dapr to retry")
        return Verdict.retry(f"{type(error).__name__}: {error}")
