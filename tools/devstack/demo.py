"""``task demo``: against a running ``task up``, watch one recurring task live.

It signs in a fresh local user at the OpenID Connect provider (the flow ``task token``
drives), subscribes to the user's channel on Centrifugo with that access token (as every
open screen of that user would), sends a daily task with a reminder due in a few seconds
with the same token, waits for the reminder, completes the task through Kafka, and shows
the next occurrence arriving, in the user's time zone. Everything it prints came back
through the push gateway.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from centrifuge import Client, PublicationContext, SubscriptionEventHandler

from devstack.oidc import OidcProvider
from taskpulse.contract import PUBSUB_NAME, TASK_EVENTS, EventType, Function, push_channel
from taskpulse.events import CONTENT_TYPE

ENDPOINTS = Path(".local/endpoints.json")
ZONE = "America/New_York"
WAIT_SECONDS = 90.0


class _Inbox(SubscriptionEventHandler):  # type: ignore[misc]
    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_publication(self, ctx: PublicationContext) -> None:
        await self.queue.put(ctx.pub.data)


def _event(event_type: EventType, data: dict[str, Any], user: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/taskpulse/demo",
        "type": event_type.value,
        "partitionkey": user,
        "data": data,
    }


async def _until(inbox: _Inbox, start: float, *wanted: EventType) -> dict[str, dict[str, Any]]:
    """Print what arrives on the channel until an update of each ``wanted`` type did."""
    seen: dict[str, dict[str, Any]] = {}
    while not all(kind.value in seen for kind in wanted):
        left = WAIT_SECONDS - (time.monotonic() - start)
        if left <= 0:
            missing = [kind.value for kind in wanted if kind.value not in seen]
            raise SystemExit(
                f"nothing of type {', '.join(missing)} within {WAIT_SECONDS:.0f} s:"
                " read the logs under .local/logs/"
            )
        update = await asyncio.wait_for(inbox.queue.get(), left)
        kind = str(update.get("type", "?"))
        print(f"  +{time.monotonic() - start:5.1f}s  on the channel: {kind}")
        seen[kind] = update
    return seen


async def demo(endpoints: dict[str, Any]) -> None:
    user = f"demo-{uuid.uuid4().hex[:6]}"
    inbox = _Inbox()
    token = OidcProvider.from_endpoints(endpoints).token(user)
    print(f"signed in as {user} at {endpoints['oidc_issuer']}")
    client = Client(endpoints["centrifugo_ws"], token=token)
    subscription = client.new_subscription(push_channel(user), inbox)
    await client.connect()
    await subscription.subscribe()
    print(f"subscribed to {push_channel(user)} as {user}")

    start = time.monotonic()
    due = (datetime.now(UTC) + timedelta(seconds=75)).replace(microsecond=0)
    create = _event(
        EventType.TASK_CREATE,
        {
            "user_id": user,
            "title": "Water the plants",
            "due_at": due.isoformat(),
            "timezone": ZONE,
            "rrule": "FREQ=DAILY",
            "remind_before": "PT65S",
        },
        user,
    )
    headers = {"content-type": CONTENT_TYPE}
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            endpoints["create_task"],
            json=create,
            headers={**headers, "authorization": f"Bearer {token}"},
        )
        print(f"create-task answered {answer.status_code}")
        answer.raise_for_status()
        task = answer.json()["data"]
        print(f"  task {task['id']}, due {task['due_at']}, reminder in about 10 s")
        await _until(inbox, start, EventType.TASK_CREATED)
        await _until(inbox, start, EventType.REMINDER_SENT)

        complete = _event(EventType.TASK_COMPLETED, {"task_id": task["id"], "user_id": user}, user)
        # A daprd whose publishing scope holds task-events (decision 0029): create-task's.
        dapr = endpoints["dapr_http"][Function.CREATE_TASK.value]
        if token_to_dapr := endpoints.get("dapr_api_token"):
            headers = {**headers, "dapr-api-token": token_to_dapr}
        url = f"{dapr}/v1.0/publish/{PUBSUB_NAME}/{TASK_EVENTS.name}"
        published = await http.post(
            url, json=complete, headers=headers, params={"metadata.partitionKey": user}
        )
        print(f"completion published to {TASK_EVENTS.name} ({published.status_code})")
        published.raise_for_status()
        seen = await _until(inbox, start, EventType.TASK_COMPLETED, EventType.TASK_CREATED)
    created = seen[EventType.TASK_CREATED.value]
    nxt = datetime.fromisoformat(created["data"]["due_at"]).astimezone(ZoneInfo(ZONE))
    print(f"next occurrence: {created['data']['id']} due {nxt:%Y-%m-%d %H:%M %Z} ({ZONE})")
    await client.disconnect()


def main() -> int:
    if not ENDPOINTS.exists():
        print(
            "no .local/endpoints.json: start the system first with `task up` "
            "(in another terminal), then run `task demo`",
            file=sys.stderr,
        )
        return 2
    asyncio.run(demo(json.loads(ENDPOINTS.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
