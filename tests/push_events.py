"""A centrifuge-python subscription handler that tests can await: subscribed, unsubscribed
(with the code the gateway gave), and each publication's data in order."""

from __future__ import annotations

import asyncio

from centrifuge import (
    PublicationContext,
    SubscribedContext,
    SubscriptionEventHandler,
    UnsubscribedContext,
)


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
