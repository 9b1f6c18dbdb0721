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
from typing import Any

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
    decode_request,
    json_response,
)
from taskpulse.errors import Permanent
from taskpulse.events import CloudEvent, InvalidEvent, parse_envelope
from taskpulse.observability import EVENTS, HANDLE_SECONDS, trace_id, trace_id_of

log = logging.getLogger("taskpulse.dapr_app")

EventHandler = Callable[[CloudEvent], Verdict]
Handlers = Mapping[EventType, EventHandler]
"""By CloudEvent type; each subscription path of a function accepts its own types."""
JobHandler = Callable[[str, Any], Verdict]
RequestHandler = Callable[[Request, CloudEvent], Response]


@dataclass
class FunctionApp:
    function: Function
    handlers: Handlers
    dead_letters: Callable[[], DeadLetters]
    app_api_token: Callable[[], str | None]
    max_event_bytes: int = 64 * 1024
    jobs: JobHandler | None = None
    root: RequestHandler | None = None
    """``POST /`` with a handler of its own (create-task answers with the created task)."""
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
        if request.method == "GET":
            return self._get(path)
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

    def _get(self, path: str) -> Response:
        if path == "/health/liveness":
            return json_response({"status": "ok"})
        if path == "/health/readiness":
            ok = self.ready()
            return json_response({"status": "ok" if ok else "not ready"}, 200 if ok else 503)
        if path == "/metrics":
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
        return json_response({"error": f"no route GET {path}"}, 404)

    def _authorised(self, request: Request) -> bool:
        expected = self.app_api_token()
        if not expected:
            return True
        given = request.headers.get("dapr-api-token", "")
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
            if path == "/" and self.root is not None:
                return self._root(self.root, request, raw, headers)
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

    def _root(
        self, root: RequestHandler, request: Request, raw: bytes, headers: dict[str, str]
    ) -> Response:
        """A client, not Dapr, is waiting on ``POST /``: tell it what is wrong.

        What ``root`` raises as ``Permanent`` is answered 400 with the reason; anything
        else it raises is answered 503 (the client retries)."""
        try:
            event = parse_envelope(decode_request(headers, raw, self.max_event_bytes))
        except InvalidEvent as error:
            self._file_unreadable(self.root_route(), Unreadable(raw, headers, error.reason))
            return json_response({"error": error.reason}, 400)
        token = trace_id.set(trace_id_of(event.traceparent))
        try:
            return root(request, event)
        except Permanent as error:
            reason = str(error)
            # Every invalid command is kept in the dead-letter topic; the client is told
            # the reason whether or not that publish succeeds.
            topic = self.root_route(_known_type(event.type)).topic
            letter = event.model_dump(mode="json")
            try:
                self.dead_letters().file(topic, letter, Verdict.drop(reason), self.function)
            except Exception:
                log.exception("dead letter of a refused command not filed")
            return json_response({"error": reason}, 400)
        except Exception as error:
            log.exception("%s failed; the client should retry", self.function.value)
            body = {"error": f"temporarily unavailable, retry: {type(error).__name__}"}
            return json_response(body, 503)
        finally:
            trace_id.reset(token)

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


def _known_type(value: str) -> EventType | None:
    try:
        return EventType(value)
    except ValueError:
        return None
