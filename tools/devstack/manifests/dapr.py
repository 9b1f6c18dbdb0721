"""The Dapr resources every place shares: a Subscription per (function, topic), the Resiliency.

They go to ``dapr-components/base`` (local daprd and the kustomize overlays) and, as Helm
templates, into Terraform's taskpulse-dapr chart (``chart``). daprd 1.18.3 keeps only the
FIRST declarative subscription of an app for a given pubsub+topic and silently ignores the
others (pkg/runtime/compstore/subscriptions.go:199-212, ``taken[sub.Topic]``), so the several
contract entries of one function on one topic become several routing rules of one
Subscription. The Resiliency's app targets are the contract's functions.

The pubsub-kafka and other components are hand-written per place; ``PUBSUB_PLACE_KEYS`` says
which of their metadata may differ between those places.
"""

from __future__ import annotations

from collections.abc import Sequence

from devstack.manifests._common import PART_OF, Manifest
from taskpulse.contract import (
    PUBSUB_NAME,
    EventType,
    Function,
    Subscription,
    Topic,
    reads,
    writes,
)

RESILIENCY_NAME = "taskpulse"


def subscription_name(function: Function, topic: Topic) -> str:
    return f"{function.value}-{topic.name}"


def match_expression(types: Sequence[EventType], data_present: Sequence[str] = ()) -> str:
    """CEL over the CloudEvent ``type`` attribute and, where a subscription narrows it,
    fields of ``data``.

    CEL's ``&&`` is false as soon as one side is false, even when another side is an
    error. The guards make each data condition plainly false for an event without a JSON
    object ``data`` or without the field, instead of an evaluation error (on which daprd
    delivers nothing: the consumer logs the error and skips the event).
    """
    if len(types) == 1:
        match = f'event.type == "{types[0].value}"'
    else:
        match = "event.type in [" + ", ".join(f'"{t.value}"' for t in types) + "]"
    if data_present:
        match += " && has(event.data) && type(event.data) == map"
        for field in data_present:
            # JSON null has a type of its own: type() tells it from a string.
            match += f" && has(event.data.{field}) && type(event.data.{field}) == string"
    return match


BULK_MAX_EVENTS = 16
"""At most this many events per bulk delivery (16 x 2 MiB bounds the worst)."""
BULK_MAX_WAIT_MS = 5
"""How long daprd collects a partition's events before delivering them: the latency a
bulk subscription adds when events come one at a time."""


def subscription_manifest(
    function: Function, topic: Topic, subs: Sequence[Subscription]
) -> Manifest:
    spec: Manifest = {"pubsubname": PUBSUB_NAME, "topic": topic.name}
    if any(s.gate for s in subs):
        (gate,) = subs  # a raw record has no type for a rule to route on
        spec["metadata"] = {"rawPayload": "true"}
        spec["routes"] = {"default": gate.path}
        # Only a gate has a deadLetterTopic. daprd sends an event no rule matches to it
        # (pkg/runtime/subscription/subscription.go: 1.14.4 lines 204-211, 1.18.3 lines
        # 337-347), so on a subscription that reads only some of its topic's types every
        # other event would be copied there without a reason. A gate has no rules: it
        # dead-letters what it cannot read itself, with the reason, and daprd's copy is
        # left for what the gate never answered (retries exhausted).
        spec["deadLetterTopic"] = topic.dead_letter
        # One request for what waited in a partition instead of one per event: each costs
        # the function its HTTP stack (about 0.7 ms of CPU), and compute-next-occurrence's
        # batch one transaction. A gate reads every record of its topic, many of which it
        # only lets pass. Bounded, because a gate also takes records of up to the topic's
        # limit to dead-letter them.
        spec["bulkSubscribe"] = {
            "enabled": True,
            "maxMessagesCount": BULK_MAX_EVENTS,
            "maxAwaitDurationMs": BULK_MAX_WAIT_MS,
        }
    else:
        spec["routes"] = {
            "rules": [
                {
                    "match": match_expression(s.types, s.data_present),
                    "path": s.path,
                }
                for s in subs
            ],
        }
    return {
        "apiVersion": "dapr.io/v2alpha1",
        "kind": "Subscription",
        "metadata": {
            "name": subscription_name(function, topic),
            "labels": {"app.kubernetes.io/name": function.value, **PART_OF},
            "annotations": {
                "taskpulse.dev/contract-subscriptions": ",".join(s.name for s in subs),
            },
        },
        "spec": spec,
        "scopes": [function.value],
    }


def resiliency_manifest() -> Manifest:
    return {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Resiliency",
        "metadata": {"name": RESILIENCY_NAME, "labels": dict(PART_OF)},
        "spec": {
            "policies": {
                "timeouts": {
                    # One delivery to a function, cold start included (the Knative activator
                    # holds the request while a pod starts: about 3-4 s published p95).
                    "delivery": "30s",
                    "publish": "10s",
                    "invoke": "30s",
                },
                "retries": {
                    # The only retry of an event a function did not answer (pubsub-kafka has
                    # consumeRetryEnabled "false"): 0.5 s growing by 1.5 up to 30 s, 20
                    # retries, about 6 minutes. An outage shorter than that loses nothing;
                    # after it a gate's event goes to <topic>-dlq, another subscription's is
                    # skipped, and the partition moves on. Not longer: daprd runs it on a
                    # context that a rebalance or shutdown cannot cancel. Events a function
                    # answered (SUCCESS, also after dead-lettering them) never wait here.
                    "delivery": {"policy": "exponential", "maxInterval": "30s", "maxRetries": 20},
                    "publish": {"policy": "exponential", "maxInterval": "5s", "maxRetries": 5},
                    "invoke": {"policy": "exponential", "maxInterval": "5s", "maxRetries": 3},
                },
                "circuitBreakers": {
                    "broker": {
                        "maxRequests": 1,
                        "interval": "60s",
                        "timeout": "30s",
                        "trip": "consecutiveFailures >= 5",
                    },
                    "app": {
                        "maxRequests": 1,
                        "interval": "60s",
                        "timeout": "30s",
                        "trip": "consecutiveFailures >= 5",
                    },
                },
            },
            "targets": {
                "apps": {
                    fn.value: {"timeout": "invoke", "retry": "invoke", "circuitBreaker": "app"}
                    for fn in Function
                },
                "components": {
                    PUBSUB_NAME: {
                        # No breaker inbound: an open breaker fails every delivery at once,
                        # which turns a short function outage into a flood of dead letters.
                        "inbound": {"timeout": "delivery", "retry": "delivery"},
                        "outbound": {
                            "timeout": "publish",
                            "retry": "publish",
                            "circuitBreaker": "broker",
                        },
                    },
                },
            },
        },
    }


PUBSUB_PLACE_KEYS = frozenset({"brokers", "authType", "disableTls"})
"""The only ``pubsub-kafka`` metadata that may differ between places (the local and cluster
variants of dapr-components, and Terraform's chart): where the brokers are, and whether
they are the secured ones (a developer's own plaintext broker). Logins, mechanism and CA
are read the same way everywhere (``envRef``, set per daprd)."""


def _scopes(topics: dict[Function, Sequence[str]]) -> str:
    return ";".join(f"{fn.value}={','.join(names)}" for fn, names in topics.items())


def publishing_scopes() -> str:
    """``publishingScopes`` of pubsub-kafka: each function may publish to ``writes`` only."""
    return _scopes({fn: writes(fn) for fn in Function})


def subscription_scopes() -> str:
    """``subscriptionScopes`` of pubsub-kafka: each function may read ``reads`` only."""
    return _scopes({fn: [t.name for t in reads(fn)] for fn in Function})
