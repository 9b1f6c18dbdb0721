"""The container of one function: settings, store and adapters, each built lazily and once.

A cold start pays only for what the first event needs: push-update never imports the
store, and nothing connects anywhere before a request arrives. What happens to committed
events belongs to the outbox publisher (:mod:`taskpulse.publisher`); every unit of work
made here reports to it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from taskpulse.contract import Function
from taskpulse.dapr_app import DeadLetters
from taskpulse.observability import OUTBOX_OLDEST_PENDING, configure_logging
from taskpulse.publisher import OutboxPublisher
from taskpulse.settings import Settings

if TYPE_CHECKING:
    from taskpulse import ports
    from taskpulse.dapr import DaprClient
    from taskpulse.events import CloudEvent
    from taskpulse.identity.tokens import TokenVerifier
    from taskpulse.mail import SmtpMailer
    from taskpulse.push import PushGateway
    from taskpulse.store import Store
    from taskpulse.store.outbox import OutboxRelay
    from taskpulse.store.uow import UnitOfWork

T = TypeVar("T")
Outcome = TypeVar("Outcome")


class _Command(Protocol):
    @property
    def user_id(self) -> str: ...


class Runtime:
    def __init__(self, function: Function, settings: Settings | None = None) -> None:
        self.function = function
        self._settings = settings
        self._lock = threading.RLock()
        self._parts: dict[str, Any] = {}
        configure_logging(function.value)

    def _once(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._parts:
                self._parts[name] = build()
            part: T = self._parts[name]
            return part

    @property
    def settings(self) -> Settings:
        return self._once("settings", lambda: self._settings or Settings())

    @property
    def dapr(self) -> DaprClient:
        from taskpulse.dapr import DaprClient

        def build() -> DaprClient:
            token = self.settings.dapr_api_token
            return DaprClient(
                self.settings.dapr_http_endpoint,
                api_token=token.get_secret_value() if token else None,
                timeout=self.settings.dapr_timeout_seconds,
            )

        return self._once("dapr", build)

    @property
    def store(self) -> Store:
        from taskpulse.store import Store
        from taskpulse.store.credentials import from_settings

        return self._once(
            "store",
            lambda: Store(
                self.settings.database_url,
                pool_size=self.settings.database_pool_size,
                retention=self.settings.idempotency_retention,
                password=from_settings(self.settings),
            ),
        )

    def unit_of_work(self) -> UnitOfWork:
        """A unit of work in a transaction of its own, whose committed events go to the
        publisher."""
        return self.store.unit_of_work(self.publisher.hand)

    @contextmanager
    def batch(self) -> Iterator[Callable[[], UnitOfWork]]:
        """One transaction for the events of one bulk delivery (``store.Batch``).

        Yields the factory of its units of work: each a savepoint of that transaction,
        whose events go to the publisher once the batch commits on exit. Raises when the
        commit fails: then nothing of the batch happened, and every event must be retried.
        """
        with self.store.batch(self.publisher.hand) as transaction:
            yield transaction.unit_of_work
            transaction.commit()

    @property
    def publisher(self) -> OutboxPublisher:
        return self._once(
            "publisher",
            lambda: OutboxPublisher(
                self.function,
                self.settings,
                relay=lambda: self.relay,
                dapr=lambda: self.dapr,
                cleanup=lambda: self.store.cleanup(),
            ),
        )

    @property
    def relay(self) -> OutboxRelay:
        def build() -> OutboxRelay:
            relay = self.store.relay(
                self.dapr,
                batch_size=self.settings.outbox_batch_size,
                max_backoff=self.settings.outbox_max_backoff,
            )
            OUTBOX_OLDEST_PENDING.labels(self.function.value).set_function(
                lambda: _or_nan(relay.oldest_pending_age)
            )
            return relay

        return self._once("relay", build)

    @property
    def push(self) -> PushGateway:
        from taskpulse.push import PushGateway

        def build() -> PushGateway:
            key = self.settings.centrifugo_api_key
            return PushGateway(
                self.settings.centrifugo_api_url,
                api_key=key.get_secret_value() if key else None,
            )

        return self._once("push", build)

    @property
    def mailer(self) -> SmtpMailer:
        from taskpulse.mail import SmtpMailer

        def build() -> SmtpMailer:
            s = self.settings
            return SmtpMailer(
                host=s.smtp_host,
                port=s.smtp_port,
                sender=s.smtp_sender,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                starttls=s.smtp_starttls,
            )

        return self._once("mailer", build)

    def mail_to(self, user_id: str) -> str | None:
        """Where a user's mail goes when their issuer verified no address."""
        domain = self.settings.mail_domain
        return f"{user_id}@{domain}" if domain else None

    def dead_letters(self) -> DeadLetters:
        return self._once("dead_letters", lambda: DeadLetters(self.dapr.publish))

    @property
    def verifier(self) -> TokenVerifier:
        from taskpulse.identity.tokens import TokenRules, TokenVerifier

        def build() -> TokenVerifier:
            s = self.settings
            if s.oidc_issuer is None:
                raise RuntimeError("OIDC_ISSUER is not set: no access token can be checked")
            rules = TokenRules(
                s.oidc_issuer,
                s.oidc_audience,
                s.oidc_user_claim,
                s.oidc_service_scope,
                s.oidc_jwks_url,
                leeway_seconds=s.oidc_leeway_seconds,
            )
            return TokenVerifier(rules, self._fetch_json)

        return self._once("verifier", build)

    def _fetch_json(self, url: str) -> dict[str, Any]:
        import httpx

        response = httpx.get(url, timeout=self.settings.dapr_timeout_seconds)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    def app_api_token(self) -> str | None:
        token = self.settings.app_api_token
        return token.get_secret_value() if token else None

    def close(self) -> None:
        """Release connections (tests and orderly shutdown)."""
        self.drain()
        with self._lock:
            parts, self._parts = self._parts, {}
        for name in ("dapr", "push"):
            if name in parts:
                parts[name].close()
        if "store" in parts:
            parts["store"].dispose()

    def drain(self) -> None:
        """Wait until the publisher has tried everything handed to it (tests, shutdown)."""
        if "publisher" in self._parts:
            self.publisher.drain()

    def execute(
        self,
        use_case: Callable[..., Outcome],
        command: _Command,
        event: CloudEvent,
        *,
        units: Callable[[], ports.UnitOfWork] | None = None,
    ) -> Outcome:
        """Run a client command's use case once, identified by the event's source and id,
        in units of work of ``units`` (a batch's), else of :meth:`unit_of_work`."""
        from taskpulse.services.keys import Origin

        return use_case(units or self.unit_of_work, command, Origin.of(event))


def _or_nan(read: Callable[[], float]) -> float:
    """A gauge read at scrape time: NaN when the database does not answer, so that the
    scrape still shows every other metric (and the outage shows as a gap)."""
    try:
        return read()
    except Exception:
        return float("nan")


App = TypeVar("App")


def start(function: Function, build: Callable[[Runtime], App]) -> App:
    """The function's app, once its settings are safe to serve with (a function's
    ``main.py``): refuses to start, saying what to set, when they are not."""
    runtime = Runtime(function)
    faults = runtime.settings.startup_faults(public=function.is_public)
    if faults:
        raise SystemExit(f"{function.value} will not start:\n- " + "\n- ".join(faults))
    return build(runtime)
