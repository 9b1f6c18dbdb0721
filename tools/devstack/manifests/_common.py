"""What more than one kind of manifest needs: names, ports, labels and views of the contract.

Generates nothing itself. A Knative Service, its Dapr Shared daprd, the NetworkPolicy between
them and the local daprd all have to agree on these values, so each lives here once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from taskpulse.contract import SUBSCRIPTIONS, Function, Subscription, Topic, consumer_group

Manifest = dict[str, Any]

ROOT = Path(__file__).resolve().parents[3]
"""The repository root (this file is tools/devstack/manifests/_common.py)."""

NAMESPACE = "taskpulse"
PART_OF = {"app.kubernetes.io/part-of": "taskpulse"}

DAPR_HTTP_PORT = 3500
DAPR_GRPC_PORT = 50001
DAPR_INTERNAL_GRPC_PORT = 50002
DAPR_METRICS_PORT = 9095
"""Off 9090/9091, which belong to Knative's queue-proxy (notes/knative.md)."""

FUNCTION_PORT = 8080
CENTRIFUGO_PORT = 8000
"""Centrifugo's client port: the WebSocket, which only Kourier's gateway reaches."""
CENTRIFUGO_INTERNAL_PORT = 9000
"""Centrifugo's internal port (v6 ``http_server.internal_port``): the server API, /health,
/metrics; only push-update reaches it (modules/platform centrifugo.tf)."""
KOURIER_GATEWAY = {"app": "3scale-kourier-gateway"}

CONSUMER_GROUP_ENV = "TASKPULSE_KAFKA_CONSUMER_GROUP"
"""Read by the pubsub-kafka component through ``envRef`` (daprd's own environment)."""


def tokens_secret(function: Function) -> str:
    """Secret with keys ``dapr-api-token`` and ``app-api-token`` of one function."""
    return f"{function.value}-dapr-tokens"


def dapr_service(function: Function) -> str:
    return f"{function.value}-dapr"


def resource_labels(name: str, role: str, function: Function) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": role,
        "taskpulse.dev/function": function.value,
        **PART_OF,
    }


def restricted_security_context(uid: int) -> Manifest:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def secret_env(name: str, secret: str, key: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


# --------------------------------------------------------------------------- contract views


def subscriptions_by_topic() -> dict[tuple[Function, Topic], list[Subscription]]:
    """The contract's subscriptions grouped per (function, topic), in contract order."""
    grouped: dict[tuple[Function, Topic], list[Subscription]] = {}
    for sub in SUBSCRIPTIONS:
        grouped.setdefault((sub.function, sub.topic), []).append(sub)
    return grouped


def subscribed_topics(function: Function) -> list[Topic]:
    return [topic for (fn, topic) in subscriptions_by_topic() if fn is function]


def consumer_group_for(function: Function) -> str | None:
    """The Kafka consumer group of a function's daprd, or ``None`` if it consumes nothing.

    pubsub.kafka has ONE consumer group per component instance (components-contrib
    common/component/kafka/kafka.go:152, clients.go:53): a function that reads two topics
    reads both in one group. The contract's ``<function>-<topic>-v1`` is then named after
    the function's first topic in the contract (send-reminder: ``send-reminder-reminders-v1``,
    which also consumes ``task-events``).
    """
    topics = subscribed_topics(function)
    return consumer_group(function, topics[0]) if topics else None
