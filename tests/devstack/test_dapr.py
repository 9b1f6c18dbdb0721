"""daprd (the local build or the user's) with the scheduler, calling an app it does not host.

The echo app is reached through --app-channel-address/--app-port, the way Dapr Shared
reaches a Knative function in the cluster.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from platform_fixtures import ECHO_ROUTE, ECHO_TOPIC, EchoDaprd, wait_for
from taskpulse.contract import PUBSUB_NAME


def _post(daprd: EchoDaprd, path: str, body: object, token: str | None = None) -> httpx.Response:
    headers = {"dapr-api-token": token if token is not None else daprd.api_token}
    return httpx.post(f"{daprd.http_endpoint}{path}", json=body, headers=headers, timeout=30)


def test_a_publish_reaches_the_app_through_a_declarative_subscription(
    echo_daprd: EchoDaprd,
) -> None:
    marker = str(uuid.uuid4())
    response = _post(
        echo_daprd,
        f"/v1.0/publish/{PUBSUB_NAME}/{ECHO_TOPIC.name}?metadata.partitionKey=alice",
        {"marker": marker},
    )
    assert (response.status_code, response.content) == (204, b"")

    def delivered() -> list[dict[str, object]]:
        return [
            r for r in echo_daprd.app.requests() if r["path"] == ECHO_ROUTE and marker in r["body"]
        ]

    (request,) = wait_for(delivered, timeout=60)
    headers = request["headers"]
    assert isinstance(headers, dict)
    assert headers["content-type"] == "application/cloudevents+json"
    assert headers["dapr-api-token"] == echo_daprd.app_token
    assert headers["__key"] == "alice"
    event = json.loads(str(request["body"]))
    assert event["specversion"] == "1.0"
    assert event["data"] == {"marker": marker}


def test_a_one_shot_job_fires_at_the_app(echo_daprd: EchoDaprd) -> None:
    name = f"platform-test-{uuid.uuid4().hex[:12]}"
    # daprd 1.14 (the local build) has only the alpha1 Jobs API; 1.18 serves both.
    response = _post(echo_daprd, f"/v1.0-alpha1/jobs/{name}", {"dueTime": "1s", "data": {"n": 1}})
    assert (response.status_code, response.content) == (204, b"")

    (trigger,) = echo_daprd.app.wait_for_path(f"/job/{name}", timeout=60)
    assert json.loads(str(trigger["body"])) == {"n": 1}
    assert trigger["headers"]["dapr-api-token"] == echo_daprd.app_token


def test_a_call_without_the_api_token_is_refused(echo_daprd: EchoDaprd) -> None:
    response = _post(echo_daprd, f"/v1.0/publish/{PUBSUB_NAME}/{ECHO_TOPIC.name}", {}, token="")
    assert (response.status_code, response.text) == (401, "invalid api token\n")


def test_a_bulk_publish_delivers_each_entry_with_its_key_and_names_the_refused_one(
    echo_daprd: EchoDaprd,
) -> None:
    """What the outbox relay relies on, from the real daprd and Kafka: every entry keeps
    its own partition key, and an entry Kafka's producer refuses (here: over its 1 MB
    message limit) is named by index while the others are published."""
    from taskpulse.dapr import DaprClient, DaprUnavailable

    marker = str(uuid.uuid4())

    def entry(key: str, padding: int = 0) -> tuple[str, dict[str, object]]:
        data = {"marker": marker, "key": key, "padding": "x" * padding}
        event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/t", "type": "t"}
        return key, {**event, "data": data}

    client = DaprClient(echo_daprd.http_endpoint, api_token=echo_daprd.api_token, timeout=30)
    try:
        failed = client.publish_many(
            ECHO_TOPIC.name, [entry("alice"), entry("bob", padding=1_500_000), entry("carol")]
        )
        assert list(failed) == [1], failed
        assert client.publish_many(ECHO_TOPIC.name, [entry("dave")]) == {}
    finally:
        client.close()
    # An answer that names no entry (here 401) says nothing of any entry: it raises.
    stranger = DaprClient(echo_daprd.http_endpoint, timeout=30)
    with pytest.raises(DaprUnavailable, match="401"):
        stranger.publish_many(ECHO_TOPIC.name, [entry("eve")])
    stranger.close()

    def delivered() -> list[dict[str, object]]:
        return [
            r for r in echo_daprd.app.requests() if r["path"] == ECHO_ROUTE and marker in r["body"]
        ]

    def all_three() -> list[dict[str, object]] | None:
        found = delivered()
        return found if len(found) >= 3 else None

    wait_for(all_three, timeout=60)
    time.sleep(1)  # the refused entry would have come with the others
    requests = delivered()
    keys = sorted(str(r["headers"]["__key"]) for r in requests)  # type: ignore[index]
    assert keys == ["alice", "carol", "dave"]
    for request in requests:
        event = json.loads(str(request["body"]))
        assert event["source"] == "/t"
        assert event["data"]["key"] == request["headers"]["__key"]  # type: ignore[index]
