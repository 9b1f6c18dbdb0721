"""create-task: a create command over HTTP (answered with the created task) or from Kafka."""

from __future__ import annotations

import contextlib
import json
import logging

from flask import Request, Response

from taskpulse.contract import TASK_EVENTS, EventType, Function
from taskpulse.events import CONTENT_TYPE, CloudEvent, InvalidEvent, TaskCreateData, parse_data
from taskpulse.http import Answer, FunctionApp
from taskpulse.runtime import Runtime

log = logging.getLogger("taskpulse.create_task")


def _json(body: object, status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def build(runtime: Runtime) -> FunctionApp:
    from taskpulse.domain import DomainError
    from taskpulse.services.create import Created

    def create(event: CloudEvent) -> Created:
        from taskpulse.services.create import create_task

        return runtime.execute(create_task, parse_data(event, TaskCreateData), event)

    def from_topic(event: CloudEvent) -> Answer:
        create(event)
        return Answer.success()

    def over_http(request: Request, event: CloudEvent) -> Response:
        """Answer 201 (new) or 200 (repeat) with ``task.created``; 400 names the fault."""
        try:
            if event.type != EventType.TASK_CREATE:
                raise InvalidEvent(f"POST / takes {EventType.TASK_CREATE.value}, not {event.type}")
            created = create(event)
        except (InvalidEvent, DomainError) as error:
            reason = str(error)
            # Every invalid command is kept in the dead-letter topic; the client is told
            # the reason whether or not that publish succeeds.
            with contextlib.suppress(Exception):
                runtime.dead_letters().send(
                    TASK_EVENTS, event.model_dump(mode="json"), reason, Function.CREATE_TASK
                )
            return _json({"error": reason}, 400)
        except Exception as error:
            log.exception("create failed; the client should retry")
            return _json({"error": f"temporarily unavailable, retry: {type(error).__name__}"}, 503)
        return Response(
            json.dumps(created.event), status=201 if created.new else 200, mimetype=CONTENT_TYPE
        )

    return FunctionApp(
        Function.CREATE_TASK,
        handlers={EventType.TASK_CREATE: from_topic},
        dead_letters=runtime.dead_letters,
        app_api_token=runtime.app_api_token,
        sweep_job=runtime.sweep_job,
        max_event_bytes=runtime.settings.max_event_bytes,
        root=over_http,
    )
