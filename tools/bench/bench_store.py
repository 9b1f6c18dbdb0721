"""Store throughput: tasks created per second (task + outbox + idempotency row, one
transaction each), on one connection and with a pool, next to a plain INSERT loop on one
connection measured in the same run."""

from __future__ import annotations

import threading
import time

import psycopg
import sqlalchemy as sa

from devstack.postgres import running_postgres
from taskpulse.events import TaskCreateData
from taskpulse.services.create import create_task
from taskpulse.services.keys import Origin
from taskpulse.store import Store
from taskpulse.store.migrate import migrate

SECONDS = 5.0
THREADS = 8


def plain_inserts(url: str) -> float:
    """One INSERT and one commit per row, on one connection: the floor of any store."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE plain (id bigserial PRIMARY KEY, user_id text, title text,"
            " created_at timestamptz DEFAULT now())"
        )
        conn.commit()
        count, deadline = 0, time.perf_counter() + SECONDS
        start = time.perf_counter()
        while time.perf_counter() < deadline:
            conn.execute(
                "INSERT INTO plain (user_id, title) VALUES (%s, %s)", ("alice", f"task {count}")
            )
            conn.commit()
            count += 1
        return count / (time.perf_counter() - start)


def creates(store: Store, threads: int) -> float:
    counts = [0] * threads
    stop = time.perf_counter() + SECONDS

    def work(n: int) -> None:
        while time.perf_counter() < stop:
            command = TaskCreateData(user_id=f"user-{n}", title=f"task {counts[n]}")
            create_task(store.unit_of_work, command, Origin(f"/bench/{n}", str(counts[n])))
            counts[n] += 1

    start = time.perf_counter()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - start)


def main() -> int:
    with running_postgres(database="bench") as pg:
        engine = sa.create_engine(pg.url)
        migrate(engine)
        engine.dispose()
        baseline = plain_inserts(pg.url)
        single = Store(pg.url, pool_size=1)
        one = creates(single, 1)
        single.dispose()
        pooled = Store(pg.url, pool_size=THREADS)
        many = creates(pooled, THREADS)
        pooled.dispose()
    print(f"{'what':58} {'per second':>11} {'vs baseline':>12}")
    print(f"{'baseline: plain INSERT + COMMIT loop, 1 connection':58} {baseline:11.0f} {1:12.2f}")
    print(
        f"{'create_task (task+outbox x2+idempotency), 1 connection':58} {one:11.0f} "
        f"{one / baseline:12.2f}"
    )
    print(
        f"{f'create_task, pool of {THREADS}, {THREADS} threads':58} {many:11.0f} "
        f"{many / baseline:12.2f}"
    )
    print("(machine: 2 cores; PostgreSQL with fsync off as in the tests)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
