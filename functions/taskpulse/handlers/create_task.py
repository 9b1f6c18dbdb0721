"""create-task: a create command over HTTP (answered with the created task) or from Kafka."""

from __future__ import annotations

import json

from flask import Request, Response

from taskpulse.contract import EventType, Function
from taskpulse.dapr_app import FunctionApp, Verdict
from taskpulse.events import CONTENT_TYPE, CloudEvent, InvalidEvent, TaskCreateData, parse_data
from taskpulse.runtime import Runtime


def build(runtime: Runtime) -> FunctionApp:
    from taskpulse.services.create import Created

    def create(event: CloudEvent) -> Created:
        from taskpulse.services.create import create_task

        return runtime.execute(create_task, parse_data(event, TaskCreateData), event)

    def from_topic(event: CloudEvent) -> Verdict:
        create(event)
        return Verdict.success()

    def over_http(request: Request, event: CloudEvent) -> Response:
        """Verdict 201 (new) or 200 (repeat) with ``task.created``. What breaks a rule
        raises: FunctionApp answers 400 naming the fault and dead-letters the command."""
        if event.type != EventType.TASK_CREATE:
            raise InvalidEvent(f"POST / takes {EventType.TASK_CREATE.value}, not {event.type}")
        created = create(event)
        return Response(
            json.dumps(created.event), status=201 if created.new else 200, mimetype=CONTENT_TYPE
        )

    return FunctionApp(
        Function.CREATE_TASK,
        handlers={EventType.TASK_CREATE: from_topic},
        dead_letters=runtime.dead_letters,
        app_api_token=runtime.app_api_token,
        sweep_job=runtime.publisher.sweep_job,
        max_event_bytes=runtime.settings.max_event_bytes,
        root=over_http,
    )
