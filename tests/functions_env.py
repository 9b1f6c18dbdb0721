"""The four functions wired to real PostgreSQL and SMTP, and to a recording HTTP server
in the place of Dapr and Centrifugo."""

from __future__ import annotations

import base64
import importlib
import json
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, request
from flask.testing import FlaskClient

from devstack.ports import free_port
from devstack.smtp import MaildirHandler, serve
from recording import RecordingServer, recording_server
from taskpulse.contract import Function
from taskpulse.runtime import Runtime
from taskpulse.settings import Settings

HANDLERS = {
    Function.CREATE_TASK: "taskpulse.handlers.create_task",
    Function.COMPUTE_NEXT_OCCURRENCE: "taskpulse.handlers.next_occurrence",
    Function.SEND_REMINDER: "taskpulse.handlers.send_reminder",
    Function.PUSH_UPDATE: "taskpulse.handlers.push_update",
}
STRUCTURED = "application/cloudevents+json"


@dataclass
class Env:
    database_url: str
    dapr: RecordingServer
    centrifugo: RecordingServer
    inbox: MaildirHandler
    smtp_port: int
    oidc_issuer: str = "https://issuer.invalid/"
    token_for: Callable[[str], str] | None = None
    """An access token of the issuer for a user: sent on create-task's public face."""
    runtimes: list[Runtime] = field(default_factory=list)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "dapr_http_endpoint": self.dapr.url,
            "centrifugo_api_url": f"{self.centrifugo.url}/api",
            "centrifugo_api_key": "test-key",
            "smtp_host": "127.0.0.1",
            "smtp_port": self.smtp_port,
            "oidc_issuer": self.oidc_issuer,
            **overrides,
        }
        return Settings(**values)

    def client(self, function: Function, **overrides: Any) -> FlaskClient:
        runtime = Runtime(function, self.settings(**overrides))
        self.runtimes.append(runtime)
        app = importlib.import_module(HANDLERS[function]).build(runtime)
        flask_app = Flask(function.value)

        def view(path: str = "") -> Any:
            response = app(request)
            # Events are published beside the request; the tests look right after it.
            runtime.drain()
            return response

        methods = ["GET", "POST", "PUT", "DELETE"]
        flask_app.add_url_rule("/", "root", view, methods=methods)
        flask_app.add_url_rule("/<path:path>", "any", view, methods=methods)
        client = flask_app.test_client()
        client.token_for = self.token_for  # type: ignore[attr-defined]
        return client


@contextmanager
def functions_env(database_url: str) -> Iterator[Env]:
    with ExitStack() as stack:
        dapr = stack.enter_context(recording_server())
        centrifugo = stack.enter_context(recording_server())
        mail = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="taskpulse-mail-")))
        port = free_port()
        smtp = serve("127.0.0.1", port, mail / "mailbox")
        stack.callback(smtp.stop)
        env = Env(database_url, dapr, centrifugo, smtp.handler, port)
        try:
            yield env
        finally:
            for runtime in env.runtimes:
                runtime.close()


def cloud_event(
    event_type: str,
    data: dict[str, Any],
    *,
    user: str | None = None,
    event_id: str | None = None,
    source: str = "/clients/test",
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "datacontenttype": "application/json",
        "data": data,
    }
    if user is not None:
        event["partitionkey"] = user
    return event


def post(client: FlaskClient, path: str, event: dict[str, Any], **headers: str) -> Any:
    """POST ``event``; on create-task's public ``POST /``, as the user its data names (a
    token of theirs) unless the test sends its own ``Authorization`` (``""``: none)."""
    headers = _as_its_user(client, path, event, headers)
    return client.post(
        path, data=json.dumps(event), headers={"content-type": STRUCTURED, **headers}
    )


def _as_its_user(
    client: FlaskClient, path: str, event: dict[str, Any], headers: dict[str, str]
) -> dict[str, str]:
    token_for = getattr(client, "token_for", None)
    if path != "/" or token_for is None or "Authorization" in headers:
        return headers
    data = event.get("data")
    user = data.get("user_id") if isinstance(data, dict) else None
    return {**headers, "Authorization": f"Bearer {token_for(user or 'alice')}"}


def post_binary(client: FlaskClient, path: str, event: dict[str, Any]) -> Any:
    headers = {f"ce-{k}": str(v) for k, v in event.items() if k not in ("data", "datacontenttype")}
    headers["content-type"] = "application/json"
    headers = _as_its_user(client, path, event, headers)
    return client.post(path, data=json.dumps(event["data"]), headers=headers)


def post_record(client: FlaskClient, path: str, record: bytes) -> Any:
    """A Kafka record as daprd delivers it to a gate: in its rawPayload envelope
    (components-contrib pubsub.FromRawPayload), whatever the bytes are."""
    envelope = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "Dapr",
        "type": "com.dapr.event.sent",
        "topic": "from-the-test",
        "pubsubname": "pubsub-kafka",
        "datacontenttype": "application/octet-stream",
        "data_base64": base64.b64encode(record).decode(),
    }
    return post(client, path, envelope)


def post_records(
    client: FlaskClient, path: str, records: Sequence[bytes | dict[str, Any]]
) -> list[str]:
    """Kafka records as daprd delivers them to a gate in bulk (bulkSubscribe with
    rawPayload, dapr 1.14.4 pkg/runtime/subscription/bulksubscription.go): each record
    base64 in ``event``, an event (dict) as the record of its JSON. The status of each
    entry, in order."""

    def entry(n: int, record: bytes | dict[str, Any]) -> dict[str, Any]:
        raw = record if isinstance(record, bytes) else json.dumps(record).encode()
        return {
            "entryId": str(n),
            "event": base64.b64encode(raw).decode(),
            "contentType": "application/octet-stream",
            "metadata": {},
        }

    envelope = {
        "id": str(uuid.uuid4()),
        "type": "com.dapr.event.sent.bulk",
        "pubsubname": "pubsub-kafka",
        "topic": "from-the-test",
        "metadata": {"pubsubName": "pubsub-kafka"},
        "entries": [entry(n, record) for n, record in enumerate(records)],
    }
    response = client.post(
        path, data=json.dumps(envelope), headers={"content-type": "application/json"}
    )
    statuses = response.get_json()["statuses"]
    assert [s["entryId"] for s in statuses] == [str(n) for n in range(len(records))]
    return [s["status"] for s in statuses]
