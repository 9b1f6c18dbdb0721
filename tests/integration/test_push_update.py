"""push-update: every task-updates event reaches the user's channel, once per event id."""

from __future__ import annotations

import json
from typing import Any

from functions_env import Env, cloud_event, post, post_binary, post_record, post_records
from recording import Recorded, batch_replies, default_responder
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
    not_json = client.post(
        "/events/task-update",
        data=b"\x00\xffnot json",
        headers={"content-type": "application/cloudevents+json"},
    )
    assert not_json.get_json() == {"status": "SUCCESS"}
    big = cloud_event(CREATED, {"id": "t1", "user_id": "alice", "blob": "x" * (1 << 20)})
    assert post(client, "/events/task-update", big).get_json() == {"status": "SUCCESS"}
    first, second = env.dapr.published("task-updates-dlq")
    assert "not JSON" in first["deadletterreason"]
    size = len(json.dumps(big).encode())  # the request's body, as post sent it
    assert second["deadletterreason"] == f"event is {size} bytes; the limit is 65536"
    assert second["deadletterbytes"] == size


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
        (200, b'{"error": {"code": 111, "message": "too many requests"}}'),
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
    assert [letter["deadletterreason"] for letter in letters] == [
        'push gateway answered 400: {"code": 107, "message": "bad request"}',
        "push gateway answered 413: Request Entity Too Large",
        "push gateway refused: {'code': 107, 'message': 'bad request'}",
    ]


def _updates(n: int) -> list[dict[str, Any]]:
    return [
        cloud_event(CREATED, {"id": f"t{k}", "user_id": "alice"}, user="alice") for k in range(n)
    ]


def test_a_bulk_delivery_goes_to_the_gateway_in_one_request(env: Env) -> None:
    """daprd hands the gate what waited in one partition: its updates go to the gateway as
    one batch, in order (a bad record dead-lettered with its reason), and each record gets
    its status."""
    client = env.client(Function.PUSH_UPDATE)
    events = _updates(3)
    records = [events[0], b"not json", events[2]]
    assert post_records(client, "/events/task-update", records) == ["SUCCESS"] * 3
    (batch,) = env.centrifugo.requests
    assert batch.path == "/api/batch"
    assert batch.headers["x-centrifugo-error-mode"] == "transport"
    pushed = env.centrifugo.pushed()
    assert [p["idempotency_key"] for p in pushed] == [events[0]["id"], events[2]["id"]]
    assert {p["channel"] for p in pushed} == {"tasks:user#alice"}
    (letter,) = env.dapr.published("task-updates-dlq")
    assert "not JSON" in letter["deadletterreason"]


def test_a_bulk_delivery_of_one_update_is_a_plain_publish(env: Env) -> None:
    client = env.client(Function.PUSH_UPDATE)
    assert post_records(client, "/events/task-update", _updates(1)) == ["SUCCESS"]
    assert [r.path for r in env.centrifugo.requests] == ["/api/publish"]


def test_in_a_bulk_delivery_the_records_after_a_retry_wait_with_it(env: Env) -> None:
    """One partition's records: once one must be retried, the later ones are retried with
    it. The batch sent them all the same (the gateway runs every command): they may reach
    the screens first, and the gateway drops their second publication by its idempotency
    key."""
    replies = [{"publish": {}}, {"error": {"code": 100, "message": "internal"}}]
    env.centrifugo.responder = lambda request: (200, batch_replies(replies + [{"publish": {}}] * 2))
    client = env.client(Function.PUSH_UPDATE)
    records = _updates(4)
    assert post_records(client, "/events/task-update", records) == [
        "SUCCESS",
        "RETRY",
        "RETRY",
        "RETRY",
    ]
    assert len(env.centrifugo.pushed()) == 4  # one request
    assert env.dapr.published("task-updates-dlq") == []
    env.centrifugo.responder = default_responder
    assert post_records(client, "/events/task-update", records[1:]) == ["SUCCESS"] * 3


def test_after_a_retried_update_an_unreadable_record_waits_too(env: Env) -> None:
    """Its dead letter is all it does: sent now, it would overtake the retried update."""
    replies = [{"error": {"code": 111, "message": "too many requests"}}, {"publish": {}}]
    env.centrifugo.responder = lambda request: (200, batch_replies(replies))
    client = env.client(Function.PUSH_UPDATE)
    first, last = _updates(2)
    answers = post_records(client, "/events/task-update", [first, b"not json", last])
    assert answers == ["RETRY"] * 3
    assert env.dapr.published("task-updates-dlq") == []


def test_an_empty_bulk_delivery_is_answered_empty(env: Env) -> None:
    client = env.client(Function.PUSH_UPDATE)
    assert post_records(client, "/events/task-update", []) == []
    assert env.centrifugo.requests == []


def test_in_a_bulk_delivery_an_update_refused_for_good_is_dead_lettered_alone(
    env: Env,
) -> None:
    refused = {"error": {"code": 107, "message": "bad request"}}
    replies = [{"publish": {}}, refused, {"publish": {}}]
    env.centrifugo.responder = lambda request: (200, batch_replies(replies))
    client = env.client(Function.PUSH_UPDATE)
    events = _updates(3)
    assert post_records(client, "/events/task-update", events) == ["SUCCESS"] * 3
    (letter,) = env.dapr.published("task-updates-dlq")
    assert letter["id"] == events[1]["id"]
    assert (
        letter["deadletterreason"]
        == "push gateway refused: {'code': 107, 'message': 'bad request'}"
    )


def test_a_batch_the_gateway_refuses_whole_is_published_one_by_one(env: Env) -> None:
    """Say the batch is over the gateway's body limit: each update goes alone, and only
    the one refused as such is dead-lettered."""
    events = _updates(3)

    def gateway(request: Recorded) -> tuple[int, bytes]:
        if request.path == "/api/batch":
            return 413, b"Request Entity Too Large"
        if request.json()["idempotency_key"] == events[2]["id"]:
            return 400, b'{"code": 107, "message": "bad request"}'
        return 200, b'{"result": {}}'

    env.centrifugo.responder = gateway
    client = env.client(Function.PUSH_UPDATE)
    assert post_records(client, "/events/task-update", events) == ["SUCCESS"] * 3
    assert [r.path for r in env.centrifugo.requests] == ["/api/batch"] + ["/api/publish"] * 3
    (letter,) = env.dapr.published("task-updates-dlq")
    assert letter["id"] == events[2]["id"]
    assert letter["deadletterreason"] == (
        'push gateway answered 400: {"code": 107, "message": "bad request"}'
    )


def test_a_batch_that_finds_the_gateway_down_is_retried_whole(env: Env) -> None:
    env.centrifugo.responder = lambda request: (503, b"down")
    client = env.client(Function.PUSH_UPDATE)
    answers = post_records(client, "/events/task-update", _updates(3))
    assert answers == ["RETRY"] * 3
    assert env.dapr.published("task-updates-dlq") == []
