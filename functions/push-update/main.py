"""push-update: the functions-framework entry point (`--target handle --signature-type http`).

Only wiring lives here; the behaviour is in taskpulse.handlers.push_update.
"""

from flask import Request, Response

from taskpulse.contract import Function
from taskpulse.handlers.push_update import build
from taskpulse.runtime import start

app = start(Function("push-update"), build)


def handle(request: Request) -> Response:
    return app(request)
