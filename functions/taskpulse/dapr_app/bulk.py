"""Bulk deliveries: one request carries the records that waited in one partition.

Dapr's ``bulkSubscribe`` hands a gate what it would otherwise deliver one after another,
so each entry is answered as if it came alone, in order, and nothing may overtake an
entry that must be retried: once one is RETRY, the ones after it are RETRY too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TypeVar

from taskpulse.contract import EventType
from taskpulse.dapr_app.reading import ReadEvent, Unreadable
from taskpulse.dapr_app.verdict import Status, Verdict, guarded
from taskpulse.dapr_app.wire import BulkEntry
from taskpulse.events import CloudEvent

log = logging.getLogger("taskpulse.dapr_app")
H = TypeVar("H")

BulkHandler = Callable[[Sequence[CloudEvent]], list[Verdict]]
"""Handles the events of one delivery in one call, a verdict for each, in order."""


def answer_in_order(
    entries: Sequence[BulkEntry],
    answer_one: Callable[[BulkEntry, H], Verdict],
    transaction: AbstractContextManager[H],
) -> list[Status]:
    """Each entry handled alone, in order, with what ``transaction`` gives (the handlers
    of one database transaction, for a batch). The ones after a RETRY are not handled.
    When the transaction fails on exit, none of it happened and every entry is retried."""
    statuses: list[Status] = []
    try:
        with transaction as handlers:
            for entry in entries:
                if statuses[-1:] == ["RETRY"]:
                    statuses.append("RETRY")
                    continue
                statuses.append(answer_one(entry, handlers).status)
    except Exception:
        log.exception("bulk delivery not committed; asking Dapr to retry all of it")
        statuses = ["RETRY"] * len(entries)
    return statuses


def answer_together(
    read: Sequence[ReadEvent | Unreadable | Verdict],
    handle_all: BulkHandler,
    handles: frozenset[EventType],
    *,
    file_unreadable: Callable[[Unreadable], Verdict],
    conclude: Callable[[ReadEvent, Verdict | None], Verdict],
) -> list[Status]:
    """The events of a delivery handed to one call, answered in order as
    :func:`answer_in_order` answers them, but for one thing: the call took every event
    before any answer was known, so the events after one answered RETRY were handled too.
    They are retried with it (push-update: the gateway takes each publication once, by
    its idempotency key), and may have reached the screens before it."""
    events = [item for item in read if isinstance(item, ReadEvent) and item.event_type in handles]
    verdicts = _handle_all(handle_all, events)
    handled = dict(zip(map(id, events), verdicts, strict=True))
    statuses: list[Status] = []
    for item in read:
        if "RETRY" in statuses:  # nothing more leaves for it: no dead letter either
            verdict = Verdict.retry("an earlier event of the partition is retried")
        elif isinstance(item, Unreadable):
            verdict = file_unreadable(item)
        elif isinstance(item, Verdict):
            verdict = item
        else:
            verdict = conclude(item, handled.get(id(item)))
        statuses.append(verdict.status)
    return statuses


def _handle_all(handle_all: BulkHandler, events: list[ReadEvent]) -> list[Verdict]:
    """One verdict per event; what the call raises is every event's verdict."""
    if not events:
        return []
    verdicts = guarded(lambda: _one_each(handle_all([r.event for r in events]), len(events)))
    return [verdicts] * len(events) if isinstance(verdicts, Verdict) else verdicts


def _one_each(verdicts: list[Verdict], count: int) -> list[Verdict]:
    if len(verdicts) != count:
        raise RuntimeError(f"{len(verdicts)} verdicts for {count} events")
    return verdicts
