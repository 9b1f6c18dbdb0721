"""Kafka (KRaft, single node): the contract's topics exist as specified; records round-trip."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from devstack.kafka import KafkaNode, create_topics
from devstack.kafka_access import Brokers
from devstack.ports import free_port
from taskpulse.contract import TASK_EVENTS, TOPIC_MAX_MESSAGE_BYTES, all_topics


def test_contract_topics_have_their_partitions_and_retention(kafka: Brokers) -> None:
    admin = AdminClient(kafka.client())
    metadata = admin.list_topics(timeout=30).topics
    for topic in all_topics():
        assert topic.name in metadata, topic.name
        assert len(metadata[topic.name].partitions) == topic.partitions, topic.name
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t.name) for t in all_topics()]
    for resource, future in admin.describe_configs(resources).items():
        config = future.result(timeout=30)
        expected = next(t for t in all_topics() if t.name == resource.name)
        retention = int(expected.retention.total_seconds() * 1000)
        assert int(config["retention.ms"].value) == retention, resource.name
        assert int(config["max.message.bytes"].value) == expected.max_message_bytes


def test_an_existing_topic_gets_the_contracts_settings_back(kafka: Brokers) -> None:
    """`task up` on a broker that already has the topics (a user's own Kafka, a second
    run): their settings are made the contract's again, partitions are left alone."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry

    admin = AdminClient(kafka.client())
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        TASK_EVENTS.dead_letter,
        incremental_configs=[
            ConfigEntry("max.message.bytes", "1000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)

    assert create_topics(kafka) == []

    plain = ConfigResource(ConfigResource.Type.TOPIC, TASK_EVENTS.dead_letter)
    (future,) = admin.describe_configs([plain]).values()
    assert int(future.result(timeout=30)["max.message.bytes"].value) == TOPIC_MAX_MESSAGE_BYTES


def test_a_keyed_record_round_trips(kafka: Brokers) -> None:
    # A CloudEvent of a type outside the contract: the session's Kafka is shared, and a
    # later gate of task-events reads it and dead-letters it; nothing else happens to it.
    key = b"alice"
    value = json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/tests/platform",
            "type": "dev.taskpulse.test.roundtrip.v1",
            "data": {},
        }
    ).encode()
    producer = Producer(kafka.client())
    delivered: list[int] = []
    producer.produce(
        TASK_EVENTS.name,
        value=value,
        key=key,
        on_delivery=lambda _e, m: delivered.append(m.partition()),
    )
    assert producer.flush(30) == 0
    consumer = Consumer(
        kafka.client()
        | {
            "group.id": f"platform-test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([TASK_EVENTS.name])
    try:
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and not message.error() and message.value() == value:
                assert message.key() == key
                assert message.partition() == delivered[0]
                return
        pytest.fail("the record did not come back within 60 s")
    finally:
        consumer.close()


def test_storage_formats_with_a_cluster_id_that_starts_with_a_dash(tmp_path: Path) -> None:
    # 1 in 64 random base64url ids starts with "-"; passed as a separate argument it was
    # read as an option and the format failed ("--cluster-id: expected one argument").
    node = KafkaNode(free_port(), free_port(), tmp_path / "kafka")
    node.format_storage(cluster_id="-" + "A" * 21)
    assert (tmp_path / "kafka").exists()


def test_a_kafka_on_path_is_found_with_or_without_the_sh_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Apache tarball names the start script kafka-server-start.sh; Homebrew and
    distribution packages name it kafka-server-start. Either lends its libs/."""
    from devstack import kafka
    from devstack.versions import KAFKA_SCALA, KAFKA_VERSION

    for script in ("kafka-server-start.sh", "kafka-server-start"):
        home = tmp_path / script
        (home / "bin").mkdir(parents=True)
        (home / "libs").mkdir()
        (home / "libs" / f"kafka_{KAFKA_SCALA}-{KAFKA_VERSION}.jar").touch()
        start = home / "bin" / script
        start.write_text("#!/bin/sh\n")
        start.chmod(0o755)
        monkeypatch.setenv("PATH", str(home / "bin"))
        assert kafka._distribution_libs() == home / "libs", script
