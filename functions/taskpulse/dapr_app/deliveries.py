"""CloudEvents from daprd: read each, hand it to the handler of its type, conclude.

A delivery to a topic's gate may be bulk (:mod:`.bulk` orders the answers); each event is
read (:mod:`.reading`), judged (:mod:`.verdict`), and what can never succeed is
dead-lettered (:mod:`.dead_letters`) before Dapr is answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from flask import Request, Response

from taskpulse.contract import SUBSCRIPTIONS, EventType, Function, home_topic
from taskpulse.dapr_app import bulk
from taskpulse.dapr_app.dead_letters import DeadLetters
from taskpulse.dapr_app.reading import ReadEvent, Route, Unreadable, read_event
from taskpulse.dapr_app.verdict import Status, Verdict, guarded
from taskpulse.dapr_app.wire import BulkEntry, bulk_entries, bulk_response, dapr_response
from taskpulse.events import CloudEvent
from taskpulse.observability import EVENTS, HANDLE_SECONDS, trace_id, trace_id_of

log = logging.getLogger("taskpulse.dapr_app")

EventHandler = Callable[[CloudEvent], Verdict]
Handlers = Mapping[EventType, EventHandler]
"""By CloudEvent type; each subscription path of a function accepts its own types."""


@dataclass
class Deliveries:
    function: Function
    handlers: Handlers
    dead_letters: Callable[[], DeadLetters]
    max_event_bytes: int
    handle_all: bulk.BulkHandler | None = None
    batch: Callable[[], AbstractContextManager[Handlers]] | None = None
    routes: dict[str, Route] = field(init=False)

    def __post_init__(self) -> None:
        mine = [s for s in SUBSCRIPTIONS if s.function is self.function]
        self.routes = {s.path: Route.of(s) for s in mine}
        if self.handle_all is not None and self.batch is not None:
            raise ValueError("a function handles its bulk deliveries with batch or handle_all")

    def root_route(self, event_type: EventType | None = None) -> Route:
        """``POST /`` takes every type the function handles. What it drops goes to the
        dead-letter topic of the subscription that takes that type, else to that of the
        function's home topic (its gate's, or its only one)."""
        topics = [r.topic for r in self.routes.values() if event_type in r.handles]
        topic = topics[0] if topics else home_topic(self.function)
        return Route(topic, frozenset(self.handlers))

    def answer(self, path: str, request: Request) -> Response:
        """A delivery to ``path`` (``/`` or a subscription's): Dapr's answer."""
        route = self.routes.get(path) or self.root_route()
        raw = request.get_data()
        headers = {key.lower(): value for key, value in request.headers.items()}
        if route.gate and (entries := bulk_entries(raw)) is not None:
            return bulk_response(entries, self._bulk(path, route, entries))
        start = time.perf_counter()
        try:
            return dapr_response(self._answer(path, route, raw, headers, wrapped=route.gate))
        finally:
            HANDLE_SECONDS.labels(self.function.value, path).observe(time.perf_counter() - start)

    def _bulk(self, path: str, route: Route, entries: list[BulkEntry]) -> list[Status]:
        if self.handle_all is not None:
            start = time.perf_counter()
            statuses = bulk.answer_together(
                [self._read(route, e.record, e.headers, wrapped=False) for e in entries],
                self.handle_all,
                route.handles,
                file_unreadable=lambda item: self._file_unreadable(route, item),
                conclude=lambda item, verdict: self._conclude(path, route, item, verdict),
            )
            each = (time.perf_counter() - start) / max(1, len(entries))
            for _ in entries:
                HANDLE_SECONDS.labels(self.function.value, path).observe(each)
            return statuses

        def answer_one(entry: BulkEntry, handlers: Handlers) -> Verdict:
            start = time.perf_counter()
            verdict = self._answer(
                path, route, entry.record, entry.headers, wrapped=False, handlers=handlers
            )
            HANDLE_SECONDS.labels(self.function.value, path).observe(time.perf_counter() - start)
            return verdict

        if self.batch is None or len(entries) <= 1:
            # One event alone needs no batch: its own transaction spares the savepoint.
            return bulk.answer_in_order(entries, answer_one, nullcontext(self.handlers))
        return bulk.answer_in_order(entries, answer_one, self.batch())

    def _answer(
        self,
        path: str,
        route: Route,
        raw: bytes,
        headers: dict[str, str],
        *,
        wrapped: bool,
        handlers: Handlers | None = None,
    ) -> Verdict:
        """Read one event and handle it: Dapr's answer. ``wrapped``: the event is a raw
        record in daprd's rawPayload envelope (a gate's single delivery); ``handlers``:
        those of a batch, instead of the function's own."""
        read = self._read(route, raw, headers, wrapped=wrapped)
        if isinstance(read, Unreadable):
            return self._file_unreadable(route, read)
        if isinstance(read, Verdict):
            return read
        if path == "/":
            route = self.root_route(read.event_type)
        handler = (handlers or self.handlers).get(read.event_type)
        verdict = None
        if handler is not None and read.event_type in route.handles:
            token = trace_id.set(trace_id_of(read.event.traceparent))
            try:
                verdict = guarded(lambda: handler(read.event))
            finally:
                trace_id.reset(token)
        return self._conclude(path, route, read, verdict)

    def _read(
        self, route: Route, raw: bytes, headers: dict[str, str], *, wrapped: bool
    ) -> ReadEvent | Unreadable | Verdict:
        return read_event(
            route, raw, headers, wrapped=wrapped, limit=self.max_event_bytes, function=self.function
        )

    def _file_unreadable(self, route: Route, item: Unreadable) -> Verdict:
        return self.dead_letters().file_unreadable(
            route.topic,
            item.headers,
            item.raw,
            item.reason,
            self.function,
            limit=self.max_event_bytes,
        )

    def _conclude(
        self, path: str, route: Route, read: ReadEvent, verdict: Verdict | None
    ) -> Verdict:
        """Dead-letter a dropped event, count and log the outcome: Dapr's answer.
        ``verdict`` is ``None`` when no handler of this path takes the event's type."""
        event = read.event
        if verdict is None:
            verdict = Verdict.drop(f"{self.function.value} does not handle {event.type} on {path}")
        token = trace_id.set(trace_id_of(event.traceparent))
        try:
            if verdict.status == "DROP":
                verdict = self.dead_letters().file(
                    route.topic, read.payload, verdict, self.function
                )
            EVENTS.labels(self.function.value, event.type, verdict.status.lower()).inc()
            if verdict.reason:
                log.log(
                    logging.WARNING if verdict.status != "SUCCESS" else logging.INFO,
                    "%s %s: %s",
                    event.type,
                    verdict.status,
                    verdict.reason,
                    extra={
                        "event_id": event.id,
                        "event_type": event.type,
                        "reason": verdict.reason,
                    },
                )
            return verdict
        finally:
            trace_id.reset(token)
