"""The router: one ``FunctionApp`` per function, the callable functions-framework serves.

It routes a request: health and metrics; the public face (create-task's end users,
:mod:`taskpulse.public`); and, for Dapr alone (``APP_API_TOKEN``), job triggers
(:mod:`.jobs`) and CloudEvents on ``POST /`` and the subscription paths
(:mod:`.deliveries`).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Request, Response

from taskpulse.contract import EVENT_ROUTE_PREFIX, JOB_ROUTE_PREFIX, Function
from taskpulse.dapr_app import bulk
from taskpulse.dapr_app.dead_letters import DeadLetters
from taskpulse.dapr_app.deliveries import Deliveries, EventHandler, Handlers
from taskpulse.dapr_app.jobs import JobHandler, answer_job
from taskpulse.dapr_app.verdict import Verdict
from taskpulse.dapr_app.wire import json_response

if TYPE_CHECKING:
    from taskpulse.public.face import PublicFace

log = logging.getLogger("taskpulse.dapr_app")

__all__ = ["EventHandler", "FunctionApp", "Handlers", "JobHandler"]


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
    deliveries: Deliveries = field(init=False)

    def __post_init__(self) -> None:
        self.deliveries = Deliveries(
            self.function,
            self.handlers,
            self.dead_letters,
            self.max_event_bytes,
            handle_all=self.handle_all,
            batch=self.batch,
        )

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
            name = path.removeprefix(JOB_ROUTE_PREFIX)
            return answer_job(
                self.function, name, request, jobs=self.jobs, sweep_job=self.sweep_job
            )
        if path == "/" or path in self.deliveries.routes:
            return self.deliveries.answer(path, request)
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
