"""A tiny app for platform tests: records every request daprd makes, answers SUCCESS.

``python tests/platform_echo.py <port> <record.jsonl>`` (or PORT and ECHO_RECORD in the
environment, as a launcher sets them for a function). Each request is one JSON line
(method, path, headers, body as text), so a test can wait for what daprd delivered.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()


def answer(body: bytes) -> bytes:
    """SUCCESS, for a bulk delivery (``bulkSubscribe``) once per entry."""
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict) and envelope.get("type") == "com.dapr.event.sent.bulk":
        statuses = [{"entryId": e["entryId"], "status": "SUCCESS"} for e in envelope["entries"]]
        return json.dumps({"statuses": statuses}).encode()
    return b'{"status":"SUCCESS"}'


def make_handler(record: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            entry = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode(errors="replace"),
            }
            with _lock, record.open("a") as out:
                out.write(json.dumps(entry) + "\n")
            # /dapr/subscribe: none here, the tests use declarative subscriptions.
            payload = b"[]" if self.path == "/dapr/subscribe" else answer(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815 - http.server names

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


if __name__ == "__main__":
    args = sys.argv[1:] or [os.environ["PORT"], os.environ["ECHO_RECORD"]]
    port, record = int(args[0]), Path(args[1])
    ThreadingHTTPServer(("127.0.0.1", port), make_handler(record)).serve_forever()
