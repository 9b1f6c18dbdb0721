"""The functions-framework surface every function shares.

One ``FunctionApp`` per function routes a request: health and metrics, Dapr job
triggers (``POST /job/<name>``), and CloudEvents (structured or binary) on ``POST /`` and
on the paths of the function's subscriptions. It checks ``APP_API_TOKEN``, turns the
handler's result into Dapr's pub/sub answer, and sends every event that can never
succeed to its topic's dead-letter topic together with the reason.

On a topic's gate (``Subscription.gate``) daprd delivers each Kafka record unparsed, in
its ``rawPayload`` envelope; the record inside is read here, so bytes that are not a
CloudEvent are dead-lettered with the reason like any other invalid event. A gate takes
its records in bulk (Dapr's ``bulkSubscribe``): one request carries the records that
waited in one partition, and each is answered as if it came alone. A function with a
``batch`` (compute-next-occurrence) handles each such delivery in one transaction; one
with ``handle_all`` (push-update) hands its events to one call.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from flask import Request, Response

from taskpulse.contract import (
    EVENT_ROUTE_PREFIX,
    JOB_ROUTE_PREFIX,
    SUBSCRIPTIONS,
    TOPIC_MAX_MESSAGE_BYTES,
    EventType,
    Function,
    Subscription,
    Topic,
    types_on,
)
from taskpulse.events import CloudEvent, InvalidEvent, parse_envelope
from taskpulse.observability import EVENTS, HANDLE_SECONDS, trace_id, trace_id_of

log = logging.getLogger("taskpulse.http")
T = TypeVar("T")

Status = Literal["SUCCESS", "RETRY", "DROP"]

DAPR_RAW_TYPE = "com.dapr.event.sent"
"""``type`` of the envelope in which daprd delivers a rawPayload subscription's records."""
BULK_TYPE = "com.dapr.event.sent.bulk"
"""``type`` of a bulk delivery's envelope (components-contrib ``pubsub.DefaultBulkEventType``)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What a handler decided; ``reason`` is logged and travels with a dead letter."""

    status: Status
    reason: str | None = None

    @classmethod
    def success(cls) -> Answer:
        return cls("SUCCESS")

    @classmethod
    def retry(cls, reason: str) -> Answer:
        return cls("RETRY", reason)

    @classmethod
    def drop(cls, reason: str) -> Answer:
        return cls("DROP", reason)


SWEEP_JOB = "outbox-sweep"
"""The job through which a function with an outbox wakes itself to publish what failed."""

EventHandler = Callable[[CloudEvent], Answer]
BulkHandler = Callable[[Sequence[CloudEvent]], list[Answer]]
JobHandler = Callable[[str, Any], Answer]
RequestHandler = Callable[[Request, CloudEvent], Response]


class DeadLetters:
    """Where dropped events go: ``<topic>-dlq``, the original event plus the reason."""

    def __init__(self, publish: Callable[[str, str, dict[str, Any]], None]) -> None:
        self._publish = publish

    def send(self, topic: Topic, event: dict[str, Any], reason: str, function: Function) -> None:
        letter = {**event, "deadletterreason": reason[:1000], "deadletterfunction": function.value}
        data = event.get("data")
        user = data.get("user_id") if isinstance(data, dict) else None
        key = str(event.get("partitionkey") or user or event.get("id") or "unknown")
        self._publish(topic.dead_letter, key, letter)


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
class Read:
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


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def dapr_answer(answer: Answer) -> Response:
    return _json({"status": answer.status})


def _bulk_answer(entries: Sequence[BulkEntry], statuses: Sequence[Status]) -> Response:
    return _json(
        {
            "statuses": [
                {"entryId": entry.entry_id, "status": status}
                for entry, status in zip(entries, statuses, strict=True)
            ]
        }
    )


@dataclass
class FunctionApp:
    function: Function
    handlers: Mapping[EventType, EventHandler]
    """By CloudEvent type; each subscription path of this function accepts its own types."""
    dead_letters: Callable[[], DeadLetters]
    app_api_token: Callable[[], str | None]
    max_event_bytes: int = 64 * 1024
    jobs: JobHandler | None = None
    root: RequestHandler | None = None
    """``POST /`` with a handler of its own (create-task answers with the created task)."""
    ready: Callable[[], bool] = lambda: True
    sweep_job: Callable[[], Answer] | None = None
    """``POST /job/outbox-sweep``: publish what the outbox still holds (Runtime.sweep_job)."""
    handle_all: BulkHandler | None = None
    """Handles the events of one bulk delivery to the gate in one call, answering each in
    order (push-update: one request to the gateway). Raising answers them all as
    ``handlers`` would have answered that exception. Not with ``batch``."""
    batch: Callable[[], AbstractContextManager[None]] | None = None
    """Wraps the handling of one bulk delivery to the gate (Runtime.batch: one
    transaction); raising on exit means none of it happened."""
    routes: dict[str, Route] = field(init=False)
    root_route: Route = field(init=False)

    def __post_init__(self) -> None:
        mine = [s for s in SUBSCRIPTIONS if s.function is self.function]
        self.routes = {s.path: Route.of(s) for s in mine}
        # POST / dead-letters to the topic the function mainly consumes.
        self.root_route = Route(mine[0].topic, frozenset(self.handlers))
        if self.handle_all is not None and self.batch is not None:
            raise ValueError("a function handles its bulk deliveries with batch or handle_all")

    # -- the entry point functions-framework calls --------------------------------------

    def __call__(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if request.method == "GET":
            return self._get(path)
        if request.method != "POST":
            return _json({"error": f"{request.method} is not supported"}, 405)
        if not self._authorised(request):
            return _json({"error": "missing or wrong dapr-api-token"}, 401)
        if path.startswith(JOB_ROUTE_PREFIX) and (self.jobs or self.sweep_job):
            return self._job(path.removeprefix(JOB_ROUTE_PREFIX), request)
        if path == "/" or path in self.routes:
            return self._event(path, request)
        if path.startswith(EVENT_ROUTE_PREFIX):
            # A subscription of another release (daprd and the function roll out apart):
            # daprd drops what a 404 answers, and retries what a 503 answers.
            log.error("no route %s for events: asking Dapr to retry", path)
            return _json({"error": f"no route {path}", "status": "RETRY"}, 503)
        return _json({"error": f"no route {path}"}, 404)

    def _get(self, path: str) -> Response:
        if path == "/health/liveness":
            return _json({"status": "ok"})
        if path == "/health/readiness":
            ok = self.ready()
            return _json({"status": "ok" if ok else "not ready"}, 200 if ok else 503)
        if path == "/metrics":
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
        return _json({"error": f"no route GET {path}"}, 404)

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
            return _json({"status": "DROP"})
        if name == SWEEP_JOB and self.sweep_job is not None:
            answer = self._guarded(self.sweep_job)
        elif self.jobs is not None:
            jobs = self.jobs
            answer = self._guarded(lambda: jobs(name, data))
        else:
            answer = Answer.drop(f"{self.function.value} has no job {name}")
        HANDLE_SECONDS.labels(self.function.value, "job").observe(time.perf_counter() - start)
        EVENTS.labels(self.function.value, "job", answer.status.lower()).inc()
        if answer.status == "RETRY":
            # Anything but 2xx makes Dapr apply the job's failure policy (retry).
            return _json({"status": "RETRY", "reason": answer.reason}, 500)
        if answer.status == "DROP":
            log.warning("job %s dropped: %s", name, answer.reason, extra={"reason": answer.reason})
        return _json({"status": answer.status})

    # -- CloudEvents -------------------------------------------------------------------

    def _event(self, path: str, request: Request) -> Response:
        route = self.routes.get(path, self.root_route)
        raw = request.get_data()
        headers = {key.lower(): value for key, value in request.headers.items()}
        if route.gate and (entries := bulk_entries(raw)) is not None:
            return self._bulk(path, route, entries)
        start = time.perf_counter()
        try:
            if path == "/" and self.root is not None:
                return self._root(self.root, request, route, raw, headers)
            return dapr_answer(self._answer(path, route, raw, headers, wrapped=route.gate))
        finally:
            HANDLE_SECONDS.labels(self.function.value, path).observe(time.perf_counter() - start)

    def _bulk(self, path: str, route: Route, entries: list[BulkEntry]) -> Response:
        """Dapr's bulk delivery: each entry answered as if it came alone, in order.

        A batch holds the records of one partition, which Dapr would otherwise deliver one
        after another: once an entry must be retried, the ones after it are retried with
        it (unhandled), so nothing overtakes it. With ``handle_all`` they were handled
        (see ``_bulk_all``).
        """
        if self.handle_all is not None:
            return _bulk_answer(entries, self._bulk_all(self.handle_all, path, route, entries))
        statuses: list[Status] = []
        # One event alone needs no batch: its own transaction spares the savepoint.
        batch = self.batch() if self.batch is not None and len(entries) > 1 else nullcontext()
        try:
            with batch:
                for entry in entries:
                    start = time.perf_counter()
                    if statuses[-1:] == ["RETRY"]:
                        statuses.append("RETRY")
                        continue
                    answer = self._answer(path, route, entry.record, entry.headers, wrapped=False)
                    statuses.append(answer.status)
                    elapsed = time.perf_counter() - start
                    HANDLE_SECONDS.labels(self.function.value, path).observe(elapsed)
        except Exception:
            # The batch's transaction did not commit: no entry's effect happened.
            log.exception("bulk delivery not committed; asking Dapr to retry all of it")
            statuses = ["RETRY"] * len(entries)
        return _bulk_answer(entries, statuses)

    def _bulk_all(
        self, handle_all: BulkHandler, path: str, route: Route, entries: list[BulkEntry]
    ) -> list[Status]:
        """The events of a bulk delivery handled in one call, answered in order as
        ``_bulk`` answers them, but for one thing: the call took every event before any
        answer was known, so the events after one answered RETRY were handled too. They
        are retried with it (push-update: the gateway takes each publication once, by its
        idempotency key), and may have reached the screens before it."""
        if not entries:
            return []
        start = time.perf_counter()
        parsed = [self._parse(route, e.record, e.headers, wrapped=False) for e in entries]
        events = [p for p in parsed if isinstance(p, Read) and p.event_type in route.handles]
        handled = dict(zip(map(id, events), self._handle_all(handle_all, events), strict=True))
        statuses: list[Status] = []
        for item in parsed:
            if "RETRY" in statuses:  # nothing more leaves for it: no dead letter either
                answer = Answer.retry("an earlier event of the partition is retried")
            elif isinstance(item, Unreadable):
                answer = self._invalid(route.topic, item.headers, item.raw, item.reason)
            elif isinstance(item, Answer):
                answer = item
            else:
                answer = self._settle(path, route, item, handled.get(id(item)))
            statuses.append(answer.status)
        each = (time.perf_counter() - start) / len(entries)
        for _ in entries:
            HANDLE_SECONDS.labels(self.function.value, path).observe(each)
        return statuses

    def _handle_all(self, handle_all: BulkHandler, events: list[Read]) -> list[Answer]:
        if not events:
            return []
        answers = self._guarded(lambda: _one_each(handle_all([r.event for r in events]), events))
        return [answers] * len(events) if isinstance(answers, Answer) else answers

    def _root(
        self,
        root: RequestHandler,
        request: Request,
        route: Route,
        raw: bytes,
        headers: dict[str, str],
    ) -> Response:
        """A client, not Dapr, is waiting on ``POST /``: tell it what is wrong.

        ``root`` raises what breaks a rule (``InvalidEvent``, ``DomainError``): answered 400
        with the reason; anything else it raises is answered 503 (the client retries)."""
        from taskpulse.domain import DomainError

        try:
            event = parse_envelope(decode_request(headers, raw, self.max_event_bytes))
        except InvalidEvent as error:
            self._invalid(route.topic, headers, raw, error.reason)
            return _json({"error": error.reason}, 400)
        token = trace_id.set(trace_id_of(event.traceparent))
        try:
            return root(request, event)
        except (InvalidEvent, DomainError) as error:
            reason = str(error)
            # Every invalid command is kept in the dead-letter topic; the client is told
            # the reason whether or not that publish succeeds.
            self._dead_letter(route.topic, event.model_dump(mode="json"), Answer.drop(reason))
            return _json({"error": reason}, 400)
        except Exception as error:
            log.exception("%s failed; the client should retry", self.function.value)
            return _json({"error": f"temporarily unavailable, retry: {type(error).__name__}"}, 503)
        finally:
            trace_id.reset(token)

    def _answer(
        self, path: str, route: Route, raw: bytes, headers: dict[str, str], *, wrapped: bool
    ) -> Answer:
        """Read one event and handle it: Dapr's answer. ``wrapped``: the event is a raw
        record in daprd's rawPayload envelope (a gate's single delivery)."""
        read = self._read(route, raw, headers, wrapped=wrapped)
        if isinstance(read, Answer):
            return read
        handler = self.handlers.get(read.event_type)
        answer = None
        if handler is not None and read.event_type in route.handles:
            token = trace_id.set(trace_id_of(read.event.traceparent))
            try:
                answer = self._guarded(lambda: handler(read.event))
            finally:
                trace_id.reset(token)
        return self._settle(path, route, read, answer)

    def _read(
        self, route: Route, raw: bytes, headers: dict[str, str], *, wrapped: bool
    ) -> Read | Answer:
        """The event to handle, or the answer already given: an invalid event
        dead-lettered, another function's event let pass."""
        parsed = self._parse(route, raw, headers, wrapped=wrapped)
        if isinstance(parsed, Unreadable):
            return self._invalid(route.topic, parsed.headers, parsed.raw, parsed.reason)
        return parsed

    def _parse(
        self, route: Route, raw: bytes, headers: dict[str, str], *, wrapped: bool
    ) -> Read | Unreadable | Answer:
        """``_read`` without the dead letter: an unreadable record is returned as such."""
        try:
            if wrapped:
                raw, headers = unwrap_raw(raw, headers)
            # A gate reads a record of any size the topic holds, and lets pass what bears
            # the type of another function's event, which is all daprd's rule for that
            # function reads: that function judges it, size and envelope, and the event
            # gets one verdict, one dead letter at most.
            limit = TOPIC_MAX_MESSAGE_BYTES if route.passes else self.max_event_bytes
            payload = decode_request(headers, raw, limit)
            kind = payload.get("type")
            if isinstance(kind, str) and kind in route.passes:
                EVENTS.labels(self.function.value, kind, "passed").inc()
                return Answer.success()
            event = parse_envelope(payload)
            event_type = event.event_type
            check_size(raw, self.max_event_bytes)
        except InvalidEvent as error:
            return Unreadable(raw, headers, error.reason)
        return Read(event, event_type, payload)

    def _settle(self, path: str, route: Route, read: Read, answer: Answer | None) -> Answer:
        """Dead-letter a dropped event, count and log the outcome: Dapr's answer.
        ``answer`` is ``None`` when no handler of this path takes the event's type."""
        event = read.event
        if answer is None:
            answer = Answer.drop(f"{self.function.value} does not handle {event.type} on {path}")
        token = trace_id.set(trace_id_of(event.traceparent))
        try:
            if answer.status == "DROP":
                answer = self._dead_letter(route.topic, read.payload, answer)
            EVENTS.labels(self.function.value, event.type, answer.status.lower()).inc()
            if answer.reason:
                log.log(
                    logging.WARNING if answer.status != "SUCCESS" else logging.INFO,
                    "%s %s: %s",
                    event.type,
                    answer.status,
                    answer.reason,
                    extra={"event_id": event.id, "event_type": event.type, "reason": answer.reason},
                )
            return answer
        finally:
            trace_id.reset(token)

    def _invalid(self, topic: Topic, headers: dict[str, str], raw: bytes, reason: str) -> Answer:
        EVENTS.labels(self.function.value, "invalid", "drop").inc()
        log.warning("invalid event on %s: %s", topic.name, reason, extra={"reason": reason})
        letter = _salvage(headers, raw, self.max_event_bytes)
        return self._dead_letter(topic, letter, Answer.drop(reason))

    def _dead_letter(self, topic: Topic, event: dict[str, Any], answer: Answer) -> Answer:
        """Publish the dead letter ourselves so that it carries the reason."""
        reason = answer.reason or "dropped"
        try:
            self.dead_letters().send(topic, event, reason, self.function)
        except Exception as error:
            return Answer.retry(f"dead letter not published ({error}); original reason: {reason}")
        return Answer("SUCCESS", f"dead-lettered to {topic.dead_letter}: {reason}")

    def _guarded(self, call: Callable[[], T]) -> T | Answer:
        """Map exceptions to answers: rules broken -> DROP, everything else -> RETRY."""
        from taskpulse.domain import DomainError

        try:
            return call()
        except (DomainError, InvalidEvent) as error:
            return Answer.drop(str(error))
        except Exception as error:
            log.exception("handler failed; asking Dapr to retry")
            return Answer.retry(f"{type(error).__name__}: {error}")


def _one_each(answers: list[Answer], events: Sequence[object]) -> list[Answer]:
    if len(answers) != len(events):
        raise RuntimeError(f"{len(answers)} answers for {len(events)} events")
    return answers


def unwrap_raw(raw: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The Kafka record inside daprd's rawPayload envelope, with the headers that describe
    it; anything else is returned as it came. ``headers`` has lower-case names."""
    # Unbounded by the event limit on purpose: the envelope is bounded by the topic's
    # record limit, and the record's own size is what the dead letter should report.
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError):
        return raw, headers
    if not isinstance(envelope, dict) or envelope.get("type") != DAPR_RAW_TYPE:
        return raw, headers
    encoded = envelope.get("data_base64")
    if not isinstance(encoded, str):
        return raw, headers
    try:
        record = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEvent("data_base64 is not base64") from None
    # The record's own content type is unknown (Kafka has none); the contract says
    # structured CloudEvents, which decode_request reads from the bytes alone.
    kept = {k: v for k, v in headers.items() if k != "content-type" and not k.startswith("ce-")}
    return record, kept


@dataclass(frozen=True, slots=True)
class BulkEntry:
    entry_id: str
    record: bytes
    headers: dict[str, str]


def bulk_entries(raw: bytes) -> list[BulkEntry] | None:
    """The entries of Dapr's bulk delivery (``bulkSubscribe``), or ``None`` when ``raw`` is
    not one. A gate's entries are raw records, base64 in ``event``. daprd sends an entry as
    a CloudEvent object instead for a subscription without rawPayload (none of ours); such
    an entry is read as its JSON, so a subscription deployed without it still works."""
    if not raw.startswith(b"{") or BULK_TYPE.encode() not in raw:
        return None  # the common single event: not parsed twice
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(envelope, dict) or envelope.get("type") != BULK_TYPE:
        return None
    items = envelope.get("entries")
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and isinstance(item.get("entryId"), str) for item in items
    ):
        return None
    return [BulkEntry(item["entryId"], *_bulk_record(item)) for item in items]


def _bulk_record(item: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    event = item.get("event")
    if isinstance(event, str):
        try:
            return base64.b64decode(event, validate=True), {}
        except (binascii.Error, ValueError):
            return event.encode(), {}  # invalid: dead-lettered as it came
    content_type = str(item.get("contentType") or "application/cloudevents+json")
    return json.dumps(event).encode(), {"content-type": content_type}


def check_size(raw: bytes, limit: int) -> None:
    if len(raw) > limit:
        raise InvalidEvent(f"event is {len(raw)} bytes; the limit is {limit}")


def decode_request(headers: Mapping[str, str], raw: bytes, limit: int) -> dict[str, Any]:
    """The CloudEvent of a request as a dict: structured or binary.

    ``headers`` has lower-case names."""
    check_size(raw, limit)
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if "ce-specversion" in headers and content_type != ("application/cloudevents+json"):
        return _binary(headers, raw)
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidEvent(
            f"body is not JSON: {error.msg} at byte {error.pos}"
            " (and no ce-* headers for binary mode)"
        ) from None
    except ValueError:  # bytes that are not UTF-8
        raise InvalidEvent("body is not JSON: not UTF-8 text") from None
    except RecursionError:
        raise InvalidEvent("body is JSON nested too deeply") from None
    if not isinstance(payload, dict):
        raise InvalidEvent("a structured CloudEvent must be a JSON object")
    return payload


def _binary(headers: Mapping[str, str], raw: bytes) -> dict[str, Any]:
    from cloudevents.exceptions import GenericException
    from cloudevents.http import from_http

    try:
        event = from_http(dict(headers), raw)
    except GenericException as error:
        raise InvalidEvent(f"not a binary-mode CloudEvent: {error}") from None
    payload: dict[str, Any] = dict(event.get_attributes())
    data = event.data
    if isinstance(data, bytes):
        try:
            data = json.loads(data)
        except ValueError:
            raise InvalidEvent("binary-mode data is not JSON") from None
    payload["data"] = data
    return payload


def _salvage(headers: Mapping[str, str], raw: bytes, limit: int) -> dict[str, Any]:
    """As much of an invalid event as can travel to the dead-letter topic."""
    if len(raw) <= limit:
        try:
            payload = json.loads(raw)
            if isinstance(payload, dict):
                return payload
        except (ValueError, RecursionError):
            pass
    # daprd's __topic/__partition/__offset headers would say where the record is, but
    # gunicorn drops every header with an underscore in its name (header_map "drop").
    return {
        "deadletterbody": raw[:4096].decode("utf-8", errors="replace"),
        "deadletterbytes": len(raw),
        "contenttype": headers.get("content-type"),
    }
