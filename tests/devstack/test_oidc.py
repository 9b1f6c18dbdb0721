"""The local OpenID Connect provider (ORY Hydra and the login app), used from the outside.

Tokens come from the real flows (authorization code + PKCE through the login and consent
app, client credentials) and are checked with PyJWT against the published JWKS, as
create-task checks them, and by a real Centrifugo configured as ``task up`` runs it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import jwt
import pytest
from centrifuge import (
    Client,
    ClientEventHandler,
    ConnectedContext,
    DisconnectedContext,
)

from devstack.centrifugo import (
    CentrifugoConfig,
    JwksTokens,
    ProviderKeyTokens,
    connection_token,
)
from devstack.centrifugo import argv as centrifugo_argv
from devstack.oidc import (
    AUDIENCE,
    SERVICE_CLIENT_ID,
    SERVICE_SCOPE,
    OidcError,
    OidcProvider,
    is_valid_user_id,
)
from devstack.ports import free_port
from devstack.supervisor import Service, Supervisor, http_ok
from platform_fixtures import TokenMinter
from push_events import Events
from taskpulse.contract import push_channel

REQUIRED = ["iss", "aud", "sub", "exp", "iat", "nbf"]


def verify(provider: OidcProvider, token: str) -> dict[str, Any]:
    """As a resource server does: the key named by ``kid`` from a fresh JWKS, RS256 only."""
    client = jwt.PyJWKClient(provider.jwks_url, cache_jwk_set=False, cache_keys=False)
    key = client.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=provider.audience,
        issuer=provider.issuer,
        options={"require": REQUIRED},
    )
    return claims


def jwks_kids(provider: OidcProvider) -> set[str]:
    keys = httpx.get(provider.jwks_url, timeout=10).json()["keys"]
    return {str(key["kid"]) for key in keys}


def test_discovery_names_the_issuer_and_its_jwks(oidc_provider: OidcProvider) -> None:
    document = httpx.get(oidc_provider.discovery_url, timeout=10).json()
    assert document["issuer"] == oidc_provider.issuer
    assert oidc_provider.issuer.startswith("http://127.0.0.1:")
    assert document["jwks_uri"] == oidc_provider.jwks_url
    assert document["token_endpoint"] == oidc_provider.token_url
    assert "S256" in document["code_challenge_methods_supported"]


def test_the_real_flow_gives_a_jwt_that_verifies_with_the_jwks(
    oidc_provider: OidcProvider,
) -> None:
    token = oidc_provider.token("alice")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["kid"] in jwks_kids(oidc_provider)
    claims = verify(oidc_provider, token)
    assert claims["iss"] == oidc_provider.issuer
    assert claims["aud"] == [AUDIENCE]
    assert claims["sub"] == "alice"
    assert (claims["email"], claims["email_verified"]) == ("alice@taskpulse.local", True)
    assert claims["client_id"] == oidc_provider.cli_client_id
    assert abs(claims["exp"] - claims["iat"] - 3600) <= 5  # an hour
    assert SERVICE_SCOPE not in claims["scp"]
    assert "ext" not in claims  # the e-mail claims are top-level only


@pytest.mark.parametrize(
    "user",
    ["o'brien+tasks@example.org", "x" * 255, "!\"$%&'()*+-.:;<=>?@[]^_`{|}~", "7"],
    ids=["mail-like", "255-chars", "punctuation", "one-char"],
)
def test_any_valid_user_id_is_a_local_user(oidc_provider: OidcProvider, user: str) -> None:
    assert is_valid_user_id(user)
    claims = verify(oidc_provider, oidc_provider.token(user))
    assert (claims["sub"], claims["email"]) == (user, f"{user}@taskpulse.local")


@pytest.mark.parametrize(
    "user",
    ["bob,alice", "a#b", "../alice", "a\\b", "a b", "tab\there", "x" * 256, "ålice", "a\x01b"],
    ids=["comma", "hash", "slash", "backslash", "space", "tab", "256", "non-ascii", "control"],
)
def test_an_invalid_user_id_is_refused_at_login(oidc_provider: OidcProvider, user: str) -> None:
    assert not is_valid_user_id(user)
    with pytest.raises(OidcError, match=r"access_denied.*not a valid TaskPulse user id"):
        oidc_provider.token(user)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_browser_signs_in_through_the_login_form(oidc_provider: OidcProvider) -> None:
    """Without ``login_hint`` the login app shows a form; a wrong user id is shown again
    with the reason, a valid one continues to consent and back with a code."""
    verifier, challenge = _pkce()
    query = {
        "response_type": "code",
        "client_id": oidc_provider.cli_client_id,
        "redirect_uri": oidc_provider.redirect_uri,
        "scope": "openid email",
        "audience": AUDIENCE,
        "state": "browser-state-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with httpx.Client(timeout=15) as browser:
        url = f"{oidc_provider.authorization_url}?{urlencode(query)}"
        page = browser.get(url, follow_redirects=True)
        assert page.status_code == 200
        assert '<form method="post" action="/login">' in page.text
        login_challenge = parse_qs(urlsplit(str(page.url)).query)["login_challenge"][0]
        form_url = str(page.url).split("?", 1)[0]

        wrong = browser.post(form_url, data={"login_challenge": login_challenge, "user": "a,b"})
        assert wrong.status_code == 400
        assert "not a valid TaskPulse user id: &#x27;a,b&#x27;" in wrong.text

        answer = browser.post(form_url, data={"login_challenge": login_challenge, "user": "carol"})
        while answer.is_redirect:
            location = urljoin(str(answer.url), answer.headers["location"])
            if location.startswith(oidc_provider.redirect_uri):
                break
            answer = browser.get(location)
        assert answer.is_redirect, answer.text
        back = parse_qs(urlsplit(answer.headers["location"]).query)
        assert back["state"] == ["browser-state-123"]
        tokens = browser.post(
            oidc_provider.token_url,
            data={
                "grant_type": "authorization_code",
                "code": back["code"][0],
                "redirect_uri": oidc_provider.redirect_uri,
                "client_id": oidc_provider.cli_client_id,
                "code_verifier": verifier,
            },
        ).json()
    claims = verify(oidc_provider, tokens["access_token"])
    assert (claims["sub"], claims["email_verified"]) == ("carol", True)


def test_the_public_client_cannot_skip_pkce(oidc_provider: OidcProvider) -> None:
    """An authorization request without a code challenge ends, after login and consent,
    at the redirect URI with an error instead of a code."""
    query = {
        "response_type": "code",
        "client_id": oidc_provider.cli_client_id,
        "redirect_uri": oidc_provider.redirect_uri,
        "scope": "openid",
        "state": "no-pkce-state",
        "login_hint": "alice",
    }
    url = f"{oidc_provider.authorization_url}?{urlencode(query)}"
    with httpx.Client(timeout=10) as browser:
        while not url.startswith(oidc_provider.redirect_uri):
            answer = browser.get(url)
            assert answer.is_redirect, answer.text
            url = urljoin(url, answer.headers["location"])
    back = parse_qs(urlsplit(url).query)
    assert "code" not in back
    assert back["error"] == ["invalid_request"], back
    assert "code_challenge" in back["error_description"][0], back


def test_a_service_token_carries_the_service_scope(oidc_provider: OidcProvider) -> None:
    claims = verify(oidc_provider, oidc_provider.service_token())
    assert claims["sub"] == SERVICE_CLIENT_ID
    assert claims["scp"] == [SERVICE_SCOPE]
    assert claims["scope"] == SERVICE_SCOPE
    assert claims["aud"] == [AUDIENCE]


def test_the_users_client_cannot_ask_for_the_service_scope(oidc_provider: OidcProvider) -> None:
    with pytest.raises(OidcError, match="invalid_scope"):
        oidc_provider.token("alice", scopes=("openid", SERVICE_SCOPE))


def test_a_wrong_client_secret_gets_no_service_token(oidc_provider: OidcProvider) -> None:
    with pytest.raises(OidcError, match="401"):
        replace(oidc_provider, service_client_secret="not-the-secret").service_token()


def test_rotation_new_tokens_carry_the_new_kid_old_ones_verify_until_removed(
    oidc_provider: OidcProvider,
) -> None:
    old_token = oidc_provider.token("alice")
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    new_kid = oidc_provider.rotate_signing_key()
    assert new_kid != old_kid
    assert {old_kid, new_kid} <= jwks_kids(oidc_provider)
    new_token = oidc_provider.token("alice")
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert jwt.get_unverified_header(oidc_provider.service_token())["kid"] == new_kid
    assert verify(oidc_provider, old_token)["sub"] == "alice"  # still published
    assert verify(oidc_provider, new_token)["sub"] == "alice"

    oidc_provider.remove_key(old_kid)
    assert old_kid not in jwks_kids(oidc_provider)
    assert new_kid in jwks_kids(oidc_provider)
    with pytest.raises(jwt.PyJWKClientError, match=old_kid):
        verify(oidc_provider, old_token)
    assert verify(oidc_provider, new_token)["sub"] == "alice"
    assert jwt.get_unverified_header(oidc_provider.token("alice"))["kid"] == new_kid


def test_a_minted_token_verifies_and_hydra_keeps_signing_with_its_own_key(
    oidc_provider: OidcProvider, oidc_minter: TokenMinter
) -> None:
    """The minter's public key is in the JWKS; Hydra, which has no private half of it,
    still signs with its own newest key."""
    assert oidc_minter.kid in jwks_kids(oidc_provider)
    assert verify(oidc_provider, oidc_minter.mint("dora"))["sub"] == "dora"
    assert jwt.get_unverified_header(oidc_provider.token("dora"))["kid"] != oidc_minter.kid


# -- Centrifugo with the provider's JWKS --------------------------------------------------


class Connection(ClientEventHandler):  # type: ignore[misc]
    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.connected: asyncio.Future[None] = loop.create_future()
        self.disconnected: asyncio.Future[tuple[int, str]] = loop.create_future()

    async def on_connected(self, ctx: ConnectedContext) -> None:
        if not self.connected.done():
            self.connected.set_result(None)

    async def on_disconnected(self, ctx: DisconnectedContext) -> None:
        if not self.disconnected.done():
            self.disconnected.set_result((ctx.code, ctx.reason))


def test_centrifugo_takes_the_users_access_token_for_their_channel(
    oidc_provider: OidcProvider, centrifugo_oidc: CentrifugoConfig
) -> None:
    user = f"eve-{uuid.uuid4().hex[:6]}"
    token = oidc_provider.token(user)

    async def scenario() -> object:
        client = Client(centrifugo_oidc.ws_url, token=token, events=Connection())
        channel = Events()
        subscription = client.new_subscription(push_channel(user), channel)
        await client.connect()
        await subscription.subscribe()
        try:
            await asyncio.wait_for(channel.subscribed, 10)
            payload = {"marker": str(uuid.uuid4())}
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    f"{centrifugo_oidc.api_url}/publish",
                    json={"channel": push_channel(user), "data": payload},
                    headers={"X-API-Key": centrifugo_oidc.api_key},
                )
            assert (response.status_code, response.json()) == (200, {"result": {}})
            received = await asyncio.wait_for(channel.publications.get(), 10)
            assert received == payload
            return received
        finally:
            await client.disconnect()

    asyncio.run(scenario())


def test_centrifugo_keeps_another_users_channel_closed(
    oidc_provider: OidcProvider, centrifugo_oidc: CentrifugoConfig
) -> None:
    token = oidc_provider.token("bob")

    async def scenario() -> int:
        client = Client(centrifugo_oidc.ws_url, token=token)
        channel = Events()
        subscription = client.new_subscription(push_channel("alice"), channel)
        await client.connect()
        await subscription.subscribe()
        try:
            return await asyncio.wait_for(channel.unsubscribed, 10)
        finally:
            await client.disconnect()

    assert asyncio.run(scenario()) == 103  # permission denied


def _forge(token: str, **changes: Any) -> str:
    """The same header and signature over a payload changed by ``changes``."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body = json.dumps({**claims, **changes}).encode()
    return ".".join([header, base64.urlsafe_b64encode(body).rstrip(b"=").decode(), signature])


def _connect_outcome(config: CentrifugoConfig, token: str) -> str:
    async def scenario() -> str:
        events = Connection()
        client = Client(config.ws_url, token=token, events=events)
        await client.connect()
        try:
            done, _ = await asyncio.wait(
                [events.connected, events.disconnected],
                timeout=10,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if events.connected in done:
                return "connected"
            if events.disconnected in done:
                code, reason = events.disconnected.result()
                return f"refused {code} {reason}"
            return "no answer"
        finally:
            await client.disconnect()

    return asyncio.run(scenario())


def test_centrifugo_accepts_a_token_signed_by_a_published_key(
    oidc_minter: TokenMinter, centrifugo_oidc: CentrifugoConfig
) -> None:
    """The control for the refusals below: the minter's key is trusted as it should be."""
    assert _connect_outcome(centrifugo_oidc, oidc_minter.mint("frank")) == "connected"


@pytest.mark.parametrize(
    "kind",
    [
        "forged-subject",
        "expired",
        "wrong-audience",
        "wrong-issuer",
        "alg-none",
        "unknown-kid",
        "no-subject",
    ],
)
def test_centrifugo_and_pyjwt_refuse_a_forged_or_expired_token(
    oidc_provider: OidcProvider,
    oidc_minter: TokenMinter,
    centrifugo_oidc: CentrifugoConfig,
    kind: str,
) -> None:
    real = oidc_provider.token("grace")
    tokens = {
        "forged-subject": lambda: _forge(real, sub="alice"),
        "expired": lambda: oidc_minter.mint("grace", lifetime=-120),
        "wrong-audience": lambda: oidc_minter.mint("grace", aud=["someone-else"]),
        "wrong-issuer": lambda: oidc_minter.mint("grace", iss="http://127.0.0.1:1/"),
        "alg-none": lambda: jwt.encode(
            {"sub": "grace", "aud": [AUDIENCE], "iss": oidc_provider.issuer},
            key=None,
            algorithm="none",
            headers={"kid": oidc_minter.kid},
        ),
        "unknown-kid": lambda: oidc_minter.mint("grace", headers={"kid": "no-such-key"}),
        "no-subject": lambda: oidc_minter.mint("grace", sub=None),
    }
    token = tokens[kind]()
    # Centrifugo answers "token expired" (109) to the expired one, and the client, having
    # no get_token to refresh it with, stops as unauthorized; a token naming no user is
    # refused (disallow_anonymous_connection_tokens); the others are invalid.
    expected = {
        "expired": "refused 1 unauthorized",
        "no-subject": "refused 3507 permission denied",
    }.get(kind, "refused 3500 invalid token")
    assert _connect_outcome(centrifugo_oidc, token) == expected
    with pytest.raises(jwt.PyJWTError):  # and a resource server refuses them all too
        verify(oidc_provider, token)


@pytest.fixture(scope="module")
def centrifugo_both(
    platform_supervisor: Supervisor, platform_dir: Path, oidc_provider: OidcProvider
) -> CentrifugoConfig:
    """Centrifugo as `task up` runs it: the provider's signing key and an HMAC secret."""
    tokens = ProviderKeyTokens(oidc_provider.signing_key_pem())
    config = CentrifugoConfig.generate(free_port(), provider_key=tokens)
    path = config.write(platform_dir / "centrifugo-both.json")
    platform_supervisor.start(
        Service("centrifugo-both", centrifugo_argv(path), http_ok(config.health_url), timeout=60)
    )
    return config


def test_task_ups_gateway_takes_the_providers_tokens_and_hmac_ones(
    centrifugo_both: CentrifugoConfig, oidc_provider: OidcProvider, oidc_minter: TokenMinter
) -> None:
    """Contract §4 (the access token of create-task) and §5 (tokens made with
    centrifugo_token_secret) at once; nothing signed otherwise gets in."""
    assert centrifugo_both.token_secret is not None
    hmac_token = connection_token(centrifugo_both.token_secret, "grace")
    assert _connect_outcome(centrifugo_both, oidc_provider.token("grace")) == "connected"
    assert _connect_outcome(centrifugo_both, hmac_token) == "connected"
    # A key the provider publishes but does not sign with, and another HMAC secret.
    refused = "refused 3500 invalid token"
    assert _connect_outcome(centrifugo_both, oidc_minter.mint("grace")) == refused
    assert _connect_outcome(centrifugo_both, connection_token("not-the-secret", "grace")) == refused


def test_the_hmac_option_and_the_jwks_option_are_exclusive() -> None:
    """Centrifugo v6.9.1 verifies connection tokens with a JWKS or with static keys, not
    both (NewTokenVerifierJWT): the configuration carries exactly one of them."""
    hmac_only = CentrifugoConfig.generate(8000).document()["client"]
    jwks = JwksTokens("http://127.0.0.1:4444/.well-known/jwks.json", "http://i/", AUDIENCE)
    with_jwks = CentrifugoConfig.generate(8000, jwks)
    assert set(hmac_only["token"]) == {"hmac_secret_key"}  # type: ignore[index]
    assert with_jwks.token_secret is None
    assert with_jwks.document()["client"]["token"] == {  # type: ignore[index]
        "jwks_public_endpoint": jwks.jwks_url,
        "issuer": "http://i/",
        "audience": AUDIENCE,
    }


# -- task token ------------------------------------------------------------------------------


def _task_token(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack.token", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ},
    )


def test_task_token_prints_one_line_with_a_users_token(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text(json.dumps(oidc_provider.endpoints()))
    done = _task_token("--endpoints", str(endpoints), "alice")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    assert verify(oidc_provider, done.stdout.strip())["sub"] == "alice"

    service = _task_token("--endpoints", str(endpoints), "--service")
    assert service.returncode == 0, service.stderr
    assert verify(oidc_provider, service.stdout.strip())["sub"] == SERVICE_CLIENT_ID

    refused = _task_token("--endpoints", str(endpoints), "bob,alice")
    assert (refused.returncode, refused.stdout) == (2, "")
    assert "not a valid user id" in refused.stderr


def test_task_token_says_when_task_up_is_not_running(tmp_path: Path) -> None:
    missing = _task_token("--endpoints", str(tmp_path / "endpoints.json"), "alice")
    assert (missing.returncode, missing.stdout) == (2, "")
    assert "`task up` is not running" in missing.stderr

    stale = tmp_path / "stale.json"  # left by a `task up` that was killed
    stale.write_text(json.dumps({"oidc_issuer": "http://127.0.0.1:9/", "oidc_admin": ""}))
    gone = _task_token("--endpoints", str(stale), "alice")
    assert (gone.returncode, gone.stdout) == (1, "")
    assert "does not answer" in gone.stderr and "still running" in gone.stderr
