"""What Kafka's TLS and SCRAM cost a client (decision 0029): the same broker, two listeners.

``python3 tools/bench/bench_kafka_tls.py`` (``task bench -- kafka_tls``) starts the Kafka
`task up` runs (devstack.kafka.KafkaNode): its SASL_SSL listener with SCRAM-SHA-512, which
every daprd uses, and its plaintext loopback listener for a developer's tools, the baseline.
One broker, so disks, JVM and topic are the same for both; rounds alternate and change which
goes first, so the machine's load hits both alike.

1. ``connect``: a new producer, its first record acknowledged (``acks=all``): TCP, then for
   SASL_SSL a TLS handshake and a SCRAM exchange, then the metadata and the produce.
2. ``produce``: one record at a time on a warm connection, each acknowledged before the next
   (what an outbox publisher's daprd does).
3. ``throughput``: 20,000 records of 1 KiB as fast as the producer batches them.

Issue 19 sets no goal for these figures; exit 1 only when a record is not delivered.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "functions"), str(REPO / "tools")]

from confluent_kafka import Producer  # noqa: E402

from devstack.kafka import KafkaNode, create_topics  # noqa: E402
from devstack.kafka_access import ClientConfig, grant  # noqa: E402
from devstack.ports import free_port  # noqa: E402
from devstack.supervisor import Service, Supervisor, tcp_open  # noqa: E402
from taskpulse.contract import BACKEND_PRINCIPAL, TASK_EVENTS  # noqa: E402

ROUNDS = 5
CONNECTS = 10
PRODUCES = 200
BULK = 20_000
RECORD = b"x" * 1024


def _acknowledged(producer: Producer, value: bytes) -> None:
    errors: list[object] = []
    producer.produce(TASK_EVENTS.name, value, on_delivery=lambda e, _m: errors.append(e))
    producer.flush(30)
    if errors != [None]:
        raise SystemExit(f"record not delivered: {errors}")


def connect(config: ClientConfig) -> float:
    start = time.perf_counter()
    _acknowledged(Producer(config), RECORD)
    return time.perf_counter() - start


def produce(config: ClientConfig) -> float:
    producer = Producer(config)
    _acknowledged(producer, RECORD)  # the connection is open from here on
    start = time.perf_counter()
    for _ in range(PRODUCES):
        _acknowledged(producer, RECORD)
    return (time.perf_counter() - start) / PRODUCES


def throughput(config: ClientConfig) -> float:
    producer = Producer(config | {"linger.ms": 5})
    _acknowledged(producer, RECORD)
    start = time.perf_counter()
    for _ in range(BULK):
        while True:
            try:
                producer.produce(TASK_EVENTS.name, RECORD)
                break
            except BufferError:
                producer.poll(0.01)
    if producer.flush(60):
        raise SystemExit("records left undelivered")
    return BULK / (time.perf_counter() - start)


def compare(
    what: str,
    unit: str,
    scale: float,
    measure: Callable[[ClientConfig], float],
    repeat: int,
    configs: dict[str, ClientConfig],
) -> None:
    """Medians of ``measure`` on each listener, rounds alternating which goes first."""
    samples: dict[str, list[float]] = {name: [] for name in configs}
    names = list(configs)
    for n in range(ROUNDS):
        for name in names if n % 2 == 0 else names[::-1]:
            samples[name] += [measure(configs[name]) for _ in range(repeat)]
    tls, base = (statistics.median(samples[name]) for name in names)
    print(
        f"{what:<11} SASL_SSL+SCRAM {tls * scale:9.2f} {unit}   plaintext {base * scale:9.2f} "
        f"{unit}   ratio {tls / base:.2f}"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, Supervisor(Path(folder) / "logs") as sup:
        node = KafkaNode(free_port(), free_port(), Path(folder) / "kafka", door_port=free_port())
        node.format_storage()
        sup.start(Service("kafka", node.argv(), tcp_open("127.0.0.1", node.port), timeout=120))
        create_topics(node.brokers, (TASK_EVENTS,))
        grant(node.brokers)
        common: ClientConfig = {"acks": "all", "log_level": 3}
        configs = {
            "tls": node.brokers.client(BACKEND_PRINCIPAL) | common,
            "plain": {"bootstrap.servers": node.endpoint} | common,
        }
        print(f"Kafka at {node.bootstrap} (SASL_SSL) and {node.endpoint} (plaintext); medians")
        compare("connect", "ms", 1000, connect, CONNECTS, configs)
        compare("produce", "ms", 1000, produce, 1, configs)
        compare("throughput", "rec/s", 1, throughput, 1, configs)


if __name__ == "__main__":
    main()
