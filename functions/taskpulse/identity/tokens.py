"""Access tokens of the public face: who is calling, proven by the issuer's signature.

A bearer token is a JWT from the configured OpenID Connect issuer. Its keys are found
through discovery (``<issuer>/.well-known/openid-configuration`` → ``jwks_uri``) unless
``OIDC_JWKS_URL`` names them, cached, and fetched again when a token names a ``kid`` the
cache does not hold (the issuer rotated its keys), at most once per ``refresh_interval`` (a second)
so that tokens with made-up kids cannot make us hammer the issuer; and at the first token
after ``max_age``, so that a key the issuer withdrew stops working here too.

Checked: the signature, with the algorithm the key itself declares and only from an
allow-list of asymmetric ones (never ``none``, never HS* with a public key as the
secret); ``iss``; ``aud``; ``exp`` (required) and ``nbf`` with a small leeway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from taskpulse.identity.caller import Caller, Unauthenticated

log = logging.getLogger("taskpulse.identity")

ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

Fetch = Callable[[str], Mapping[str, Any]]
"""GET a URL, return its JSON document (raises on any failure)."""


@dataclass(frozen=True, slots=True)
class TokenRules:
    issuer: str
    audience: str
    user_claim: str = "sub"
    service_scope: str = "taskpulse.service"
    jwks_url: str | None = None
    algorithms: frozenset[str] = ASYMMETRIC
    leeway_seconds: float = 30.0

    def __post_init__(self) -> None:
        unsafe = self.algorithms - ASYMMETRIC
        if unsafe:
            raise ValueError(f"only asymmetric algorithms are allowed, not {sorted(unsafe)}")


class TokenVerifier:
    """Turns ``Authorization: Bearer <JWT>`` into a :class:`Caller`, or refuses it."""

    def __init__(
        self,
        rules: TokenRules,
        fetch: Fetch,
        *,
        refresh_interval: float = 1.0,
        max_age: float = 600.0,
    ) -> None:
        self.rules = rules
        self._fetch = fetch
        self._refresh_interval = refresh_interval
        self._max_age = max_age
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._jwks_url = rules.jwks_url

    def caller(self, authorization: str | None) -> Caller:
        token = _bearer(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as error:
            raise Unauthenticated(f"malformed token: {error}") from None
        algorithm = header.get("alg")
        if algorithm not in self.rules.algorithms:
            raise Unauthenticated(f"token algorithm {algorithm!r} is not accepted")
        key = self._key(header.get("kid"))
        if key.algorithm_name != algorithm:
            raise Unauthenticated(f"token algorithm {algorithm!r} does not match its key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self.rules.audience,
                issuer=self.rules.issuer,
                leeway=self.rules.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(_reason(error)) from None
        return Caller.from_claims(
            claims, user_claim=self.rules.user_claim, service_scope=self.rules.service_scope
        )

    def _key(self, kid: object) -> jwt.PyJWK:
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("token has no key id (kid)")
        with self._lock:
            stale = time.monotonic() - self._fetched_at >= self._max_age
            if stale or (kid not in self._keys and self._may_refresh()):
                self._refresh()
            key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated(f"token signed with unknown key {kid!r}")
        return key

    def _may_refresh(self) -> bool:
        return time.monotonic() - self._fetched_at >= self._refresh_interval

    def _refresh(self) -> None:
        """Fetch the issuer's keys; on failure keep the old ones (an outage of the issuer
        must not log out everyone whose key we already hold)."""
        self._fetched_at = time.monotonic()
        try:
            if self._jwks_url is None:
                discovery = self._fetch(_discovery_url(self.rules.issuer))
                self._jwks_url = str(discovery["jwks_uri"])
            document = self._fetch(self._jwks_url)
            keys = jwt.PyJWKSet.from_dict(dict(document))
        except Exception as error:
            if self._keys:
                log.warning("issuer's keys not fetched, keeping the known ones: %s", error)
                return
            raise IssuerUnavailable(f"cannot fetch the issuer's keys: {error}") from error
        self._keys = {
            k.key_id: k
            for k in keys.keys
            if k.key_id and k.algorithm_name in self.rules.algorithms and k.public_key_use != "enc"
        }


class IssuerUnavailable(RuntimeError):
    """The issuer's keys could not be fetched: a transient fault (the client retries)."""


def _discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("no access token: send Authorization: Bearer <token>")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be: Bearer <token>")
    return token.strip()


def _reason(error: jwt.InvalidTokenError) -> str:
    if isinstance(error, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "token not yet valid"
    if isinstance(error, jwt.InvalidIssuerError):
        return "token from another issuer"
    if isinstance(error, jwt.InvalidAudienceError):
        return "token for another audience"
    if isinstance(error, jwt.InvalidSignatureError):
        return "token signature does not verify"
    return f"invalid token: {error}"
