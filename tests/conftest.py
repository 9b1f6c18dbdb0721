"""Fixtures shared by the whole suite.

PostgreSQL is real: ``DATABASE_URL`` when set, else a private throwaway cluster started
once per test session (tools/devstack/postgres.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings

from devstack.postgres import running_postgres
from taskpulse.store import Store
from taskpulse.store.migrate import migrate

# The tiers of the suite: each is a directory under tests/ and the marker of every test in
# it, so `pytest -m integration` and `pytest tests/integration` select the same tests.
TIERS = ("unit", "integration", "devstack", "manifests", "infra", "images", "e2e")

# tests/ is on sys.path (rootdir conftest, prepend import mode): helpers such as
# support.py and the session-wide platform (Kafka, daprd, Centrifugo, SMTP) load by name.
pytest_plugins = ["platform_fixtures"]


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with running_postgres(database="taskpulse_test") as pg:
        engine = sa.create_engine(pg.url)
        migrate(engine)
        engine.dispose()
        yield pg.url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store(database_url, pool_size=10)
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("TRUNCATE tasks, series, processed_events, outbox RESTART IDENTITY CASCADE")
        )
    yield store
    store.dispose()


# How hard the property tests search. "ci" (the default) keeps the unit tier within about
# a minute on two cores; "thorough" (`task test:thorough`) runs many more generated cases.
settings.register_profile("ci", max_examples=300)
settings.register_profile("thorough", max_examples=5_000)
settings.load_profile(os.environ.get("TASKPULSE_HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, and refuse a test that lies outside every tier."""
    root = Path(__file__).parent
    for item in items:
        tier = item.path.relative_to(root).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.path}: a test belongs in one of tests/{TIERS}")
        item.add_marker(tier)
