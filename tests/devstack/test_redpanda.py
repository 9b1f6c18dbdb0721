"""Redpanda from an ``rpk`` on PATH (devstack.redpanda), with a stand-in ``rpk``.

The real Redpanda cannot be installed on the build machines, so a stand-in plays
``rpk``: it checks the command line and the files RedpandaNode wrote (what rpk itself
would read), then becomes a real Kafka broker on the port given by ``--kafka-addr``.
What is tested for real is the rest: the supervisor starts the node as `task up` does,
waits for its Kafka port, and the contract's topics are created on it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from confluent_kafka.admin import AdminClient

from devstack.kafka import (
    BOOTSTRAP_ENV,
    KafkaNode,
    create_topics,
    local_broker,
    needs_java,
    needs_maven,
)
from devstack.ports import free_port
from devstack.redpanda import RedpandaNode, rpk
from devstack.supervisor import Service, StartError, Supervisor, tcp_open
from taskpulse.contract import all_topics

EXEC_ENV = "STANDIN_EXEC"
"""JSON argv the stand-in execs once the command line checks out (a real Kafka)."""

# Flags RedpandaNode may use: those the Redpanda docs name for `rpk redpanda start`
# (module notes of devstack.redpanda). Anything else makes the stand-in fail.
STANDIN = '''#!PYTHON
"""Stand-in rpk: check `rpk redpanda start` as RedpandaNode runs it, then exec $STANDIN_EXEC."""
import json, os, sys

import yaml

KNOWN = {
    "--config", "--mode", "--smp", "--memory", "--default-log-level", "--kafka-addr",
    "--advertise-kafka-addr", "--rpc-addr", "--advertise-rpc-addr",
}


def fail(message):
    print(f"stand-in rpk: {message}", file=sys.stderr, flush=True)
    sys.exit(3)


def value(flag):
    args = sys.argv[3:]
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


if sys.argv[1:3] != ["redpanda", "start"]:
    fail(f"expected 'redpanda start', got {sys.argv[1:3]}")
unknown = [a for a in sys.argv[3:] if a.startswith("-") and a.split("=")[0] not in KNOWN]
if unknown:
    fail(f"flags the docs do not name: {unknown}")
config = value("--config")
if config is None or not os.path.isfile(config):
    fail(f"no config file: --config {config}")
if not os.path.isfile(os.path.join(os.path.dirname(config), ".bootstrap.yaml")):
    fail("no .bootstrap.yaml beside the config file")
if value("--mode") != "dev-container":
    fail("not in dev-container mode")
address = value("--kafka-addr")
if address is None:
    fail("no --kafka-addr")
port = int(address.rsplit(":", 1)[1])
with open(config) as f:
    listeners = yaml.safe_load(f)["redpanda"]["kafka_api"]
if [listener["port"] for listener in listeners] != [port]:
    fail(f"--kafka-addr {address} but kafka_api {listeners}")
command = json.loads(os.environ["STANDIN_EXEC"])
print(f"stand-in rpk: Kafka on port {port}", flush=True)
os.execv(command[0], command)
'''


def _install(folder: Path, *, broker: bool = True) -> Path:
    """An install like Redpanda's packages: bin/rpk (the stand-in) beside bin/redpanda."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "rpk"
    script.write_text(STANDIN.replace("PYTHON", sys.executable, 1))
    script.chmod(0o755)
    if broker:
        (bin_dir / "redpanda").write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / "redpanda").chmod(0o755)
    return script


@pytest.fixture
def standin_rpk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in rpk, first on PATH (the rest of PATH stays: Kafka needs java)."""
    script = _install(tmp_path / "redpanda")
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return script


def _node(tmp_path: Path, executable: Path, port: int | None = None) -> RedpandaNode:
    return RedpandaNode(
        port or free_port(), free_port(), free_port(), tmp_path / "node", str(executable)
    )


def test_rpk_on_path_is_found(standin_rpk: Path) -> None:
    assert rpk() == str(standin_rpk)


def test_an_rpk_without_a_broker_beside_it_is_not_picked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-alone rpk (zip, Homebrew) talks to a Redpanda elsewhere; it cannot start
    one, so `task up` must keep to Kafka."""
    lone = _install(tmp_path / "lone", broker=False)
    monkeypatch.setenv("PATH", str(lone.parent))
    assert rpk() is None
    monkeypatch.setenv("PATH", str(tmp_path))
    assert rpk() is None


def test_task_up_runs_redpanda_only_when_no_broker_or_kafka_is_at_hand(
    tmp_path: Path, standin_rpk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order of devstack.kafka.local_broker: a named broker, a Kafka distribution on
    PATH, a Redpanda on PATH, Kafka from Maven's jars; Java and Maven only for Kafka."""
    monkeypatch.delenv(BOOTSTRAP_ENV, raising=False)
    monkeypatch.setenv("PATH", str(standin_rpk.parent))  # no Kafka of the developer's
    node = local_broker(free_port(), tmp_path / "work")
    assert isinstance(node, RedpandaNode)
    assert node.executable == str(standin_rpk)
    assert (needs_java(), needs_maven()) == (False, False)

    kafka_bin = tmp_path / "kafka" / "bin"
    kafka_bin.mkdir(parents=True)
    (kafka_bin / "kafka-server-start.sh").write_text("#!/bin/sh\n")
    (kafka_bin / "kafka-server-start.sh").chmod(0o755)
    (tmp_path / "kafka" / "libs").mkdir()
    (tmp_path / "kafka" / "libs" / "kafka_2.13-4.0.0.jar").write_bytes(b"")
    monkeypatch.setenv("PATH", f"{kafka_bin}{os.pathsep}{os.environ['PATH']}")
    assert isinstance(local_broker(free_port(), tmp_path / "work"), KafkaNode)
    assert (needs_java(), needs_maven()) == (True, False)

    monkeypatch.setenv(BOOTSTRAP_ENV, "127.0.0.1:1")
    assert (needs_java(), needs_maven()) == (False, False)


def test_setup_installs_java_and_maven_for_the_tests_even_when_up_needs_neither(
    standin_rpk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`task up` with a Redpanda (or a named broker) runs no Kafka; `task test` does (the
    stand-in above execs one), so the full setup must still install what Kafka needs."""
    from devstack.setup import REQUIREMENTS, _needed

    monkeypatch.setenv("PATH", str(standin_rpk.parent))  # no java, no mvn, no Kafka
    kafka = {("openjdk-17-jre-headless",), ("maven",)}
    kafka_parts = [r for r in REQUIREMENTS if r.debian_packages in kafka]
    assert {r.debian_packages for r in kafka_parts} == kafka
    assert all(r.up_needs is not None for r in kafka_parts)
    for requirement in kafka_parts:
        assert not _needed(requirement, platform_only=True)
        assert _needed(requirement, platform_only=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv(BOOTSTRAP_ENV, "127.0.0.1:1")
    assert not any(_needed(r, platform_only=True) for r in kafka_parts)
    monkeypatch.delenv(BOOTSTRAP_ENV)
    assert all(_needed(r, platform_only=True) for r in kafka_parts)


def test_format_storage_writes_a_single_node_config(tmp_path: Path, standin_rpk: Path) -> None:
    node = _node(tmp_path, standin_rpk)
    node.format_storage()

    config = yaml.safe_load(node.config_file.read_text())
    assert node.config_file.parent == node.data_dir
    assert set(config) == {"redpanda"}, "no pandaproxy / schema_registry: no 8081/8082"
    broker = config["redpanda"]
    data = Path(broker["data_directory"])
    assert data.is_absolute() and data.is_dir()
    assert data.is_relative_to(node.data_dir.absolute())
    assert broker["seed_servers"] == [] and broker["empty_seed_starts_cluster"] is True
    assert broker["developer_mode"] is True
    loopback = "127.0.0.1"
    assert broker["kafka_api"] == [{"address": loopback, "port": node.port}]
    assert broker["advertised_kafka_api"] == [{"address": loopback, "port": node.port}]
    assert broker["admin"] == [{"address": loopback, "port": node.admin_port}]
    assert broker["rpc_server"] == {"address": loopback, "port": node.rpc_port}
    assert broker["advertised_rpc_api"] == {"address": loopback, "port": node.rpc_port}
    assert "node_id" not in broker
    assert len({node.port, node.admin_port, node.rpc_port}) == 3

    cluster = yaml.safe_load(node.cluster_bootstrap_file.read_text())
    assert node.cluster_bootstrap_file.parent == node.config_file.parent
    assert cluster["auto_create_topics_enabled"] is False


def test_argv_starts_the_node_through_rpk(tmp_path: Path, standin_rpk: Path) -> None:
    node = _node(tmp_path, standin_rpk)
    argv = node.argv()
    assert argv[:3] == [str(standin_rpk), "redpanda", "start"]

    def after(flag: str) -> str:
        return argv[argv.index(flag) + 1]

    assert after("--config") == str(node.config_file)
    assert after("--mode") == "dev-container"
    assert after("--kafka-addr") == after("--advertise-kafka-addr") == node.bootstrap
    assert node.bootstrap == f"127.0.0.1:{node.port}"
    rpc = f"127.0.0.1:{node.rpc_port}"
    assert after("--rpc-addr") == after("--advertise-rpc-addr") == rpc


def test_the_node_serves_kafka_and_gets_the_contract_topics(
    tmp_path: Path, standin_rpk: Path
) -> None:
    """As `task up` starts a node: format_storage, the supervisor with a TCP probe on the
    Kafka port, then create_topics. Auto-creation is off, so every topic is created."""
    port = free_port()
    kafka = KafkaNode(port, free_port(), tmp_path / "kafka")
    kafka.format_storage()
    node = _node(tmp_path, standin_rpk, port)
    node.format_storage()
    env = {EXEC_ENV: json.dumps(kafka.argv())}
    with Supervisor(tmp_path / "logs") as supervisor:
        running = supervisor.start(
            Service("redpanda", node.argv(), tcp_open("127.0.0.1", node.port), env=env, timeout=120)
        )
        assert f"Kafka on port {port}" in running.log.read_text()

        # The stand-in behind the node is the Kafka `task up` runs, secured; a real
        # Redpanda node is reached in plaintext (node.brokers), at the same address.
        assert node.brokers.bootstrap == kafka.bootstrap and not node.brokers.secured
        created = create_topics(kafka.brokers)

        wanted = {t.name for t in all_topics()}
        assert set(created) == wanted
        metadata = AdminClient(kafka.brokers.client()).list_topics(timeout=30)
        for topic in all_topics():
            assert len(metadata.topics[topic.name].partitions) == topic.partitions, topic.name
        assert create_topics(kafka.brokers) == []


def _start_fails(tmp_path: Path, argv: list[str]) -> str:
    # Were the stand-in to accept the command line, this would run and never be ready.
    env = {EXEC_ENV: json.dumps([sys.executable, "-c", "import time; time.sleep(60)"])}
    with Supervisor(tmp_path / "logs") as supervisor, pytest.raises(StartError) as error:
        supervisor.start(Service("redpanda", argv, lambda: False, env=env, timeout=20))
    return str(error.value)


def test_a_start_without_kafka_addr_fails(tmp_path: Path, standin_rpk: Path) -> None:
    node = _node(tmp_path, standin_rpk)
    node.format_storage()
    argv = node.argv()
    at = argv.index("--kafka-addr")
    message = _start_fails(tmp_path, argv[:at] + argv[at + 2 :])
    assert "exited with code 3" in message
    assert "no --kafka-addr" in message


def test_a_start_before_format_storage_fails(tmp_path: Path, standin_rpk: Path) -> None:
    node = _node(tmp_path, standin_rpk)
    message = _start_fails(tmp_path, node.argv())
    assert "exited with code 3" in message
    assert "no config file" in message
