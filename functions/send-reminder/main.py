"""send-reminder: the functions-framework entry point (`--target handle --signature-type http`).

Only wiring lives here; the behaviour is in taskpulse.handlers.send_reminder.
"""

from flask import Request, Response

from taskpulse.contract import Function
from taskpulse.handlers.send_reminder import build
from taskpulse.runtime import start

app = start(Function("send-reminder"), build)


def handle(request: Request) -> Response:
    return app(request)
