"""Who is calling, and for whom they may act."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taskpulse.contract import user_id_fault
from taskpulse.errors import Permanent


class Unauthenticated(Permanent):
    """No valid access token: 401 with ``WWW-Authenticate: Bearer`` and the reason."""


class Forbidden(Permanent):
    """A valid token that may not do this (another user's data): 403."""


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: str
    """The authenticated user: the configured claim of the token (``sub`` by default)."""
    scopes: frozenset[str] = frozenset()
    email: str | None = None
    """Only when the issuer says it is verified (``email_verified``)."""
    service: bool = False
    """A trusted backend (the token carries the service scope): it may act for a user."""

    @classmethod
    def from_claims(
        cls, claims: Mapping[str, Any], *, user_claim: str, service_scope: str
    ) -> Caller:
        user = claims.get(user_claim)
        if not isinstance(user, str) or (fault := user_id_fault(user)) is not None:
            problem = "is missing" if not isinstance(user, str) else fault
            raise Unauthenticated(f"token claim {user_claim!r} {problem}")
        scopes = frozenset(_scopes(claims))
        email = claims.get("email")
        verified = claims.get("email_verified") is True
        return cls(
            user_id=user,
            scopes=scopes,
            email=email if verified and isinstance(email, str) else None,
            service=service_scope in scopes,
        )

    def acting_for(self, user_id: str | None) -> str:
        """The user a command is for: the caller, or (a trusted backend) whom it names."""
        if user_id is None or user_id == self.user_id:
            return self.user_id
        if self.service:
            return user_id
        raise Forbidden(f"user_id {user_id!r} is not you: a token acts for its own user")


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    """``scope`` (RFC 9068: space-separated), ``scp`` (a list, or a string), and ``roles``
    (Entra ID puts an application permission of a client-credentials token there)."""
    found: list[str] = []
    for name in ("scope", "scp", "roles"):
        value = claims.get(name)
        if isinstance(value, str):
            found.extend(value.split())
        elif isinstance(value, list):
            found.extend(str(v) for v in value)
    return found
