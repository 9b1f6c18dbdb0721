"""The push gateway adapter: Centrifugo's HTTP server API.

Every open screen of a user subscribes to ``tasks:user#<user_id>``; the ``#`` makes it a
user-limited channel, so only a connection authenticated as that user may join it.
Publishes carry an idempotency key, so a retried publish is not delivered twice.

Requests ask for Centrifugo's transport error mode, so a refusal comes as an HTTP status
(Centrifugo's ``MapErrorToHTTPCode``: 500 internal, 404 unknown channel, 400 bad request)
and one rule sorts every failure: the gateway or its configuration failing (unreachable,
5xx, 429, a wrong API key or URL, an unknown namespace) is retried, because nothing is wrong
with the publication and an operator can mend the rest; a publication refused as such
(any other 4xx) is refused for good, because sending it again would be refused again.
Centrifugo also answers 400 when the namespace exists but its settings refuse the
publication (a non-stream subscription type, a data format check); that too is refused for
good: the dead letter carries the gateway's answer, to replay once the namespace is mended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from taskpulse.contract import push_channel
from taskpulse.ports import ChannelError

# Statuses that say the gateway is down or misconfigured (key, URL, namespace), not that
# the publication is wrong.
_RETRIED_STATUSES = frozenset({401, 403, 404, 408, 429})
# The same split for a gateway that ignores transport error mode and answers 200 with an
# error code: 100 internal, 102 unknown channel, 104 method not found.
_RETRIED_CODES = frozenset({100, 102, 104})


class PushError(ChannelError):
    """The gateway did not take the publication (``permanent``: it never will)."""


class PushGateway:
    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"X-Centrifugo-Error-Mode": "transport"}
        if api_key:
            headers["X-API-Key"] = api_key
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
        if failure := refusal(response):
            raise failure


def refusal(response: httpx.Response) -> PushError | None:
    """What a server API answer says went wrong, or ``None`` when it was taken."""
    status = response.status_code
    if status != 200:
        return PushError(
            f"push gateway answered {status}: {response.text[:300]}",
            permanent=400 <= status < 500 and status not in _RETRIED_STATUSES,
        )
    try:
        reply = response.json()
    except ValueError:
        return PushError(f"push gateway answered 200 without JSON: {response.text[:300]}")
    if not isinstance(reply, dict):
        return PushError(f"push gateway answered {reply!r:.300}, not an object")
    error = reply.get("error")
    if not error:
        return None
    code = error.get("code") if isinstance(error, dict) else None
    return PushError(
        f"push gateway refused: {error}",
        permanent=isinstance(code, int) and code not in _RETRIED_CODES,
    )
