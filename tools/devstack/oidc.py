"""A real OpenID Connect provider on this machine: ORY Hydra plus a login and consent app.

Hydra (HYDRA_VERSION, built once from the Go module proxy with the ``sqlite`` tag) runs on
``DSN=memory`` (docs/decisions/0016-local-oidc-provider.md): nothing to migrate by hand,
nothing left behind, fresh keys each run. It issues JWT access tokens for the audience
``taskpulse`` whose top-level ``email`` and ``email_verified`` claims come from the
consent app. The login and consent app (``python -m devstack.oidc login-app``) accepts any
valid TaskPulse user id as a local user, named by ``login_hint`` or typed into its form;
there are no passwords: it stands for the identity provider a deployment has.

Two clients are registered through Hydra's admin API: ``taskpulse-cli``, public,
authorization code with PKCE and a loopback redirect (what ``task token`` drives), and
``taskpulse-service``, confidential, client credentials with the scope
``taskpulse.service`` (a trusted backend acting for users).

    with running_provider(work_dir) as provider:   # or start_provider(supervisor, ...)
        provider.token("alice")                    # a real code + PKCE flow
        provider.service_token()
        kid = provider.rotate_signing_key()        # new tokens carry ``kid``
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import secrets
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from devstack.cache import say
from devstack.gobuild import GoCommand, build
from devstack.ports import free_port
from devstack.supervisor import Service, Supervisor, http_ok
from devstack.versions import HYDRA_VERSION

MODULE = "github.com/ory/hydra/v2"
BUILD = GoCommand(
    name="hydra",
    module=MODULE,
    version=f"v{HYDRA_VERSION}",
    package=MODULE,
    # DSN=memory is SQLite in memory: mattn/go-sqlite3, hence cgo (gcc) and the tag.
    tags=("sqlite", "sqlite_omit_load_extension"),
    env={"CGO_ENABLED": "1"},
)

AUDIENCE = "taskpulse"
SERVICE_SCOPE = "taskpulse.service"
CLI_CLIENT_ID = "taskpulse-cli"
SERVICE_CLIENT_ID = "taskpulse-service"
USER_SCOPES = ("openid", "email", "offline_access")
REDIRECT_URI = "http://127.0.0.1/callback"
"""RFC 8252 loopback redirect of the public client; the flow stops at it, nothing listens."""
ACCESS_TOKEN_KEY_SET = "hydra.jwt.access-token"  # noqa: S105 - a key set name
"""The key set Hydra signs JWT access tokens with: the newest private key of the set."""
EMAIL_DOMAIN = "taskpulse.local"
PUBLIC_PORT, ADMIN_PORT, LOGIN_PORT = 4444, 4445, 4446
"""Hydra's own defaults for public and admin; ``task up`` takes them when they are free."""

MAX_USER_ID = 255
_FORBIDDEN_IN_USER_ID = frozenset(",#/\\")


class OidcError(RuntimeError):
    """The provider refused or failed; the message says what it answered."""


def binary() -> Path:
    """The cached Hydra build (built first when missing; about 3 minutes once)."""
    return build(BUILD)


def is_valid_user_id(user: str) -> bool:
    """A TaskPulse user id: 1-255 printable ASCII, no ``,`` ``#`` ``/`` ``\\`` or space."""
    return (
        0 < len(user) <= MAX_USER_ID
        and all("!" <= ch <= "~" for ch in user)
        and not _FORBIDDEN_IN_USER_ID.intersection(user)
    )


def email_of(user: str) -> str:
    return f"{user}@{EMAIL_DOMAIN}"


# -- Hydra's configuration ------------------------------------------------------------------


@dataclass(frozen=True)
class HydraConfig:
    public_port: int
    admin_port: int
    login_port: int
    system_secret: str

    @classmethod
    def generate(cls, public_port: int, admin_port: int, login_port: int) -> HydraConfig:
        return cls(public_port, admin_port, login_port, secrets.token_urlsafe(32))

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.public_port}/"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def login_url(self) -> str:
        return f"http://127.0.0.1:{self.login_port}"

    def document(self) -> dict[str, Any]:
        """Keys checked against Hydra v2.3.0's spec/config.json."""
        return {
            "dsn": "memory",
            "serve": {
                "public": {"host": "127.0.0.1", "port": self.public_port},
                "admin": {"host": "127.0.0.1", "port": self.admin_port},
            },
            "urls": {
                "self": {"issuer": self.issuer, "public": self.issuer},
                "login": f"{self.login_url}/login",
                "consent": f"{self.login_url}/consent",
                "logout": f"{self.login_url}/logout",
            },
            "secrets": {"system": [self.system_secret]},
            "strategies": {
                "access_token": "jwt",
                # `scp` as a list and `scope` as a space-separated string.
                "jwt": {"scope_claim": "both"},
            },
            "oauth2": {
                "allowed_top_level_claims": ["email", "email_verified"],
                "mirror_top_level_claims": False,
                "pkce": {"enforced_for_public_clients": True},
                "expose_internal_errors": True,
            },
            "ttl": {"access_token": "1h"},
            "log": {"level": "info", "format": "text"},
            "sqa": {"opt_out": True},
        }

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.document(), indent=2))
        path.chmod(0o600)  # it holds the system secret
        return path


def hydra_argv(hydra: Path, config_file: Path) -> list[str]:
    # --dev: plain HTTP on loopback and non-Secure cookies; --sqa-opt-out: no telemetry.
    return [str(hydra), "serve", "all", "--dev", "--sqa-opt-out", "--config", str(config_file)]


def login_app_argv(port: int, admin_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "devstack.oidc",
        "login-app",
        "--port",
        str(port),
        "--admin",
        admin_url,
    ]


# -- the provider, as clients and the devstack use it -----------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _answer(response: httpx.Response, what: str) -> Any:
    if response.is_error:
        raise OidcError(f"{what}: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else None


@dataclass(frozen=True)
class OidcProvider:
    """A running provider. Everything but ``admin_url`` is public OAuth 2 and OIDC."""

    issuer: str
    """Exactly the ``iss`` of the tokens (and of the discovery document)."""
    admin_url: str
    cli_client_id: str = CLI_CLIENT_ID
    redirect_uri: str = REDIRECT_URI
    service_client_id: str = SERVICE_CLIENT_ID
    service_client_secret: str = ""
    audience: str = AUDIENCE
    service_scope: str = SERVICE_SCOPE

    @property
    def jwks_url(self) -> str:
        return urljoin(self.issuer, ".well-known/jwks.json")

    @property
    def discovery_url(self) -> str:
        return urljoin(self.issuer, ".well-known/openid-configuration")

    @property
    def authorization_url(self) -> str:
        return urljoin(self.issuer, "oauth2/auth")

    @property
    def token_url(self) -> str:
        return urljoin(self.issuer, "oauth2/token")

    def token(self, user: str, *, scopes: Sequence[str] = USER_SCOPES) -> str:
        """An access token for local user ``user`` through authorization code + PKCE:
        /oauth2/auth, the login app (``login_hint``), the consent app, the redirect with
        the code, /oauth2/token. Raises OidcError when the provider refuses the user."""
        verifier = secrets.token_urlsafe(48)
        state = secrets.token_urlsafe(16)
        query = {
            "response_type": "code",
            "client_id": self.cli_client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(scopes),
            "audience": self.audience,
            "state": state,
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
            "login_hint": user,
        }
        # Cookies (Hydra's CSRF cookies) are kept across the hops, as a browser would.
        with httpx.Client(timeout=15, follow_redirects=False) as client:
            url = f"{self.authorization_url}?{urlencode(query)}"
            for _ in range(12):
                response = client.get(url)
                if not response.is_redirect:
                    raise OidcError(
                        f"the login flow stopped at {url.split('?', 1)[0]}: "
                        f"{response.status_code} {response.text[:300]}"
                    )
                url = urljoin(url, response.headers["location"])
                if url.split("?", 1)[0] == self.redirect_uri:
                    break
            else:
                raise OidcError("the login flow did not come back to the redirect URI")
            answer = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            if "error" in answer:
                raise OidcError(
                    f"login of {user!r} refused: {answer['error']}: "
                    f"{answer.get('error_description', '')}"
                )
            if answer.get("state") != state or "code" not in answer:
                raise OidcError(f"unexpected redirect: {url}")
            tokens = _answer(
                client.post(
                    self.token_url,
                    data={
                        "grant_type": "authorization_code",
                        "code": answer["code"],
                        "redirect_uri": self.redirect_uri,
                        "client_id": self.cli_client_id,
                        "code_verifier": verifier,
                    },
                ),
                "the token endpoint",
            )
        return str(tokens["access_token"])

    def service_token(self) -> str:
        """A client-credentials access token for the trusted backend client (scope
        ``taskpulse.service``, audience ``taskpulse``; its ``sub`` is the client id)."""
        response = httpx.post(
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "scope": self.service_scope,
                "audience": self.audience,
            },
            auth=(self.service_client_id, self.service_client_secret),
            timeout=15,
        )
        return str(_answer(response, "the token endpoint")["access_token"])

    def signing_key_pem(self) -> str:
        """The public half of the key access tokens are signed with now (PEM), read from the
        public JWKS by the ``kid`` of a token issued for the purpose."""
        import jwt
        from cryptography.hazmat.primitives import serialization
        from jwt.algorithms import RSAAlgorithm

        kid = jwt.get_unverified_header(self.service_token())["kid"]
        keys = _answer(httpx.get(self.jwks_url, timeout=10), "the JWKS")["keys"]
        (jwk,) = [k for k in keys if k.get("kid") == kid]
        public = RSAAlgorithm.from_jwk(jwk)
        return public.public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def signing_kids(self) -> list[str]:
        """The key ids of the access-token key set, newest first (Hydra signs with the
        newest one whose private half it holds)."""
        keys = _answer(
            httpx.get(f"{self.admin_url}/admin/keys/{ACCESS_TOKEN_KEY_SET}", timeout=10),
            "the admin keys API",
        )
        return [str(key["kid"]) for key in keys["keys"]]

    def rotate_signing_key(self) -> str:
        """Add a new RS256 key to the access-token set and return its ``kid``.

        Hydra signs with the newest private key of the set (jwk.GetOrGenerateKeys reads
        the set ordered by created_at DESC and takes the first), so tokens issued from now
        on carry this ``kid``; the older keys stay in the JWKS until ``remove_key``."""
        kid = f"taskpulse-{secrets.token_hex(8)}"
        _answer(
            httpx.post(
                f"{self.admin_url}/admin/keys/{ACCESS_TOKEN_KEY_SET}",
                json={"alg": "RS256", "use": "sig", "kid": kid},
                timeout=30,
            ),
            "creating a signing key",
        )
        return kid

    def publish_key(self, public_jwk: Mapping[str, Any]) -> None:
        """Publish a public key (a JWK with ``kid``) in the access-token set, hence in the
        JWKS: tokens signed with its private half, which Hydra never sees, verify as the
        issuer's. Hydra keeps signing with its own newest private key. For tests that need
        tokens Hydra would not issue (expired, not yet valid, odd claims)."""
        if "d" in public_jwk:
            raise ValueError("publish the public half only")
        kid = str(public_jwk["kid"])
        _answer(
            httpx.put(
                f"{self.admin_url}/admin/keys/{ACCESS_TOKEN_KEY_SET}/{kid}",
                json=dict(public_jwk),
                timeout=10,
            ),
            f"publishing key {kid}",
        )

    def remove_key(self, kid: str) -> None:
        """Delete a key of the access-token set: it leaves the JWKS, and tokens signed with
        it no longer verify."""
        _answer(
            httpx.delete(f"{self.admin_url}/admin/keys/{ACCESS_TOKEN_KEY_SET}/{kid}", timeout=10),
            f"deleting key {kid}",
        )

    def endpoints(self) -> dict[str, str]:
        """What ``task up`` writes to .local/endpoints.json, and ``from_endpoints`` reads."""
        return {
            "oidc_issuer": self.issuer,
            "oidc_jwks": self.jwks_url,
            "oidc_audience": self.audience,
            "oidc_client_id": self.cli_client_id,
            "oidc_redirect_uri": self.redirect_uri,
            "oidc_service_client_id": self.service_client_id,
            "oidc_service_client_secret": self.service_client_secret,
            "oidc_service_scope": self.service_scope,
            "oidc_admin": self.admin_url,
        }

    @classmethod
    def from_endpoints(cls, endpoints: Mapping[str, Any]) -> OidcProvider:
        return cls(
            issuer=str(endpoints["oidc_issuer"]),
            admin_url=str(endpoints.get("oidc_admin", "")),
            cli_client_id=str(endpoints.get("oidc_client_id", CLI_CLIENT_ID)),
            redirect_uri=str(endpoints.get("oidc_redirect_uri", REDIRECT_URI)),
            service_client_id=str(endpoints.get("oidc_service_client_id", SERVICE_CLIENT_ID)),
            service_client_secret=str(endpoints.get("oidc_service_client_secret", "")),
            audience=str(endpoints.get("oidc_audience", AUDIENCE)),
            service_scope=str(endpoints.get("oidc_service_scope", SERVICE_SCOPE)),
        )


def _register_clients(admin_url: str) -> str:
    """Create the two clients; returns the service client's secret."""
    public = {
        "client_id": CLI_CLIENT_ID,
        "client_name": "TaskPulse command line (task token)",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": " ".join(USER_SCOPES),
        "audience": [AUDIENCE],
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none",
    }
    service = {
        "client_id": SERVICE_CLIENT_ID,
        "client_name": "TaskPulse trusted backend",
        "grant_types": ["client_credentials"],
        "response_types": ["token"],
        "scope": SERVICE_SCOPE,
        "audience": [AUDIENCE],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    with httpx.Client(base_url=admin_url, timeout=15) as admin:
        _answer(admin.post("/admin/clients", json=public), "registering the CLI client")
        created = _answer(admin.post("/admin/clients", json=service), "registering a client")
    return str(created["client_secret"])


def start_provider(
    supervisor: Supervisor,
    work: Path,
    *,
    public_port: int | None = None,
    admin_port: int | None = None,
    login_port: int | None = None,
) -> OidcProvider:
    """Start the login app and Hydra on ``supervisor`` (they stop with it), register the
    clients and return the provider. Ports default to free ones."""
    hydra = binary()
    config = HydraConfig.generate(
        public_port or free_port(), admin_port or free_port(), login_port or free_port()
    )
    config_file = config.write(work / "hydra.json")
    supervisor.start(
        Service(
            "oidc-login",
            login_app_argv(config.login_port, config.admin_url),
            http_ok(f"{config.login_url}/health"),
        )
    )
    supervisor.start(
        Service(
            "hydra",
            hydra_argv(hydra, config_file),
            http_ok(f"{config.admin_url}/health/ready"),
            # The environment overrides the file in Hydra: a stray DSN must not win.
            env={"DSN": "memory", "LOG_LEAK_SENSITIVE_VALUES": "false"},
            timeout=90,
        )
    )
    secret = _register_clients(config.admin_url)
    discovery = _answer(
        httpx.get(urljoin(config.issuer, ".well-known/openid-configuration"), timeout=10),
        "OIDC discovery",
    )
    # Hydra makes its signing keys (RSA 4096) when first asked: here, not in the first
    # `task token`.
    _answer(httpx.get(str(discovery["jwks_uri"]), timeout=60), "the JWKS")
    return OidcProvider(
        issuer=str(discovery["issuer"]),
        admin_url=config.admin_url,
        service_client_secret=secret,
    )


@contextmanager
def running_provider(work: Path, supervisor: Supervisor | None = None) -> Iterator[OidcProvider]:
    """The provider for the ``with`` block, started on ``supervisor`` (which stops it) or,
    without one, on a supervisor of its own whose logs are under ``work/logs``."""
    if supervisor is not None:
        yield start_provider(supervisor, work)
        return
    with Supervisor(work / "logs") as own:
        yield start_provider(own, work)


# -- the login and consent app --------------------------------------------------------------

_FORM = """<!doctype html>
<html><head><meta charset="utf-8"><title>TaskPulse local login</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">
<h1>TaskPulse local login</h1>
<p>Any valid user id is a local user (no password): 1 to 255 printable ASCII characters
without <code>, # / \\</code> or spaces. Mail goes to <code>&lt;user&gt;@{domain}</code>.</p>
{error}
<form method="post" action="/login">
<input type="hidden" name="login_challenge" value="{challenge}">
<label>User <input name="user" value="{user}" autofocus></label>
<button type="submit">Sign in</button>
</form></body></html>
"""


class LoginApp:
    """Hydra's login, consent and logout endpoints for named local users."""

    def __init__(self, admin_url: str) -> None:
        self.admin = httpx.Client(base_url=admin_url, timeout=15)

    def _flow(self, kind: str, challenge: str) -> dict[str, Any]:
        request = self.admin.get(
            f"/admin/oauth2/auth/requests/{kind}", params={f"{kind}_challenge": challenge}
        )
        return dict(_answer(request, f"the {kind} request"))

    def _decide(self, kind: str, verdict: str, challenge: str, body: dict[str, Any]) -> str:
        answer = self.admin.put(
            f"/admin/oauth2/auth/requests/{kind}/{verdict}",
            params={f"{kind}_challenge": challenge},
            json=body,
        )
        return str(_answer(answer, f"{verdict} {kind}")["redirect_to"])

    def login(self, challenge: str, typed: str | None) -> tuple[str | None, str]:
        """(where to redirect, or None with the form to show)."""
        request = self._flow("login", challenge)
        if request.get("skip"):
            return self._decide("login", "accept", challenge, {"subject": request["subject"]}), ""
        user = typed if typed is not None else (request.get("oidc_context") or {}).get("login_hint")
        if user is None:
            return None, self.form(challenge, "", "")
        if is_valid_user_id(user):
            return self._decide("login", "accept", challenge, {"subject": user}), ""
        reason = f"not a valid TaskPulse user id: {user[:300]!r}"
        if typed is not None:  # a person at the form may correct it
            return None, self.form(challenge, user, reason)
        body = {"error": "access_denied", "error_description": reason}
        return self._decide("login", "reject", challenge, body), ""

    def consent(self, challenge: str) -> str:
        request = self._flow("consent", challenge)
        user = str(request["subject"])
        claims = {"email": email_of(user), "email_verified": True}
        audience = list(request.get("requested_access_token_audience") or [])
        body = {
            "grant_scope": list(request.get("requested_scope") or []),
            "grant_access_token_audience": [*audience, *([AUDIENCE] * (AUDIENCE not in audience))],
            "session": {"access_token": claims, "id_token": claims},
        }
        return self._decide("consent", "accept", challenge, body)

    def logout(self, challenge: str) -> str:
        return self._decide("logout", "accept", challenge, {})

    @staticmethod
    def form(challenge: str, user: str, error: str) -> str:
        return _FORM.format(
            domain=EMAIL_DOMAIN,
            challenge=html.escape(challenge),
            user=html.escape(user),
            error=f'<p style="color: #b00">{html.escape(error)}</p>' if error else "",
        )


def _handler(app: LoginApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: HTTPStatus, body: str, location: str | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _route(self, path: str, fields: dict[str, str]) -> None:
            try:
                if path == "/health":
                    self._send(HTTPStatus.OK, "ok")
                    return
                if path == "/login" and "login_challenge" in fields:
                    typed = fields.get("user") if self.command == "POST" else None
                    target, page = app.login(fields["login_challenge"], typed)
                    status = HTTPStatus.OK if typed is None else HTTPStatus.BAD_REQUEST
                    if target is None:
                        self._send(status, page)
                        return
                elif path == "/consent" and "consent_challenge" in fields:
                    target = app.consent(fields["consent_challenge"])
                elif path == "/logout" and "logout_challenge" in fields:
                    target = app.logout(fields["logout_challenge"])
                else:
                    self._send(HTTPStatus.NOT_FOUND, "not found")
                    return
            except OidcError as error:
                self._send(HTTPStatus.BAD_GATEWAY, html.escape(str(error)))
                return
            self._send(HTTPStatus.FOUND, "", location=target)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            self._route(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()})

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), 64 * 1024)
            body = self.rfile.read(length).decode("utf-8", errors="replace")
            fields = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
            self._route(urlsplit(self.path).path, fields)

        def log_message(self, format: str, *args: Any) -> None:
            say(f"login app: {format % args}")

    return Handler


def serve_login_app(port: int, admin_url: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(LoginApp(admin_url)))
    say(f"login and consent app on http://127.0.0.1:{port} (Hydra admin {admin_url})")
    server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.oidc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    login = commands.add_parser("login-app", help="serve the login and consent app")
    login.add_argument("--port", type=int, default=LOGIN_PORT)
    login.add_argument("--admin", default=f"http://127.0.0.1:{ADMIN_PORT}")
    commands.add_parser("build", help="build Hydra into the cache (task setup does)")
    args = parser.parse_args(argv)
    if args.command == "build":
        start = time.monotonic()
        say(f"hydra: {binary()} [{time.monotonic() - start:.0f}s]")
        return 0
    serve_login_app(args.port, args.admin)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
