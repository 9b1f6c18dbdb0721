"""The Kafka `task up` runs knows who is talking (issue 19, decision 0029): SASL_SSL with
SCRAM-SHA-512, and ACLs that let each login do exactly what taskpulse.contract says.

Every contract login is tried against every contract topic, so a grant too many or too few
fails here; so do a wrong password, a plaintext client and an untrusted certificate.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from devstack.kafka_access import ADMIN_PRINCIPAL, Brokers, ClientConfig, principals
from taskpulse.contract import (
    BACKEND_PRINCIPAL,
    BACKEND_PUBLISHES,
    Function,
    all_topics,
    consumer_group,
    reads,
    writes,
)

pytestmark = pytest.mark.usefixtures("kafka")


def _secured(kafka: Brokers) -> Brokers:
    if not kafka.secured:
        pytest.fail(
            "this broker is plaintext (KAFKA_BOOTSTRAP_SERVERS or Redpanda on PATH): "
            "unset them to test the Kafka `task up` runs"
        )
    return kafka


def _produce(config: ClientConfig, topic: str) -> KafkaError | None:
    """The outcome of producing one record (None: the broker took it)."""
    outcome: list[KafkaError | None] = []
    producer = Producer(config | {"message.timeout.ms": 15_000, "log_level": 0})
    producer.produce(topic, b"acl probe", on_delivery=lambda error, _m: outcome.append(error))
    producer.flush(30)
    assert outcome, f"no delivery report for {topic}"
    return outcome[0]


def _may_write(principal: str) -> set[str]:
    if principal == BACKEND_PRINCIPAL:
        return {t.name for t in BACKEND_PUBLISHES}
    return set(writes(Function(principal)))


@pytest.mark.parametrize("principal", [p for p in principals() if p != ADMIN_PRINCIPAL])
def test_each_login_writes_exactly_the_topics_the_contract_gives_it(
    kafka: Brokers, principal: str
) -> None:
    config = _secured(kafka).client(principal)
    allowed = _may_write(principal)
    assert allowed, principal
    for topic in (t.name for t in all_topics()):
        error = _produce(config, topic)
        if topic in allowed:
            assert error is None, f"{principal} could not write {topic}: {error}"
        else:
            assert error is not None, f"{principal} wrote {topic}"
            assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, (topic, error)


def _first_error(config: ClientConfig, topic: str, group: str) -> KafkaError | None:
    consumer = Consumer(
        config | {"group.id": group, "auto.offset.reset": "earliest", "log_level": 0}
    )
    consumer.subscribe([topic])
    try:
        for _ in range(40):
            message = consumer.poll(0.5)
            if message is not None and message.error() is not None:
                error: KafkaError = message.error()
                if error.code() != KafkaError._PARTITION_EOF:
                    return error
            if consumer.assignment():
                return None
        return None
    finally:
        consumer.close()


def test_a_function_reads_its_topics_in_its_own_groups_only(kafka: Brokers) -> None:
    config = _secured(kafka).client(Function.SEND_REMINDER.value)
    (topic, *_) = reads(Function.SEND_REMINDER)
    own = consumer_group(Function.SEND_REMINDER, topic) + f"-test-{uuid.uuid4().hex[:6]}"
    assert _first_error(config, topic.name, own) is None
    # Another function's group, and a topic it does not read.
    theirs = consumer_group(Function.PUSH_UPDATE, topic)
    error = _first_error(config, topic.name, theirs)
    assert error is not None and error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, error
    error = _first_error(config, "task-events", own)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error


def test_the_backend_login_reads_nothing(kafka: Brokers) -> None:
    config = _secured(kafka).client(BACKEND_PRINCIPAL)
    error = _first_error(config, "task-events", f"{BACKEND_PRINCIPAL}-probe")
    assert error is not None, "the backend login consumed task-events"


def _refusal(config: ClientConfig) -> str:
    """Why the broker would not take a record from a client so configured (it fails the
    test if the record got through)."""
    errors: list[str] = []
    delivered: list[KafkaError | None] = []
    producer = Producer(
        config
        | {
            "error_cb": lambda e: errors.append(str(e)),
            "log_level": 0,
            "message.timeout.ms": 10_000,
        }
    )
    producer.produce("task-events", b"probe", on_delivery=lambda e, _m: delivered.append(e))
    deadline = time.monotonic() + 10
    while not errors and not delivered and time.monotonic() < deadline:
        producer.poll(0.1)
    assert delivered != [None], "the broker took the record"
    return " ".join(errors) + " ".join(str(e) for e in delivered)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"sasl.password": "not-the-password"}, "Authentication failed"),
        ({"sasl.mechanisms": "SCRAM-SHA-256"}, "SCRAM-SHA-256"),
        ({"security.protocol": "SASL_PLAINTEXT"}, "brokers are down"),
        ({"security.protocol": "SSL"}, "brokers are down"),
        ({"ssl.ca.location": "probe"}, "certificate verify failed"),
    ],
    ids=["wrong password", "other mechanism", "no TLS", "no login", "untrusted CA"],
)
def test_a_client_that_cannot_prove_itself_is_refused(
    kafka: Brokers, change: ClientConfig, reason: str
) -> None:
    config = _secured(kafka).client(BACKEND_PRINCIPAL) | change
    if change.get("ssl.ca.location") == "probe":
        del config["ssl.ca.location"]  # the system's CAs only: ours is not among them
    assert reason in _refusal(config)
