"""Versioned schema migrations: ``python -m taskpulse.store.migrate [DATABASE_URL]``.

Each ``migrations/NNNN_name.sql`` runs once, in order, inside one transaction together
with its row in ``schema_migrations``. An advisory lock serialises concurrent runs, so
replicas that start together cannot apply a file twice.
"""

from __future__ import annotations

import sys
from importlib import resources

import sqlalchemy as sa

_LOCK_ID = 0x7A5C_0001  # arbitrary, constant: the advisory lock of this migrator


def migration_files() -> list[tuple[str, str]]:
    """``(version, sql)`` pairs, ordered by version."""
    folder = resources.files("taskpulse.store") / "migrations"
    files = sorted(
        (entry.name, entry.read_text()) for entry in folder.iterdir() if entry.name.endswith(".sql")
    )
    return [(name.removesuffix(".sql"), sql) for name, sql in files]


def migrate(engine: sa.Engine) -> list[str]:
    """Apply pending migrations; return the versions applied by this call."""
    applied_now: list[str] = []
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        done = set(conn.execute(sa.text("SELECT version FROM schema_migrations")).scalars())
        for version, sql in migration_files():
            if version in done:
                continue
            conn.exec_driver_sql(sql)
            conn.execute(
                sa.text("INSERT INTO schema_migrations (version) VALUES (:v)"), {"v": version}
            )
            applied_now.append(version)
    return applied_now


def main(argv: list[str]) -> int:
    from taskpulse.settings import Settings

    url = argv[0] if argv else Settings().database_url
    engine = sa.create_engine(url)
    try:
        applied = migrate(engine)
    finally:
        engine.dispose()
    print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
