"""From the bytes of one delivery to the event a handler takes, or to a verdict already.

A subscription path accepts its own event types (:class:`Route`). What arrives there is
either readable (:class:`ReadEvent`), unreadable (:class:`Unreadable`, to dead-letter
with the reason), or, on a topic's gate, another function's event that the gate lets
pass unhandled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskpulse.contract import (
    TOPIC_MAX_MESSAGE_BYTES,
    EventType,
    Function,
    Subscription,
    Topic,
    types_on,
)
from taskpulse.dapr_app.verdict import Verdict
from taskpulse.dapr_app.wire import check_size, decode_request, unwrap_raw
from taskpulse.events import CloudEvent, InvalidEvent, parse_envelope
from taskpulse.observability import EVENTS


@dataclass(frozen=True, slots=True)
class Route:
    """What one subscription path of a function accepts."""

    topic: Topic
    handles: frozenset[EventType]
    gate: bool = False
    """daprd delivers each record of the topic in its rawPayload envelope."""
    passes: frozenset[EventType] = frozenset()
    """The topic's other contract types, which a gate answers SUCCESS without handling
    (another function consumes them, or nobody needs to)."""

    @classmethod
    def of(cls, sub: Subscription) -> Route:
        handles = frozenset(sub.types)
        passes = types_on(sub.topic) - handles if sub.gate else frozenset()
        return cls(sub.topic, handles, sub.gate, passes)


@dataclass(frozen=True, slots=True)
class ReadEvent:
    """An event read from a request, and the payload a dead letter would carry."""

    event: CloudEvent
    event_type: EventType
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A record that is no event of the contract: to dead-letter with ``reason``."""

    raw: bytes
    headers: dict[str, str]
    reason: str


def read_event(
    route: Route,
    raw: bytes,
    headers: dict[str, str],
    *,
    wrapped: bool,
    limit: int,
    function: Function,
) -> ReadEvent | Unreadable | Verdict:
    """The event in ``raw``; ``wrapped``: a raw record in daprd's rawPayload envelope.

    ``limit`` is the function's event size limit. A verdict comes back only for an event
    that a gate lets pass.
    """
    try:
        if wrapped:
            raw, headers = unwrap_raw(raw, headers)
        # A gate reads a record of any size the topic holds, and lets pass what bears
        # the type of another function's event, which is all daprd's rule for that
        # function reads: that function judges it, size and envelope, and the event
        # gets one verdict, one dead letter at most.
        payload = decode_request(headers, raw, TOPIC_MAX_MESSAGE_BYTES if route.passes else limit)
        kind = payload.get("type")
        if isinstance(kind, str) and kind in route.passes:
            EVENTS.labels(function.value, kind, "passed").inc()
            return Verdict.success()
        event = parse_envelope(payload)
        event_type = event.event_type
        check_size(raw, limit)
    except InvalidEvent as error:
        return Unreadable(raw, headers, error.reason)
    return ReadEvent(event, event_type, payload)
