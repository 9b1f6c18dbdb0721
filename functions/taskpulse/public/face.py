"""The public face of create-task: what end users and their apps call over HTTP.

Every call is someone: the bearer token is checked before anything else, from the headers
alone, so an unauthenticated request is never read, never dead-lettered, and costs no
database work. Then the body is read within the size limit, ``data.user_id`` is filled
from the token (or checked against it), and the command goes to its use case. The routes
and answers are docs/contract.md#the-public-face-create-task-over-http.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Request, Response
from werkzeug.exceptions import RequestEntityTooLarge

from taskpulse.dapr_app.wire import decode_request, json_response
from taskpulse.domain import Task, TaskNotFound
from taskpulse.errors import Permanent
from taskpulse.events import CloudEvent, InvalidEvent, parse_envelope
from taskpulse.identity import Caller, Forbidden, Unauthenticated
from taskpulse.identity.tokens import IssuerUnavailable, TokenVerifier
from taskpulse.observability import trace_id, trace_id_of

log = logging.getLogger("taskpulse.public")

Command = Callable[[CloudEvent], Response]
"""A client command's use case behind HTTP: its event, ``data.user_id`` already the
caller's (or the one a trusted backend acts for)."""


@dataclass(frozen=True, slots=True)
class Unread:
    """A body that is no CloudEvent, and its headers (lower-case names)."""

    raw: bytes
    headers: dict[str, str]


Refused = Callable[[CloudEvent | Unread, str], None]
"""Files an authenticated caller's refused command in the dead-letter topic."""


_TASK_PATH = re.compile(r"^/tasks/([^/]+)$")


@dataclass
class PublicFace:
    verifier: Callable[[], TokenVerifier]
    commands: Mapping[str, Command]
    """By CloudEvent type."""
    reads: Reads
    refused: Refused
    max_event_bytes: int
    met: Callable[[Caller], None] = lambda _caller: None
    """Sees every caller whose command is read: keeps what their token vouches for."""

    @staticmethod
    def serves(method: str, path: str) -> bool:
        if method == "POST":
            return path == "/"
        return method == "GET" and (path == "/tasks" or _TASK_PATH.match(path) is not None)

    def __call__(self, request: Request) -> Response:
        authorization = request.headers.get("Authorization")
        try:
            caller = self.verifier().caller(authorization)
        except Unauthenticated as error:
            return _unauthenticated(str(error), challenge_only=not authorization)
        except IssuerUnavailable as error:
            log.error("%s", error)
            return json_response({"error": "cannot check tokens now, retry"}, 503)
        path = request.path.rstrip("/") or "/"
        try:
            if request.method == "GET":
                return self._read(caller, path, request)
            return self._command(caller, request)
        except Forbidden as error:
            return json_response({"error": str(error)}, 403)
        except TaskNotFound as error:
            return json_response({"error": str(error)}, 404)
        except Permanent as error:
            return json_response({"error": str(error)}, 400)
        except Exception as error:
            log.exception("public %s %s failed; the client should retry", request.method, path)
            body = {"error": f"temporarily unavailable, retry: {type(error).__name__}"}
            return json_response(body, 503)

    def _read(self, caller: Caller, path: str, request: Request) -> Response:
        if (match := _TASK_PATH.match(path)) is not None:
            return self.reads.one(caller.user_id, match.group(1))
        return self.reads.page(caller.user_id, request.args)

    def _command(self, caller: Caller, request: Request) -> Response:
        self.met(caller)
        length = request.content_length
        if length is not None and length > self.max_event_bytes:
            return _too_large(self.max_event_bytes)
        # A body without a length (chunked) is read only up to one byte past the limit.
        request.max_content_length = self.max_event_bytes + 1
        try:
            raw = request.get_data()
        except RequestEntityTooLarge:
            return _too_large(self.max_event_bytes)
        if len(raw) > self.max_event_bytes:
            return _too_large(self.max_event_bytes)
        headers = {key.lower(): value for key, value in request.headers.items()}
        try:
            event = parse_envelope(decode_request(headers, raw, self.max_event_bytes))
        except InvalidEvent as error:
            self.refused(Unread(raw, headers), error.reason)
            raise
        token = trace_id.set(trace_id_of(event.traceparent))
        try:
            command = self.commands.get(event.type)
            if command is None:
                kinds = ", ".join(sorted(self.commands))
                raise InvalidEvent(f"POST / takes {kinds}, not {event.type}")
            event = _for_user(event, caller)
            return command(event)
        except Permanent as error:
            if not isinstance(error, Forbidden | TaskNotFound):
                # Nothing an authenticated caller sends is lost: the refused command is
                # kept with its reason; the caller is told whether or not that succeeds.
                self.refused(event, str(error))
            raise
        finally:
            trace_id.reset(token)


@dataclass
class Reads:
    """``GET /tasks`` and ``GET /tasks/<id>``, over the read use cases."""

    units: Callable[[], Any]

    def one(self, user_id: str, task_id: str) -> Response:
        from taskpulse.services.reads import get_task

        try:
            task_id = str(uuid.UUID(task_id))
        except ValueError:
            raise TaskNotFound(f"task {task_id[:64]!r} not found: task ids are UUIDs") from None
        task = get_task(self.units, user_id, task_id)
        if task is None:
            raise TaskNotFound(f"task {task_id} not found")
        return json_response(task_view(task))

    def page(self, user_id: str, args: Mapping[str, str]) -> Response:
        from taskpulse.services.reads import STATUSES, list_tasks

        status = args.get("status", "open")
        if status not in STATUSES:
            raise InvalidEvent(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        raw_limit = args.get("limit", "50")
        if not raw_limit.isdigit():
            raise InvalidEvent(f"limit must be a whole number, not {raw_limit[:32]!r}")
        page = list_tasks(
            self.units, user_id, status=status, limit=int(raw_limit), cursor=args.get("cursor")
        )
        return json_response({"tasks": [task_view(t) for t in page.tasks], "next": page.next})


def _for_user(event: CloudEvent, caller: Caller) -> CloudEvent:
    """The event with ``data.user_id`` the caller's (filled in when absent), its partition
    key the same user; a token acting for someone else is refused unless it is a trusted
    backend's."""
    data = event.data if isinstance(event.data, dict) else None
    if data is None:
        raise InvalidEvent("data must be a JSON object")
    named = data.get("user_id")
    if named is not None and not isinstance(named, str):
        raise InvalidEvent("data.user_id must be a string")
    user = caller.acting_for(named)
    return event.model_copy(update={"data": {**data, "user_id": user}, "partitionkey": user})


def _unauthenticated(reason: str, *, challenge_only: bool) -> Response:
    """401 with the challenge of RFC 6750: no error code when no token came at all."""
    response = json_response({"error": reason}, 401)
    challenge = 'Bearer realm="taskpulse"'
    if not challenge_only:
        quoted = reason.replace("\\", "'").replace('"', "'")
        challenge += f', error="invalid_token", error_description="{quoted}"'
    response.headers["WWW-Authenticate"] = challenge
    return response


def task_view(task: Task) -> dict[str, Any]:
    """A ``<task>`` of the contract: ``task.created``'s data, with its status."""
    from taskpulse.services.emit import task_data

    return task_data(task).model_dump(mode="json")


def _too_large(limit: int) -> Response:
    return json_response({"error": f"body larger than {limit} bytes"}, 413)
