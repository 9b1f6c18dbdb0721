"""The router: one ``FunctionApp`` per function, the callable functions-framework serves.

It routes a request (health and metrics, job triggers, CloudEvents on ``POST /`` and on
the function's subscription paths), checks ``APP_API_TOKEN``, hands each event to the
handler of its type, and turns the verdict into Dapr's answer, dead-lettering what can
never succeed. The formats are :mod:`~taskpulse.dapr_app.wire`'s, the verdicts
:mod:`~taskpulse.dapr_app.verdict`'s, the bulk ordering rule
:mod:`~taskpulse.dapr_app.bulk`'s.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Request, Response

from taskpulse.contract import (
    EVENT_ROUTE_PREFIX,
    JOB_ROUTE_PREFIX,
    SUBSCRIPTIONS,
    SWEEP_JOB,
    EventType,
    Function,
    home_topic,
)
from taskpulse.dapr_app import bulk
from taskpulse.dapr_app.dead_letters import DeadLetters
from taskpulse.dapr_app.reading import ReadEvent, Route, Unreadable, read_event
from taskpulse.dapr_app.verdict import Status, Verdict, guarded
from taskpulse.dapr_app.wire import (
    BulkEntry,
    bulk_entries,
    bulk_response,
    dapr_response,
    json_response,
)
from taskpulse.events import CloudEvent
from taskpulse.observability import EVENTS, HANDLE_SECONDS, trace_id, trace_id_of

if TYPE_CHECKING:
    from taskpulse.public.face import PublicFace

log = logging.getLogger("taskpulse.dapr_app")

EventHandler = Callable[[CloudEvent], Verdict]
Handlers = Mapping[EventType, EventHandler]
"""By CloudEvent type; each subscription path of a function accepts its own types."""
JobHandler = Callable[[str, Any], Verdict]


@dataclass
class FunctionApp:
    function: Function
    handlers: Handlers
    dead_letters: Callable[[], DeadLetters]
    app_api_token: Callable[[], str | None]
    max_event_bytes: int = 64 * 1024
    jobs: JobHandler | None = None
    public: PublicFace | None = None
    """The public face (create-task): ``POST /`` and the reads, for end users' tokens;
    then ``/metrics`` too needs the app token."""
    ready: Callable[[], bool] = lambda: True
    sweep_job: Callable[[], Verdict] | None = None
    """``POST /job/outbox-sweep``: publish what the outbox still holds."""
    handle_all: bulk.BulkHandler | None = None
    """Handles the events of one bulk delivery to the gate in one call, a verdict for
    each in order (push-update: one request to the gateway). Raising gives them all the
    verdict ``handlers`` would have had. Not with ``batch``."""
    batch: Callable[[], AbstractContextManager[Handlers]] | None = None
    """Gives the handlers of one bulk delivery to the gate, bound to one transaction
    (compute-next-occurrence: units of work of ``Runtime.batch``); raising on exit means
    none of it happened. Not with ``handle_all``."""
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

    # -- the entry point functions-framework calls --------------------------------------

    def __call__(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if self.public is not None and self.public.serves(request.method, path):
            return self.public(request)
        if request.method == "GET":
            return self._get(path, request)
        if request.method != "POST":
            return json_response({"error": f"{request.method} is not supported"}, 405)
        if not self._authorised(request):
            return json_response({"error": "missing or wrong dapr-api-token"}, 401)
        if path.startswith(JOB_ROUTE_PREFIX) and (self.jobs or self.sweep_job):
            return self._job(path.removeprefix(JOB_ROUTE_PREFIX), request)
        if path == "/" or path in self.routes:
            return self._event(path, request)
        if path.startswith(EVENT_ROUTE_PREFIX):
            # A subscription of another release (daprd and the function roll out apart):
            # daprd drops what a 404 answers, and retries what a 503 answers.
            log.error("no route %s for events: asking Dapr to retry", path)
            return json_response({"error": f"no route {path}", "status": "RETRY"}, 503)
        return json_response({"error": f"no route {path}"}, 404)

    def _get(self, path: str, request: Request) -> Response:
        if path == "/health/liveness":
            return json_response({"status": "ok"})
        if path == "/health/readiness":
            ok = self.ready()
            return json_response({"status": "ok" if ok else "not ready"}, 200 if ok else 503)
        if path == "/metrics":
            if self.public is not None and not self._authorised(request):
                return json_response({"error": "metrics need the app token"}, 401)
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
        return json_response({"error": f"no route GET {path}"}, 404)

    def _authorised(self, request: Request) -> bool:
        """Dapr's ``dapr-api-token``, or the same token as a bearer (a metrics scraper)."""
        expected = self.app_api_token()
        if not expected:
            return True
        given = request.headers.get("dapr-api-token") or request.headers.get(
            "Authorization", ""
        ).removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), expected.encode())

    # -- job triggers ------------------------------------------------------------------

    def _job(self, name: str, request: Request) -> Response:
        start = time.perf_counter()
        try:
            data = json.loads(request.get_data() or b"null")
        except ValueError:
            log.error("job %s: body is not JSON; dropped", name)
            return json_response({"status": "DROP"})
        if name == SWEEP_JOB and self.sweep_job is not None:
            verdict = guarded(self.sweep_job)
        elif self.jobs is not None:
            jobs = self.jobs
            verdict = guarded(lambda: jobs(name, data))
        else:
            verdict = Verdict.drop(f"{self.function.value} has no job {name}")
        HANDLE_SECONDS.labels(self.function.value, "job").observe(time.perf_counter() - start)
        EVENTS.labels(self.function.value, "job", verdict.status.lower()).inc()
        if verdict.status == "RETRY":
            # Anything but 2xx makes Dapr apply the job's failure policy (retry).
            return json_response({"status": "RETRY", "reason": verdict.reason}, 500)
        if verdict.status == "DROP":
            reason = verdict.reason
            log.warning("job %s dropped: %s", name, reason, extra={"reason": reason})
        return json_response({"status": verdict.status})

    # -- CloudEvents -------------------------------------------------------------------

    def _event(self, path: str, request: Request) -> Response:
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
