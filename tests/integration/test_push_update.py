"""push-update: every task-updates event reaches the user's channel, once per event id."""

from __future__ import annotations

import json
from typing import Any

from functions_env import Env, cloud_event, post, post_binary, post_record, post_records
from taskpulse.contract import EventType, Function

CREATED = EventType.TASK_CREATED.value


def test_an_update_goes_to_the_users_channel_with_the_event_id_as_idempotency_key(
    env: Env,
) -> None:
    client = env.client(Function.PUSH_UPDATE)
    event = cloud_event(CREATED, {"id": "t1", "user_id": "alice"}, user="alice")
    assert post(client, "/events/task-update", event).get_json() == {"status": "SUCCESS"}
    (publish,) = env.centrifugo.matching("POST", "/api/publish")
    body = publish.json()
    assert body["channel"] == "tasks:user#alice"
    assert body["idempotency_key"] == event["id"]
    assert body["data"]["type"] == CREATED
    assert body["data"]["data"] == {"id": "t1", "user_id": "alice"}
    # Refusals come as HTTP statuses, which is what tells an outage from a bad publication.
    assert publish.headers["x-centrifugo-error-mode"] == "transport"


def test_binary_mode_and_user_from_data(env: Env) -> None:
    client = env.client(Function.PUSH_UPDATE)
    event = cloud_event(CREATED, {"id": "t1", "user_id": "bob"})
    assert post_binary(client, "/events/task-update", event).get_json() == {"status": "SUCCESS"}
    (publish,) = env.centrifugo.matching("POST", "/api/publish")
    assert publish.json()["channel"] == "tasks:user#bob"


def test_gateway_down_means_retry(env: Env) -> None:
    env.centrifugo.responder = lambda request: (500, b"oops")
    client = env.client(Function.PUSH_UPDATE)
    event = cloud_event(CREATED, {"id": "t1", "user_id": "alice"}, user="alice")
    assert post(client, "/events/task-update", event).get_json() == {"status": "RETRY"}


def test_an_update_that_names_no_user_is_dead_lettered(env: Env) -> None:
    client = env.client(Function.PUSH_UPDATE)
    assert post(client, "/events/task-update", cloud_event(CREATED, {"id": "t1"})).get_json() == {
        "status": "SUCCESS"
    }
    (letter,) = env.dapr.published("task-updates-dlq")
    assert "names no user" in letter["deadletterreason"]
    assert env.centrifugo.requests == []


def test_not_json_and_oversized_go_to_the_dead_letter_topic_with_the_reason(env: Env) -> None:
    client = env.client(Function.PUSH_UPDATE)
    client.post(
        "/events/task-update",
        data=b"\x00\xffnot json",
        headers={"content-type": "application/cloudevents+json"},
    )
    big = cloud_event(CREATED, {"id": "t1", "user_id": "alice", "blob": "x" * (1 << 20)})
    post(client, "/events/task-update", big)
    first, second = env.dapr.published("task-updates-dlq")
    assert "not JSON" in first["deadletterreason"]
    assert "limit is 65536" in second["deadletterreason"]
    assert second["deadletterbytes"] > 1 << 20


def test_as_the_gate_of_task_updates_it_reads_records_in_daprs_raw_envelope(env: Env) -> None:
    client = env.client(Function.PUSH_UPDATE)
    inner = cloud_event(CREATED, {"id": "t1", "user_id": "carol"}, user="carol")
    ok = post_record(client, "/events/task-update", json.dumps(inner).encode())
    assert ok.get_json() == {"status": "SUCCESS"}
    (publish,) = env.centrifugo.matching("POST", "/api/publish")
    assert publish.json()["channel"] == "tasks:user#carol"
    assert publish.json()["idempotency_key"] == inner["id"]
    unknown = cloud_event("dev.example.other.v1", {"user_id": "carol"}, user="carol")
    for record in (b"\x00\x01 not json", json.dumps(unknown).encode()):
        answer = post_record(client, "/events/task-update", record)
        assert answer.get_json() == {"status": "SUCCESS"}
    not_json, other = env.dapr.published("task-updates-dlq")
    assert "not JSON" in not_json["deadletterreason"]
    assert not_json["deadletterbody"].endswith("not json")  # the record, not the envelope
    assert "unknown event type 'dev.example.other.v1'" in other["deadletterreason"]
    assert other["id"] == unknown["id"]
    assert len(env.centrifugo.matching("POST", "/api/publish")) == 1


def _answers_to(env: Env, gateway_answers: list[tuple[int, bytes]]) -> list[Any]:
    """push-update's answer to one update for each way the gateway answers it."""
    client = env.client(Function.PUSH_UPDATE)
    answers = []
    for status, body in gateway_answers:
        env.centrifugo.responder = lambda request, status=status, body=body: (status, body)
        event = cloud_event(CREATED, {"id": "t1", "user_id": "alice"}, user="alice")
        answers.append(post(client, "/events/task-update", event).get_json())
    return answers


def test_the_gateway_or_its_configuration_failing_is_retried(env: Env) -> None:
    """Nothing is wrong with the update: an outage, a wrong key or URL, an unknown
    namespace. Retry, so it is shown once the operator mends it."""
    answers = [
        (503, b"down"),
        (429, b"slow down"),
        (401, b"Unauthorized"),
        (404, b'{"code": 102, "message": "unknown channel"}'),
        (200, b'{"error": {"code": 102, "message": "unknown channel"}}'),
        (200, b'{"error": {"code": 100, "message": "internal server error"}}'),
    ]
    for (status, body), answer in zip(answers, _answers_to(env, answers), strict=True):
        assert answer == {"status": "RETRY"}, (status, body)
    assert env.dapr.published("task-updates-dlq") == []


def test_an_update_the_gateway_refuses_for_good_is_dead_lettered_with_its_reason(
    env: Env,
) -> None:
    """The publication itself refused (400 in transport error mode, or code 107 from a
    gateway that ignores that mode): retrying would hold the partition for nothing."""
    answers = [
        (400, b'{"code": 107, "message": "bad request"}'),
        (413, b"Request Entity Too Large"),
        (200, b'{"error": {"code": 107, "message": "bad request"}}'),
    ]
    for answer in _answers_to(env, answers):
        assert answer == {"status": "SUCCESS"}
    letters = env.dapr.published("task-updates-dlq")
    assert [letter["deadletterreason"].split(":")[0] for letter in letters] == [
        "push gateway answered 400",
        "push gateway answered 413",
        "push gateway refused",
    ]
    assert "bad request" in letters[0]["deadletterreason"]


def test_a_bulk_delivery_answers_each_record_in_order(env: Env) -> None:
    """daprd hands the gate what waited in one partition: each record is handled as if it
    came alone (a bad one dead-lettered with its reason), and each gets its status."""
    client = env.client(Function.PUSH_UPDATE)
    events = [
        cloud_event(CREATED, {"id": f"t{n}", "user_id": "alice"}, user="alice") for n in range(3)
    ]
    records = [json.dumps(events[0]).encode(), b"not json", json.dumps(events[2]).encode()]
    assert post_records(client, "/events/task-update", records) == ["SUCCESS"] * 3
    published = [
        r.json()["idempotency_key"] for r in env.centrifugo.matching("POST", "/api/publish")
    ]
    assert published == [events[0]["id"], events[2]["id"]]
    (letter,) = env.dapr.published("task-updates-dlq")
    assert "not JSON" in letter["deadletterreason"]


def test_in_a_bulk_delivery_the_records_after_a_retry_wait_with_it(env: Env) -> None:
    """One partition's records: once one must be retried, the later ones are not handled
    (they would overtake it) and are retried with it."""
    answers = iter([(200, b'{"result": {}}'), (500, b"oops")])
    env.centrifugo.responder = lambda request: next(answers, (200, b'{"result": {}}'))
    client = env.client(Function.PUSH_UPDATE)
    events = [
        cloud_event(CREATED, {"id": f"t{n}", "user_id": "alice"}, user="alice") for n in range(4)
    ]
    records = [json.dumps(e).encode() for e in events]
    assert post_records(client, "/events/task-update", records) == [
        "SUCCESS",
        "RETRY",
        "RETRY",
        "RETRY",
    ]
    assert len(env.centrifugo.matching("POST", "/api/publish")) == 2
