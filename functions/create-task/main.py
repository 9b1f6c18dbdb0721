"""create-task: the functions-framework entry point (`--target handle --signature-type http`).

Only wiring lives here; the behaviour is in taskpulse.handlers.create_task.
"""

from flask import Request, Response

from taskpulse.contract import Function
from taskpulse.handlers.create_task import build
from taskpulse.runtime import start

app = start(Function("create-task"), build)


def handle(request: Request) -> Response:
    return app(request)
