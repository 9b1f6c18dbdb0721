"""Two Centrifugo nodes sharing one real Redis (the cluster's shape, decision 0025): a
publication sent through one node's server API reaches a client connected to the other, and
the user-limited channel stays closed to another user there.

Both nodes run the same configuration but for the port, as the cluster's replicas do, and
take the Redis password only from the environment variable the cluster sets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import redis
from devstack.centrifugo import CentrifugoConfig, argv, redis_password_env
from devstack.ports import free_port
from devstack.supervisor import Service, StartError, Supervisor, http_ok, tcp_open
from push_events import subscribe
from taskpulse.contract import push_channel
from taskpulse.push import PushError, PushGateway


@dataclasses.dataclass
class Pair:
    a: CentrifugoConfig
    b: CentrifugoConfig
    logs: Path
    supervisor: Supervisor
    redis: Service
    redis_process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    work = tmp_path_factory.mktemp("centrifugo-cluster")
    server = redis.RedisServer(free_port(), secrets.token_urlsafe(24), work / "redis")
    env = redis_password_env(server.password)
    a = CentrifugoConfig.generate(free_port(), redis_address=server.address)
    b = dataclasses.replace(a, port=free_port())
    service = Service("redis", server.argv(), tcp_open("127.0.0.1", server.port))
    with Supervisor(work / "logs") as supervisor:
        running = supervisor.start(service)
        for name, node in (("centrifugo-a", a), ("centrifugo-b", b)):
            path = node.write(work / f"{name}.json")
            supervisor.start(Service(name, argv(path), http_ok(node.health_url), env=env))
        yield Pair(a, b, work / "logs", supervisor, service, running.process)


def _engine_line(log: Path) -> str:
    return next(line for line in log.read_text().splitlines() if "initializing engine" in line)


def test_both_nodes_run_the_redis_engine(pair: Pair) -> None:
    for name in ("centrifugo-a", "centrifugo-b"):
        line = _engine_line(pair.logs / f"{name}.log")
        assert '"engine_type":"redis"' in line, line


def test_a_publication_through_node_a_reaches_a_client_on_node_b(pair: Pair) -> None:
    channel = push_channel("alice")
    payload = {"type": "dev.taskpulse.task.created.v1", "marker": str(uuid.uuid4())}

    async def scenario() -> object:
        client, events = await subscribe(pair.b, "alice", channel)
        try:
            await asyncio.wait_for(events.subscribed, 10)
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    f"{pair.a.api_url}/publish",
                    json={"channel": channel, "data": payload},
                    headers={"X-API-Key": pair.a.api_key},
                )
            assert (response.status_code, response.json()) == (200, {"result": {}})
            received = await asyncio.wait_for(events.publications.get(), 10)
            return received
        finally:
            await client.disconnect()

    assert asyncio.run(scenario()) == payload


def test_node_b_refuses_another_user_on_alices_channel(pair: Pair) -> None:
    async def scenario() -> int:
        client, events = await subscribe(pair.b, "bob", push_channel("alice"))
        try:
            return await asyncio.wait_for(events.unsubscribed, 10)
        finally:
            await client.disconnect()

    assert asyncio.run(scenario()) == 103  # permission denied


def test_a_node_without_the_password_cannot_join(pair: Pair, tmp_path: Path) -> None:
    """The password reaches the nodes only through the environment: without it, a node
    stops at start instead of serving a WebSocket that no publication would reach."""
    loner = dataclasses.replace(pair.a, port=free_port())
    path = loner.write(tmp_path / "centrifugo-c.json")
    service = Service("centrifugo-c", argv(path), http_ok(loner.health_url), timeout=30)
    with Supervisor(tmp_path / "logs") as supervisor, pytest.raises(StartError) as refused:
        supervisor.start(service)
    assert "exited with code" in str(refused.value)
    assert "NOAUTH" in (tmp_path / "logs" / "centrifugo-c.log").read_text()


def test_after_the_shared_redis_restarts_publications_cross_nodes_again(pair: Pair) -> None:
    """Nothing in Redis must outlive it (decision 0025): while it is down a publication is
    refused as transient, so push-update retries it; once it is back, the nodes resubscribe
    and a publication through node A reaches the client that stayed connected to node B."""
    gateway = PushGateway(pair.a.api_url, api_key=pair.a.api_key)
    channel = push_channel("alice")

    async def scenario() -> tuple[PushError, object]:
        client, events = await subscribe(pair.b, "alice", channel)
        try:
            await asyncio.wait_for(events.subscribed, 10)
            os.killpg(pair.redis_process.pid, signal.SIGTERM)
            pair.redis_process.wait(10)
            try:
                await asyncio.to_thread(gateway.publish, "alice", {}, idempotency_key="down")
            except PushError as error:
                outage = error
            else:
                raise AssertionError("a publication was taken while Redis was down")
            pair.redis_process = pair.supervisor.start(pair.redis).process
            # A publication made before node B has resubscribed reaches nobody (PUB/SUB keeps
            # nothing): publish until one arrives, a bounded number of times.
            for attempt in range(40):
                marker = f"after-{attempt}"
                await asyncio.to_thread(
                    gateway.publish, "alice", {"marker": marker}, idempotency_key=marker
                )
                try:
                    return outage, await asyncio.wait_for(events.publications.get(), 0.5)
                except TimeoutError:
                    continue
            raise AssertionError("no publication crossed the nodes within 20 s of the restart")
        finally:
            await client.disconnect()

    try:
        outage, received = asyncio.run(scenario())
    finally:
        gateway.close()
    assert not outage.permanent, outage
    assert isinstance(received, dict) and str(received["marker"]).startswith("after-")
