"""Dapr's HTTP API over httpx: publish and jobs.

The function finds its Dapr at ``DAPR_HTTP_ENDPOINT`` (a sidecar or a Dapr Shared
instance) and authenticates with ``DAPR_API_TOKEN``. Errors are split in two: a
``DaprUnavailable`` is transient (retry the event), a ``DaprError`` is a refusal that
retrying will not fix.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from taskpulse.contract import PUBSUB_NAME
from taskpulse.observability import DAPR_CALL_ERRORS, DAPR_CALL_SECONDS
from taskpulse.ports import PublishError

log = logging.getLogger("taskpulse.dapr")
CLOUDEVENTS_JSON = "application/cloudevents+json"
JOB_NAME_MAX = 253
_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class DaprError(RuntimeError):
    """Dapr answered with an error that a retry will not fix (4xx)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DaprUnavailable(DaprError, PublishError):
    """Dapr did not answer or failed (5xx, timeout): transient, retry later."""


def _failed_entries(response: httpx.Response, count: int) -> dict[int, str]:
    """``failedEntries`` of a bulk publish answer, by entry index; empty when the answer
    does not name any (then nothing is known of any entry)."""
    try:
        listed = response.json().get("failedEntries") or []
        failed = {int(entry["entryId"]): str(entry.get("error", "")) for entry in listed}
    except (ValueError, AttributeError, KeyError, TypeError):
        return {}
    return {n: reason for n, reason in failed.items() if 0 <= n < count}


def rfc3339_utc(moment: datetime) -> str:
    """Dapr's scheduler runs cron in its own clock: always send UTC with ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("a job time must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class DaprClient:
    def __init__(
        self,
        endpoint: str,
        *,
        api_token: str | None = None,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"dapr-api-token": api_token} if api_token else {}
        self._http = httpx.Client(
            base_url=endpoint.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self._jobs_prefix: str | None = None  # learned on first use: stable or alpha1

    def close(self) -> None:
        self._http.close()

    def _call(
        self, operation: str, method: str, path: str, *, check: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """One request; a 5xx raises DaprUnavailable unless ``check`` is off (the caller
        reads the error body)."""
        start = time.perf_counter()
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            DAPR_CALL_ERRORS.labels(operation=operation).inc()
            raise DaprUnavailable(f"Dapr {operation} failed: {error!r}") from error
        finally:
            DAPR_CALL_SECONDS.labels(operation=operation).observe(time.perf_counter() - start)
        if response.status_code >= 500:
            DAPR_CALL_ERRORS.labels(operation=operation).inc()
            if check:
                raise DaprUnavailable(
                    f"Dapr {operation} answered {response.status_code}: {response.text[:500]}"
                )
        return response

    @staticmethod
    def _refused(operation: str, response: httpx.Response) -> DaprError:
        DAPR_CALL_ERRORS.labels(operation=operation).inc()
        return DaprError(
            f"Dapr {operation} refused ({response.status_code}): {response.text[:500]}",
            status=response.status_code,
        )

    # -- pub/sub -----------------------------------------------------------------------

    def publish(self, topic: str, partition_key: str, event: dict[str, Any]) -> None:
        """Publish a structured CloudEvent as is (Dapr adds only trace and topic fields)."""
        response = self._call(
            "publish",
            "POST",
            f"/v1.0/publish/{PUBSUB_NAME}/{quote(topic, safe='')}",
            params={"metadata.partitionKey": partition_key},
            content=json.dumps(event, separators=(",", ":")).encode(),
            headers={"content-type": CLOUDEVENTS_JSON},
        )
        if response.status_code not in (200, 204):
            # 403 (scoping) and 404 (no such component) need an operator, not a retry loop;
            # still they must not lose the event, so the outbox keeps it pending.
            raise DaprUnavailable(
                f"Dapr publish to {topic} refused ({response.status_code}): {response.text[:500]}"
            )

    def publish_many(
        self, topic: str, entries: Sequence[tuple[str, dict[str, Any]]]
    ) -> dict[int, str]:
        """Publish structured CloudEvents to one topic in one request (Dapr's bulk publish,
        one Kafka produce for the batch): the entries Dapr reports as failed, by index.

        Each entry carries its own partition key. Dapr answers 204 when every entry was
        accepted, and otherwise an error status with the failed entries; an error without
        that list (403, 404, a broken answer) raises, as for a single publish.
        """
        body = [
            {
                "entryId": str(n),
                "event": event,
                "contentType": CLOUDEVENTS_JSON,
                "metadata": {"partitionKey": key},
            }
            for n, (key, event) in enumerate(entries)
        ]
        response = self._call(
            "publish_bulk",
            "POST",
            f"/v1.0-alpha1/publish/bulk/{PUBSUB_NAME}/{quote(topic, safe='')}",
            check=False,
            content=json.dumps(body, separators=(",", ":")).encode(),
            headers={"content-type": "application/json"},
        )
        if response.status_code in (200, 204):
            return {}
        failed = _failed_entries(response, len(entries))
        if not failed:
            raise DaprUnavailable(
                f"Dapr bulk publish to {topic} failed ({response.status_code}): "
                f"{response.text[:500]}"
            )
        return failed

    # -- jobs --------------------------------------------------------------------------

    def _jobs(self, method: str, name: str, **kwargs: Any) -> httpx.Response:
        if len(name) > JOB_NAME_MAX:
            raise DaprError(f"job name longer than {JOB_NAME_MAX} characters: {name[:40]}...")
        if not _JOB_NAME.fullmatch(name):
            # Names are built from validated ids; this guards the path all the same, since
            # with the function's token ``../`` would reach another Dapr API.
            raise DaprError(f"job name {name[:40]!r} may hold only letters, digits, . _ -")
        prefixes = [self._jobs_prefix] if self._jobs_prefix else ["/v1.0/jobs", "/v1.0-alpha1/jobs"]
        response: httpx.Response | None = None
        for prefix in prefixes:
            response = self._call(
                f"jobs.{method.lower()}", method, f"{prefix}/{quote(name, safe='')}", **kwargs
            )
            # Before 1.18 the stable route does not exist: the router answers 404/405.
            if (
                response.status_code in (404, 405)
                and self._jobs_prefix is None
                and ("ERR_JOB_NOT_FOUND" not in response.text)
            ):
                continue
            self._jobs_prefix = prefix
            return response
        assert response is not None
        return response

    def schedule_job(
        self,
        name: str,
        *,
        due_time: datetime,
        data: dict[str, Any],
        overwrite: bool = True,
        redeliver_every: str = "15s",
        redeliveries: int = 40,
    ) -> None:
        """A job due at ``due_time`` whose trigger comes back as ``POST /job/<name>``.

        It fires again every ``redeliver_every``, at most ``redeliveries`` times, until
        the app deletes it: a trigger that finds the app down (a scale-from-zero that
        failed, a crash) is tried again instead of being lost. Dapr before 1.16 has no
        ``failurePolicy`` and gives a trigger one try, so the repeats are the retry that
        works everywhere; handlers are idempotent and delete the job when done.
        """
        body = {
            "dueTime": rfc3339_utc(due_time),
            "schedule": f"@every {redeliver_every}",
            "repeats": redeliveries + 1,
            "data": data,
            "overwrite": overwrite,
            "failurePolicy": {"constant": {"interval": redeliver_every, "maxRetries": 3}},
        }
        response = self._jobs("POST", name, json=body)
        if response.status_code not in (200, 204):
            raise self._refused("jobs.schedule", response)

    def delete_job(self, name: str) -> None:
        response = self._jobs("DELETE", name)
        if response.status_code not in (200, 204, 404):
            raise self._refused("jobs.delete", response)

    def finish_job(self, name: str) -> None:
        """Stop a job's redeliveries once its work is done (see :meth:`schedule_job`).

        A failure only logs: a later redelivery finds the work done and ends it again.
        """
        try:
            self.delete_job(name)
        except Exception:
            log.warning("job %s: not deleted; its next redelivery will be a no-op", name)
