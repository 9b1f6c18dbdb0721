"""A centrifuge-python client for tests: a subscription handler they can await (subscribed,
unsubscribed with the code the gateway gave, each publication's data in order), and a
connect-and-subscribe with an HMAC connection token."""

from __future__ import annotations

import asyncio

from centrifuge import (
    Client,
    PublicationContext,
    SubscribedContext,
    SubscriptionEventHandler,
    UnsubscribedContext,
)

from devstack.centrifugo import CentrifugoConfig, connection_token


class Events(SubscriptionEventHandler):  # type: ignore[misc]
    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.subscribed: asyncio.Future[None] = loop.create_future()
        self.unsubscribed: asyncio.Future[int] = loop.create_future()
        self.publications: asyncio.Queue[object] = asyncio.Queue()

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        if not self.subscribed.done():
            self.subscribed.set_result(None)

    async def on_unsubscribed(self, ctx: UnsubscribedContext) -> None:
        if not self.unsubscribed.done():
            self.unsubscribed.set_result(ctx.code)

    async def on_publication(self, ctx: PublicationContext) -> None:
        await self.publications.put(ctx.pub.data)


async def subscribe(config: CentrifugoConfig, user: str, channel: str) -> tuple[Client, Events]:
    """A client of ``user`` (an HMAC token of ``config``) subscribed to ``channel``."""
    assert config.token_secret is not None
    client = Client(config.ws_url, token=connection_token(config.token_secret, user))
    events = Events()
    subscription = client.new_subscription(channel, events)
    await client.connect()
    await subscription.subscribe()
    return client, events
