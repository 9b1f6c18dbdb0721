"""Centrifugo: the server API reaches a user's channel; nobody else may subscribe to it."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from devstack.centrifugo import CentrifugoConfig
from push_events import subscribe
from taskpulse.contract import push_channel
from taskpulse.push import Publication, PushGateway, batch_refusals, refusal


def test_a_server_publish_reaches_the_users_channel(centrifugo: CentrifugoConfig) -> None:
    async def scenario() -> object:
        client, events = await subscribe(centrifugo, "alice", push_channel("alice"))
        try:
            await asyncio.wait_for(events.subscribed, 10)
            payload = {"type": "dev.taskpulse.task.created.v1", "marker": str(uuid.uuid4())}
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    f"{centrifugo.api_url}/publish",
                    json={"channel": push_channel("alice"), "data": payload},
                    headers={"X-API-Key": centrifugo.api_key},
                )
            assert (response.status_code, response.json()) == (200, {"result": {}})
            received = await asyncio.wait_for(events.publications.get(), 10)
            assert received == payload
            return received
        finally:
            await client.disconnect()

    asyncio.run(scenario())


def test_another_user_cannot_subscribe_to_alices_channel(centrifugo: CentrifugoConfig) -> None:
    async def scenario() -> int:
        client, events = await subscribe(centrifugo, "bob", push_channel("alice"))
        try:
            return await asyncio.wait_for(events.unsubscribed, 10)
        finally:
            await client.disconnect()

    code = asyncio.run(scenario())
    assert code == 103  # permission denied


def test_the_server_api_needs_its_key(centrifugo: CentrifugoConfig) -> None:
    response = httpx.post(
        f"{centrifugo.api_url}/publish",
        json={"channel": push_channel("alice"), "data": {}},
        headers={"X-API-Key": "wrong"},
    )
    assert (response.status_code, response.text) == (401, "")


def test_a_refusal_is_an_http_status_that_tells_an_outage_from_a_bad_publication(
    centrifugo: CentrifugoConfig,
) -> None:
    """The adapter's headers put the real gateway in transport error mode: a publication
    it cannot take is a 400 (refused for good), an unknown namespace a 404 (retried)."""
    gateway = PushGateway(centrifugo.api_url, api_key=centrifugo.api_key)
    try:
        bad = gateway._http.post("/publish", json={"channel": "", "data": {}})
        unknown = gateway._http.post("/publish", json={"channel": "nope:x", "data": {}})
    finally:
        gateway.close()
    assert (bad.status_code, bad.json()) == (400, {"code": 107, "message": "bad request"})
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"code": 102, "message": "unknown channel"},
    )
    bad_refusal, unknown_refusal = refusal(bad), refusal(unknown)
    assert bad_refusal is not None and bad_refusal.permanent
    assert unknown_refusal is not None and not unknown_refusal.permanent


def test_a_batch_reaches_the_channel_in_order_and_answers_each_command(
    centrifugo: CentrifugoConfig,
) -> None:
    """The real gateway's batch: publications arrive in order; a command it refuses is
    answered in its reply, told apart as the single publish tells it."""
    gateway = PushGateway(centrifugo.api_url, api_key=centrifugo.api_key)
    markers = [str(uuid.uuid4()) for _ in range(3)]

    async def scenario() -> list[object]:
        client, events = await subscribe(centrifugo, "alice", push_channel("alice"))
        try:
            await asyncio.wait_for(events.subscribed, 10)
            publications = [Publication("alice", {"marker": m}, m) for m in markers]
            assert gateway.publish_many(publications) == [None, None, None]
            return [await asyncio.wait_for(events.publications.get(), 10) for _ in markers]
        finally:
            await client.disconnect()

    try:
        assert asyncio.run(scenario()) == [{"marker": m} for m in markers]
        commands = [
            {"publish": {"channel": "", "data": {}}},
            {"publish": {"channel": "nope:x", "data": {}}},
            {"publish": {"channel": push_channel("alice"), "data": {}}},
        ]
        response = gateway._http.post("/batch", json={"commands": commands})
    finally:
        gateway.close()
    assert (response.status_code, response.json()) == (
        200,
        {
            "replies": [
                {"error": {"code": 107, "message": "bad request"}},
                {"error": {"code": 102, "message": "unknown channel"}},
                {"publish": {}},
            ]
        },
    )
    bad, unknown, taken = batch_refusals(response, len(commands))
    assert bad is not None and bad.permanent, response.text
    assert unknown is not None and not unknown.permanent, response.text
    assert taken is None
