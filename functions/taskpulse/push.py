"""The push gateway adapter: Centrifugo's HTTP server API.

Every open screen of a user subscribes to ``tasks:user#<user_id>``; the ``#`` makes it a
user-limited channel, so only a connection authenticated as that user may join it.
Publishes carry an idempotency key, so a retried publish is not delivered twice. Several
publications go in one request through the batch endpoint, which runs them in order and
answers each; it runs every one whatever the earlier ones' fate, so a publication after a
refused one may reach the screens before it is sent again.

Requests ask for Centrifugo's transport error mode, so a refusal comes as an HTTP status
(Centrifugo's ``MapErrorToHTTPCode``: 500 internal, 404 unknown channel, 400 bad request)
and one rule sorts every failure: the gateway or its configuration failing (unreachable,
5xx, 429, a wrong API key or URL, an unknown namespace) is retried, because nothing is wrong
with the publication and an operator can mend the rest; a publication refused as such
(any other 4xx) is refused for good, because sending it again would be refused again.
Centrifugo also answers 400 when the namespace exists but its settings refuse the
publication (a non-stream subscription type, a data format check); that too is refused for
good: the dead letter carries the gateway's answer, to replay once the namespace is mended.
The replies of a batch carry error codes instead of statuses (transport error mode does
not reach them); they are sorted by the status ``MapErrorToHTTPCode`` gives each code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from taskpulse.contract import push_channel
from taskpulse.ports import ChannelError

# Statuses that say the gateway is down or misconfigured (key, URL, namespace), not that
# the publication is wrong.
_RETRIED_STATUSES = frozenset({401, 403, 404, 408, 429})
# The same split for an error code (a batch's replies, or a gateway that ignores transport
# error mode): the codes centrifugo v6 internal/apiproto/errors.go MapErrorToHTTPCode maps
# to a 4xx it would refuse for good (107 bad request and 108 not available: 400, 112
# unrecoverable position: 416, 113 conflict: 409). Every other code, and one it does not
# know yet, maps to 500 or 404: retried.
_REFUSED_CODES = frozenset({107, 108, 112, 113})


class PushError(ChannelError):
    """The gateway did not take the publication (``permanent``: it never will)."""


@dataclass(frozen=True, slots=True)
class Publication:
    user_id: str
    data: Mapping[str, Any]
    idempotency_key: str

    def command(self) -> dict[str, Any]:
        return {
            "channel": push_channel(self.user_id),
            "data": dict(self.data),
            "idempotency_key": self.idempotency_key,
        }


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
        self._publish(Publication(user_id, data, idempotency_key))

    def publish_many(self, publications: Sequence[Publication]) -> list[PushError | None]:
        """Publish in one request, in order: for each publication ``None`` when it was
        taken, or the error that refused it. Raises PushError when the request itself
        failed, and nothing is known of any publication.

        A batch the gateway refuses as a whole (say, over its body limit) is published one
        by one, so that only a publication that is itself refused is refused.
        """
        if len(publications) <= 1:
            return [self._verdict(p) for p in publications]
        response = self._post(
            "/batch", {"commands": [{"publish": p.command()} for p in publications]}
        )
        try:
            return batch_refusals(response, len(publications))
        except PushError as failure:
            if failure.permanent:
                return [self._verdict(p) for p in publications]
            raise

    def _verdict(self, publication: Publication) -> PushError | None:
        """``None`` when taken, the error when refused for good; raises when transient."""
        try:
            self._publish(publication)
        except PushError as error:
            if error.permanent:
                return error
            raise
        return None

    def _publish(self, publication: Publication) -> None:
        if failure := refusal(self._post("/publish", publication.command())):
            raise failure

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            return self._http.post(path, json=body)
        except httpx.HTTPError as error:
            raise PushError(f"push gateway unreachable: {error!r}") from error


def refusal(response: httpx.Response) -> PushError | None:
    """What a server API answer says went wrong, or ``None`` when it was taken."""
    if failure := _status_refusal(response):
        return failure
    try:
        return _error_refusal(_json_object(response).get("error"))
    except PushError as error:
        return error


def batch_refusals(response: httpx.Response, count: int) -> list[PushError | None]:
    """What a batch answer says of each of its ``count`` commands, in order (``None``:
    taken); raises PushError when the batch itself was not taken."""
    if failure := _status_refusal(response):
        raise failure
    replies = _json_object(response).get("replies")
    if not isinstance(replies, list) or len(replies) != count:
        raise PushError(f"push gateway answered a batch of {count} with {response.text[:300]}")
    return [_reply_refusal(reply) for reply in replies]


def _status_refusal(response: httpx.Response) -> PushError | None:
    status = response.status_code
    if status == 200:
        return None
    return PushError(
        f"push gateway answered {status}: {response.text[:300]}",
        permanent=400 <= status < 500 and status not in _RETRIED_STATUSES,
    )


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        reply = response.json()
    except ValueError:
        raise PushError(f"push gateway answered 200 without JSON: {response.text[:300]}") from None
    if not isinstance(reply, dict):
        raise PushError(f"push gateway answered {reply!r:.300}, not an object")
    return reply


def _reply_refusal(reply: Any) -> PushError | None:
    """One reply of a batch: ``{"publish": {...}}`` or ``{"error": {...}}``."""
    if not isinstance(reply, dict):
        return PushError(f"push gateway answered {reply!r:.300} for a publication")
    return _error_refusal(reply.get("error"))


def _error_refusal(error: Any) -> PushError | None:
    """The ``error`` of one reply (Centrifugo's codes), or ``None`` when there is none."""
    if not error:
        return None
    code = error.get("code") if isinstance(error, dict) else None
    return PushError(
        f"push gateway refused: {error}",
        permanent=isinstance(code, int) and code in _REFUSED_CODES,
    )
