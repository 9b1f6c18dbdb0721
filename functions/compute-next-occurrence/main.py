"""compute-next-occurrence: the functions-framework entry point (`--target handle`).

Only wiring lives here; the behaviour is in taskpulse.handlers.next_occurrence.
"""

from flask import Request, Response

from taskpulse.contract import Function
from taskpulse.handlers.next_occurrence import build
from taskpulse.runtime import start

app = start(Function("compute-next-occurrence"), build)


def handle(request: Request) -> Response:
    return app(request)
