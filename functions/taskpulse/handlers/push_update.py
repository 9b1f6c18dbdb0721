"""push-update: each task-updates event to its user's channel on the push gateway.

Stateless on purpose: every replica can serve any user, because the gateway, not this
process, holds the connections. The event id is the gateway's idempotency key. An update
the gateway refuses for good (not an outage: the publication itself) is dead-lettered with
the gateway's reason instead of holding the partition through every retry.
"""

from __future__ import annotations

from taskpulse.contract import EventType, Function
from taskpulse.events import CloudEvent
from taskpulse.http import Answer, FunctionApp
from taskpulse.push import PushError
from taskpulse.runtime import Runtime


def build(runtime: Runtime) -> FunctionApp:
    def forward(event: CloudEvent) -> Answer:
        user_id = event.partitionkey or (
            event.data.get("user_id") if isinstance(event.data, dict) else None
        )
        if not user_id:
            return Answer.drop("event names no user (partitionkey or data.user_id)")
        try:
            runtime.push.publish(
                str(user_id),
                event.model_dump(mode="json", exclude_none=True),
                idempotency_key=event.id,
            )
        except PushError as error:
            if error.permanent:
                return Answer.drop(str(error))
            raise
        return Answer.success()

    return FunctionApp(
        Function.PUSH_UPDATE,
        handlers=dict.fromkeys(EventType, forward),
        dead_letters=runtime.dead_letters,
        app_api_token=runtime.app_api_token,
        max_event_bytes=runtime.settings.max_event_bytes,
    )
