"""The second floor of the cold-start bench: the first floor (tools/bench/hello_stack) plus
what any function that stores through these libraries does before it can answer its first
event: open a connection through SQLModel's session and make one round trip. Nothing of
TaskPulse either."""

import os

import psycopg  # noqa: F401
import pydantic_settings  # noqa: F401
import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401
import sqlmodel
from flask import Request

engine = sqlmodel.create_engine(os.environ["DATABASE_URL"])


def handle(request: Request) -> tuple[str, int]:
    with sqlmodel.Session(engine) as session:
        session.execute(sqlmodel.text("SELECT 1"))
    return "ok", 200
