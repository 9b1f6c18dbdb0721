"""The local Dapr resources under a real daprd and a real Kafka broker.

Four daprd, one per function, load dapr-components/base + dapr-components/local exactly
as the local launcher passes them, and call recording echo apps (one per function)
through --app-channel-address/--app-port, the way Dapr Shared calls a Knative function.
Events are written straight to Kafka as structured CloudEvents (and, once, bytes that are
not JSON), as any producer may.

What this proves about the manifests (and the daprd behaviour they are built on):
- every contract subscription routes its CloudEvent types to its path, including the three
  rules of compute-next-occurrence on one topic (one manifest, several rules);
- an event type a function ignores never reaches it and is not copied to ``<topic>-dlq``;
- each topic's gate receives every record unparsed, bytes that are not JSON included,
  while the other consumers pass such a record at once instead of holding the partition;
- the consumer group of each daprd is the one its environment names (``envRef``).
"""

from __future__ import annotations

import base64
import json
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from manifests_support import REPO

from devstack import daprd as dapr_tools
from devstack import manifests
from devstack.kafka_access import Brokers
from devstack.ports import free_port
from devstack.supervisor import Service, Supervisor, http_ok, tcp_open
from support import wait_for
from taskpulse.contract import (
    PUBSUB_NAME,
    REMINDERS,
    SUBSCRIPTIONS,
    TASK_EVENTS,
    TASK_UPDATES,
    EventType,
    Function,
    Subscription,
    Topic,
    gate_of,
)

RUN = uuid.uuid4().hex[:8]
"""Consumer groups of this run: fresh, so no other test's daprd shares their partitions."""


def _wait(probe: Any) -> Any:
    """daprd and Kafka under a loaded 2-core machine: allow a rebalance or two."""
    return wait_for(probe, 90.0, "daprd to deliver the event", 0.25)


@dataclass(frozen=True)
class Echo:
    function: Function
    port: int
    record: Path
    group: str
    dapr_http: str

    def requests(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines() if line]

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """(path, CloudEvent) of every event daprd delivered, in bulk or alone. A gate's
        records come base64 (alone: in daprd's rawPayload envelope); one that is not JSON
        comes as ``{"raw": bytes}``."""
        out = []
        for r in self.requests():
            if r["method"] == "POST" and r["path"].startswith("/events/"):
                body = json.loads(r["body"])
                if body.get("type") == "com.dapr.event.sent.bulk":
                    out += [(r["path"], _record(e["event"])) for e in body["entries"]]
                elif body.get("type") == "com.dapr.event.sent" and "data_base64" in body:
                    out.append((r["path"], _record(body["data_base64"])))
                else:
                    out.append((r["path"], body))
        return out

    def paths_of(self, marker: str) -> list[str]:
        return [
            p
            for p, e in self.events()
            if isinstance(e.get("data"), dict) and e["data"].get("marker") == marker
        ]


def _record(encoded: str | dict[str, Any]) -> dict[str, Any]:
    """A bulk entry's event: a gate's raw record (base64), or a CloudEvent daprd parsed."""
    if isinstance(encoded, dict):
        return encoded
    record = base64.b64decode(encoded)
    try:
        event: dict[str, Any] = json.loads(record)
    except ValueError:
        return {"raw": record}
    return event


@pytest.fixture(scope="module")
def functions(
    platform_supervisor: Supervisor,
    platform_dir: Path,
    kafka: Brokers,
    dapr_scheduler: str,
) -> dict[Function, Echo]:
    echo_script = REPO / "tests" / "platform_echo.py"
    binary = dapr_tools.daprd().path
    resources = [REPO / d for d in manifests.LOCAL_RESOURCE_DIRS]
    config = REPO / manifests.LOCAL_CONFIG
    started: dict[Function, Echo] = {}
    for fn in Function:
        group = f"{manifests.consumer_group_for(fn)}-test-{RUN}"
        ports = dapr_tools.DaprdPorts(free_port(), free_port(), free_port(), free_port())
        record = platform_dir / f"manifests-{fn.value}-{RUN}.jsonl"
        echo = Echo(fn, free_port(), record, group, ports.http_endpoint)
        platform_supervisor.start(
            Service(
                f"manifests-echo-{fn.value}",
                [sys.executable, str(echo_script), str(echo.port), str(echo.record)],
                tcp_open("127.0.0.1", echo.port),
            )
        )
        argv = dapr_tools.daprd_argv(
            binary,
            app_id=fn.value,
            app_port=echo.port,
            ports=ports,
            resources=resources,
            scheduler_address=dapr_scheduler,
            config=config,
        )
        env = manifests.local_daprd_env(fn, kafka)
        # The contract's group, made unique to this run (asserted unchanged below).
        assert env[manifests.CONSUMER_GROUP_ENV] == manifests.consumer_group_for(fn)
        env[manifests.CONSUMER_GROUP_ENV] = group
        health = http_ok(f"{ports.http_endpoint}/v1.0/healthz")
        platform_supervisor.start(
            Service(f"manifests-daprd-{fn.value}", argv, health, env=env, timeout=120)
        )
        started[fn] = echo
    return started


@pytest.fixture(scope="module")
def producer(kafka: Brokers) -> Iterator[Any]:
    from confluent_kafka import Producer

    p = Producer(kafka.client() | {"acks": "all"})
    yield p
    p.flush(30)


def _send(
    producer: Any,
    topic: Topic,
    event_type: str,
    marker: str,
    key: str = "user-1",
    data: Any = None,
) -> None:
    """``data`` defaults to ``{"marker", "user_id"}``; a dict is merged into that."""
    if data is None or isinstance(data, dict):
        data = {"marker": marker, "user_id": key, **(data or {})}
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/tests/manifests",
        "type": event_type,
        "subject": marker,
        "partitionkey": key,
        "datacontenttype": "application/json",
        "data": data,
    }
    producer.produce(topic.name, json.dumps(event).encode(), key=key.encode())
    producer.flush(30)


def _dead_letters(kafka: Brokers, topic: str, markers: set[str]) -> set[str]:
    """The markers found in ``topic`` (read from the start to its current end)."""
    from confluent_kafka import Consumer, KafkaError

    consumer = Consumer(
        kafka.client()
        | {
            "group.id": f"manifests-dlq-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    found: set[str] = set()
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        eof = False
        while time.monotonic() < deadline and not eof:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                eof = msg.error().code() == KafkaError._PARTITION_EOF
                continue
            body = (msg.value() or b"").decode(errors="replace")
            found |= {m for m in markers if m in body}
    finally:
        consumer.close()
    return found


def _marker() -> str:
    return f"m-{uuid.uuid4().hex}"


def _wanted_data(sub: Subscription) -> dict[str, str]:
    """``data`` that passes the subscription's data conditions."""
    return dict.fromkeys(sub.data_present, "2026-01-01T09:00:00Z")


def test_every_contract_subscription_routes_its_types(
    functions: dict[Function, Echo], producer: Any
) -> None:
    sent: list[tuple[Function, str, str]] = []
    for sub in SUBSCRIPTIONS:
        for event_type in sub.types:
            marker = _marker()
            _send(producer, sub.topic, event_type.value, marker, data=_wanted_data(sub))
            sent.append((sub.function, sub.path, marker))
    for fn, path, marker in sent:
        paths = _wait(lambda fn=fn, marker=marker: functions[fn].paths_of(marker))
        assert paths == [path], f"{fn.value}: {marker} went to {paths}, not {path}"


def test_ignored_types_neither_reach_the_function_nor_the_dead_letter_topic(
    functions: dict[Function, Echo], producer: Any, kafka: Brokers
) -> None:
    ignored, follower = _marker(), _marker()
    # Same key, same partition, in order: once `follower` has arrived, `ignored` was
    # processed (and skipped) by the same consumer before it.
    _send(producer, TASK_EVENTS, EventType.TASK_COMPLETED.value, ignored, key="user-order")
    _send(producer, TASK_EVENTS, EventType.TASK_CREATE.value, follower, key="user-order")
    readers = {s.function for s in SUBSCRIPTIONS if s.topic == TASK_EVENTS and not s.gate}
    assert readers == {Function.CREATE_TASK}
    for fn in readers:
        _wait(lambda fn=fn: functions[fn].paths_of(follower))
        assert functions[fn].paths_of(ignored) == []
    # The gate reads both; it is the function that lets the command pass.
    gate = gate_of(TASK_EVENTS)
    for marker in (ignored, follower):
        assert _wait(lambda m=marker: functions[gate.function].paths_of(m)) == [gate.path]
    assert _dead_letters(kafka, TASK_EVENTS.dead_letter, {ignored, follower}) == set()


def test_a_data_condition_lets_only_its_events_through(
    functions: dict[Function, Echo], producer: Any, kafka: Brokers
) -> None:
    """send-reminder wants a closed task only when it had a reminder: the others (most of
    them) must not cost a delivery, and odd data must not be an error that daprd retries
    while the partition waits."""
    fn = Function.SEND_REMINDER
    (sub,) = [s for s in SUBSCRIPTIONS if s.function is fn and s.data_present]
    (field,) = sub.data_present
    completed = EventType.TASK_COMPLETED.value
    key = "user-data-filter"
    skipped = {
        "null": _marker(),
        "not a string": _marker(),
        "no field": _marker(),
        "data not an object": _marker(),
    }
    _send(producer, sub.topic, completed, skipped["null"], key, {field: None})
    _send(producer, sub.topic, completed, skipped["not a string"], key, {field: 7})
    _send(producer, sub.topic, completed, skipped["no field"], key)
    _send(producer, sub.topic, completed, skipped["data not an object"], key, "a string")
    wanted = _marker()
    _send(producer, sub.topic, completed, wanted, key, _wanted_data(sub))
    # Same partition, in order: the wanted event arrives after the others were decided.
    assert _wait(lambda: functions[fn].paths_of(wanted)) == [sub.path]
    delivered = [e.get("subject") for _p, e in functions[fn].events()]
    assert not set(skipped.values()) & set(delivered), skipped
    assert _dead_letters(kafka, sub.topic.dead_letter, set(skipped.values())) == set()


@pytest.mark.parametrize("topic", [TASK_EVENTS, REMINDERS, TASK_UPDATES], ids=lambda t: t.name)
def test_a_record_that_is_not_json_reaches_the_gate_and_holds_no_partition(
    functions: dict[Function, Echo], producer: Any, topic: Topic
) -> None:
    """Before the gates, daprd could not read such a record: each consumer retried it for
    about two minutes (its partition waiting), then skipped it, and no function ever saw
    it. Now the gate gets the bytes, and every consumer reads the event behind it at once."""
    gate = gate_of(topic)
    key = f"user-not-json-{topic.name}"
    poison = f"{{not json {_marker()}".encode()
    producer.produce(topic.name, poison, key=key.encode())
    follower = _marker()
    # A type every consumer of the topic reads, so each one shows its partition moved on.
    readers = [s for s in SUBSCRIPTIONS if s.topic == topic and not s.gate]
    event_type = readers[0].types[0] if readers else gate.types[0]
    start = time.monotonic()
    _send(
        producer,
        topic,
        event_type.value,
        follower,
        key,
        _wanted_data(readers[0]) if readers else None,
    )
    for sub in [gate, *readers]:
        echo = functions[sub.function]
        wait_for(lambda echo=echo: echo.paths_of(follower), 30.0, f"{sub.name}: the follower")
    waited = time.monotonic() - start
    print(f"{topic.name}: the event behind the unreadable record arrived after {waited:.1f}s")
    raw = [e["raw"] for p, e in functions[gate.function].events() if p == gate.path and "raw" in e]
    assert poison in raw


def test_each_daprd_consumes_in_the_group_its_environment_names(
    functions: dict[Function, Echo], producer: Any, kafka: Brokers
) -> None:
    from confluent_kafka.admin import AdminClient

    # Make sure every daprd has joined (each function received something).
    _send(producer, REMINDERS, EventType.REMINDER_SCHEDULED.value, m1 := _marker())
    _send(producer, TASK_EVENTS, EventType.TASK_CREATE.value, m2 := _marker())
    _send(producer, TASK_EVENTS, EventType.TASK_COMPLETED.value, m3 := _marker())
    _send(producer, TASK_UPDATES, EventType.TASK_COMPLETED.value, m4 := _marker())
    for fn, marker in (
        (Function.SEND_REMINDER, m1),
        (Function.CREATE_TASK, m2),
        (Function.COMPUTE_NEXT_OCCURRENCE, m3),
        (Function.PUSH_UPDATE, m4),
    ):
        _wait(lambda fn=fn, marker=marker: functions[fn].paths_of(marker))
    admin = AdminClient(kafka.client())
    groups = {g.group_id for g in admin.list_consumer_groups().result(timeout=30).valid}
    assert {echo.group for echo in functions.values()} <= groups


def test_a_presence_condition_skips_null_and_absent_fields(
    functions: dict[Function, Echo], producer: Any
) -> None:
    """send-reminder wants closed tasks only when they had a reminder: a fact whose
    ``remind_at`` is null or missing must not reach (or wake) it, nor be an error."""
    fn = Function.SEND_REMINDER
    (sub,) = [s for s in SUBSCRIPTIONS if s.function is fn and s.data_present]
    (field,) = sub.data_present
    closed = sub.types[0].value
    key = "user-presence-filter"
    skipped = {"null": _marker(), "absent": _marker(), "data not an object": _marker()}
    _send(producer, sub.topic, closed, skipped["null"], key, {field: None})
    _send(producer, sub.topic, closed, skipped["absent"], key, {"other": "x"})
    _send(producer, sub.topic, closed, skipped["data not an object"], key, "a string")
    wanted = _marker()
    _send(producer, sub.topic, closed, wanted, key, _wanted_data(sub))
    assert _wait(lambda: functions[fn].paths_of(wanted)) == [sub.path]
    delivered = [e.get("subject") for _p, e in functions[fn].events()]
    assert not set(skipped.values()) & set(delivered), skipped


def test_a_gate_takes_what_waited_in_its_partition_in_one_request(
    functions: dict[Function, Echo], producer: Any
) -> None:
    """bulkSubscribe on a real daprd: records produced together reach the gate as bulk
    deliveries (each entry a raw record, base64), fewer requests than records."""
    gate = gate_of(REMINDERS)
    key = "user-bulk"
    markers = [_marker() for _ in range(12)]
    for marker in markers:
        event = {"specversion": "1.0", "id": marker, "source": "/t", "type": "t", "subject": marker}
        producer.produce(REMINDERS.name, json.dumps(event).encode(), key=key.encode())
    producer.flush(30)
    echo = functions[gate.function]

    def subjects(request: dict[str, Any]) -> set[str]:
        body = json.loads(request["body"])
        if body.get("type") != "com.dapr.event.sent.bulk":
            return set()
        return {str(_record(entry["event"]).get("subject")) for entry in body["entries"]}

    def carrying() -> list[dict[str, Any]] | None:
        found = [
            r for r in echo.requests() if r["path"] == gate.path and subjects(r) & set(markers)
        ]
        arrived = set().union(*map(subjects, found)) if found else set()
        return found if arrived >= set(markers) else None

    requests = wait_for(carrying, 60.0, "every record at the gate, in bulk")
    assert len(requests) < len(markers)


def test_a_daprd_publishes_only_where_its_function_may(functions: dict[Function, Echo]) -> None:
    """pubsub-kafka's publishingScopes (taskpulse.contract.writes): push-update's daprd may
    dead-letter, not put commands on task-events. Its Kafka login could not either
    (tests/devstack/test_kafka_access.py): Dapr refuses first, with a reason."""
    import httpx

    daprd = functions[Function.PUSH_UPDATE].dapr_http
    event = {"marker": _marker(), "user_id": "user-1"}
    refused = httpx.post(f"{daprd}/v1.0/publish/{PUBSUB_NAME}/{TASK_EVENTS.name}", json=event)
    assert refused.status_code == 403, refused.text
    assert "ERR_PUBSUB_FORBIDDEN" in refused.text
    allowed = httpx.post(
        f"{daprd}/v1.0/publish/{PUBSUB_NAME}/{TASK_UPDATES.dead_letter}", json=event
    )
    assert allowed.status_code == 204, allowed.text
