"""push-update: each task-updates event to its user's channel on the push gateway.

Stateless on purpose: every replica can serve any user, because the gateway, not this
process, holds the connections. The event id is the gateway's idempotency key. An update
the gateway refuses for good (not an outage: the publication itself) is dead-lettered with
the gateway's reason instead of holding the partition through every retry.

A bulk delivery goes to the gateway in one request: a completion puts two updates on one
partition together (the task completed, the next one created), and each request costs
this function more CPU than the publications in it.
"""

from __future__ import annotations

from collections.abc import Sequence

from taskpulse.contract import EventType, Function, user_id_fault
from taskpulse.dapr_app import FunctionApp, Verdict
from taskpulse.events import CloudEvent
from taskpulse.push import Publication, PushError
from taskpulse.runtime import Runtime


def _publication(event: CloudEvent) -> Publication | Verdict:
    # The channel comes from data.user_id, checked: partitionkey only routes the record
    # and is never checked, so a channel built from it could name anyone's.
    user_id = event.data.get("user_id") if isinstance(event.data, dict) else None
    if not isinstance(user_id, str):
        return Verdict.drop("event names no user (data.user_id)")
    if (fault := user_id_fault(user_id)) is not None:
        return Verdict.drop(f"data.user_id {fault}")
    return Publication(
        user_id, event.model_dump(mode="json", exclude_none=True), idempotency_key=event.id
    )


def _answer(refused: PushError | None) -> Verdict:
    if refused is None:
        return Verdict.success()
    return Verdict.drop(str(refused)) if refused.permanent else Verdict.retry(str(refused))


def build(runtime: Runtime) -> FunctionApp:
    def forward_all(events: Sequence[CloudEvent]) -> list[Verdict]:
        """A PushError raised here (the gateway unreachable) retries every event."""
        prepared = [_publication(event) for event in events]
        publications = [p for p in prepared if isinstance(p, Publication)]
        verdicts = iter(runtime.push.publish_many(publications) if publications else ())
        return [p if isinstance(p, Verdict) else _answer(next(verdicts)) for p in prepared]

    def forward(event: CloudEvent) -> Verdict:
        (answer,) = forward_all([event])
        return answer

    return FunctionApp(
        Function.PUSH_UPDATE,
        handlers=dict.fromkeys(EventType, forward),
        handle_all=forward_all,
        dead_letters=runtime.dead_letters,
        app_api_token=runtime.app_api_token,
        max_event_bytes=runtime.settings.max_event_bytes,
    )
