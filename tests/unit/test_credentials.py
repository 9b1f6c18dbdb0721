"""The database credential port: when an Entra ID token is fetched again, and which provider
the settings choose (store/credentials.py, decision 0023)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from taskpulse.settings import Settings
from taskpulse.store.credentials import (
    ENTRA_SCOPE,
    EntraToken,
    PasswordFile,
    from_settings,
)

HOUR = 3600.0


@dataclass(frozen=True)
class Token:
    token: str
    expires_on: int


class FakeCredential:
    """Hands out token-1, token-2, ... each valid for an hour from the clock's now."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.scopes: list[tuple[str, ...]] = []
        self.fail = False

    def get_token(self, *scopes: str) -> Token:
        self.scopes.append(scopes)
        if self.fail:
            raise RuntimeError("token endpoint unreachable")
        return Token(f"token-{len(self.scopes)}", int(self.clock.now + HOUR))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def credential(clock: FakeClock) -> FakeCredential:
    return FakeCredential(clock)


def entra(credential: FakeCredential, clock: FakeClock) -> EntraToken:
    return EntraToken(credential, refresh_before=timedelta(minutes=5), clock=clock)


def test_the_first_connection_fetches_a_token_for_the_postgres_scope(
    credential: FakeCredential, clock: FakeClock
) -> None:
    assert entra(credential, clock).password() == "token-1"
    assert credential.scopes == [(ENTRA_SCOPE,)]
    assert ENTRA_SCOPE == "https://ossrdbms-aad.database.windows.net/.default"


def test_a_token_is_reused_until_the_margin_before_its_expiry(
    credential: FakeCredential, clock: FakeClock
) -> None:
    provider = entra(credential, clock)
    start = clock.now
    provider.password()
    clock.now = start + HOUR - 5 * 60 - 1  # one second before the margin
    assert provider.password() == "token-1"
    assert len(credential.scopes) == 1
    clock.now = start + HOUR - 5 * 60  # the margin reached: five minutes before expiry
    assert provider.password() == "token-2"
    assert len(credential.scopes) == 2
    clock.now += 60  # the new token is fresh again
    assert provider.password() == "token-2"
    assert len(credential.scopes) == 2


def test_a_failed_early_refresh_keeps_the_valid_token_and_tries_again(
    credential: FakeCredential, clock: FakeClock
) -> None:
    provider = entra(credential, clock)
    start = clock.now
    provider.password()
    clock.now = start + HOUR - 60  # inside the margin, not yet expired
    credential.fail = True
    assert provider.password() == "token-1"
    credential.fail = False
    assert provider.password() == "token-3"  # the next connection tries again (2 failed)


def test_a_failed_refresh_after_expiry_is_raised(
    credential: FakeCredential, clock: FakeClock
) -> None:
    provider = entra(credential, clock)
    start = clock.now
    provider.password()
    clock.now = start + HOUR
    credential.fail = True
    with pytest.raises(RuntimeError, match="unreachable"):
        provider.password()


def test_a_password_file_is_read_for_every_connection(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("first\n")
    provider = PasswordFile(secret)
    assert provider.password() == "first"
    secret.write_text("second")
    assert provider.password() == "second"


def test_settings_choose_the_provider(tmp_path: Path, clock: FakeClock) -> None:
    assert from_settings(Settings()) is None  # the password in DATABASE_URL
    chosen = from_settings(Settings(database_password_file=tmp_path / "p"))
    assert isinstance(chosen, PasswordFile)
    assert chosen.path == tmp_path / "p"
    fake = FakeCredential(clock)
    token = from_settings(
        Settings(database_auth="entra", database_token_scope="scope://x/.default"),
        credential=lambda: fake,
    )
    assert isinstance(token, EntraToken)
    assert token.password() == "token-1"
    assert fake.scopes == [("scope://x/.default",)]


def test_the_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_AUTH", "entra")
    monkeypatch.setenv("DATABASE_TOKEN_REFRESH_BEFORE", "PT10M")
    settings = Settings()
    assert settings.database_auth == "entra"
    assert settings.database_token_refresh_before == timedelta(minutes=10)
    monkeypatch.setenv("DATABASE_AUTH", "kerberos")
    with pytest.raises(ValueError, match="database_auth"):
        Settings()


STORE_WITHOUT_ENTRA = """
import json, sys
from taskpulse.store import Store
Store("postgresql+psycopg://taskpulse@/taskpulse")  # connects nowhere
print(json.dumps(sorted(m for m in sys.modules if m == "azure" or m.startswith("azure."))))
"""


def test_azure_identity_is_loaded_only_when_entra_is_chosen() -> None:
    # Cold start: a function with DATABASE_AUTH=password never pays for azure-identity.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    done = subprocess.run(
        [sys.executable, "-c", STORE_WITHOUT_ENTRA],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []
