"""Apache Kafka, single node in KRaft mode, from Maven Central jars; and the contract topics.

Where a user already has a broker, it is used (:func:`local_broker`), in this order:
``KAFKA_BOOTSTRAP_SERVERS`` names a running one (a Redpanda started with ``rpk container
start`` works the same); a Kafka distribution on PATH (``kafka-server-start.sh``) lends
its ``libs/``; a Redpanda on PATH (``rpk`` with its broker) runs as the node
(:mod:`devstack.redpanda`). Otherwise Maven resolves ``org.apache.kafka:kafka_2.13`` and
its runtime dependencies into the cache once.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devstack import maven, redpanda
from devstack.cache import cache_dir, say
from devstack.kafka_access import Brokers, KafkaSecurity
from devstack.ports import free_port
from devstack.versions import JAVA_MIN_MAJOR, KAFKA_SCALA, KAFKA_VERSION
from taskpulse.contract import Topic, all_topics

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
# log4j2 binding for the slf4j 1.x API Kafka 4.1 logs through (not a kafka_2.13 dependency).
_LOG4J_VERSION = "2.24.3"
_DEPENDENCIES = """  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>"""
_LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
# Per-request and controller chatter drowns what a developer looks for.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
"""


class KafkaUnavailable(RuntimeError):
    pass


def java() -> str:
    """``java`` of at least JAVA_MIN_MAJOR (the Kafka 4 broker's floor)."""
    try:
        return maven.java_at_least(JAVA_MIN_MAJOR, f"Kafka {KAFKA_VERSION}")
    except maven.MavenUnavailable as e:
        raise KafkaUnavailable(f"{e}; or set {BOOTSTRAP_ENV}") from e


def _distribution_libs() -> Path | None:
    # The Apache tarball names it .sh; Homebrew and the Debian-style packages do not.
    start = shutil.which("kafka-server-start.sh") or shutil.which("kafka-server-start")
    if start is None:
        return None
    libs = Path(start).resolve().parent.parent / "libs"
    return (
        libs
        if (libs / f"kafka_{KAFKA_SCALA}-{KAFKA_VERSION}.jar").exists()
        or any(libs.glob(f"kafka_{KAFKA_SCALA}-*.jar"))
        else None
    )


def libs() -> Path:
    """Folder of the broker's jars: a Kafka on PATH, else the Maven-resolved cache."""
    if found := _distribution_libs():
        say(f"Kafka: using the distribution on PATH ({found})")
        return found
    root = cache_dir("kafka", f"{KAFKA_SCALA}-{KAFKA_VERSION}")
    out, done = root / "libs", root / "libs.complete"
    if done.exists():
        return out
    body = _DEPENDENCIES.format(scala=KAFKA_SCALA, kafka=KAFKA_VERSION, log4j=_LOG4J_VERSION)
    try:
        maven.fetch_jars(root, "kafka-runtime", body, out, f"Kafka {KAFKA_VERSION} jars")
    except maven.MavenUnavailable as e:
        raise KafkaUnavailable(
            f"{e}\n(or put a Kafka distribution on PATH, or set {BOOTSTRAP_ENV})"
        ) from e
    done.touch()
    say(f"Kafka {KAFKA_VERSION}: {len(list(out.glob('*.jar')))} jars cached in {out}")
    return out


@dataclass(frozen=True)
class KafkaNode:
    """One combined broker+controller; ``argv`` runs it, ``format_argv`` prepares storage.

    Clients reach it over SASL_SSL with SCRAM and ACLs (:mod:`devstack.kafka_access`), as
    they reach the cluster's Strimzi listener: ``brokers`` says how.
    """

    port: int
    controller_port: int
    data_dir: Path
    heap: str = "512m"
    door_port: int | None = None
    """A plaintext listener on 127.0.0.1 whose anonymous clients are super users: the
    ``kafka`` bootstrap contract §5 promises in ``.local/endpoints.json``, for a developer's
    tools (decision 0029). No part of the system uses it."""
    security: KafkaSecurity = field(init=False)

    def __post_init__(self) -> None:
        # Made with the node: the storage format writes the logins, the config the listener.
        object.__setattr__(self, "security", KafkaSecurity.generate(self.data_dir / "tls"))

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def brokers(self) -> Brokers:
        return Brokers(self.bootstrap, self.security.logins)

    @property
    def endpoint(self) -> str:
        """What ``.local/endpoints.json`` names ``kafka``: the door, else the listener."""
        return self.bootstrap if self.door_port is None else f"127.0.0.1:{self.door_port}"

    def _listeners(self) -> dict[str, str]:
        listeners = {
            "SASL_SSL": f"127.0.0.1:{self.port}",
            "CONTROLLER": f"127.0.0.1:{self.controller_port}",
        }
        protocols = {"SASL_SSL": "SASL_SSL", "CONTROLLER": "SASL_PLAINTEXT"}
        security = self.security.server_properties()
        if self.door_port is not None:
            listeners["DOOR"] = self.endpoint
            protocols["DOOR"] = "PLAINTEXT"
            security["super.users"] += ";User:ANONYMOUS"
        advertised = {k: v for k, v in listeners.items() if k != "CONTROLLER"}
        return {
            "listeners": ",".join(f"{k}://{v}" for k, v in listeners.items()),
            "advertised.listeners": ",".join(f"{k}://{v}" for k, v in advertised.items()),
            "listener.security.protocol.map": ",".join(f"{k}:{v}" for k, v in protocols.items()),
            **security,
        }

    @property
    def properties(self) -> Path:
        return self.data_dir / "server.properties"

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2)
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            **self._listeners(),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "SASL_SSL",
            "log.dirs": str(self.data_dir / "log"),
            # One node: every internal topic has one replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Topics come from the contract only; a typo'd topic fails loudly.
            "auto.create.topics.enable": "false",
        }
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))

    def _java_argv(self, main: str, *args: str) -> list[str]:
        jars = libs()
        tmp = self.data_dir / "tmp"
        tmp.mkdir(exist_ok=True)
        return [
            java(),
            f"-Xmx{self.heap}",
            "-Xms64m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            # snappy/zstd unpack native code into tmp; keep it in our folder.
            f"-Djava.io.tmpdir={tmp}",
            "-cp",
            f"{jars}/*",
            main,
            *args,
        ]

    def format_argv(self, cluster_id: str | None = None) -> list[str]:
        if cluster_id is None:
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        return self._java_argv(
            "kafka.tools.StorageTool",
            "format",
            # One argument: a base64url id may start with "-", which argparse would
            # take for an option (seen as a flaky "expected one argument").
            f"--cluster-id={cluster_id}",
            "-c",
            str(self.properties),
            "--ignore-formatted",
            *self.security.scram_arguments(),
        )

    def argv(self) -> list[str]:
        return self._java_argv("kafka.Kafka", str(self.properties))

    def format_storage(self, cluster_id: str | None = None) -> None:
        self.write_config()
        result = subprocess.run(  # noqa: S603 - argv built above
            self.format_argv(cluster_id), capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            raise KafkaUnavailable(f"Kafka storage format failed:\n{result.stdout}{result.stderr}")


class LocalBroker(Protocol):
    """A single-node broker the stack runs itself: prepare, then supervise ``argv()``."""

    @property
    def port(self) -> int: ...

    @property
    def bootstrap(self) -> str: ...

    @property
    def brokers(self) -> Brokers: ...

    @property
    def endpoint(self) -> str: ...

    def format_storage(self, cluster_id: str | None = None) -> None: ...

    def argv(self) -> list[str]: ...


def local_broker(port: int, work: Path, door: int | None = None) -> LocalBroker:
    """The broker to run when ``KAFKA_BOOTSTRAP_SERVERS`` names none: Kafka when a
    distribution is on PATH, else Redpanda when it is, else Kafka from Maven's jars.
    ``door``: the port of Kafka's plaintext developer listener (``KafkaNode.door_port``)."""
    if _distribution_libs() is None and (found := redpanda.rpk()) is not None:
        say(f"Kafka API: using Redpanda on PATH ({found})")
        return redpanda.RedpandaNode(port, free_port(), free_port(), work / "redpanda", found)
    return KafkaNode(port, free_port(), work / "kafka", door_port=door)


def needs_java() -> bool:
    """Whether the broker the stack would run is Kafka (Java; Maven unless on PATH)."""
    return external_bootstrap() is None and (
        _distribution_libs() is not None or redpanda.rpk() is None
    )


def needs_maven() -> bool:
    """Whether Kafka's jars must come from Maven Central (no broker or distribution here)."""
    return needs_java() and _distribution_libs() is None


def topic_config(topic: Topic) -> dict[str, str]:
    """The topic-level settings of ``topic`` (retention and record size, from the contract)."""
    return {
        "retention.ms": str(int(topic.retention.total_seconds() * 1000)),
        "max.message.bytes": str(topic.max_message_bytes),
    }


def create_topics(brokers: Brokers, topics: tuple[Topic, ...] | None = None) -> list[str]:
    """Create the contract's topics (and their dead-letter topics); existing ones keep
    their partitions and get the contract's settings.

    Returns the names created now. Partitions and settings come from taskpulse.contract.
    """
    # Public names that the package re-exports without declaring them (mypy's strict
    # re-export check): the public path, not the private module, is what stays stable.
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
    )
    from confluent_kafka.cimpl import NewTopic

    # log_level 4: librdkafka's informational lines (queue purges at close) are noise here.
    admin = AdminClient(brokers.client() | {"log_level": 4})
    existing = set(admin.list_topics(timeout=30).topics)
    chosen = topics or all_topics()
    wanted = [t for t in chosen if t.name not in existing]
    kept = [t for t in chosen if t.name in existing]
    futures: list[Future[Any]] = []
    if wanted:
        futures += admin.create_topics(
            [
                NewTopic(
                    t.name,
                    num_partitions=t.partitions,
                    replication_factor=1,
                    config=topic_config(t),
                )
                for t in wanted
            ],
            operation_timeout=30,
        ).values()
    if kept:
        futures += admin.incremental_alter_configs(
            [
                ConfigResource(
                    "topic",
                    t.name,
                    incremental_configs=[
                        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                        for k, v in topic_config(t).items()
                    ],
                )
                for t in kept
            ]
        ).values()
    for future in futures:
        future.result(timeout=60)
    return [t.name for t in wanted]


def external_bootstrap() -> str | None:
    """A broker the user already runs (Kafka or Redpanda), named by KAFKA_BOOTSTRAP_SERVERS."""
    return os.environ.get(BOOTSTRAP_ENV) or None


def external_brokers() -> Brokers | None:
    """The user's own broker, reached in plaintext as it is (decision 0029)."""
    bootstrap = external_bootstrap()
    return None if bootstrap is None else Brokers(bootstrap)
