"""pytest plugin: the real local platform parts, started once per test session on demand.

Register it once in tests/conftest.py with ``pytest_plugins = ["platform_fixtures"]``
(tests/ is on sys.path there), or ad hoc with ``-p platform_fixtures``. Each part starts
only when a test asks for its fixture and stops at the end of the session; logs are in
``<pytest tmp>/platform0/logs/<part>.log`` (named in every start error).

Fixtures: ``platform_supervisor``, ``kafka`` (a :class:`devstack.kafka_access.Brokers`:
the broker secured as `task up` runs it, contract topics and ACLs created),
``dapr_scheduler`` (address), ``echo_app`` + ``echo_daprd`` (a daprd calling a recording
echo app through --app-channel-address/--app-port, with a pubsub.kafka component and a
declarative subscription), ``centrifugo`` (HMAC connection tokens), ``oidc_provider``
(ORY Hydra and its login app: ``oidc_provider.token(user)``, ``.service_token()``...),
``oidc_minter`` (tokens Hydra would not issue, signed with a key its JWKS publishes),
``centrifugo_oidc`` (a Centrifugo that takes the provider's access tokens) and
``smtp_mailbox``.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack import daprd as dapr_tools
from devstack import kafka_access
from devstack.centrifugo import CentrifugoConfig, JwksTokens
from devstack.centrifugo import argv as centrifugo_argv
from devstack.kafka import create_topics, external_brokers, local_broker
from devstack.kafka_access import ADMIN_PRINCIPAL, Brokers, grant
from devstack.oidc import OidcProvider, start_provider
from devstack.ports import free_port
from devstack.supervisor import Service, Supervisor, http_ok, tcp_open
from support import wait_for
from taskpulse.contract import PUBSUB_NAME, Topic

ECHO_APP_ID = "platform-echo"
ECHO_TOPIC = Topic("platform-test-echo", partitions=1, retention=timedelta(hours=1))
"""A test-only topic: platform tests never put events on the contract's topics."""
ECHO_ROUTE = "/events/echo"
APP_TOKEN = "platform-test-app-token"
DAPR_TOKEN = "platform-test-dapr-token"


@pytest.fixture(scope="session")
def platform_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("platform")


@pytest.fixture(scope="session")
def platform_supervisor(platform_dir: Path) -> Iterator[Supervisor]:
    with Supervisor(platform_dir / "logs") as supervisor:
        yield supervisor


@pytest.fixture(scope="session")
def kafka(platform_supervisor: Supervisor, platform_dir: Path) -> Brokers:
    """A broker with the contract's topics and ACLs (and the test topic), as `task up`
    runs it."""
    brokers = external_brokers()
    if brokers is None:
        node = local_broker(free_port(), platform_dir)
        node.format_storage()
        platform_supervisor.start(
            Service("kafka", node.argv(), tcp_open("127.0.0.1", node.port), timeout=120)
        )
        brokers = node.brokers
    create_topics(brokers)
    create_topics(brokers, (ECHO_TOPIC,))
    grant(brokers)
    return brokers


@pytest.fixture(scope="session")
def dapr_scheduler(platform_supervisor: Supervisor, platform_dir: Path) -> str:
    ports = dapr_tools.SchedulerPorts(
        free_port(), free_port(), free_port(), free_port(), free_port()
    )
    argv = dapr_tools.scheduler_argv(dapr_tools.scheduler().path, ports, platform_dir / "etcd")
    health = http_ok(f"http://127.0.0.1:{ports.healthz}/healthz")
    platform_supervisor.start(Service("scheduler", argv, health, timeout=90))
    return ports.address


@dataclass(frozen=True)
class EchoApp:
    port: int
    record: Path

    def requests(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines() if line]

    def wait_for_path(self, path: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        return wait_for(lambda: [r for r in self.requests() if r["path"] == path], timeout)


@pytest.fixture(scope="session")
def echo_app(platform_supervisor: Supervisor, platform_dir: Path) -> EchoApp:
    app = EchoApp(free_port(), platform_dir / "echo-requests.jsonl")
    script = Path(__file__).with_name("platform_echo.py")
    argv = [sys.executable, str(script), str(app.port), str(app.record)]
    platform_supervisor.start(Service("echo", argv, tcp_open("127.0.0.1", app.port)))
    return app


def _echo_resources(folder: Path, brokers: Brokers) -> Path:
    # The echo app is no function of the contract: it logs in as the admin, on its own topic.
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pubsub-kafka.yaml").write_text(
        f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {PUBSUB_NAME}
spec:
  type: pubsub.kafka
  version: v1
  metadata:
    - {{name: brokers, value: "{brokers.bootstrap}"}}
    - {{name: authType, envRef: {kafka_access.AUTH_TYPE_ENV}}}
    - {{name: disableTls, envRef: {kafka_access.DISABLE_TLS_ENV}}}
    - {{name: saslMechanism, value: "SHA-512"}}
    - {{name: saslUsername, envRef: {kafka_access.USERNAME_ENV}}}
    - {{name: saslPassword, envRef: {kafka_access.PASSWORD_ENV}}}
    - {{name: caCert, envRef: {kafka_access.CA_CERT_ENV}}}
    - {{name: consumerGroup, value: "{ECHO_APP_ID}-{ECHO_TOPIC.name}-v1"}}
    - {{name: initialOffset, value: "oldest"}}
"""
    )
    (folder / "subscription.yaml").write_text(
        f"""apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: {ECHO_APP_ID}-{ECHO_TOPIC.name}
spec:
  pubsubname: {PUBSUB_NAME}
  topic: {ECHO_TOPIC.name}
  routes:
    default: {ECHO_ROUTE}
scopes: [{ECHO_APP_ID}]
"""
    )
    return folder


@dataclass(frozen=True)
class EchoDaprd:
    http_endpoint: str
    app: EchoApp
    api_token: str = DAPR_TOKEN
    app_token: str = APP_TOKEN


@pytest.fixture(scope="session")
def echo_daprd(
    platform_supervisor: Supervisor,
    platform_dir: Path,
    kafka: Brokers,
    dapr_scheduler: str,
    echo_app: EchoApp,
) -> EchoDaprd:
    ports = dapr_tools.DaprdPorts(free_port(), free_port(), free_port(), free_port())
    argv = dapr_tools.daprd_argv(
        dapr_tools.daprd().path,
        app_id=ECHO_APP_ID,
        app_port=echo_app.port,
        ports=ports,
        resources=[_echo_resources(platform_dir / "resources", kafka)],
        scheduler_address=dapr_scheduler,
    )
    env = {
        "DAPR_API_TOKEN": DAPR_TOKEN,
        "APP_API_TOKEN": APP_TOKEN,
        **kafka.daprd_env(ADMIN_PRINCIPAL),
    }
    health = http_ok(f"{ports.http_endpoint}/v1.0/healthz")
    platform_supervisor.start(Service("daprd-echo", argv, health, env=env, timeout=90))
    return EchoDaprd(ports.http_endpoint, echo_app)


@pytest.fixture(scope="session")
def centrifugo(platform_supervisor: Supervisor, platform_dir: Path) -> CentrifugoConfig:
    config = CentrifugoConfig.generate(free_port())
    path = config.write(platform_dir / "centrifugo.json")
    platform_supervisor.start(
        Service("centrifugo", centrifugo_argv(path), http_ok(config.health_url), timeout=60)
    )
    return config


@pytest.fixture(scope="session")
def oidc_provider(platform_supervisor: Supervisor, platform_dir: Path) -> OidcProvider:
    """The local OpenID Connect provider (real Hydra, real flows); tests that rotate its
    signing key leave the newest key signing (they remove only the keys they retire)."""
    return start_provider(platform_supervisor, platform_dir / "oidc")


@dataclass(frozen=True)
class TokenMinter:
    """Signs access tokens with a key the provider publishes in its JWKS (Hydra never holds
    its private half), so a test can make what Hydra would not issue: expired or not yet
    valid tokens, another audience, other claims. Defaults are those of Hydra's tokens."""

    kid: str
    private_pem: bytes
    issuer: str
    audience: str

    def mint(
        self,
        user: str = "alice",
        *,
        lifetime: float = 3600,
        not_before: float = 0,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """``lifetime`` and ``not_before`` are seconds from now (negative: in the past); a
        claim given as None is left out."""
        import jwt

        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": [self.audience],
            "sub": user,
            "iat": now,
            "nbf": now + int(not_before),
            "exp": now + int(lifetime),
            "jti": str(uuid.uuid4()),
            "client_id": "taskpulse-cli",
            "scp": ["openid", "email"],
            "email": f"{user}@taskpulse.local",
            "email_verified": True,
            **claims,
        }
        return jwt.encode(
            {name: value for name, value in body.items() if value is not None},
            self.private_pem,
            algorithm="RS256",
            headers={"kid": self.kid, **(headers or {})},
        )


@pytest.fixture(scope="session")
def oidc_minter(oidc_provider: OidcProvider) -> TokenMinter:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = f"test-minter-{uuid.uuid4().hex[:8]}"
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    oidc_provider.publish_key({**public, "kid": kid, "alg": "RS256", "use": "sig"})
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return TokenMinter(kid, pem, oidc_provider.issuer, oidc_provider.audience)


@pytest.fixture(scope="session")
def centrifugo_oidc(
    platform_supervisor: Supervisor, platform_dir: Path, oidc_provider: OidcProvider
) -> CentrifugoConfig:
    """Centrifugo as the cluster runs it: connection tokens are the provider's access tokens,
    checked with its JWKS, issuer and audience."""
    tokens = JwksTokens(oidc_provider.jwks_url, oidc_provider.issuer, oidc_provider.audience)
    config = CentrifugoConfig.generate(free_port(), tokens)
    path = config.write(platform_dir / "centrifugo-oidc.json")
    platform_supervisor.start(
        Service("centrifugo-oidc", centrifugo_argv(path), http_ok(config.health_url), timeout=60)
    )
    return config


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    mailbox: Path


@pytest.fixture(scope="session")
def smtp_mailbox(platform_supervisor: Supervisor, platform_dir: Path) -> SmtpServer:
    server = SmtpServer("127.0.0.1", free_port(), platform_dir / "mailbox")
    argv = [sys.executable, "-m", "devstack.smtp", "--host", server.host]
    argv += ["--port", str(server.port), "--mailbox", str(server.mailbox)]
    platform_supervisor.start(Service("smtp", argv, tcp_open(server.host, server.port)))
    return server
