"""A real HTTP server that records what it is sent: it stands in for Dapr and Centrifugo
in the function tests (the end-to-end tests run the real ones)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[Recorded], tuple[int, bytes]]


def default_responder(request: Recorded) -> tuple[int, bytes]:
    if request.path.startswith("/api/publish"):
        return 200, b'{"result": {}}'
    if request.path.startswith("/api/batch"):  # Centrifugo's: one reply per command
        return 200, batch_replies([{"publish": {}}] * len(request.json()["commands"]))
    return 204, b""


class BrokerSwitch:
    """A Dapr whose publishing fails (500, the broker down) until ``ok`` is set."""

    def __init__(self) -> None:
        self.ok = False

    def __call__(self, request: Recorded) -> tuple[int, bytes]:
        if "/publish/" in request.path and not self.ok:
            return 500, b"broker down"
        return 204, b""


def batch_replies(replies: list[dict[str, Any]]) -> bytes:
    return json.dumps({"replies": replies}).encode()


@dataclass
class RecordingServer:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    responder: Responder = default_responder

    def matching(self, method: str, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def published(self, topic: str) -> list[dict[str, Any]]:
        """Events published to ``topic``, one at a time or in bulk, in order."""
        return [entry.event for entry in self.publish_entries(topic)]

    def pushed(self) -> list[dict[str, Any]]:
        """Publications sent to Centrifugo's server API, one at a time or in a batch, in
        order."""
        found: list[dict[str, Any]] = []
        for r in self.requests:
            if r.method == "POST" and r.path == "/api/publish":
                found.append(r.json())
            elif r.method == "POST" and r.path == "/api/batch":
                found += [command["publish"] for command in r.json()["commands"]]
        return found

    def publish_entries(self, topic: str) -> list[PublishEntry]:
        from urllib.parse import parse_qs, urlsplit

        entries: list[PublishEntry] = []
        for r in self.requests:
            url = urlsplit(r.path)
            if r.method != "POST":
                continue
            if url.path == f"/v1.0/publish/pubsub-kafka/{topic}":
                key = parse_qs(url.query).get("metadata.partitionKey", [""])[0]
                entries.append(PublishEntry(key, r.headers.get("content-type", ""), r.json()))
            elif url.path == f"/v1.0-alpha1/publish/bulk/pubsub-kafka/{topic}":
                entries += [
                    PublishEntry(e["metadata"]["partitionKey"], e["contentType"], e["event"])
                    for e in r.json()
                ]
        return entries


@dataclass(frozen=True)
class PublishEntry:
    partition_key: str
    content_type: str
    event: dict[str, Any]


@contextmanager
def recording_server() -> Iterator[RecordingServer]:
    lock = threading.Lock()
    state = RecordingServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            recorded = Recorded(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            with lock:
                state.requests.append(recorded)
            status, body = state.responder(recorded)
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = do_PUT = _handle  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
