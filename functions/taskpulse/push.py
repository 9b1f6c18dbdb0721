"""The push gateway adapter: Centrifugo's HTTP server API.

Every open screen of a user subscribes to ``tasks:user#<user_id>``; the ``#`` makes it a
user-limited channel, so only a connection authenticated as that user may join it.
Publishes carry an idempotency key, so a retried publish is not delivered twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from taskpulse.contract import push_channel


class PushError(RuntimeError):
    """The gateway did not take the publication; transient, retry."""


class PushGateway:
    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def publish(self, user_id: str, data: Mapping[str, Any], *, idempotency_key: str) -> None:
        body: dict[str, Any] = {
            "channel": push_channel(user_id),
            "data": dict(data),
            "idempotency_key": idempotency_key,
        }
        try:
            response = self._http.post("/publish", json=body)
        except httpx.HTTPError as error:
            raise PushError(f"push gateway unreachable: {error!r}") from error
        if response.status_code != 200:
            raise PushError(f"push gateway answered {response.status_code}: {response.text[:300]}")
        try:
            reply = response.json()
        except ValueError:
            raise PushError(
                f"push gateway answered 200 without JSON: {response.text[:300]}"
            ) from None
        refusal = reply.get("error") if isinstance(reply, dict) else "an answer that is no object"
        if refusal:
            raise PushError(f"push gateway refused: {refusal}")
