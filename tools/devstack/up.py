"""``task up``: the whole system on this machine with real parts, until Ctrl-C.

Reads the Dapr Multi-App Run file (``dapr.yaml`` at the repo root), then starts, in this
order and each only once the one before is ready: PostgreSQL (migrated), Kafka with the
contract's topics, the Dapr scheduler, the OpenID Connect provider (Hydra and its login
app, devstack.oidc), Centrifugo (which accepts the provider's access tokens), the SMTP
server, and for each app its function followed by its daprd. It prints every endpoint,
writes them to ``.local/endpoints.json`` (docs/contract.md#5-commands) while it runs, keeps
every log under ``.local/logs/``, and on Ctrl-C or SIGTERM stops everything in reverse
order and removes the endpoints file. Each run starts from empty data (database, topics, jobs); the
mailbox in ``.local/mailbox`` is kept.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devstack import centrifugo as centrifugo_tools
from devstack import daprd as dapr_tools
from devstack import oidc
from devstack.cache import say
from devstack.gobuild import GoBuildError
from devstack.kafka import KafkaUnavailable, create_topics, external_brokers, local_broker
from devstack.kafka_access import ADMIN_PRINCIPAL, Brokers, grant
from devstack.manifests import KAFKA_BROKERS_ENV, local_daprd_env
from devstack.ports import free_port
from devstack.postgres import PostgresUnavailable, running_postgres
from devstack.supervisor import (
    Service,
    StartError,
    Supervisor,
    http_answers,
    http_ok,
    sigterm_as_interrupt,
    tcp_open,
)
from devstack.versions import DAPR_VERSION
from taskpulse.contract import Function

KAFKA_PORT, CENTRIFUGO_PORT, SMTP_PORT = 9092, 8000, 2525
"""Preferred ports of the parts dapr.yaml has no place for (a free one when taken)."""


class RunFileError(ValueError):
    pass


SETUP_ERRORS = (KafkaUnavailable, PostgresUnavailable, GoBuildError, oidc.OidcError)
"""Raised with what failed and what to install or set; shown without a traceback."""


@dataclass(frozen=True)
class App:
    """One ``apps[]`` entry of dapr.yaml with ``common`` merged in (the app wins)."""

    app_id: str
    app_dir: Path
    command: list[str]
    app_port: int | None = None
    dapr_http_port: int | None = None
    dapr_grpc_port: int | None = None
    dapr_internal_grpc_port: int | None = None
    metrics_port: int | None = None
    resources: list[Path] = field(default_factory=list)
    config: Path | None = None
    app_channel_address: str = "127.0.0.1"
    log_level: str = "info"
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFile:
    apps: list[App]
    scheduler_address: str | None


def _port(value: object) -> int | None:
    return int(str(value)) if value not in (None, "", -1) else None


def load_run_file(path: Path) -> RunFile:
    """Parse the subset of the Multi-App Run format the local stack uses."""
    doc = yaml.safe_load(path.read_text()) or {}
    if str(doc.get("version")) != "1":
        raise RunFileError(f"{path}: only version 1 of the Multi-App Run format is understood")
    base = path.parent
    common: dict[str, Any] = doc.get("common") or {}
    apps: list[App] = []
    for raw in doc.get("apps") or []:
        entry: dict[str, Any] = {
            **common,
            **raw,
            "env": {**common.get("env", {}), **raw.get("env", {})},
        }
        if "appID" not in entry or "appDirPath" not in entry:
            raise RunFileError(f"{path}: every app needs appID and appDirPath")
        config = entry.get("configFilePath")
        apps.append(
            App(
                app_id=str(entry["appID"]),
                app_dir=(base / entry["appDirPath"]).resolve(),
                command=[str(c) for c in entry.get("command") or []],
                app_port=_port(entry.get("appPort")),
                dapr_http_port=_port(entry.get("daprHTTPPort")),
                dapr_grpc_port=_port(entry.get("daprGRPCPort")),
                dapr_internal_grpc_port=_port(entry.get("daprInternalGRPCPort")),
                metrics_port=_port(entry.get("metricsPort")),
                resources=[(base / p).resolve() for p in entry.get("resourcesPaths") or []],
                config=(base / config).resolve() if config else None,
                app_channel_address=str(entry.get("appChannelAddress") or "127.0.0.1"),
                log_level=str(entry.get("logLevel") or "info"),
                env={str(k): str(v) for k, v in (entry.get("env") or {}).items()},
            )
        )
    scheduler = common.get("schedulerHostAddress")
    return RunFile(apps, str(scheduler) if scheduler else None)


def port_or_free(preferred: int | None) -> int:
    """``preferred`` when nothing listens there, else any free port (printed later)."""
    if preferred:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                say(f"port {preferred} is taken: using another one")
    return free_port()


def _migrate(database_url: str) -> None:
    # The store's own migrator; the module may not exist on an early checkout.
    if importlib.util.find_spec("taskpulse.store.migrate") is None:
        say("taskpulse.store.migrate not found: database left unmigrated")
        return
    subprocess.run(  # noqa: S603 - our interpreter, fixed module
        [sys.executable, "-m", "taskpulse.store.migrate", database_url], check=True
    )


def _daprd_kafka_env(app_id: str, brokers: Brokers) -> dict[str, str]:
    """What dapr-components/local reads through envRef: a function's (its login and
    consumer group too), or, for an app that is none of the functions, the brokers and the
    admin's login (a tool of the developer's, not part of the system)."""
    try:
        function = Function(app_id)
    except ValueError:
        return {KAFKA_BROKERS_ENV: brokers.bootstrap, **brokers.daprd_env(ADMIN_PRINCIPAL)}
    return local_daprd_env(function, brokers)


@contextmanager
def endpoints_file(path: Path, document: Mapping[str, Any]) -> Iterator[Path]:
    """Written while the stack runs (0600: it holds local secrets), removed when it stops."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 and renamed into place: a reader never sees it half-written, and the
    # secrets are never readable by others, even for a moment.
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(document, indent=2) + "\n")
    partial.replace(path)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _resolve_command(command: list[str]) -> list[str]:
    if not command:
        raise RunFileError("an app without a command cannot be started")
    found = shutil.which(command[0])
    if found is None:
        raise RunFileError(f"`{command[0]}` is not on PATH (pip install -e '.[dev]' first?)")
    return [found, *command[1:]]


def start_stack(
    stack: ExitStack, supervisor: Supervisor, run: RunFile, state: Path
) -> dict[str, Any]:
    """Start everything on ``stack`` (unwound in reverse order) and return the endpoints."""
    logs, work = supervisor.log_dir, state / "run"
    shutil.rmtree(work, ignore_errors=True)

    database = stack.enter_context(running_postgres())
    _migrate(database.url)
    stack.enter_context(supervisor)

    brokers = external_brokers()
    kafka_endpoint = brokers.bootstrap if brokers else None
    if brokers is None:
        # The system logs in over SASL_SSL; the contract's `kafka` endpoint is the
        # loopback developer listener (decision 0029), on the port a user expects.
        node = local_broker(free_port(), work, door=port_or_free(KAFKA_PORT))
        node.format_storage()
        supervisor.start(
            Service("kafka", node.argv(), tcp_open("127.0.0.1", node.port), timeout=120)
        )
        brokers, kafka_endpoint = node.brokers, node.endpoint
    created = create_topics(brokers)
    acls = grant(brokers)
    say(
        f"Kafka at {brokers.bootstrap} "
        f"({'SASL_SSL, SCRAM, ' + str(acls) + ' ACLs' if brokers.secured else 'plaintext'}); "
        f"topics created: {', '.join(created) or 'none (all existed)'}"
    )

    scheduler_tool = dapr_tools.scheduler()
    preferred = int(run.scheduler_address.rsplit(":", 1)[1]) if run.scheduler_address else None
    scheduler_ports = dapr_tools.SchedulerPorts(
        port_or_free(preferred), free_port(), free_port(), free_port(), free_port()
    )
    supervisor.start(
        Service(
            "scheduler",
            dapr_tools.scheduler_argv(scheduler_tool.path, scheduler_ports, work / "scheduler"),
            http_ok(f"http://127.0.0.1:{scheduler_ports.healthz}/healthz"),
            timeout=90,
        )
    )

    provider = oidc.start_provider(
        supervisor,
        work,
        public_port=port_or_free(oidc.PUBLIC_PORT),
        admin_port=port_or_free(oidc.ADMIN_PORT),
        login_port=port_or_free(oidc.LOGIN_PORT),
    )
    say(f"OpenID Connect issuer {provider.issuer} (Hydra; `task token -- <user>`)")

    # The push gateway takes the provider's access tokens (checked with its signing key)
    # and HMAC tokens minted with centrifugo_token_secret: contract §4 and §5 (decision 0016).
    tokens = centrifugo_tools.ProviderKeyTokens(provider.signing_key_pem())
    push = centrifugo_tools.CentrifugoConfig.generate(
        port_or_free(CENTRIFUGO_PORT), provider_key=tokens
    )
    push_file = push.write(work / "centrifugo.json")
    supervisor.start(
        Service(
            "centrifugo", centrifugo_tools.argv(push_file), http_ok(push.health_url), timeout=60
        )
    )

    smtp_port, mailbox = port_or_free(SMTP_PORT), state / "mailbox"
    supervisor.start(
        Service(
            "smtp",
            [
                sys.executable,
                "-m",
                "devstack.smtp",
                "--port",
                str(smtp_port),
                "--mailbox",
                str(mailbox),
            ],
            tcp_open("127.0.0.1", smtp_port),
        )
    )

    daprd_tool = dapr_tools.daprd()
    say(f"daprd {daprd_tool.version} ({daprd_tool.origin}: {daprd_tool.path})")
    if daprd_tool.version.lstrip("v") != DAPR_VERSION:
        say(f"note: the cluster runs Dapr {DAPR_VERSION}; see devstack/versions.py for why")
    dapr_token, app_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    dapr_http: dict[str, str] = {}
    dapr_metrics: dict[str, str] = {}
    app_urls: dict[str, str] = {}
    for app in run.apps:
        if not (app.app_dir / "main.py").exists() and "main.py" in app.command:
            say(f"{app.app_id}: {app.app_dir / 'main.py'} does not exist yet: skipped")
            continue
        app_port = port_or_free(app.app_port)
        ports = dapr_tools.DaprdPorts(
            port_or_free(app.dapr_http_port),
            port_or_free(app.dapr_grpc_port),
            port_or_free(app.dapr_internal_grpc_port),
            port_or_free(app.metrics_port),
        )
        function_env = {
            "DATABASE_URL": database.url,
            "DAPR_HTTP_ENDPOINT": ports.http_endpoint,
            "DAPR_API_TOKEN": dapr_token,
            "APP_API_TOKEN": app_token,
            "CENTRIFUGO_API_URL": push.api_url,
            "CENTRIFUGO_API_KEY": push.api_key,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            # functions-framework reads these; the default host is every interface.
            "PORT": str(app_port),
            "HOST": "127.0.0.1",
            **(oidc_env(provider) if app.app_id == Function.CREATE_TASK.value else {}),
            **app.env,
        }
        supervisor.start(
            Service(
                app.app_id,
                _resolve_command(app.command),
                http_answers(f"http://127.0.0.1:{app_port}/health/liveness"),
                env=function_env,
                cwd=app.app_dir,
                timeout=60,
            )
        )
        daprd_env = {
            "DAPR_API_TOKEN": dapr_token,
            "APP_API_TOKEN": app_token,
            **_daprd_kafka_env(app.app_id, brokers),
        }
        supervisor.start(
            Service(
                f"daprd-{app.app_id}",
                dapr_tools.daprd_argv(
                    daprd_tool.path,
                    app_id=app.app_id,
                    app_port=app_port,
                    ports=ports,
                    resources=app.resources,
                    scheduler_address=scheduler_ports.address,
                    config=app.config,
                    app_channel_address=app.app_channel_address,
                    log_level=app.log_level,
                ),
                http_ok(f"{ports.http_endpoint}/v1.0/healthz"),
                env=daprd_env,
                timeout=90,
            )
        )
        dapr_http[app.app_id] = ports.http_endpoint
        dapr_metrics[app.app_id] = f"127.0.0.1:{ports.metrics}"
        app_urls[app.app_id] = f"http://127.0.0.1:{app_port}/"

    rss = ", ".join(f"{r.service.name} {r.rss_mb():.0f} MB" for r in supervisor.running)
    say(f"memory at start (RSS): {rss}")
    return {
        # docs/contract.md#5-commands
        "create_task": app_urls.get(Function.CREATE_TASK.value),
        "dapr_http": dapr_http,
        "kafka": kafka_endpoint,
        "centrifugo_ws": push.ws_url,
        # HMAC connection tokens; the provider's access tokens work too (decision 0016).
        "centrifugo_token_secret": push.token_secret,
        "smtp": f"127.0.0.1:{smtp_port}",
        "mailbox": str(mailbox),
        "oidc_issuer": provider.issuer,
        # additions, for tools and tests that drive a running stack
        "functions": app_urls,
        "dapr_metrics": dapr_metrics,
        "dapr_api_token": dapr_token,
        "app_api_token": app_token,
        "centrifugo_api": push.api_url,
        "centrifugo_api_key": push.api_key,
        "database_url": database.url,
        "scheduler": scheduler_ports.address,
        # how to log in to Kafka: TLS CA and SCRAM passwords (devstack.kafka_access)
        "kafka_access": brokers.to_json(),
        "logs": str(logs),
        "daprd": f"{daprd_tool.version} ({daprd_tool.origin})",
        # what `task token` and the tests need to obtain tokens (devstack.oidc)
        **provider.endpoints(),
    }


def oidc_env(provider: oidc.OidcProvider) -> dict[str, str]:
    """What create-task reads to check callers' tokens (docs/contract.md#3-the-functions)."""
    return {
        "OIDC_ISSUER": provider.issuer,
        "OIDC_AUDIENCE": provider.audience,
        "OIDC_SERVICE_SCOPE": provider.service_scope,
    }


def first_command(endpoints: Mapping[str, Any]) -> str:
    event = {
        "specversion": "1.0",
        "id": f"first-{secrets.token_hex(4)}",
        "source": "/cli/you",
        "type": "dev.taskpulse.task.create.v1",
        "datacontenttype": "application/json",
        "data": {
            "user_id": "alice",
            "title": "Water the plants",
            "due_at": "2030-01-04T09:00:00+01:00",
            "timezone": "Europe/Berlin",
            "rrule": "FREQ=WEEKLY;BYDAY=FR",
            "remind_before": "PT15M",
        },
    }
    return (
        f"curl -sS -X POST {endpoints['create_task']} "
        '-H "Authorization: Bearer $(task token -- alice)" '
        "-H 'Content-Type: application/cloudevents+json' "
        f"-d '{json.dumps(event)}'"
    )


def describe(endpoints: Mapping[str, Any], path: Path) -> str:
    lines = ["", "TaskPulse is up. Endpoints:"]
    lines.append(f"  create-task (POST a create command)  {endpoints['create_task']}")
    for app_id, url in endpoints["dapr_http"].items():
        lines.append(f"  daprd {app_id:<24}      {url}")
    lines += [
        f"  OpenID Connect issuer                {endpoints['oidc_issuer']}",
        f"  Kafka for your tools (plaintext)     {endpoints['kafka']}",
        f"  Kafka of the functions               {endpoints['kafka_access']['bootstrap']}"
        f" ({endpoints['kafka_access']['security_protocol']}; logins in the file below)",
        f"  Dapr scheduler                       {endpoints['scheduler']}",
        f"  Centrifugo WebSocket                 {endpoints['centrifugo_ws']}",
        f"  Centrifugo server API                {endpoints['centrifugo_api']}",
        f"  SMTP                                 {endpoints['smtp']}",
        f"  mailbox (Maildir)                    {endpoints['mailbox']}",
        f"  logs                                 {endpoints['logs']}",
        f"  daprd                                {endpoints['daprd']}",
        f"Secrets and tokens of this run are in {path}.",
        "An access token for any local user: task token -- <user>",
    ]
    if endpoints["create_task"]:
        lines += ["", "Send a first command:", f"  {first_command(endpoints)}"]
    lines += ["", "Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def watch(supervisor: Supervisor) -> int:
    """Block until Ctrl-C/SIGTERM (KeyboardInterrupt) or until a part dies (exit code 1)."""
    while True:
        time.sleep(1)
        if dead := supervisor.first_exit():
            say(
                f"{dead.service.name} exited with code {dead.process.returncode}: "
                f"stopping everything; read {dead.log}"
            )
            return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.up", description=__doc__)
    parser.add_argument("--file", "-f", type=Path, default=Path("dapr.yaml"))
    parser.add_argument("--state", type=Path, default=Path(".local"))
    args = parser.parse_args(argv)
    run = load_run_file(args.file)
    repo = args.file.resolve().parent
    state = (repo / args.state).resolve() if not args.state.is_absolute() else args.state
    endpoints_path = state / "endpoints.json"
    logs = state / "logs"
    state.mkdir(parents=True, exist_ok=True)
    lock = (state / "up.lock").open("a+")
    try:
        # A second `task up` would delete the first one's logs and data under it.
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say(f"another `task up` is running from {state}: stop it first (Ctrl-C there)")
        return 1
    shutil.rmtree(logs, ignore_errors=True)  # this run's logs only
    code = 0
    with lock, sigterm_as_interrupt(), ExitStack() as stack:
        try:
            supervisor = Supervisor(logs)
            endpoints = start_stack(stack, supervisor, run, state)
            stack.enter_context(endpoints_file(endpoints_path, endpoints))
            print(describe(endpoints, endpoints_path), flush=True)
            code = watch(supervisor)
        except (StartError, RunFileError, *SETUP_ERRORS) as error:
            # Each of these says what failed and what to do; a traceback would bury it.
            say(f"could not start: {error}")
            code = 1
        except subprocess.CalledProcessError as error:
            # The database migration: its own output, printed above, says why.
            command = " ".join(map(str, error.cmd))
            say(f"could not start: `{command}` exited with {error.returncode} (output above)")
            code = 1
        except KeyboardInterrupt:
            say("stopping (reverse order)...")
    say("stopped")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
