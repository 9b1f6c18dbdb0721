"""A rotated database password, against a real PostgreSQL that checks passwords.

The store asks its :class:`PasswordProvider` for every new connection (SQLAlchemy's
``do_connect``), so after ``ALTER ROLE ... PASSWORD`` and the new password in the file that
the provider reads, new connections sign in with it while the connections already open finish
their work: the same path that Entra ID tokens take on AKS (decision 0023).

The throwaway cluster of tests/conftest.py trusts local connections; for one role of its own
this test makes it ask for a password (scram-sha-256) in pg_hba.conf, and puts it back after.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from taskpulse.store import Store
from taskpulse.store.credentials import EntraToken, PasswordFile

ROLE = "taskpulse_rotating"


@pytest.fixture
def checked_role(database_url: str) -> Iterator[sa.URL]:
    """A login role whose password the server checks; yields its URL (no password in it)."""
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        hba = Path(conn.execute(sa.text("SHOW hba_file")).scalar_one())
        if os.environ.get("DATABASE_URL") or not os.access(hba, os.W_OK):
            admin.dispose()
            pytest.skip("needs the suite's own PostgreSQL, whose pg_hba.conf it may change")
        conn.execute(sa.text(f"DROP ROLE IF EXISTS {ROLE}"))
        conn.execute(sa.text(f"CREATE ROLE {ROLE} LOGIN PASSWORD 'first-password'"))
        original = hba.read_text()
        rule = f"local all {ROLE} scram-sha-256\nhost all {ROLE} all scram-sha-256\n"
        hba.write_text(rule + original)
        conn.execute(sa.text("SELECT pg_reload_conf()"))
    try:
        yield sa.make_url(database_url).set(username=ROLE, password=None)
    finally:
        hba.write_text(original)
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_reload_conf()"))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"
                ),
                {"r": ROLE},
            )
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {ROLE}"))
        admin.dispose()


def rotate(database_url: str, secret: Path, new: str) -> None:
    """What a rotation does: the server takes the new password, then the file says it."""
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"ALTER ROLE {ROLE} PASSWORD '{new}'"))
    admin.dispose()
    secret.write_text(new + "\n")


def who(conn: sa.Connection) -> str:
    name: str = conn.execute(sa.text("SELECT current_user")).scalar_one()
    return name


def test_the_server_checks_the_password(checked_role: sa.URL) -> None:
    # Without this the rest would prove nothing: a wrong password must be refused.
    wrong = sa.create_engine(checked_role.set(password="not-it"))
    with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
        wrong.connect()
    wrong.dispose()


def test_new_connections_take_the_new_password_while_open_ones_finish(
    checked_role: sa.URL, database_url: str, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("first-password\n")
    store = Store(checked_role.render_as_string(hide_password=False), password=PasswordFile(secret))
    try:
        open_before = store.engine.connect()
        transaction = open_before.begin()
        assert who(open_before) == ROLE

        rotate(database_url, secret, "second-password")

        # The pool's only connection is checked out: this one is new, with the new password.
        with store.engine.connect() as opened_after:
            assert who(opened_after) == ROLE
        # The one opened before the rotation still works and finishes its transaction.
        assert open_before.execute(sa.text("SELECT 1")).scalar_one() == 1
        transaction.commit()
        open_before.close()

        # The old password no longer opens anything: the new connection above did not
        # succeed by accident.
        stale = sa.create_engine(checked_role.set(password="first-password"))
        with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
            stale.connect()
        stale.dispose()

        # And once more, for a pool that has idle connections from before: they are reused,
        # and a fresh one (the pool emptied) takes the third password.
        rotate(database_url, secret, "third-password")
        store.engine.dispose()
        with store.engine.connect() as conn:
            assert who(conn) == ROLE
    finally:
        store.dispose()


def test_units_of_work_run_on_a_rotated_credential(
    checked_role: sa.URL, database_url: str, tmp_path: Path
) -> None:
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROLE}"))
    admin.dispose()
    secret = tmp_path / "password"
    secret.write_text("first-password")
    store = Store(checked_role.render_as_string(hide_password=False), password=PasswordFile(secret))
    try:
        rotate(database_url, secret, "rotated-password")
        with store.session() as session:
            count = session.execute(sa.text("SELECT count(*) FROM schema_migrations")).scalar()
        assert count is not None and count >= 1
    finally:
        store.dispose()
        admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}"))
        admin.dispose()


PROBE = """
import sqlalchemy as sa, sys
engine = sa.create_engine(sys.argv[1])  # no password: libpq takes PGPASSWORD
with engine.connect() as conn:
    print(conn.execute(sa.text("SELECT current_user")).scalar_one())
"""


def test_the_wrapper_hands_the_password_to_a_libpq_tool(
    checked_role: sa.URL, database_url: str, tmp_path: Path
) -> None:
    # How the migration Job signs in: python -m taskpulse.store.credentials -- <command>.
    secret = tmp_path / "password"
    rotate(database_url, secret, "wrapper-password")
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "DATABASE_AUTH")}
    env["DATABASE_PASSWORD_FILE"] = str(secret)
    url = checked_role.render_as_string(hide_password=False)
    wrapper = [sys.executable, "-m", "taskpulse.store.credentials", "--"]
    done = subprocess.run(
        [*wrapper, sys.executable, "-c", PROBE, url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ROLE


class RotatingTokens:
    """Stands in for azure-identity: its "token" is the role's current password, valid for an
    hour from when it was handed out, as Entra ID tokens are."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.current = "first-password"
        self.fetched = 0

    def get_token(self, *scopes: str) -> Token:
        assert scopes == ("https://ossrdbms-aad.database.windows.net/.default",)
        self.fetched += 1
        return Token(self.current, int(self.clock[0] + 3600))


@dataclass(frozen=True)
class Token:
    token: str
    expires_on: int


def test_entra_tokens_are_fetched_again_before_expiry_for_new_connections(
    checked_role: sa.URL, database_url: str, tmp_path: Path
) -> None:
    # The entra provider on a real server: the "token" rotates like the password above. Before
    # the refresh margin the cached token opens connections; past it, the next new connection
    # fetches the next token, and the connection opened before keeps working.
    now = [1_000_000.0]
    tokens = RotatingTokens(now)
    provider = EntraToken(tokens, refresh_before=timedelta(minutes=5), clock=lambda: now[0])
    store = Store(checked_role.render_as_string(hide_password=False), password=provider)
    try:
        open_before = store.engine.connect()
        assert who(open_before) == ROLE
        rotate(database_url, tmp_path / "unused", "next-token")
        tokens.current = "next-token"
        now[0] += 3600 - 5 * 60  # the refresh margin reached
        with store.engine.connect() as opened_after:
            assert who(opened_after) == ROLE
        assert tokens.fetched == 2
        assert open_before.execute(sa.text("SELECT 1")).scalar_one() == 1
        open_before.close()
    finally:
        store.dispose()
