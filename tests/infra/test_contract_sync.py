"""modules/platform's topics and consumer groups are those of functions/taskpulse/contract.py.

(Its Dapr Subscriptions are generated from that module into the taskpulse-dapr chart.)
"""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest

from taskpulse import contract

INFRA = Path(__file__).resolve().parents[2] / "infra" / "terraform"
CONTRACT_TF = INFRA / "modules" / "platform" / "contract.tf"

pytestmark = pytest.mark.infra


def _plain(value):
    """Undo the list wrapping and quoting that some hcl2 parsers add."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        return {k.strip('"'): _plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return value.strip('"')
    return value


def _locals() -> dict:
    with CONTRACT_TF.open() as handle:
        tree = hcl2.load(handle)
    merged: dict = {}
    for block in tree["locals"]:
        merged.update(_plain(block))
    return merged


def test_topics_match_the_contract():
    expected = {
        t.name: {
            "partitions": t.partitions,
            "retention_ms": int(t.retention.total_seconds() * 1000),
            "max_message_bytes": t.max_message_bytes,
        }
        for t in contract.all_topics()
    }
    assert _locals()["topics"] == expected


def test_pubsub_name_matches():
    assert _locals()["pubsub_name"] == contract.PUBSUB_NAME


def test_consumer_groups_follow_the_contract():
    # One group per daprd: named after the function's first topic in the contract.
    first: dict[str, str] = {}
    for sub in contract.SUBSCRIPTIONS:
        first.setdefault(sub.function.value, sub.topic.name)
    assert _locals()["consumer_group_topic"] == first
    topics = {t.name: t for t in contract.TOPICS}
    for function, topic in first.items():
        group = contract.consumer_group(contract.Function(function), topics[topic])
        assert group == f"{function}-{topic}-v1"


def test_function_names_match():
    variables = (CONTRACT_TF.parent / "variables.tf").read_text()
    for function in contract.Function:
        assert f'"{function.value}"' in variables


def test_kafka_access_matches_the_contract():
    """contract.tf's kafka_access (the KafkaUsers' ACLs) is contract.py's "Kafka access"."""
    expected = {
        fn.value: {
            "reads": [t.name for t in contract.reads(fn)],
            "writes": list(contract.writes(fn)),
            "group_prefix": contract.group_prefix(fn),
        }
        for fn in contract.Function
    }
    expected[contract.BACKEND_PRINCIPAL] = {
        "reads": [],
        "writes": [t.name for t in contract.BACKEND_PUBLISHES],
        "group_prefix": None,
    }
    access = _locals()["kafka_access"]
    # hcl2 reads `null` as None or as the string "null", depending on its version.
    # _plain unwraps one-element lists: wrap them again.
    for grants in access.values():
        if grants["group_prefix"] in ("null", "${null}"):
            grants["group_prefix"] = None
        for key in ("reads", "writes"):
            if isinstance(grants[key], str):
                grants[key] = [grants[key]]
    assert access == expected
