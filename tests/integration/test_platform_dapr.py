"""daprd (the local build or the user's) with the scheduler, calling an app it does not host.

The echo app is reached through --app-channel-address/--app-port, the way Dapr Shared
reaches a Knative function in the cluster.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from platform_fixtures import ECHO_ROUTE, ECHO_TOPIC, EchoDaprd, wait_for
from taskpulse.contract import PUBSUB_NAME

pytestmark = pytest.mark.e2e


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
    assert response.status_code == 204, response.text

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
    assert response.status_code == 204, response.text

    (trigger,) = echo_daprd.app.wait_for_path(f"/job/{name}", timeout=60)
    assert json.loads(str(trigger["body"])) == {"n": 1}
    assert trigger["headers"]["dapr-api-token"] == echo_daprd.app_token


def test_a_call_without_the_api_token_is_refused(echo_daprd: EchoDaprd) -> None:
    response = _post(echo_daprd, f"/v1.0/publish/{PUBSUB_NAME}/{ECHO_TOPIC.name}", {}, token="")
    assert response.status_code == 401
