"""Dapr job triggers: ``POST /job/<name>`` answered so that Dapr retries what failed."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Request, Response

from taskpulse.contract import SWEEP_JOB, Function
from taskpulse.dapr_app.verdict import Verdict, guarded
from taskpulse.dapr_app.wire import json_response
from taskpulse.observability import EVENTS, HANDLE_SECONDS

log = logging.getLogger("taskpulse.dapr_app")

JobHandler = Callable[[str, Any], Verdict]


def answer_job(
    function: Function,
    name: str,
    request: Request,
    *,
    jobs: JobHandler | None,
    sweep_job: Callable[[], Verdict] | None,
) -> Response:
    """Run the job ``name`` (the outbox sweep, or one of ``jobs``): Dapr's answer."""
    start = time.perf_counter()
    try:
        data = json.loads(request.get_data() or b"null")
    except ValueError:
        log.error("job %s: body is not JSON; dropped", name)
        return json_response({"status": "DROP"})
    if name == SWEEP_JOB and sweep_job is not None:
        verdict = guarded(sweep_job)
    elif jobs is not None:
        handler = jobs
        verdict = guarded(lambda: handler(name, data))
    else:
        verdict = Verdict.drop(f"{function.value} has no job {name}")
    HANDLE_SECONDS.labels(function.value, "job").observe(time.perf_counter() - start)
    EVENTS.labels(function.value, "job", verdict.status.lower()).inc()
    if verdict.status == "RETRY":
        # Anything but 2xx makes Dapr apply the job's failure policy (retry).
        return json_response({"status": "RETRY", "reason": verdict.reason}, 500)
    if verdict.status == "DROP":
        reason = verdict.reason
        log.warning("job %s dropped: %s", name, reason, extra={"reason": reason})
    return json_response({"status": verdict.status})
