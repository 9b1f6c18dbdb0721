"""create-task: the public face over HTTP (commands and reads), and create from Kafka."""

from __future__ import annotations

import json
import logging

from flask import Response

from taskpulse.contract import TASK_EVENTS, EventType, Function
from taskpulse.dapr_app import FunctionApp, Verdict
from taskpulse.dapr_app.wire import json_response
from taskpulse.events import (
    CONTENT_TYPE,
    CloudEvent,
    TaskCancelledData,
    TaskCompletedData,
    TaskCreateData,
    parse_data,
)
from taskpulse.identity import Caller
from taskpulse.public.face import Command, PublicFace, Reads, Unread
from taskpulse.runtime import Runtime

log = logging.getLogger("taskpulse.create_task")
KNOWN_MAX = 10_000
"""Users whose address this instance wrote; past that it starts over (writes again)."""


def build(runtime: Runtime) -> FunctionApp:
    from taskpulse.services.create import Created

    def create(event: CloudEvent) -> Created:
        from taskpulse.services.create import create_task

        return runtime.execute(create_task, parse_data(event, TaskCreateData), event)

    def from_topic(event: CloudEvent) -> Verdict:
        create(event)
        return Verdict.success()

    def create_over_http(event: CloudEvent) -> Response:
        """201 (new) or 200 (repeat) with ``task.created``."""
        created = create(event)
        return Response(
            json.dumps(created.event), status=201 if created.new else 200, mimetype=CONTENT_TYPE
        )

    def queue(model: type[TaskCompletedData] | type[TaskCancelledData]) -> Command:
        def accept(event: CloudEvent) -> Response:
            """202 once the command is queued for task-events (again for a repeat)."""
            from taskpulse.services.commands import queue_command
            from taskpulse.services.keys import Origin

            letter = event.model_dump(mode="json", exclude_none=True)
            queue_command(runtime.unit_of_work, parse_data(event, model), Origin.of(event), letter)
            return json_response({"id": event.id, "status": "accepted"}, 202)

        return accept

    def refused(event: CloudEvent | Unread, reason: str) -> None:
        letters, me = runtime.dead_letters(), Function.CREATE_TASK
        if isinstance(event, Unread):
            limit = runtime.settings.max_event_bytes
            verdict = letters.file_unreadable(
                TASK_EVENTS, event.headers, event.raw, reason, me, limit=limit
            )
        else:
            verdict = letters.file(
                TASK_EVENTS, event.model_dump(mode="json"), Verdict.drop(reason), me
            )
        if verdict.status != "SUCCESS":
            log.error("refused command not dead-lettered: %s", verdict.reason)

    known: dict[str, str] = {}

    def met(caller: Caller) -> None:
        """Keep the user's verified address, written once per address and instance (a
        service token's address is the backend's, not the user's)."""
        from taskpulse.services.users import remember_email

        if caller.email is None or caller.service or known.get(caller.user_id) == caller.email:
            return
        remember_email(runtime.unit_of_work, caller.user_id, caller.email)
        if len(known) >= KNOWN_MAX:
            known.clear()
        known[caller.user_id] = caller.email

    public = PublicFace(
        verifier=lambda: runtime.verifier,
        commands={
            EventType.TASK_CREATE: create_over_http,
            EventType.TASK_COMPLETED: queue(TaskCompletedData),
            EventType.TASK_CANCELLED: queue(TaskCancelledData),
        },
        reads=Reads(runtime.unit_of_work),
        refused=refused,
        max_event_bytes=runtime.settings.max_event_bytes,
        met=met,
    )
    return FunctionApp(
        Function.CREATE_TASK,
        handlers={EventType.TASK_CREATE: from_topic},
        dead_letters=runtime.dead_letters,
        app_api_token=runtime.app_api_token,
        sweep_job=runtime.publisher.sweep_job,
        max_event_bytes=runtime.settings.max_event_bytes,
        public=public,
    )
