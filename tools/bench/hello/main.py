"""The baseline of the cold-start bench: a bare functions-framework HTTP function."""

from flask import Request


def handle(request: Request) -> tuple[str, int]:
    return "ok", 200
