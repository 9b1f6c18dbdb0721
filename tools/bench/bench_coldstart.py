"""Cold start: process start to the first handled event answered 2xx, per function, next
to a bare functions-framework hello world started the same way in the same run.

Goal: each function at most 3 times the hello world's median.

Also measured, as floors: the hello world importing the libraries a database function must
use (tools/bench/hello_stack), and the same plus one round trip to PostgreSQL through a
SQLModel session on its first event (tools/bench/hello_query). Their ratios bound what
create-task and compute-next-occurrence can reach with that stack; the gap above the
second is ours.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # test helpers

from devstack.ports import free_port
from devstack.postgres import running_postgres
from recording import recording_server
from support import functions_framework_argv
from taskpulse.events import TaskCreateData
from taskpulse.services.create import create_task
from taskpulse.services.keys import Origin
from taskpulse.store import Store
from taskpulse.store.migrate import migrate

REPO = Path(__file__).resolve().parents[2]
RUNS = 5
GOAL = 3.0
STRUCTURED = {"content-type": "application/cloudevents+json"}


def event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/bench",
        "type": f"dev.taskpulse.{event_type}.v1",
        "data": data,
        "partitionkey": "alice",
    }


def first_event_seconds(
    source: Path, env: dict[str, str], path: str, body: dict[str, Any]
) -> float:
    port = free_port()
    argv = functions_framework_argv(source, port)
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(timeout=10) as client:
            while True:
                try:
                    response = client.post(
                        f"http://127.0.0.1:{port}{path}", json=body, headers=STRUCTURED
                    )
                except httpx.TransportError:
                    if process.poll() is not None:
                        raise RuntimeError(f"{source} exited with {process.returncode}") from None
                    time.sleep(0.005)
                    continue
                elapsed = time.perf_counter() - start
                if not 200 <= response.status_code < 300:
                    raise RuntimeError(f"{source}: {response.status_code} {response.text}")
                if '"RETRY"' in response.text or '"DROP"' in response.text:
                    raise RuntimeError(f"{source}: not handled: {response.text}")
                return elapsed
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> int:
    # As the image does (functions/Dockerfile): with PYTHONDONTWRITEBYTECODE set, as on
    # our build machines, a module edited since its .pyc was written would be compiled
    # again at every start and counted as cold start. Timestamp-checked, so later edits
    # still count.
    compileall.compile_dir(REPO / "functions" / "taskpulse", quiet=1)
    with running_postgres(database="coldstart") as pg, recording_server() as fake:
        engine = sa.create_engine(pg.url)
        migrate(engine)
        engine.dispose()
        store = Store(pg.url)
        env = {
            **os.environ,
            "DATABASE_URL": pg.url,
            "DAPR_HTTP_ENDPOINT": fake.url,
            "CENTRIFUGO_API_URL": f"{fake.url}/api",
            "WORKERS": "1",
            "THREADS": "4",
        }
        due = (datetime.now(UTC) + timedelta(days=1)).isoformat()

        def completion() -> dict[str, Any]:
            created = create_task(
                store.unit_of_work,
                TaskCreateData(user_id="alice", title="bench"),
                Origin("/bench", str(uuid.uuid4())),
            )
            return event("task.completed", {"task_id": created.task.id, "user_id": "alice"})

        cases: dict[str, tuple[Path, str, Callable[[], dict[str, Any]]]] = {
            "hello world (baseline)": (REPO / "tools/bench/hello/main.py", "/", dict),
            "floor: hello + SQLModel/psycopg/settings imports": (
                REPO / "tools/bench/hello_stack/main.py",
                "/",
                dict,
            ),
            "floor + one query through SQLModel": (
                REPO / "tools/bench/hello_query/main.py",
                "/",
                dict,
            ),
            "create-task": (
                REPO / "functions/create-task/main.py",
                "/",
                lambda: event("task.create", {"user_id": "alice", "title": "cold", "due_at": due}),
            ),
            "compute-next-occurrence": (
                REPO / "functions/compute-next-occurrence/main.py",
                "/events/task-events",
                completion,
            ),
            "send-reminder": (
                REPO / "functions/send-reminder/main.py",
                "/events/reminder-scheduled",
                lambda: event(
                    "reminder.scheduled",
                    {
                        "task_id": "t",
                        "user_id": "alice",
                        "title": "x",
                        "remind_at": due,
                        "due_at": due,
                    },
                ),
            ),
            "push-update": (
                REPO / "functions/push-update/main.py",
                "/events/task-update",
                lambda: event("task.created", {"id": "t", "user_id": "alice"}),
            ),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(RUNS):  # interleaved, so load changes hit every case alike
            for name, (source, path, body) in cases.items():
                samples[name].append(first_event_seconds(source, env, path, body()))
        store.dispose()
    baseline = statistics.median(samples["hello world (baseline)"])
    print(
        f"{'process start -> first event answered 2xx':50} {'median':>8} {'min':>7} "
        f"{'x hello':>8}  goal <= {GOAL:.0f}x"
    )
    missed = False
    for name, values in samples.items():
        ratio = statistics.median(values) / baseline
        ok = ratio <= GOAL
        floor = name.startswith("floor")  # a bound, not a function: never a goal
        missed |= not ok and not floor
        verdict = "bound" if floor else "ok" if ok else "MISSED"
        print(
            f"{name:50} {statistics.median(values):7.3f}s {min(values):6.3f}s {ratio:8.2f}"
            f"  {verdict}"
        )
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
