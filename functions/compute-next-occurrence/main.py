"""compute-next-occurrence: the functions-framework entry point (`--target handle`).

Only wiring lives here; the behaviour is in taskpulse.handlers.next_occurrence.
"""

from flask import Request, Response

from taskpulse.contract import Function
from taskpulse.handlers.next_occurrence import build
from taskpulse.runtime import Runtime

app = build(Runtime(Function("compute-next-occurrence")))


def handle(request: Request) -> Response:
    return app(request)
