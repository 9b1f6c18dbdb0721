"""Centrifugo v6, the push gateway: built from the Go module proxy, configured per run.

The configuration is generated at start: how client connection tokens are checked, a
random HTTP API key (written to .local/endpoints.json, never committed), and the namespace
``tasks`` whose user-limited channels (``tasks:user#<id>``) only user ``<id>`` may
subscribe to (docs/contract.md#4-push-to-clients). Keys checked against centrifugo v6
internal/configtypes and internal/client/handler.go: a user-limited channel is allowed only
through ``allow_user_limited_channels`` and the ``#`` user list;
``allow_subscribe_for_client`` never opens it to other users.

Centrifugo v6.9.1 builds its verifier of connection tokens either from
``client.token.jwks_public_endpoint`` or, when that is empty, from the static keys (HMAC
secret, RSA, ECDSA), which then all hold at once (internal/jwtverify NewTokenVerifierJWT,
newAlgorithms). Three ways follow:
- ``JwksTokens`` (the cluster's way, and tests): the OpenID Connect provider's access tokens,
  verified with its JWKS, its issuer and the audience ``taskpulse``; the user is ``sub``.
- ``ProviderKeyTokens`` (``task up``): the provider's access tokens, verified with the key it
  signs them with, read when the stack starts, AND tokens a backend mints with the HMAC
  secret (``connection_token``), as contract §4 and §5 each promise. Issuer and audience are
  not checked here: an HMAC token carries neither (decision 0016).
- an HMAC secret alone (the default of ``generate``): tokens a backend mints itself, for
  deployments without an OIDC provider and for tests.

The engine is the memory one (one node, what ``task up`` runs) unless ``redis_address`` is
given: then ``engine.type`` is ``redis`` with ``engine.redis.address`` (a list of shard
addresses in v6.9.1 internal/configtypes Redis), and every node configured with the same
address delivers a publication made on any of them (tests/devstack/test_centrifugo_cluster.py,
decision 0025). Its password is not in the file: ``redis_password_env`` gives it the way the
cluster does (infra/terraform/modules/platform/centrifugo.tf).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from devstack.gobuild import GoCommand, build
from devstack.versions import CENTRIFUGO_VERSION
from taskpulse.contract import PUSH_CHANNEL_PREFIX

MODULE = "github.com/centrifugal/centrifugo/v6"
BUILD = GoCommand(
    name="centrifugo", module=MODULE, version=f"v{CENTRIFUGO_VERSION}", package=MODULE
)
NAMESPACE = PUSH_CHANNEL_PREFIX.split(":", 1)[0]
REDIS_PASSWORD_ENV = "CENTRIFUGO_ENGINE_REDIS_PASSWORD"  # noqa: S105 - a name, not a secret
"""engine.redis.password from the environment (Centrifugo's envconfig naming)."""


def binary() -> Path:
    """``centrifugo`` on PATH (any v6), else the cached build of CENTRIFUGO_VERSION."""
    if found := shutil.which("centrifugo"):
        return Path(found)
    return build(BUILD)


@dataclass(frozen=True)
class JwksTokens:
    """Connection tokens are an OIDC provider's access tokens."""

    jwks_url: str
    issuer: str
    audience: str


@dataclass(frozen=True)
class ProviderKeyTokens:
    """Connection tokens are an OIDC provider's access tokens, checked with its signing key
    (RSA, PEM) as it is at start, beside HMAC ones; a key the provider rotates to later is
    not known until Centrifugo restarts."""

    public_key_pem: str


@dataclass(frozen=True)
class CentrifugoConfig:
    port: int
    token_secret: str | None
    """The HMAC secret of connection tokens; None when ``jwks`` checks them instead."""
    api_key: str
    jwks: JwksTokens | None = None
    redis_address: str | None = None
    """Centrifugo's Redis engine at this address (``redis://host:port``), shared by every
    node that names it; None keeps the single-node memory engine."""
    provider_key: ProviderKeyTokens | None = None

    @classmethod
    def generate(
        cls,
        port: int,
        jwks: JwksTokens | None = None,
        *,
        redis_address: str | None = None,
        provider_key: ProviderKeyTokens | None = None,
    ) -> CentrifugoConfig:
        if jwks and provider_key:
            raise ValueError("Centrifugo checks tokens with a JWKS or with static keys, not both")
        secret = None if jwks else secrets.token_urlsafe(32)
        return cls(port, secret, secrets.token_urlsafe(24), jwks, redis_address, provider_key)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/connection/websocket"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def token_options(self) -> dict[str, str]:
        if self.jwks is not None:
            return {
                "jwks_public_endpoint": self.jwks.jwks_url,
                "issuer": self.jwks.issuer,
                "audience": self.jwks.audience,
            }
        if self.token_secret is None:
            raise ValueError("a Centrifugo configuration needs an HMAC secret or a JWKS")
        options = {"hmac_secret_key": self.token_secret}
        if self.provider_key is not None:
            options["rsa_public_key"] = self.provider_key.public_key_pem
        return options

    def engine(self) -> dict[str, object]:
        if self.redis_address is None:
            return {"type": "memory"}
        return {"type": "redis", "redis": {"address": [self.redis_address]}}

    def document(self) -> dict[str, object]:
        return {
            "engine": self.engine(),
            "http_server": {"address": "127.0.0.1", "port": self.port},
            "log": {"level": "info"},
            "health": {"enabled": True},
            "client": {
                "token": self.token_options(),
                # A valid token without a user (no `sub`) is refused, not let in anonymous.
                "disallow_anonymous_connection_tokens": True,
                # Local web pages on any port may connect; the token still decides who.
                "allowed_origins": ["*"],
            },
            "http_api": {"key": self.api_key},
            "channel": {"namespaces": [{"name": NAMESPACE, "allow_user_limited_channels": True}]},
        }

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.document(), indent=2))
        path.chmod(0o600)
        return path


def argv(config_file: Path) -> list[str]:
    return [str(binary()), "--config", str(config_file)]


def redis_password_env(password: str) -> dict[str, str]:
    """The environment that gives every node the Redis engine's password."""
    return {REDIS_PASSWORD_ENV: password}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def connection_token(secret: str, user_id: str, ttl_seconds: int = 3600) -> str:
    """An HS256 connection JWT for ``user_id`` (what a real backend hands its web client).

    Written out (no PyJWT) because it is ten lines and the local stack needs nothing else.
    """
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": user_id, "exp": int(time.time()) + ttl_seconds}
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64(signature.digest())}"
