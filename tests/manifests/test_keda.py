"""Autoscaling on Kafka lag: the ScaledObjects of the Dapr Shared Deployments, checked by KEDA.

``devstack.manifests`` generates, from the contract, one ScaledObject per consuming function
(``knative/base/<function>/dapr-shared.yaml``): a Kafka lag trigger per topic the function's
daprd consumes, in its one consumer group, at most as many replicas as the smallest of those
topics has partitions, and a TriggerAuthentication on the Secret of the cluster's
pubsub-kafka component (docs/decisions/0028-autoscaling-on-lag.md).

``devstack.keda_validate`` runs KEDA's own admission webhook (``github.com/kedacore/keda/v2``
at the chart's version) over ``kustomize build`` of the base and both overlays, and builds
KEDA's Kafka scaler for each trigger. The partitions rule is ours (KEDA would accept more
replicas than partitions): it is checked here, from the contract.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from manifests_support import KNATIVE_TARGETS, REPO, rendered_knative

from devstack import keda_validate, versions
from devstack.cache import cache_dir
from devstack.keda_validate import GENERATED_CA, Admission, admit
from devstack.manifests import dapr_shared
from devstack.manifests._common import consumer_group_for, dapr_service, subscribed_topics
from devstack.manifests.dapr_shared import KEDA_KAFKA_SECRET
from taskpulse.contract import Function, Topic

TARGETS = KNATIVE_TARGETS
PINS_FILE = REPO / "infra" / "terraform" / "modules" / "versions" / "main.tf"
PUBSUB_COMPONENT = REPO / "dapr-components" / "cluster" / "pubsub-kafka.yaml"
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}

Doc = dict[str, Any]

FAKE_SECRETS = {
    KEDA_KAFKA_SECRET: {
        "username": "keda",
        "password": "not-a-real-password",
        "ca.crt": GENERATED_CA,
    }
}
"""What the Secret holds in the cluster, in shape: KEDA's Kafka user, its password and the
brokers' CA (modules/platform kafka.tf writes it)."""

CONSUMERS = [fn for fn in Function if consumer_group_for(fn) is not None]
TOPICS: dict[str, Topic] = {topic.name: topic for fn in Function for topic in subscribed_topics(fn)}


# ----------------------------------------------------------------------------- our rule


def partition_violations(scaled_object: Doc) -> list[str]:
    """Our rule, which KEDA does not check: no more replicas than the partitions of the
    smallest topic the ScaledObject's triggers read (a consumer-group member beyond a
    topic's partitions idles on it); every topic must be one of the contract's."""
    spec = scaled_object["spec"]
    name = scaled_object["metadata"]["name"]
    errors: list[str] = []
    partitions: list[int] = []
    for trigger in spec["triggers"]:
        topic = trigger["metadata"].get("topic")
        if topic not in TOPICS:
            errors.append(f"{name}: trigger on {topic!r}, which no function consumes")
            continue
        partitions.append(TOPICS[topic].partitions)
    if partitions and spec.get("maxReplicaCount", 100) > min(partitions):
        errors.append(
            f"{name}: maxReplicaCount {spec.get('maxReplicaCount', 100)} is over "
            f"{min(partitions)}, the partitions of its smallest topic"
        )
    return errors


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def validator() -> Path:
    built = (cache_dir("bin", keda_validate.BUILD.key) / keda_validate.BUILD.name).exists()
    if not built and (shutil.which("go") is None or os.environ.get("TASKPULSE_NO_GO_BUILD")):
        pytest.fail("keda-validate is not built and Go is missing: install Go 1.26")
    return keda_validate.binary()


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Doc]]:
    """The KEDA objects of ``kustomize build`` of the base and each overlay."""
    return {
        target: [d for d in docs if d.get("kind") in KEDA_KINDS]
        for target, docs in rendered_knative().items()
    }


def _generated() -> list[Doc]:
    return [doc for fn in Function for doc in dapr_shared.autoscaling(fn)]


def _scaled_object(function: Function) -> Doc:
    (doc,) = [d for d in dapr_shared.autoscaling(function) if d["kind"] == "ScaledObject"]
    return copy.deepcopy(doc)


def _authentication(function: Function) -> Doc:
    (doc,) = [d for d in dapr_shared.autoscaling(function) if d["kind"] != "ScaledObject"]
    return copy.deepcopy(doc)


def _namespaced(doc: Doc) -> Doc:
    doc = copy.deepcopy(doc)
    doc["metadata"]["namespace"] = "taskpulse"
    return doc


def _admit_one(validator: Path, scaled_object: Doc, function: Function) -> Admission:
    answers = admit(
        [_namespaced(_authentication(function)), _namespaced(scaled_object)],
        FAKE_SECRETS,
        executable=validator,
    )
    assert answers[0].allowed, answers[0].error
    return answers[1]


# ----------------------------------------------------------------------------- the shape


def test_every_consuming_function_scales_on_the_lag_of_each_topic_it_reads() -> None:
    for fn in CONSUMERS:
        so = _scaled_object(fn)
        spec = so["spec"]
        assert so["metadata"]["name"] == dapr_service(fn)
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": dapr_service(fn),
        }
        assert spec["minReplicaCount"] == 1
        triggers = {t["metadata"]["topic"]: t for t in spec["triggers"]}
        assert sorted(triggers) == sorted(t.name for t in subscribed_topics(fn))
        for trigger in triggers.values():
            meta = trigger["metadata"]
            assert trigger["type"] == "kafka"
            # The group the daprd really joins: one per daprd (pubsub.kafka).
            assert meta["consumerGroup"] == consumer_group_for(fn)
            assert int(meta["lagThreshold"]) > int(meta["activationLagThreshold"]) > 0
            assert trigger["authenticationRef"] == {"name": f"{dapr_service(fn)}-kafka"}


def test_functions_that_consume_nothing_get_no_scaled_object() -> None:
    for fn in Function:
        if fn not in CONSUMERS:
            assert dapr_shared.autoscaling(fn) == []


def test_no_more_replicas_than_partitions() -> None:
    generated = [d for d in _generated() if d["kind"] == "ScaledObject"]
    assert generated
    assert [e for d in generated for e in partition_violations(d)] == []
    figures = {d["metadata"]["name"]: d["spec"]["maxReplicaCount"] for d in generated}
    assert figures == {
        dapr_service(fn): min(t.partitions for t in subscribed_topics(fn)) for fn in CONSUMERS
    }


def test_our_partitions_rule_refuses_more_replicas_than_partitions() -> None:
    for fn in CONSUMERS:
        so = _scaled_object(fn)
        so["spec"]["maxReplicaCount"] += 1
        assert partition_violations(so), fn
    so = _scaled_object(CONSUMERS[0])
    so["spec"]["triggers"][0]["metadata"]["topic"] = "not-a-topic"
    assert partition_violations(so)


def test_credentials_are_kedas_own_on_the_pubsub_components_brokers() -> None:
    """The TriggerAuthentication reads KEDA's own Kafka identity (Secret keda-kafka: a user
    that may only Describe), never a function's; the triggers reach the brokers of the
    cluster's pubsub-kafka with the same mechanism over TLS."""
    (component,) = [d for d in yaml.safe_load_all(PUBSUB_COMPONENT.read_text()) if d]
    meta = {m["name"]: m for m in component["spec"]["metadata"]}
    expected = {
        "username": (KEDA_KAFKA_SECRET, "username"),
        "password": (KEDA_KAFKA_SECRET, "password"),
        "ca": (KEDA_KAFKA_SECRET, "ca.crt"),
    }
    for fn in CONSUMERS:
        refs = _authentication(fn)["spec"]["secretTargetRef"]
        assert {r["parameter"]: (r["name"], r["key"]) for r in refs} == expected
        for trigger in _scaled_object(fn)["spec"]["triggers"]:
            tm = trigger["metadata"]
            assert tm["bootstrapServers"] == meta["brokers"]["value"]
            assert meta["saslMechanism"]["value"] == "SHA-512"
            assert tm["sasl"] == "scram_sha512"
            assert meta["disableTls"]["value"] == "false"
            assert tm["tls"] == "enable"
            assert tm["version"] == meta["version"]["value"]
            # A new group starts at the oldest record in the component: count all as lag.
            assert meta["initialOffset"]["value"] == "oldest"
            assert tm["offsetResetPolicy"] == "earliest"


def test_every_overlay_carries_the_scaled_objects(rendered: dict[str, list[Doc]]) -> None:
    for target, docs in rendered.items():
        names = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "ScaledObject")
        assert names == sorted(dapr_service(fn) for fn in CONSUMERS), target
        assert {d["metadata"].get("namespace") for d in docs} == {"taskpulse"}, target


# ----------------------------------------------------------------------------- KEDA's answer


def test_keda_admits_every_scaled_object(validator: Path, rendered: dict[str, list[Doc]]) -> None:
    for target, docs in rendered.items():
        answers = admit(docs, FAKE_SECRETS, executable=validator)
        assert len(answers) == len(docs)
        refused = [f"{a.kind} {a.name} ({a.stage}): {a.error}" for a in answers if not a.allowed]
        assert refused == [], target
        warned = [f"{a.kind} {a.name}: {a.warnings}" for a in answers if a.warnings]
        assert warned == [], target
        triggers = [t for a in answers for t in a.triggers]
        assert len(triggers) == sum(len(subscribed_topics(fn)) for fn in CONSUMERS)
        assert all(t.accepted and t.type == "kafka" for t in triggers), triggers
        # Accepted means: parsed, validated and configured, then no broker to talk to.
        assert all(t.detail.startswith("error creating kafka client") for t in triggers)


@pytest.mark.parametrize("value", ["0", "-5", "twenty"])
def test_keda_refuses_an_invalid_lag_threshold(validator: Path, value: str) -> None:
    so = _scaled_object(Function.PUSH_UPDATE)
    so["spec"]["triggers"][0]["metadata"]["lagThreshold"] = value
    answer = _admit_one(validator, so, Function.PUSH_UPDATE)
    assert not answer.allowed
    assert answer.stage == "scaler"
    assert "lagThreshold" in answer.error


def test_keda_refuses_a_negative_activation_threshold(validator: Path) -> None:
    so = _scaled_object(Function.PUSH_UPDATE)
    so["spec"]["triggers"][0]["metadata"]["activationLagThreshold"] = "-1"
    answer = _admit_one(validator, so, Function.PUSH_UPDATE)
    assert (answer.allowed, answer.stage) == (False, "scaler")
    assert "activationLagThreshold" in answer.error


def test_keda_refuses_fewer_max_than_min_replicas(validator: Path) -> None:
    so = _scaled_object(Function.SEND_REMINDER)
    so["spec"]["minReplicaCount"] = 3
    answer = _admit_one(validator, so, Function.SEND_REMINDER)
    assert (answer.allowed, answer.stage) == (False, "webhook")
    assert "MinReplicaCount" in answer.error or "minReplicaCount" in answer.error


def test_keda_refuses_scram_without_a_password(validator: Path) -> None:
    auth = _namespaced(_authentication(Function.PUSH_UPDATE))
    auth["spec"]["secretTargetRef"] = [
        r for r in auth["spec"]["secretTargetRef"] if r["parameter"] != "password"
    ]
    answers = admit(
        [auth, _namespaced(_scaled_object(Function.PUSH_UPDATE))],
        FAKE_SECRETS,
        executable=validator,
    )
    assert answers[0].allowed
    assert (answers[1].allowed, answers[1].stage) == (False, "scaler")
    assert "password" in answers[1].error


def test_keda_refuses_a_second_scaled_object_on_the_same_deployment(validator: Path) -> None:
    first = _namespaced(_scaled_object(Function.PUSH_UPDATE))
    second = copy.deepcopy(first)
    second["metadata"]["name"] = "push-update-dapr-again"
    answers = admit(
        [_namespaced(_authentication(Function.PUSH_UPDATE)), first, second],
        FAKE_SECRETS,
        executable=validator,
    )
    assert [a.allowed for a in answers] == [True, True, False]
    assert "already managed by the ScaledObject" in answers[2].error


def test_keda_refuses_an_unknown_field(validator: Path) -> None:
    so = _scaled_object(Function.PUSH_UPDATE)
    so["spec"]["maxReplicas"] = 2
    answer = _admit_one(validator, so, Function.PUSH_UPDATE)
    assert (answer.allowed, answer.stage) == (False, "decode")


def test_more_replicas_than_partitions_is_only_our_rule(validator: Path) -> None:
    """KEDA admits it: the partitions rule above is what refuses it."""
    so = _scaled_object(Function.PUSH_UPDATE)
    so["spec"]["maxReplicaCount"] = 10
    assert partition_violations(so)
    assert _admit_one(validator, so, Function.PUSH_UPDATE).allowed


# ----------------------------------------------------------------------------- the pin


def _terraform_keda_pin() -> str:
    hcl2 = pytest.importorskip("hcl2")
    with PINS_FILE.open() as handle:
        tree = hcl2.load(handle)

    def unwrap(value: Any) -> Any:
        while isinstance(value, list) and len(value) == 1:
            value = value[0]
        return value.strip('"') if isinstance(value, str) else value

    (pins,) = [unwrap(b)["pins"] for b in tree["locals"] if "pins" in unwrap(b)]
    return str(unwrap(unwrap(pins)["keda"]))


def test_go_pin_is_the_chart_terraform_installs() -> None:
    """KEDA's chart and app share one version: the module we validate with is the chart's."""
    pin = _terraform_keda_pin()
    assert pin == versions.KEDA_MODULE_VERSION
    assert keda_validate.BUILD.module == "github.com/kedacore/keda/v2"
    assert keda_validate.BUILD.version == f"v{pin}"


def test_the_binary_is_linked_with_the_pinned_keda(validator: Path) -> None:
    assert keda_validate.version(validator) == f"v{versions.KEDA_MODULE_VERSION}"
