"""create-task's public face, attacked from outside: tokens of the real local provider
(ORY Hydra, by its real flows), and tokens it would never issue (the minter's key is one
the provider publishes, so only the claims are wrong)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient

from devstack.oidc import OidcProvider
from functions_env import STRUCTURED, Env, cloud_event, post
from platform_fixtures import TokenMinter
from taskpulse.contract import Function

CREATE = "dev.taskpulse.task.create.v1"
COMPLETE = "dev.taskpulse.task.completed.v1"
CANCEL = "dev.taskpulse.task.cancelled.v1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create(client: FlaskClient, token: str, **data: Any) -> Any:
    event = cloud_event(CREATE, {"title": "water the plants", **data})
    return post(client, "/", event, **bearer(token))


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")


def _hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """Signed by hand: PyJWT itself refuses to use a public key as an HMAC secret."""
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


@pytest.fixture
def client(env: Env, oidc_provider: OidcProvider) -> FlaskClient:
    return env.client(Function.CREATE_TASK)


def test_a_token_from_the_providers_real_flow_creates_a_task_for_its_user(
    client: FlaskClient, env: Env, oidc_provider: OidcProvider
) -> None:
    created = create(client, oidc_provider.token("alice"))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["data"]["user_id"], body["partitionkey"]) == ("alice", "alice")
    assert [e["data"]["user_id"] for e in env.dapr.published("task-events")] == ["alice"]


def refused_tokens(minter: TokenMinter, provider: OidcProvider) -> dict[str, str]:
    real = provider.token("alice")
    header, payload, signature = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = _b64({**claims, "sub": "bob"})
    public_pem = jwt.PyJWKClient(provider.jwks_url).get_signing_key_from_jwt(real).key
    from cryptography.hazmat.primitives import serialization

    pem = public_pem.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = jwt.get_unverified_header(real)["kid"]
    return {
        "malformed": "not-a-jwt",
        "forged signature": f"{header}.{forged}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'kid': kid})}.{_b64({**claims})}.",
        # The public key as an HMAC secret: the classic algorithm confusion.
        "HS256 with the public key": _hs256(claims, pem, kid),
        "expired": minter.mint(lifetime=-120),
        "not yet valid": minter.mint(not_before=600),
        "another issuer": minter.mint(iss="https://evil.example/"),
        "another audience": minter.mint(aud=["someone-else"]),
        "unknown key": minter.mint(headers={"kid": "no-such-key"}),
    }


def test_every_bad_token_is_refused_401_with_a_bearer_challenge_and_nothing_kept(
    client: FlaskClient, env: Env, oidc_minter: TokenMinter, oidc_provider: OidcProvider
) -> None:
    reasons = {}
    for name, token in refused_tokens(oidc_minter, oidc_provider).items():
        answer = create(client, token)
        assert answer.status_code == 401, (name, answer.get_json())
        challenge = answer.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="taskpulse", error="invalid_token"'), name
        reasons[name] = answer.get_json()["error"]
    assert reasons["expired"] == "token expired"
    assert reasons["not yet valid"] == "token not yet valid"
    assert reasons["another issuer"] == "token from another issuer"
    assert reasons["another audience"] == "token for another audience"
    assert reasons["forged signature"] == "token signature does not verify"
    assert reasons["alg none"] == "token algorithm 'none' is not accepted"
    assert reasons["HS256 with the public key"] == "token algorithm 'HS256' is not accepted"
    assert reasons["unknown key"] == "token signed with unknown key 'no-such-key'"
    missing = post(client, "/", cloud_event(CREATE, {"title": "x"}), Authorization="")
    assert (missing.status_code, missing.headers["WWW-Authenticate"]) == (
        401,
        'Bearer realm="taskpulse"',
    )
    # Unauthenticated requests are never read, kept or published.
    assert env.dapr.requests == []


def test_a_rotated_key_is_picked_up_and_a_removed_one_stops_working(
    client: FlaskClient, env: Env, oidc_provider: OidcProvider
) -> None:
    before = oidc_provider.token("alice")
    assert create(client, before).status_code == 201
    old_kid = jwt.get_unverified_header(before)["kid"]
    new_kid = oidc_provider.rotate_signing_key()
    after = oidc_provider.token("alice")
    assert jwt.get_unverified_header(after)["kid"] == new_kid != old_kid
    time.sleep(1.1)  # unknown kids fetch the keys again at most once a second
    assert create(client, after).status_code == 201  # an unknown kid: keys fetched again
    assert create(client, before).status_code == 201  # the old key is still published
    oidc_provider.remove_key(old_kid)
    # An instance that fetches the keys now (a new one, or any once its keys are stale)
    # no longer knows the old key.
    fresh = create(env.client(Function.CREATE_TASK), before)
    assert (fresh.status_code, fresh.get_json()) == (
        401,
        {"error": f"token signed with unknown key {old_kid!r}"},
    )


def test_user_a_cannot_create_complete_cancel_or_read_as_user_b(
    client: FlaskClient, env: Env, oidc_minter: TokenMinter
) -> None:
    alice, bob = oidc_minter.mint("alice"), oidc_minter.mint("bob")
    bobs = create(client, bob).get_json()["data"]["id"]
    as_bob = create(client, alice, user_id="bob")
    assert (as_bob.status_code, as_bob.get_json()) == (
        403,
        {"error": "user_id 'bob' is not you: a token acts for its own user"},
    )
    for kind, data in ((COMPLETE, {}), (CANCEL, {"scope": "occurrence"})):
        named = post(
            client,
            "/",
            cloud_event(kind, {"task_id": bobs, "user_id": "bob", **data}),
            **bearer(alice),
        )
        assert named.status_code == 403, kind
        unnamed = post(client, "/", cloud_event(kind, {"task_id": bobs, **data}), **bearer(alice))
        assert (unnamed.status_code, unnamed.get_json()) == (
            404,
            {"error": f"task {bobs} not found"},
        ), kind
    read = client.get(f"/tasks/{bobs}", headers=bearer(alice))
    assert (read.status_code, read.get_json()) == (404, {"error": f"task {bobs} not found"})
    assert client.get("/tasks", headers=bearer(alice)).get_json() == {"tasks": [], "next": None}
    # Nothing of alice's attempts reached bob's topic: only bob's own creation did.
    published = env.dapr.published("task-events")
    assert [(e["type"], e["data"]["user_id"]) for e in published] == [
        ("dev.taskpulse.task.created.v1", "bob")
    ]


def test_a_trusted_backend_acts_for_the_user_it_names(
    client: FlaskClient, oidc_provider: OidcProvider
) -> None:
    service = oidc_provider.service_token()
    created = create(client, service, user_id="carol")
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["data"]["user_id"] == "carol"


def test_complete_and_cancel_are_queued_202_once_in_the_users_order(
    client: FlaskClient, env: Env, oidc_minter: TokenMinter
) -> None:
    alice = oidc_minter.mint("alice")
    task = create(client, alice).get_json()["data"]["id"]
    command = cloud_event(COMPLETE, {"task_id": task}, event_id="done-1")
    first = post(client, "/", command, **bearer(alice))
    again = post(client, "/", command, **bearer(alice))
    for answer in (first, again):
        assert (answer.status_code, answer.get_json()) == (
            202,
            {"id": "done-1", "status": "accepted"},
        )
    queued = [e for e in env.dapr.published("task-events") if e["type"] == COMPLETE]
    assert len(queued) == 1
    assert (queued[0]["id"], queued[0]["source"], queued[0]["partitionkey"]) == (
        "done-1",
        "/clients/test",
        "alice",
    )
    assert queued[0]["data"] == {"task_id": task, "user_id": "alice"}


def test_reads_list_the_callers_tasks_by_due_time_a_page_at_a_time(
    client: FlaskClient, oidc_minter: TokenMinter
) -> None:
    dave = oidc_minter.mint("dave")
    dues = ["2031-03-01T09:00:00+00:00", "2031-01-01T09:00:00+00:00", None]
    ids = []
    for n, due in enumerate(dues):
        data: dict[str, Any] = {"title": f"t{n}"} | ({"due_at": due} if due else {})
        ids.append(create(client, dave, **data).get_json()["data"]["id"])
    first = client.get("/tasks?limit=2", headers=bearer(dave)).get_json()
    assert [t["id"] for t in first["tasks"]] == [ids[1], ids[0]]
    assert {t["status"] for t in first["tasks"]} == {"open"}
    rest = client.get(f"/tasks?limit=2&cursor={first['next']}", headers=bearer(dave)).get_json()
    assert ([t["id"] for t in rest["tasks"]], rest["next"]) == ([ids[2]], None)
    one = client.get(f"/tasks/{ids[0]}", headers=bearer(dave))
    assert (one.status_code, one.get_json()["title"]) == (200, "t0")
    assert client.get("/tasks?status=done", headers=bearer(dave)).get_json()["tasks"] == []
    bad = client.get("/tasks?status=later", headers=bearer(dave))
    assert (bad.status_code, bad.get_json()) == (
        400,
        {"error": "status must be one of open, done, all, not 'later'"},
    )
    assert client.get("/tasks").status_code == 401


@pytest.mark.parametrize(
    ("user_id", "fault"),
    [
        ("attacker@evil.com,bob", "may not contain ','"),
        ("alice#bob", "may not contain '#'"),
        ("../bob", "may not contain '/'"),
        ("a b", "may hold only printable ASCII without whitespace (not ' ')"),
        ("x" * 300, "must be 1-255 characters (got 300)"),
    ],
)
def test_odd_user_ids_are_refused_with_the_reason(
    client: FlaskClient, oidc_provider: OidcProvider, user_id: str, fault: str
) -> None:
    answer = create(client, oidc_provider.service_token(), user_id=user_id)
    assert answer.status_code == 400
    assert f"user_id {fault}" in answer.get_json()["error"]


def test_a_huge_body_is_refused_413_without_being_read(
    client: FlaskClient, oidc_minter: TokenMinter
) -> None:
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    class Endless:
        """A 50 MiB body that counts what is read of it."""

        taken = 0

        def read(self, n: int = -1) -> bytes:
            n = 65536 if n < 0 else min(n, 65536)
            self.taken += n
            return b"x" * n

    def send(headers: dict[str, str], length: int | None) -> tuple[int, Endless]:
        environ = EnvironBuilder(path="/", method="POST", headers=headers).get_environ()
        body = Endless()
        environ["wsgi.input"] = body
        if length is None:  # chunked: no length announced
            environ.pop("CONTENT_LENGTH", None)
            environ["wsgi.input_terminated"] = True
        else:
            environ["CONTENT_LENGTH"] = str(length)
        _, status, _ = run_wsgi_app(client.application, environ, buffered=True)
        return int(status.split()[0]), body

    alice = {"content-type": STRUCTURED, **bearer(oidc_minter.mint("alice"))}
    status, body = send(alice, 50 * 1024 * 1024)
    assert (status, body.taken) == (413, 0)
    # A chunked body is read only up to the limit, then refused.
    status, body = send(alice, None)
    assert status == 413 and body.taken <= 65536 + 65536
    # Without a token nothing is read at all.
    status, body = send({"content-type": STRUCTURED}, 50 * 1024 * 1024)
    assert (status, body.taken) == (401, 0)


def test_without_a_token_the_public_function_hides_its_metrics(
    client: FlaskClient, env: Env
) -> None:
    assert client.get("/metrics").status_code == 200  # no app token configured in this env
    guarded = env.client(Function.CREATE_TASK, app_api_token="s3cret")
    assert guarded.get("/metrics").status_code == 401
    assert guarded.post("/job/outbox-sweep").status_code == 401
    assert post(guarded, "/events/task-create", cloud_event(CREATE, {})).status_code == 401


def test_ids_that_are_not_uuids_never_reach_a_dapr_path(
    client: FlaskClient, oidc_minter: TokenMinter
) -> None:
    alice = oidc_minter.mint("alice")
    answer = post(
        client, "/", cloud_event(COMPLETE, {"task_id": "../../v1.0/state/x"}), **bearer(alice)
    )
    assert answer.status_code == 400
    assert "is not a UUID" in answer.get_json()["error"]
    assert client.get(f"/tasks/{uuid.uuid4()}x", headers=bearer(alice)).status_code == 404
