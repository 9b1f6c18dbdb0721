"""create-task against real PostgreSQL: HTTP and topic, both CloudEvent modes, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from functions_env import (
    STRUCTURED,
    Env,
    cloud_event,
    post,
    post_binary,
)
from recording import BrokerSwitch, Recorded
from support import create_tasks, wait_for
from taskpulse.contract import EventType, Function
from taskpulse.store import Store

CREATE = EventType.TASK_CREATE.value
CREATED = EventType.TASK_CREATED.value
COMPLETED = EventType.TASK_COMPLETED.value


def create_data(**extra: Any) -> dict[str, Any]:
    due = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    return {"user_id": "alice", "title": "Water the plants", "due_at": due.isoformat(), **extra}


def test_http_create_answers_201_with_the_created_event_and_publishes_it(env: Env) -> None:
    client = env.client(Function.CREATE_TASK)
    event = cloud_event(CREATE, create_data(remind_before="PT15M", tags=["home"]), user="alice")

    response = post(client, "/", event)

    assert response.status_code == 201
    assert response.mimetype == STRUCTURED
    created = response.get_json(force=True)
    assert created["type"] == EventType.TASK_CREATED.value
    assert created["source"] == "/taskpulse/create-task"
    assert created["subject"] == created["data"]["id"]
    assert created["partitionkey"] == "alice"
    assert created["data"]["remind_before"] == "PT15M"
    assert created["data"]["tags"] == ["home"]
    for topic in ("task-events", "task-updates"):
        assert [e["id"] for e in env.dapr.published(topic)] == [created["id"]]
    (reminder,) = env.dapr.published("reminders")
    assert reminder["type"] == EventType.REMINDER_SCHEDULED.value
    due = datetime.fromisoformat(created["data"]["due_at"])
    assert datetime.fromisoformat(reminder["data"]["remind_at"]) == due - timedelta(minutes=15)
    (entry,) = env.dapr.publish_entries("task-events")
    assert (entry.partition_key, entry.content_type) == ("alice", STRUCTURED)


def test_a_repeated_command_answers_200_with_the_same_task(env: Env, store: Store) -> None:
    client = env.client(Function.CREATE_TASK)
    event = cloud_event(CREATE, create_data())
    first = post(client, "/", event)
    again = post(client, "/", event)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json(force=True) == again.get_json(force=True)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM tasks")).scalar_one() == 1


def test_binary_mode_is_accepted(env: Env) -> None:
    client = env.client(Function.CREATE_TASK)
    response = post_binary(client, "/", cloud_event(CREATE, create_data()))
    assert response.status_code == 201, response.get_data(as_text=True)


def _dead_letters(env: Env, topic: str = "task-events-dlq") -> list[dict[str, Any]]:
    return env.dapr.published(topic)


def test_invalid_commands_get_400_naming_the_fault_and_a_dead_letter(env: Env) -> None:
    client = env.client(Function.CREATE_TASK)
    cases = {
        "title": create_data(title=""),
        "unknown time zone 'Mars/Olympus'": create_data(timezone="Mars/Olympus"),
        "BYMONTH": create_data(rrule="FREQ=YEARLY;BYMONTH=13"),
        "priority": create_data(priority="urgent"),
        "tags": create_data(tags=[f"t{n}" for n in range(21)]),
        "due_at": create_data(due_at="2030-01-01T09:00:00"),  # no offset
        "colour": create_data(colour="red"),
    }
    errors = []
    for expected, data in cases.items():
        response = post(client, "/", cloud_event(CREATE, data))
        assert response.status_code == 400, expected
        (error,) = response.get_json().values()  # {"error": ...} and nothing else
        assert expected in error, (expected, error)
        errors.append(error)
    # Each command is kept with the reason its client was told.
    assert [letter["deadletterreason"] for letter in _dead_letters(env)] == errors
    assert env.dapr.published("task-events") == []


def test_malformed_and_oversized_bodies_are_refused_with_the_reason(env: Env) -> None:
    client = env.client(Function.CREATE_TASK)
    assert env.token_for is not None
    alice = {"content-type": STRUCTURED, "Authorization": f"Bearer {env.token_for('alice')}"}
    bad = client.post("/", data=b"{not json", headers=alice)
    assert bad.status_code == 400
    assert "not JSON" in bad.get_json()["error"]
    huge = cloud_event(CREATE, create_data(description="x" * 70_000))
    too_big = post(client, "/", huge)
    assert (too_big.status_code, too_big.get_json()) == (
        413,
        {"error": "body larger than 65536 bytes"},
    )
    wrong_type = post(client, "/", cloud_event("dev.taskpulse.task.created.v1", {}))
    assert (wrong_type.status_code, wrong_type.get_json()) == (
        400,
        {
            "error": "POST / takes dev.taskpulse.task.cancelled.v1, "
            "dev.taskpulse.task.completed.v1, dev.taskpulse.task.create.v1, "
            "not dev.taskpulse.task.created.v1"
        },
    )
    # What an authenticated caller sent and was refused is kept; a body over the limit
    # was never read, so there is nothing to keep.
    reasons = [letter["deadletterreason"] for letter in _dead_letters(env)]
    assert reasons == [r.get_json()["error"] for r in (bad, wrong_type)]


def test_a_command_id_used_again_by_another_user_shows_nothing_of_the_first_task(
    env: Env,
) -> None:
    client = env.client(Function.CREATE_TASK)
    first = cloud_event(CREATE, create_data(title="Alice's secret"), event_id="42", source="/app")
    assert post(client, "/", first).status_code == 201
    copy = cloud_event(
        CREATE, {**create_data(), "user_id": "mallory"}, event_id="42", source="/app"
    )
    response = post(client, "/", copy)
    assert response.status_code == 400
    assert "already created another user's task" in response.get_json()["error"]
    assert "secret" not in response.get_data(as_text=True)
    (letter,) = _dead_letters(env)
    assert letter["data"]["user_id"] == "mallory"


def test_from_the_topic_the_answer_is_dapr_s_and_duplicates_do_nothing(
    env: Env, store: Store
) -> None:
    client = env.client(Function.CREATE_TASK)
    event = cloud_event(CREATE, create_data(), user="alice")
    for _ in range(3):
        response = post(client, "/events/task-create", event)
        assert response.get_json() == {"status": "SUCCESS"}
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM tasks")).scalar_one() == 1
    assert len(env.dapr.published("task-events")) == 1


def test_an_invalid_event_from_the_topic_is_dead_lettered_and_the_partition_flows(
    env: Env,
) -> None:
    client = env.client(Function.CREATE_TASK)
    response = post(client, "/events/task-create", cloud_event(CREATE, {"user_id": "alice"}))
    assert response.get_json() == {"status": "SUCCESS"}
    (letter,) = _dead_letters(env)
    assert "title" in letter["deadletterreason"]
    assert letter["deadletterfunction"] == "create-task"


def test_when_the_dead_letter_cannot_be_published_dapr_is_asked_to_retry(env: Env) -> None:
    env.dapr.responder = lambda request: (500, b"broker down")
    client = env.client(Function.CREATE_TASK)
    response = post(client, "/events/task-create", cloud_event(CREATE, {"user_id": "alice"}))
    assert response.get_json() == {"status": "RETRY"}


def test_database_down_means_retry_not_loss(env: Env) -> None:
    client = env.client(
        Function.CREATE_TASK,
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1",
    )
    topic = post(client, "/events/task-create", cloud_event(CREATE, create_data()))
    assert topic.get_json() == {"status": "RETRY"}
    http = post(client, "/", cloud_event(CREATE, create_data()))
    assert (http.status_code, http.get_json()) == (
        503,
        {"error": "temporarily unavailable, retry: OperationalError"},
    )
    assert _dead_letters(env) == []


def test_events_that_could_not_be_published_wake_the_function_through_a_job(
    env: Env, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A function scaled to zero gets no request that would sweep its outbox: a failed
    publish schedules the outbox-sweep job on its own Dapr, whose trigger publishes
    (RETRY while Dapr still fails), purges what expired, and ends the job."""
    import taskpulse.publisher

    broker = BrokerSwitch()
    env.dapr.responder = broker
    client = env.client(Function.CREATE_TASK)
    assert post(client, "/", cloud_event(CREATE, create_data())).status_code == 201
    (job,) = env.dapr.matching("POST", "/v1.0/jobs/outbox-sweep")
    due = datetime.fromisoformat(job.json()["dueTime"])
    assert timedelta(seconds=20) < due - datetime.now(UTC) < timedelta(seconds=40)

    def pending() -> int:
        with store.engine.connect() as conn:
            query = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            return int(conn.execute(sa.text(query)).scalar_one())

    assert pending() == 2  # task.created on task-events and on task-updates

    assert client.post("/job/outbox-sweep").status_code == 500  # still down: come back
    broker.ok = True
    monkeypatch.setattr(taskpulse.publisher, "CLEANUP_EVERY_SECONDS", 0.0)
    with store.engine.begin() as conn:  # an idempotency row past its retention
        conn.execute(sa.text("UPDATE processed_events SET expires_at = now() - interval '1 day'"))
    # The rows wait out their backoff (1 s after one failure) before the trigger that
    # publishes them; until then each trigger answers RETRY and the job comes back.
    answer = wait_for(
        lambda: a if (a := client.post("/job/outbox-sweep")).status_code == 200 else None,
        10,
        "the outbox-sweep job to publish the pending events",
        0.3,
    )
    assert answer.get_json()["status"] == "SUCCESS"
    assert pending() == 0
    assert env.dapr.matching("DELETE", "/v1.0/jobs/outbox-sweep")
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM processed_events")).scalar_one() == 0


def test_an_events_path_it_does_not_serve_is_retried_not_dropped(env: Env, store: Store) -> None:
    """The path of a subscription from another release (daprd and the function roll out
    apart): daprd drops what a 404 answers, so the answer is 503, which it retries."""
    client = env.client(Function.CREATE_TASK)
    response = post(client, "/events/task-events", cloud_event(CREATE, create_data()))
    assert (response.status_code, response.get_json()) == (
        503,
        {"error": "no route /events/task-events", "status": "RETRY"},
    )
    elsewhere = post(client, "/elsewhere", cloud_event(CREATE, create_data()))
    assert (elsewhere.status_code, elsewhere.get_json()) == (404, {"error": "no route /elsewhere"})
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM tasks")).scalar_one() == 0


def test_the_app_token_is_enforced_when_set(env: Env) -> None:
    client = env.client(Function.CREATE_TASK, app_api_token="s3cret")
    event = cloud_event(CREATE, create_data())
    refused = (401, {"error": "missing or wrong dapr-api-token"})
    for answer in (
        post(client, "/events/task-create", event),
        post(client, "/events/task-create", event, **{"dapr-api-token": "wrong"}),
        client.post("/job/x"),
    ):
        assert (answer.status_code, answer.get_json()) == refused
    # The public face is the end user's: their token, not Dapr's.
    created = post(client, "/", event)
    assert (created.status_code, created.get_json()["type"]) == (201, CREATED)
    # Probes come from the kubelet; the public function's metrics need the app token
    # (Prometheus sends it as a bearer token).
    for probe in ("/health/liveness", "/health/readiness"):
        answer = client.get(probe)
        assert (answer.status_code, answer.get_json()) == (200, {"status": "ok"})
    assert client.get("/metrics").status_code == 401
    metrics = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert metrics.status_code == 200
    assert "taskpulse_events_total" in metrics.get_data(as_text=True)


def test_calls_to_dapr_carry_the_dapr_token(env: Env) -> None:
    client = env.client(Function.CREATE_TASK, dapr_api_token="to-dapr")
    assert post(client, "/", cloud_event(CREATE, create_data())).status_code == 201
    assert {r.headers.get("dapr-api-token") for r in env.dapr.requests} == {"to-dapr"}


def test_metrics_count_events_by_type_and_outcome(env: Env) -> None:
    client = env.client(Function.CREATE_TASK)
    post(client, "/events/task-create", cloud_event(CREATE, create_data()))
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'taskpulse_events_total{function="create-task",outcome="success",type="dev.taskpulse.task.create.v1"}'
        in text
    )
    assert "taskpulse_dapr_call_seconds_bucket" in text


def test_publishers_keep_each_users_order_and_run_users_in_parallel(env: Env) -> None:
    """Committed events leave on several publisher threads, one per key: each user's
    events arrive in commit order, and different users' publishes overlap (a publish
    mostly waits on Kafka, so one thread for all capped the whole function)."""
    import importlib
    import threading
    import time

    from flask import Flask, request

    from recording import default_responder
    from taskpulse.runtime import Runtime

    lock = threading.Lock()
    in_flight = peak = 0

    def slow_dapr(recorded: Recorded) -> tuple[int, bytes]:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.02)
        with lock:
            in_flight -= 1
        return default_responder(recorded)

    env.dapr.responder = slow_dapr
    runtime = Runtime(Function.CREATE_TASK, env.settings(outbox_publishers=4))
    env.runtimes.append(runtime)
    app = importlib.import_module("taskpulse.handlers.create_task").build(runtime)
    flask_app = Flask("publishers")
    flask_app.add_url_rule("/", "root", lambda: app(request), methods=["POST"])
    client = flask_app.test_client()  # no drain between requests, unlike env.client
    client.token_for = env.token_for  # type: ignore[attr-defined]

    users = [f"user-{n}" for n in range(8)]
    for round_ in range(5):
        for user in users:
            data = create_data(user_id=user, title=f"{round_}")
            assert post(client, "/", cloud_event(CREATE, data, user=user)).status_code == 201
    runtime.drain()

    created = env.dapr.published("task-events")
    assert len(created) == len(users) * 5
    for user in users:
        titles = [e["data"]["title"] for e in created if e["data"]["user_id"] == user]
        assert titles == [str(n) for n in range(5)], user
    assert peak > 1, "every publish waited for the one before it"


def test_events_committed_within_the_linger_go_out_in_one_relay_call(
    env: Env, store: Store
) -> None:
    """The publisher collects for OUTBOX_LINGER after the first events it is handed:
    under load, handlers commit every few milliseconds, and one relay transaction and
    one bulk request per topic then carry several handlers' events."""
    import time
    from datetime import timedelta

    from taskpulse.runtime import Runtime

    runtime = Runtime(Function.CREATE_TASK, env.settings(outbox_linger=timedelta(seconds=0.5)))
    env.runtimes.append(runtime)
    runtime.publisher._last_run["sweep"] = time.monotonic()  # no sweep: it would send them
    created = []
    for n in range(3):  # each unit of work hands its events to the publisher as it ends
        created += create_tasks(runtime.unit_of_work, 1, source=f"/linger/{n}", user="alice")
        time.sleep(0.05)
    runtime.drain()
    assert len(env.dapr.matching("POST", "/v1.0-alpha1/publish/bulk/")) == 2  # one per topic
    assert [e["id"] for e in env.dapr.published("task-events")] == [c.event["id"] for c in created]


def test_events_committed_while_the_publisher_waits_go_out_together(env: Env, store: Store) -> None:
    """One publisher thread per key shard takes everything queued for it at once: under
    load, one relay transaction and one bulk request per topic carry many handlers'
    events, instead of one of each per handler."""
    import threading
    import time

    from taskpulse.runtime import Runtime

    dapr_free = threading.Event()

    def slow_dapr(request: Recorded) -> tuple[int, bytes]:
        dapr_free.wait(10)
        return 204, b""

    env.dapr.responder = slow_dapr
    runtime = Runtime(Function.CREATE_TASK, env.settings())
    env.runtimes.append(runtime)
    runtime.publisher._last_run["sweep"] = time.monotonic()  # no sweep: it would send them
    created = create_tasks(runtime.unit_of_work, 1, source="/together/first", user="alice")
    wait_for(lambda: env.dapr.matching("POST", "/v1.0-alpha1/publish/bulk/"), 10)
    # Committed while the first publish waits on Dapr:
    created += create_tasks(runtime.unit_of_work, 4, source="/together/later", user="alice")
    dapr_free.set()
    runtime.drain()

    requests = env.dapr.matching("POST", "/v1.0-alpha1/publish/bulk/")
    assert len(requests) == 4  # the first task's two topics, then the four others' two
    ids = [e["id"] for e in env.dapr.published("task-events")]
    assert ids == [c.event["id"] for c in created]
