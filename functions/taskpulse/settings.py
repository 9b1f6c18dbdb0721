"""All configuration, read once from the environment (names are the env variables).

In the cluster the secrets (tokens, the push gateway key) reach the environment through
Kubernetes secrets; nothing secret has a default here. On AKS the database takes no password
at all: DATABASE_AUTH=entra signs in with the pod's workload identity.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = Field(
        default="postgresql+psycopg://taskpulse@127.0.0.1:5432/taskpulse",
        description="PostgreSQL URL; postgres:// and postgresql:// are accepted.",
    )
    database_pool_size: int = Field(default=5, ge=1, le=100)
    database_auth: Literal["password", "entra"] = Field(
        default="password",
        description="password: DATABASE_URL's password, or DATABASE_PASSWORD_FILE read for "
        "every new connection; entra: an Entra ID token of the pod's workload identity "
        "(Azure Database for PostgreSQL; needs taskpulse[entra]). See store/credentials.py.",
    )
    database_password_file: Path | None = Field(
        default=None,
        description="A file holding the password, read again for every new connection "
        "(a mounted Secret that rotates).",
    )
    database_token_scope: str = Field(
        default="https://ossrdbms-aad.database.windows.net/.default",
        min_length=1,
        description="The scope of the Entra ID token (another value in sovereign clouds).",
    )
    database_token_refresh_before: timedelta = Field(
        default=timedelta(minutes=5),
        ge=timedelta(0),
        le=timedelta(minutes=30),
        description="How long before its expiry an Entra ID token is replaced.",
    )

    dapr_http_endpoint: str = Field(
        default="http://127.0.0.1:3500",
        description="The function's Dapr: a sidecar or a Dapr Shared instance.",
    )
    dapr_api_token: SecretStr | None = Field(
        default=None, description="Sent to Dapr in the dapr-api-token header."
    )
    app_api_token: SecretStr | None = Field(
        default=None, description="When set, every call from Dapr must carry it."
    )
    dapr_timeout_seconds: float = Field(default=5.0, gt=0)
    insecure_local_dev: bool = Field(
        default=False,
        description="Lets a private function start without APP_API_TOKEN (never in a cluster).",
    )

    oidc_issuer: str | None = Field(
        default=None,
        description="The OpenID Connect issuer of access tokens (the public face needs it).",
    )
    oidc_audience: str = Field(default="taskpulse", min_length=1)
    oidc_user_claim: str = Field(default="sub", min_length=1)
    oidc_service_scope: str = Field(
        default="taskpulse.service",
        min_length=1,
        description="A token with this scope is a trusted backend: it may act for a user.",
    )
    oidc_jwks_url: str | None = Field(
        default=None, description="The issuer's keys, when not found through discovery."
    )
    oidc_leeway_seconds: float = Field(default=30.0, ge=0, le=300)

    centrifugo_api_url: str = Field(default="http://127.0.0.1:8000/api")
    centrifugo_api_key: SecretStr | None = None

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "TaskPulse <reminders@taskpulse.local>"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_domain: str | None = Field(
        default="taskpulse.local",
        description="Reminders of a user with no verified address go to "
        "<user_id>@<mail_domain>; empty: to nobody.",
    )

    idempotency_retention: timedelta = Field(
        default=timedelta(days=7),
        description="How long a processed event is remembered (>= the topics' retention).",
    )
    outbox_batch_size: int = Field(default=100, ge=1, le=10_000)
    outbox_publishers: int = Field(
        # One: it sends everything queued at once, so under load one relay call carries
        # many keys, and no two relays compete for keys, row locks and the GIL. With
        # batched deliveries, 4 threads made 0.9 relay calls per completion at 10.6 ms
        # each, one 0.66 at 6.0 ms; the chain's p95 at 110/s went from 635 to 290 ms.
        default=1,
        ge=1,
        le=32,
        description="Threads publishing committed events; one key's events use one thread.",
    )
    outbox_linger: timedelta = Field(
        # Under load a batch commits every few milliseconds: with 10 ms, 0.24 relay calls
        # per completion instead of 0.39 (the chain at 105-110/s, users in turn), for at
        # most 10 ms more on each event's way out.
        default=timedelta(milliseconds=10),
        ge=timedelta(0),
        le=timedelta(seconds=1),
        description="How long the publisher collects committed events before one relay call "
        "(seconds, or ISO 8601 such as PT0.01S).",
    )
    outbox_max_backoff: timedelta = timedelta(minutes=5)
    max_event_bytes: int = Field(default=64 * 1024, ge=1024)

    def startup_faults(self, *, public: bool) -> list[str]:
        """What keeps a function from starting safely, each with what to do about it."""
        faults = []
        if self.app_api_token is None and not self.insecure_local_dev:
            faults.append(
                "APP_API_TOKEN is not set: without it anyone who reaches the function can "
                "send it events and job triggers. Set it (and the same token in Dapr's "
                "app-api-token), or set INSECURE_LOCAL_DEV=true on a developer machine"
            )
        if public and self.oidc_issuer is None:
            faults.append(
                "OIDC_ISSUER is not set: the public face cannot check access tokens. Set it "
                "to your OpenID Connect issuer (locally: the oidc_issuer `task up` prints)"
            )
        return faults

    @field_validator(
        "app_api_token", "dapr_api_token", "oidc_issuer", "oidc_jwks_url", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``APP_API_TOKEN=""`` is no token: it must not pass for one (and skip the check)."""
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, value: str) -> str:
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value.removeprefix(prefix)
        return value
