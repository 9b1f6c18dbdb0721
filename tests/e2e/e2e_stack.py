"""The whole local platform for end-to-end tests, and the outside observers that watch it.

``Platform.start`` runs the same building blocks as ``task up`` (``devstack.up.start_stack``
on a copy of the repo's dapr.yaml with every port left free), writes and reads back
``endpoints.json``, and keeps the supervisor so a test can SIGKILL or stop one part and start
it again on the same ports and data (functions, daprd, Kafka, PostgreSQL).

Observers use nothing of the project's code: confluent-kafka producers and consumers of
their own, centrifuge-python clients connected with each user's access token from the local
OpenID Connect provider (``Platform.oidc``: ``platform.oidc.token(user)``,
``platform.oidc.service_token()``), the Maildir the SMTP server writes, and plain SQL on the
database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mailbox
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml
from centrifuge import (
    Client,
    PublicationContext,
    SubscribedContext,
    Subscription,
    SubscriptionEventHandler,
    UnsubscribedContext,
)
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from devstack import up
from devstack.kafka_access import Brokers
from devstack.oidc import OidcProvider
from devstack.supervisor import Running, Supervisor
from support import wait_for
from taskpulse.contract import BACKEND_PRINCIPAL, push_channel

REPO = Path(__file__).resolve().parents[2]
MAX_PRODUCE_BYTES = 8 * 1024 * 1024
"""What our own producer allows; the broker decides what it accepts (see the poison test)."""


def now_utc() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def new_user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- the stack ----------------------------------------------------------------------------


def run_file(folder: Path) -> Path:
    """The repo's dapr.yaml with absolute paths and no fixed ports (a running `task up` may
    hold them)."""
    doc = yaml.safe_load((REPO / "dapr.yaml").read_text())
    common = doc["common"]
    common["resourcesPaths"] = [str((REPO / p).resolve()) for p in common["resourcesPaths"]]
    common["configFilePath"] = str((REPO / common["configFilePath"]).resolve())
    common.pop("schedulerHostAddress", None)
    for app in doc["apps"]:
        for key in ("appPort", "daprHTTPPort", "daprGRPCPort", "daprInternalGRPCPort"):
            app.pop(key, None)
        app.pop("metricsPort", None)
        app["appDirPath"] = str((REPO / app["appDirPath"]).resolve())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dapr.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@dataclass
class Platform:
    endpoints: dict[str, Any]
    supervisor: Supervisor
    state: Path
    stack: ExitStack
    engine: sa.Engine = field(init=False)
    oidc: OidcProvider = field(init=False)
    """The stack's OpenID Connect provider (Hydra): tokens for any local user."""
    _tokens: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.engine = sa.create_engine(self.endpoints["database_url"], pool_pre_ping=True)
        self.oidc = OidcProvider.from_endpoints(self.endpoints)

    @property
    def kafka(self) -> Brokers:
        """The stack's Kafka and its logins (SASL_SSL, SCRAM; decision 0029)."""
        return Brokers.from_json(self.endpoints["kafka_access"])

    # -- lifecycle
    @classmethod
    def start(cls, state: Path) -> Platform:
        # The platform's own Kafka, never one named by KAFKA_BOOTSTRAP_SERVERS: tests stop it.
        os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        os.environ.pop("DATABASE_URL", None)
        run = up.load_run_file(run_file(state))
        stack = ExitStack()
        supervisor = Supervisor(state / "logs")
        try:
            endpoints = up.start_stack(stack, supervisor, run, state)
            path = stack.enter_context(up.endpoints_file(state / "endpoints.json", endpoints))
        except BaseException:
            stack.close()
            raise
        # Read back what `task up` writes, the way a user's tool would.
        return cls(json.loads(path.read_text()), supervisor, state, stack)

    def close(self) -> None:
        self.engine.dispose()
        self.stack.close()

    def running(self, name: str) -> Running:
        for item in self.supervisor.running:
            if item.service.name == name:
                return item
        raise KeyError(name)

    def log(self, name: str) -> Path:
        return self.running(name).log

    def log_tail(self, name: str, lines: int = 30) -> str:
        text = self.log(name).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, name: str, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop one part (its whole process group) and wait for it to be gone."""
        process = self.running(name).process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def start_again(self, name: str) -> None:
        """Start a stopped part with the same argv, ports and data, in its old stop order."""
        old = self.running(name)
        index = self.supervisor.running.index(old)
        new = self.supervisor.start(old.service)
        self.supervisor.running.remove(new)
        self.supervisor.running[index] = new

    # -- PostgreSQL (the throwaway cluster of devstack.postgres, same data dir and socket)
    def _pg(self, action: str) -> None:
        from devstack.postgres import _as_owner, _bin_dir

        url = sa.engine.make_url(self.endpoints["database_url"])
        sock, port = str(url.query["host"]), str(url.query["port"])
        data = Path(sock).parent / "data"
        args = [str(_bin_dir() / "pg_ctl"), "-D", str(data), "-w"]
        if action == "stop":
            args += ["-m", "fast", "stop"]
        else:
            options = (
                f"-p {port} -k {sock} -c listen_addresses='' -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            args += ["-o", options, "-l", str(Path(sock).parent / "postgres.log"), "start"]
        subprocess.run(_as_owner(args), check=True, capture_output=True, timeout=60)

    def stop_postgres(self) -> None:
        self._pg("stop")

    def start_postgres(self) -> None:
        self._pg("start")

    # -- memory and CPU
    def roots(self) -> dict[str, int]:
        """Name -> pid of each running service (PostgreSQL: its postmaster)."""
        roots = {
            r.service.name: r.process.pid
            for r in self.supervisor.running
            if r.process.poll() is None
        }
        try:
            url = sa.engine.make_url(self.endpoints["database_url"])
            pidfile = Path(str(url.query["host"])).parent / "data" / "postmaster.pid"
            roots["postgres"] = int(pidfile.read_text().split()[0])
        except (OSError, ValueError):
            pass
        return roots

    def rss_mb(self) -> dict[str, float]:
        return {name: _rss_tree(pid) for name, pid in self.roots().items()}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each service has used so far, children included."""
        return {name: _cpu_tree(pid) for name, pid in self.roots().items()}

    # -- state
    def sql(self, query: str, **params: Any) -> list[sa.Row[Any]]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(query), params))

    def tasks_of(self, user: str) -> list[sa.Row[Any]]:
        return self.sql(
            "SELECT id, series_id, occurrence_at, due_at, status FROM tasks WHERE user_id = :u "
            "ORDER BY series_id, occurrence_at",
            u=user,
        )

    # -- client side
    def create(self, data: dict[str, Any], *, event_id: str | None = None) -> httpx.Response:
        """The create command, sent as its user would: with their access token."""
        event = cloud_event("dev.taskpulse.task.create.v1", data, event_id=event_id)
        user = str(data.get("user_id", "alice"))
        if user not in self._tokens:
            self._tokens[user] = self.oidc.token(user)
        return httpx.post(
            self.endpoints["create_task"],
            content=json.dumps(event),
            headers={
                "content-type": "application/cloudevents+json",
                "Authorization": f"Bearer {self._tokens[user]}",
            },
            timeout=30,
        )

    def job(self, app_id: str, name: str) -> httpx.Response:
        """The job as the app's own daprd sees it (alpha1 in 1.14, stable in 1.18)."""
        base = self.endpoints["dapr_http"][app_id]
        headers = {"dapr-api-token": self.endpoints["dapr_api_token"]}
        response = httpx.get(f"{base}/v1.0/jobs/{name}", headers=headers, timeout=10)
        if response.status_code in (404, 405) and "ERR_JOB" not in response.text:
            response = httpx.get(f"{base}/v1.0-alpha1/jobs/{name}", headers=headers, timeout=10)
        return response

    def mails_for(self, user: str) -> list[mailbox.MaildirMessage]:
        folder = Path(self.endpoints["mailbox"])
        if not (folder / "new").exists():
            return []
        box = mailbox.Maildir(folder, create=False)
        out = []
        for key in box.iterkeys():
            try:
                message = box.get_message(key)
            except (FileNotFoundError, KeyError):
                continue
            if str(message.get("To", "")).startswith(f"{user}@"):
                out.append(message)
        return out


def _tree(pid: int) -> list[int]:
    """A process and its children (PostgreSQL forks a backend per connection, gunicorn
    its workers)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    return pids


def _rss_tree(pid: int) -> float:
    total = 0.0
    for each in _tree(pid):
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def _cpu_tree(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for each in _tree(pid):
        try:
            # Fields after the command (which may hold spaces): utime and stime are the
            # 14th and 15th of the line, the 12th and 13th after ") ".
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(") ", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            continue
    return total


def rss_of(pid: int) -> float:
    return _rss_tree(pid)


# -- CloudEvents and Kafka ----------------------------------------------------------------


def cloud_event(
    type_: str, data: dict[str, Any], *, event_id: str | None = None, subject: str | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": "/e2e/client",
        "type": type_,
        "time": now_utc().isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }
    user = data.get("user_id")
    if user:
        event["partitionkey"] = str(user)
    if subject:
        event["subject"] = subject
    return event


def created_task(response: httpx.Response, command: dict[str, Any]) -> dict[str, Any]:
    """create-task's answer to a new ``command`` (the data of a task.create), checked
    whole: 201 and the task.created event of the task the command asked for. The task.

    What the function makes up (the ids, the time) is taken from the answer; the times it
    was given are compared as instants (the answer keeps the offset it was sent, or
    writes UTC as ``Z``)."""
    assert response.status_code == 201, response.text
    answer = response.json()
    task = answer["data"]
    rrule = command.get("rrule")
    due = command.get("due_at")
    assert answer == {
        "specversion": "1.0",
        "id": answer["id"],
        "source": "/taskpulse/create-task",
        "type": "dev.taskpulse.task.created.v1",
        "time": task["created_at"],
        "datacontenttype": "application/json",
        "partitionkey": command["user_id"],
        "subject": task["id"],
        "data": {
            "id": task["id"],
            "user_id": command["user_id"],
            "title": command["title"],
            "description": command.get("description"),
            "status": "open",
            "due_at": task["due_at"] if due else None,
            "timezone": command.get("timezone", "UTC"),
            "rrule": rrule,
            "series_id": task["series_id"] if rrule else None,
            "occurrence_at": task["occurrence_at"] if rrule else None,
            "recurrence_mode": command.get("recurrence_mode", "on_completion"),
            "remind_before": command.get("remind_before"),
            "priority": command.get("priority", "medium"),
            "tags": command.get("tags", []),
            "created_at": task["created_at"],
            "updated_at": task["created_at"],
            "completed_at": None,
            "version": 1,
        },
    }
    if due:
        assert datetime.fromisoformat(task["due_at"]) == datetime.fromisoformat(due)
    if rrule:
        assert task["occurrence_at"] == task["due_at"]
        assert task["series_id"] not in (None, task["id"])
    return task


class KafkaClient:
    """A producer of our own, writing structured CloudEvents the way any client may: by
    default as the trusted backends do (``taskpulse-backend``, task-events only)."""

    def __init__(
        self, brokers: Brokers, *, principal: str = BACKEND_PRINCIPAL, duplicate: bool = False
    ) -> None:
        self.producer = Producer(
            brokers.client(principal)
            | {
                "log_level": 2,  # quiet while a test stops the broker on purpose
                "linger.ms": 2,
                "message.max.bytes": MAX_PRODUCE_BYTES,
                "enable.idempotence": False,
                "message.timeout.ms": 180_000,
            }
        )
        self.duplicate = duplicate
        self.errors: list[str] = []

    def _report(self, error: Any, _message: Any) -> None:
        if error is not None:
            self.errors.append(str(error))

    def send(self, topic: str, event: dict[str, Any] | bytes, key: str) -> None:
        value = event if isinstance(event, bytes) else json.dumps(event).encode()
        for _ in range(2 if self.duplicate else 1):
            while True:
                try:
                    self.producer.produce(
                        topic,
                        value=value,
                        key=key.encode(),
                        headers=[("content-type", b"application/cloudevents+json")],
                        on_delivery=self._report,
                    )
                    break
                except BufferError:
                    self.producer.poll(0.1)
            self.producer.poll(0)

    def flush(self, timeout: float = 120) -> None:
        left = self.producer.flush(timeout)
        assert left == 0, f"{left} records not delivered to Kafka after {timeout}s"
        assert not self.errors, f"Kafka refused records: {self.errors[:3]}"


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    raw: bytes
    event: dict[str, Any] | None
    seen: float


class TopicTail:
    """Our own consumer (unique group, no commits) of some topics, from their current end
    (or from the beginning), collecting every record in the background."""

    def __init__(
        self, brokers: Brokers, topics: Iterable[str], *, from_start: bool = False
    ) -> None:
        # As the admin: an observer of every topic, which no function's login may be.
        self.consumer = Consumer(
            brokers.client()
            | {
                "log_level": 2,
                "group.id": f"e2e-observer-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "fetch.message.max.bytes": MAX_PRODUCE_BYTES,
                "fetch.max.bytes": MAX_PRODUCE_BYTES,
                "receive.message.max.bytes": MAX_PRODUCE_BYTES + 100_000,
            }
        )
        assignment = []
        for topic in topics:
            meta = self.consumer.list_topics(topic, timeout=30).topics[topic]
            for partition in meta.partitions:
                if from_start:
                    offset = OFFSET_BEGINNING
                else:
                    _low, offset = self.consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=30
                    )
                assignment.append(TopicPartition(topic, partition, offset))
        self.consumer.assign(assignment)
        self.records: list[Record] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.consumer.poll(0.2)
            if message is None or message.error():
                continue
            raw = message.value() or b""
            try:
                event = json.loads(raw)
                if not isinstance(event, dict):
                    event = None
            except (ValueError, UnicodeDecodeError):
                event = None
            key = message.key()
            record = Record(
                message.topic(),
                message.partition(),
                message.offset(),
                key.decode(errors="replace") if key else None,
                raw,
                event,
                time.monotonic(),
            )
            with self._lock:
                self.records.append(record)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.consumer.close()

    def __enter__(self) -> TopicTail:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def events(
        self, *, topic: str | None = None, type_: str | None = None, user: str | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self.records)
        out = []
        for record in records:
            event = record.event
            if event is None or (topic and record.topic != topic):
                continue
            if type_ and event.get("type") != type_:
                continue
            if user and record.key != user and _user_of(event) != user:
                continue
            out.append(event)
        return out

    def raw(self, topic: str) -> list[Record]:
        with self._lock:
            return [r for r in self.records if r.topic == topic]

    def wait(
        self,
        what: str,
        count: int = 1,
        timeout: float = 60,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        return wait_for(
            lambda: found if len(found := self.events(**filters)) >= count else None,
            timeout,
            f"{count} x {what} ({filters})",
        )


def _user_of(event: dict[str, Any]) -> str | None:
    data = event.get("data")
    if isinstance(data, dict) and data.get("user_id"):
        return str(data["user_id"])
    return event.get("partitionkey")


def duplicates_by_id(events: Iterable[dict[str, Any]]) -> dict[str, int]:
    seen: dict[str, int] = {}
    for event in events:
        seen[event["id"]] = seen.get(event["id"], 0) + 1
    return {k: v for k, v in seen.items() if v > 1}


# -- Centrifugo ---------------------------------------------------------------------------


class _Handler(SubscriptionEventHandler):
    def __init__(self, owner: PushClient) -> None:
        self.owner = owner

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        self.owner.subscribed.set()

    async def on_unsubscribed(self, ctx: UnsubscribedContext) -> None:
        self.owner.unsubscribed_code = ctx.code
        self.owner.unsubscribed.set()

    async def on_publication(self, ctx: PublicationContext) -> None:
        with self.owner.lock:
            self.owner.publications.append((time.monotonic(), ctx.pub.data))


class PushClient:
    """A centrifuge-python client connected as ``user``, subscribed to ``channel`` (the
    user's own by default), on a loop in its own thread."""

    def __init__(
        self, platform: Platform, user: str, channel: str | None = None, token: str | None = None
    ) -> None:
        self.url = platform.endpoints["centrifugo_ws"]
        # The provider's access token by default, as contract §4 has it (devstack.centrifugo).
        self.token = token or platform.oidc.token(user)
        self.channel = channel or push_channel(user)
        self.publications: list[tuple[float, Any]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.unsubscribed = threading.Event()
        self.unsubscribed_code: int | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client, self.subscription = asyncio.run_coroutine_threadsafe(
            self._connect(), self.loop
        ).result(20)

    async def _connect(self) -> tuple[Client, Subscription]:
        # Built on the client's own loop: centrifuge creates futures when it builds a
        # client or a subscription, and they belong to the loop current at that moment.
        client = Client(self.url, token=self.token)
        subscription = client.new_subscription(self.channel, _Handler(self))
        await client.connect()
        await subscription.subscribe()
        return client, subscription

    def wait_subscribed(self, timeout: float = 15) -> None:
        assert self.subscribed.wait(timeout), f"not subscribed to {self.channel}"

    async def _shutdown(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def __enter__(self) -> PushClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def received(self, predicate: Callable[[Any], bool] = lambda _d: True) -> list[Any]:
        with self.lock:
            return [data for _t, data in self.publications if predicate(data)]

    def wait(
        self, what: str, predicate: Callable[[Any], bool], count: int = 1, timeout: float = 60
    ) -> list[Any]:
        return wait_for(
            lambda: found if len(found := self.received(predicate)) >= count else None,
            timeout,
            f"{count} x {what} on {self.channel}",
        )


def of_type(type_: str, **data: Any) -> Callable[[Any], bool]:
    def check(item: Any) -> bool:
        if not isinstance(item, dict) or item.get("type") != type_:
            return False
        body = item.get("data") or {}
        return all(body.get(k) == v for k, v in data.items())

    return check


@contextlib.contextmanager
def timed(label: str, sink: dict[str, float]) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        sink[label] = time.monotonic() - start


def python() -> str:
    return sys.executable
