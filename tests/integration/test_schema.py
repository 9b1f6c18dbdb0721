"""The migrations build the schema the mappings expect, and run only once."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

import taskpulse.store.tables  # noqa: F401 - registers the tables in SQLModel.metadata
from taskpulse.store import Store
from taskpulse.store.migrate import migrate, migration_files


def test_migrations_are_recorded_and_not_reapplied(store: Store) -> None:
    assert migrate(store.engine) == []
    with store.engine.connect() as conn:
        versions = list(conn.execute(sa.text("SELECT version FROM schema_migrations")).scalars())
    assert versions == [version for version, _ in migration_files()]


def test_mappings_match_the_migrated_schema(store: Store) -> None:
    inspector = sa.inspect(store.engine)
    for name, table in SQLModel.metadata.tables.items():
        in_db = {column["name"]: column for column in inspector.get_columns(name)}
        mapped = {column.name: column for column in table.columns}
        assert set(in_db) == set(mapped), f"columns of {name} differ"
        for column_name, column in mapped.items():
            assert in_db[column_name]["nullable"] == column.nullable or column.primary_key, (
                f"{name}.{column_name}: nullability differs"
            )


def test_every_query_of_the_relay_uses_an_index(store: Store) -> None:
    indexes = {index["name"] for index in sa.inspect(store.engine).get_indexes("outbox")}
    assert {"outbox_pending_idx", "outbox_published_idx"} <= indexes
    task_indexes = {index["name"] for index in sa.inspect(store.engine).get_indexes("tasks")}
    assert {"tasks_user_status_due_idx", "tasks_series_occurrence_uq"} <= task_indexes
