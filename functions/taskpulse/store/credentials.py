"""Where the database password comes from, asked again for every new connection.

A :class:`PasswordProvider` gives the password of the next connection. SQLAlchemy's
``do_connect`` event (:func:`attach`) puts it into the connection parameters, so a rotated
credential reaches new connections while the ones already open keep working until they are
closed (PostgreSQL checks a password only when a session starts).

- ``DATABASE_AUTH=password`` (the default): the password in ``DATABASE_URL``, or, with
  ``DATABASE_PASSWORD_FILE``, that file read for every connection (a mounted Secret that
  Kubernetes or the Key Vault CSI driver rewrites when the password rotates).
- ``DATABASE_AUTH=entra``: an Entra ID access token for Azure Database for PostgreSQL
  (``DATABASE_TOKEN_SCOPE``), from the pod's workload identity, fetched again
  ``DATABASE_TOKEN_REFRESH_BEFORE`` ahead of its expiry (decision 0023). azure-identity is
  imported only then: functions that never choose it never load it.

``python -m taskpulse.store.credentials -- COMMAND...`` runs COMMAND with ``PGPASSWORD`` set
from the chosen provider, for tools that open their own connection through libpq, such as
the migration Job (``-- python -m taskpulse.store.migrate``).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

if TYPE_CHECKING:
    from taskpulse.settings import Settings

log = logging.getLogger(__name__)

ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
"""The scope of Azure Database for PostgreSQL's Entra ID tokens (public cloud)."""


class PasswordProvider(Protocol):
    """The password of the next new connection."""

    def password(self) -> str: ...


class AccessTokenLike(Protocol):
    """``azure.core.credentials.AccessToken``: the token and its expiry (epoch seconds)."""

    @property
    def token(self) -> str: ...

    @property
    def expires_on(self) -> int: ...


class TokenCredential(Protocol):
    """What :class:`EntraToken` needs of an azure-identity credential."""

    def get_token(self, *scopes: str) -> AccessTokenLike: ...


class PasswordFile:
    """A password read from a file for every new connection, so that a rotation that rewrites
    the file (a mounted Secret) reaches the next connection without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def password(self) -> str:
        return self.path.read_text(encoding="utf-8").strip()


class EntraToken:
    """Entra ID access tokens as passwords, fetched again ``refresh_before`` ahead of expiry.

    A connection opened just before a token expires still authenticates (PostgreSQL checks it
    once, at the start of the session), so a margin of minutes is enough. When fetching the
    next token fails while the current one is still valid, the current one is used and the
    fetch is tried again for the next connection; once it has expired, the failure is raised.
    """

    def __init__(
        self,
        credential: TokenCredential,
        *,
        scope: str = ENTRA_SCOPE,
        refresh_before: timedelta = timedelta(minutes=5),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._refresh_before = refresh_before.total_seconds()
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_on = 0.0

    def password(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is not None and now < self._expires_on - self._refresh_before:
                return self._token
            try:
                fresh = self._credential.get_token(self._scope)
            except Exception:
                if self._token is not None and now < self._expires_on:
                    log.warning(
                        "could not refresh the database access token; using the current one "
                        "(valid for %.0f s more)",
                        self._expires_on - now,
                        exc_info=True,
                    )
                    return self._token
                raise
            self._token, self._expires_on = fresh.token, float(fresh.expires_on)
            return self._token


def attach(engine: sa.Engine, provider: PasswordProvider) -> None:
    """Give every new connection of ``engine`` the provider's current password."""

    @sa.event.listens_for(engine, "do_connect")
    def _password(
        dialect: sa.Dialect, record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
    ) -> None:
        cparams["password"] = provider.password()


def entra_credential() -> TokenCredential:
    """The pod's workload identity (the webhook sets ``AZURE_FEDERATED_TOKEN_FILE``), else
    the chain of ``DefaultAzureCredential`` (``az login`` on a developer machine)."""
    try:
        from azure.identity import DefaultAzureCredential, WorkloadIdentityCredential
    except ImportError as missing:  # pragma: no cover - depends on the installed extras
        raise RuntimeError(
            "DATABASE_AUTH=entra needs azure-identity: install taskpulse[entra]"
        ) from missing
    if os.environ.get("AZURE_FEDERATED_TOKEN_FILE"):
        return WorkloadIdentityCredential()
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def from_settings(
    settings: Settings, *, credential: Callable[[], TokenCredential] = entra_credential
) -> PasswordProvider | None:
    """The provider that ``settings`` choose; None: the password in ``DATABASE_URL``."""
    if settings.database_auth == "entra":
        return EntraToken(
            credential(),
            scope=settings.database_token_scope,
            refresh_before=settings.database_token_refresh_before,
        )
    if settings.database_password_file is not None:
        return PasswordFile(settings.database_password_file)
    return None


def main(argv: list[str]) -> int:
    """``-- COMMAND...``: run COMMAND with PGPASSWORD from the configured provider."""
    from taskpulse.settings import Settings

    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        print("usage: python -m taskpulse.store.credentials -- COMMAND...", file=sys.stderr)
        return 2
    provider = from_settings(Settings())
    env = dict(os.environ)
    if provider is not None:
        env["PGPASSWORD"] = provider.password()
    os.execvpe(command[0], command, env)  # noqa: S606 - runs what the operator asked for


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
