"""pytest plugin: the real local platform parts, started once per test session on demand.

Register it once in tests/conftest.py with ``pytest_plugins = ["platform_fixtures"]``
(tests/ is on sys.path there), or ad hoc with ``-p platform_fixtures``. Each part starts
only when a test asks for its fixture and stops at the end of the session; logs are in
``<pytest tmp>/platform0/logs/<part>.log`` (named in every start error).

Fixtures: ``platform_supervisor``, ``kafka_bootstrap`` (contract topics created),
``dapr_scheduler`` (address), ``echo_app`` + ``echo_daprd`` (a daprd calling a recording
echo app through --app-channel-address/--app-port, with a pubsub.kafka component and a
declarative subscription), ``centrifugo`` and ``smtp_mailbox``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack import daprd as dapr_tools
from devstack.centrifugo import CentrifugoConfig
from devstack.centrifugo import argv as centrifugo_argv
from devstack.kafka import create_topics, external_bootstrap, local_broker
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
def kafka_bootstrap(platform_supervisor: Supervisor, platform_dir: Path) -> str:
    """Bootstrap servers of a broker with the contract's topics (and the test topic)."""
    bootstrap = external_bootstrap()
    if bootstrap is None:
        node = local_broker(free_port(), platform_dir)
        node.format_storage()
        platform_supervisor.start(
            Service("kafka", node.argv(), tcp_open("127.0.0.1", node.port), timeout=120)
        )
        bootstrap = node.bootstrap
    create_topics(bootstrap)
    create_topics(bootstrap, (ECHO_TOPIC,))
    return bootstrap


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


def _echo_resources(folder: Path, bootstrap: str) -> Path:
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
    - {{name: brokers, value: "{bootstrap}"}}
    - {{name: authType, value: "none"}}
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
    kafka_bootstrap: str,
    dapr_scheduler: str,
    echo_app: EchoApp,
) -> EchoDaprd:
    ports = dapr_tools.DaprdPorts(free_port(), free_port(), free_port(), free_port())
    argv = dapr_tools.daprd_argv(
        dapr_tools.daprd().path,
        app_id=ECHO_APP_ID,
        app_port=echo_app.port,
        ports=ports,
        resources=[_echo_resources(platform_dir / "resources", kafka_bootstrap)],
        scheduler_address=dapr_scheduler,
    )
    env = {"DAPR_API_TOKEN": DAPR_TOKEN, "APP_API_TOKEN": APP_TOKEN}
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
