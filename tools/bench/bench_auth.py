"""Authentication on create-task's public face: what checking the bearer token costs.

``python3 tools/bench/bench_auth.py`` (``task bench -- auth``) starts a private PostgreSQL
(migrated), a real ORY Hydra with its login app (tools/devstack/oidc.py) and, in Dapr's
place, the recording HTTP server of the function tests and the cold-start bench
(tests/recording.py, in a process of its own so that it takes no time from this one). One
access token for a local user comes from Hydra through the real authorization code + PKCE
flow: RS256, signed with Hydra's RSA 4096 key.

1. ``verify``: ``TokenVerifier.caller("Bearer <token>")`` per call, in this process, with a
   warm JWKS cache (the verifier fetched Hydra's keys through discovery at its first call).
2. Per request, in this process, one at a time: the same ``POST /`` (a ``task.create.v1``
   CloudEvent with a new id each time, so each creates a task and answers 201) through the
   real create-task app (``taskpulse.handlers.create_task.build(Runtime(...))``) behind a
   Flask view, as functions-framework serves it: with the token verified, and the baseline
   with the verifier replaced by a no-op that returns the same Caller. The rounds alternate
   and change which goes first, so a change in the machine's load hits both alike; the
   outbox publisher is drained between rounds.
3. Throughput over HTTP: two create-task processes started as the image starts them
   (functions-framework, gunicorn ``WORKERS=1``, ``THREADS`` 8), one from
   functions/create-task/main.py, one from tools/bench/auth_noop (the same with the no-op
   verifier), on the same database and fake Dapr. For ``--seconds`` per round,
   ``--clients`` threads of this process send ``POST /`` as fast as it answers; the rounds
   alternate between the two servers. Each server's CPU per request is printed too (its
   process tree's user + system time over the round).

The issue that asked for these figures (17) sets no goal, so none is checked; exit 1 when an
answer is not 201, or when the token-checking server accepts a request without a token.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from pydantic import SecretStr

REPO = Path(__file__).resolve().parents[2]
# This checkout's code, whatever an editable install points at; tests/ for recording.py.
sys.path[:0] = [str(REPO / "functions"), str(REPO / "tools"), str(REPO / "tests")]

from flask import Flask, Response, request  # noqa: E402

from devstack.oidc import running_provider  # noqa: E402
from devstack.ports import free_port  # noqa: E402
from devstack.postgres import running_postgres  # noqa: E402
from support import functions_framework_argv  # noqa: E402
from taskpulse.contract import EventType, Function  # noqa: E402
from taskpulse.dapr_app import FunctionApp  # noqa: E402
from taskpulse.handlers.create_task import build  # noqa: E402
from taskpulse.identity import Caller  # noqa: E402
from taskpulse.identity.tokens import TokenVerifier  # noqa: E402
from taskpulse.runtime import Runtime  # noqa: E402
from taskpulse.settings import Settings  # noqa: E402
from taskpulse.store.migrate import migrate  # noqa: E402

USER = "bench-alice"
APP_TOKEN = "bench-app-token"
STRUCTURED = "application/cloudevents+json"
NOOP_SOURCE = REPO / "tools" / "bench" / "auth_noop" / "main.py"
REAL_SOURCE = REPO / "functions" / "create-task" / "main.py"

FAKE_DAPR = """
import collections, sys, threading
from recording import recording_server
with recording_server() as fake:
    fake.requests = collections.deque(maxlen=64)  # answers as Dapr does, keeps little
    print(fake.url, flush=True)
    threading.Event().wait()
"""


def create_body() -> str:
    due = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/bench/auth",
            "type": EventType.TASK_CREATE.value,
            "datacontenttype": "application/json",
            "data": {"user_id": USER, "title": "Water the plants", "due_at": due.isoformat()},
        }
    )


def env_with_paths() -> dict[str, str]:
    paths = [str(REPO / "functions"), str(REPO / "tools"), str(REPO / "tests")]
    inherited = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths + ([inherited] if inherited else []))}


@contextmanager
def fake_dapr() -> Iterator[str]:
    """tests/recording.py's server in a process of its own; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-c", FAKE_DAPR], env=env_with_paths(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def cpu_tree(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (gunicorn's worker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        each = todo.pop()
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(") ", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{each}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


# -- in this process ------------------------------------------------------------------------


def verify_us(caller: Callable[[str], Caller], authorization: str, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        caller(authorization)
    return (time.perf_counter() - start) / calls * 1e6


def request_us(post: Callable[[str], int], count: int) -> float:
    bodies = [create_body() for _ in range(count)]
    start = time.perf_counter()
    for body in bodies:
        status = post(body)
        if status != 201:
            raise RuntimeError(f"POST / answered {status}, not 201")
    return (time.perf_counter() - start) / count * 1e6


class Timed:
    """The real verifier, timing each call: what verification costs inside the requests,
    where the caches are not as hot as in a loop of nothing else."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier
        self.seconds = self.cpu_seconds = 0.0
        self.calls = 0

    def caller(self, authorization: str | None) -> Caller:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return self._verifier.caller(authorization)
        finally:
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.thread_time() - cpu
            self.calls += 1


class Fixed:
    """The no-op verifier: the Caller the real one found for the token, every time."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def caller(self, authorization: str | None) -> Caller:
        return self._caller


def in_process(settings: Settings, token: str, rounds: int, count: int) -> dict[str, list[float]]:
    runtime = Runtime(Function.CREATE_TASK, settings)
    app: FunctionApp = build(runtime)
    face = app.public
    assert face is not None
    authorization = f"Bearer {token}"
    verifier = runtime.verifier
    caller = verifier.caller(authorization)  # fetches the JWKS: the cache is warm from here
    real, noop, timed = face.verifier, Fixed(caller), Timed(verifier)

    flask_app = Flask("bench-auth")

    @flask_app.route("/", methods=["POST"])
    def view() -> Response:
        return app(request)

    client = flask_app.test_client()
    headers = {"content-type": STRUCTURED, "Authorization": authorization}

    def post(body: str) -> int:
        return client.post("/", data=body, headers=headers).status_code

    def with_tokens() -> float:
        face.verifier = lambda: timed  # type: ignore[assignment,return-value]
        timed.seconds, timed.cpu_seconds, timed.calls = 0.0, 0.0, 0
        figure = request_us(post, count)
        figures["inside"].append(timed.seconds / timed.calls * 1e6)
        figures["inside cpu"].append(timed.cpu_seconds / timed.calls * 1e6)
        return figure

    def without() -> float:
        face.verifier = lambda: noop  # type: ignore[assignment,return-value]
        return request_us(post, count)

    figures: dict[str, list[float]] = {
        "verify": [],
        "inside": [],
        "inside cpu": [],
        "tokens": [],
        "none": [],
    }
    try:
        request_us(post, 50)  # warm-up: imports, pool, the publisher thread
        runtime.drain()
        for n in range(rounds):
            figures["verify"].append(verify_us(verifier.caller, authorization, count * 2))
            order = [("tokens", with_tokens), ("none", without)]
            for name, measure in order if n % 2 == 0 else order[::-1]:
                figures[name].append(measure())
                runtime.drain()
    finally:
        face.verifier = real
        runtime.close()
    return figures


# -- over HTTP ------------------------------------------------------------------------------


class Server:
    """A create-task process started as the image starts it."""

    def __init__(self, source: Path, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._log = log.open("w")
        self.process = subprocess.Popen(
            functions_framework_argv(source, self.port),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}healthz", timeout=2)
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{source} did not start; see {log}") from None
                time.sleep(0.1)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)
        self._log.close()


def load(url: str, token: str, seconds: float, clients: int) -> tuple[int, list[float], int]:
    """``clients`` threads posting as fast as answered: (201s, latencies ms, others)."""
    headers = {"content-type": STRUCTURED, "Authorization": f"Bearer {token}"}
    done: list[int] = [0] * clients
    failed: list[int] = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    deadline = time.monotonic() + seconds

    def work(n: int) -> None:
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < deadline:
                body = create_body()
                start = time.perf_counter()
                response = client.post(url, content=body, headers=headers)
                latencies[n].append((time.perf_counter() - start) * 1000)
                if response.status_code == 201:
                    done[n] += 1
                else:
                    failed[n] += 1

    workers = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done), [ms for each in latencies for ms in each], sum(failed)


def over_http(
    env: dict[str, str], token: str, folder: Path, args: argparse.Namespace
) -> tuple[dict[str, list[tuple[float, float, float]]], int, int]:
    """Per server, per round: (requests/s, p50 ms, server CPU ms per request); the
    number of answers that were not 201; the status of a request without a token."""
    servers = {
        "tokens": Server(REAL_SOURCE, env, folder / "create-task-tokens.log"),
        "none": Server(NOOP_SOURCE, env, folder / "create-task-noop.log"),
    }
    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in servers}
    failures = 0
    try:
        anonymous = httpx.post(
            servers["tokens"].url, content=create_body(), headers={"content-type": STRUCTURED}
        ).status_code
        for server in servers.values():  # warm-up: the JWKS, the pool, the publisher
            load(server.url, token, 2, args.clients)
        for n in range(args.rounds):
            names = ["tokens", "none"] if n % 2 == 0 else ["none", "tokens"]
            for name in names:
                server = servers[name]
                cpu_before, start = cpu_tree(server.process.pid), time.monotonic()
                count, latencies, failed = load(server.url, token, args.seconds, args.clients)
                elapsed = time.monotonic() - start
                cpu = cpu_tree(server.process.pid) - cpu_before
                failures += failed
                per_request_cpu = cpu / count * 1000 if count else float("nan")
                figures[name].append(
                    (count / elapsed, statistics.median(latencies), per_request_cpu)
                )
                time.sleep(0.5)  # let the outbox publisher catch up before the next
    finally:
        for server in servers.values():
            server.close()
    return figures, failures, anonymous


# -- report ---------------------------------------------------------------------------------


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-" + (
        f"{format(max(values), fmt)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each part, alternated")
    parser.add_argument("--requests", type=int, default=300, help="per round, in process")
    parser.add_argument("--seconds", type=float, default=8, help="per round, over HTTP")
    parser.add_argument("--clients", type=int, default=8, help="client threads over HTTP")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn THREADS")
    parser.add_argument("--no-http", action="store_true", help="skip the throughput part")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="taskpulse-bench-auth-"))
    print(f"starting PostgreSQL, Hydra and a fake Dapr (logs in {folder})", flush=True)
    with (
        running_postgres(database="bench_auth") as pg,
        running_provider(folder / "oidc") as provider,
        fake_dapr() as dapr_url,
    ):
        engine = sa.create_engine(pg.url)
        migrate(engine)
        engine.dispose()
        token = provider.token(USER)
        settings = Settings(
            database_url=pg.url,
            dapr_http_endpoint=dapr_url,
            oidc_issuer=provider.issuer,
            app_api_token=SecretStr(APP_TOKEN),
        )
        print(f"issuer {provider.issuer}; a token of {len(token)} bytes for {USER}", flush=True)
        local = in_process(settings, token, args.rounds, args.requests)
        http: dict[str, list[tuple[float, float, float]]] = {}
        failures, anonymous = 0, 401
        if not args.no_http:
            env = {
                **env_with_paths(),
                "DATABASE_URL": pg.url,
                "DAPR_HTTP_ENDPOINT": dapr_url,
                "OIDC_ISSUER": provider.issuer,
                "APP_API_TOKEN": APP_TOKEN,
                "WORKERS": "1",
                "THREADS": str(args.threads),
            }
            http, failures, anonymous = over_http(env, token, folder, args)

    load_avg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\nmedian (min-max) of {args.rounds} alternated rounds; {os.cpu_count()} cores, "
        f"load average now {load_avg}"
    )
    verify = statistics.median(local["verify"])
    tokens = statistics.median(local["tokens"])
    none = statistics.median(local["none"])
    print(f"\nin process, one at a time ({args.requests} requests per round), µs")
    rows = [
        ("TokenVerifier.caller(Bearer <token>), warm JWKS", "verify"),
        ("the same, timed inside the requests below", "inside"),
        ("  of which CPU time of the request's thread", "inside cpu"),
    ]
    for label, key in rows:
        print(f"  {label:58}{spread(local[key], '.0f'):>20}")
    print(f"  {'POST / create, token verified':58}{spread(local['tokens'], '.0f'):>20}")
    print(f"  {'POST / create, no-op verifier (baseline)':58}{spread(local['none'], '.0f'):>20}")
    print(f"  {'request with verification / baseline':58}{tokens / none:>11.3f}")
    print(f"  {'difference of the medians':58}{tokens - none:>11.0f} µs")
    print(f"  {'verification alone / request with verification':58}{verify / tokens:>11.3f}")

    status = 0
    if http:
        print(
            f"\nover HTTP, {args.clients} clients for {args.seconds:.0f} s per round "
            f"(gunicorn 1 worker x {args.threads} threads)"
        )
        print(f"  {'':34}{'requests/s':>20}{'p50 ms':>18}{'server CPU ms/req':>22}")
        for name, label in (("tokens", "with tokens"), ("none", "no-op verifier (baseline)")):
            runs = http[name]
            print(
                f"  {label:34}{spread([r[0] for r in runs], '.0f'):>20}"
                f"{spread([r[1] for r in runs], '.1f'):>18}"
                f"{spread([r[2] for r in runs], '.2f'):>22}"
            )
        rate = [statistics.median([r[0] for r in http[n]]) for n in ("tokens", "none")]
        cpu = [statistics.median([r[2] for r in http[n]]) for n in ("tokens", "none")]
        print(f"  {'throughput with tokens / baseline':34}{rate[0] / rate[1]:>14.3f}")
        print(f"  {'server CPU per request, ratio':34}{cpu[0] / cpu[1]:>14.3f}")
        if failures:
            print(f"  FAILED: {failures} answers were not 201")
            status = 1
        if anonymous != 401:
            print(f"  FAILED: a request without a token answered {anonymous}, not 401")
            status = 1
        else:
            print("  (a request without a token answered 401)")
    print("\nno goal set (issue 17 asks for the figures)")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
