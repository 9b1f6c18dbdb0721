"""The floor of the cold-start bench: the hello world plus the import of the libraries the
two database functions must use (SQLModel over SQLAlchemy's PostgreSQL dialect, psycopg,
pydantic-settings), and nothing of TaskPulse. No function that stores a task through
these libraries can start faster than this."""

import psycopg  # noqa: F401
import pydantic_settings  # noqa: F401
import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401
import sqlmodel  # noqa: F401
from flask import Request


def handle(request: Request) -> tuple[str, int]:
    return "ok", 200
