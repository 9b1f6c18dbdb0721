"""Helpers of the image tests: run a function's image as its Knative Service runs it."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from devstack import images
from devstack.images import Built, KnativeRun
from devstack.ports import free_port
from taskpulse.contract import Function

APP_TOKEN = "image-test-app-token"
DAPR_TOKEN = "image-test-dapr-token"
SOCKET_DIR = "/run/postgresql-host"
"""Where a Unix-socket PostgreSQL's directory is mounted in the container."""


def in_container(database_url: str) -> tuple[str, list[str]]:
    """The database URL as the container sees it, and the volume it needs: a server on a
    Unix socket (the tests' own PostgreSQL) has its socket directory mounted."""
    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    host = query.get("host", [""])[0]
    if not host.startswith("/"):
        return database_url, []  # TCP: the host network reaches it as it is
    query["host"] = [SOCKET_DIR]
    url = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    return url, [f"{host}:{SOCKET_DIR}"]


def cluster_values(
    function: Function, database_url: str, dapr_url: str, oidc_issuer: str
) -> dict[str, str]:
    """What the cluster's Secrets and ConfigMaps give each variable the manifest refers to."""
    return {
        "DAPR_HTTP_ENDPOINT": dapr_url,
        "DAPR_API_TOKEN": DAPR_TOKEN,
        "APP_API_TOKEN": APP_TOKEN,
        "DATABASE_URL": database_url,
        "OIDC_ISSUER": oidc_issuer,
        "OIDC_AUDIENCE": "taskpulse",
        "OIDC_USER_CLAIM": "sub",
        "OIDC_SERVICE_SCOPE": "taskpulse.service",
        "CENTRIFUGO_API_KEY": "image-test-centrifugo-key",
        "CENTRIFUGO_API_URL": "http://127.0.0.1:9/api",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "25",
        "SMTP_USERNAME": "taskpulse",
        "SMTP_PASSWORD": "image-test-smtp-password",
        "SMTP_STARTTLS": "false",
        "SMTP_SENDER": "TaskPulse <reminders@taskpulse.local>",
        "MAIL_DOMAIN": "taskpulse.local",
    }


@dataclass
class Container:
    function: Function
    name: str
    port: int
    knative: KnativeRun
    process: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_listening(self, timeout: float = 90) -> float:
        """Seconds from ``podman run`` to the first answer on the liveness path."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"the container stopped:\n{self.log_tail()}"
            try:
                httpx.get(self.url(self.knative.probes["liveness"]), timeout=2)
                return time.monotonic() - self.started
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{self.function.value} did not listen in {timeout}s")
                time.sleep(0.1)

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            images.podman("exec", self.name, *argv),
            env=images.podman_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def terminate(self) -> tuple[int, float]:
        """SIGTERM to the container's PID 1, as the kubelet sends it; its exit code and
        how long it took to stop."""
        start = time.monotonic()
        subprocess.run(
            images.podman("kill", "--signal", "TERM", self.name),
            env=images.podman_env(),
            capture_output=True,
            check=True,
            timeout=60,
        )
        try:
            code = self.process.wait(timeout=self.knative.grace_seconds + 30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.function.value} did not stop:\n{self.log_tail()}")
        return code, time.monotonic() - start


@contextmanager
def run_container(
    built: Built,
    folder: Path,
    *,
    database_url: str,
    dapr_url: str,
    oidc_issuer: str = "https://issuer.invalid/",
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Container]:
    """The function's image, run as its Knative Service runs it; removed afterwards."""
    knative = KnativeRun.from_service(images.service_manifest(built.function))
    url, volumes = in_container(database_url)
    values = cluster_values(built.function, url, dapr_url, oidc_issuer)
    missing = [
        n for n, optional in knative.env_from_refs.items() if n not in values and not optional
    ]
    assert not missing, f"the manifest refers to variables the tests do not fill: {missing}"
    env = {n: values[n] for n in knative.env_from_refs if n in values}
    port = free_port()
    # Knative gives the container PORT (its containerPort); here a free one, on the host
    # network. The cluster's Dapr address is the local stand-in's.
    env |= {"PORT": str(port), "DAPR_HTTP_ENDPOINT": dapr_url, **(extra_env or {})}
    name = f"taskpulse-test-{built.function.value}-{uuid.uuid4().hex[:8]}"
    log_path = folder / f"{name}.log"
    argv = images.run_argv(built.tag, name, knative, env, volumes)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, env=images.podman_env(), stdout=log, stderr=subprocess.STDOUT
        )
        container = Container(built.function, name, port, knative, process, log_path)
        try:
            yield container
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            subprocess.run(
                images.podman("rm", "--force", "--time", "2", name),
                env=images.podman_env(),
                capture_output=True,
                check=False,
                timeout=60,
            )
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
