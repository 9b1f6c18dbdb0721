"""daprd and the Dapr scheduler: found where a user has them, otherwise built here.

Order: ``daprd``/``scheduler`` on PATH, then ``~/.dapr/bin`` (what ``dapr init`` installs),
then a build from the Go module proxy at ``DAPR_LOCAL_BUILD_VERSION`` (see versions.py
for why that is not the cluster's release). The built daprd is ``go/daprd-min``: the
upstream runtime with only the components the project uses (kafka pub/sub, local secret
stores, postgresql state, mDNS), because the full ``stablecomponents`` daprd links every
cloud SDK and takes far longer and more memory to build on a 2-core machine.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.gobuild import GoCommand, build
from devstack.versions import DAPR_LOCAL_BUILD_VERSION

DAPR_MODULE = "github.com/dapr/dapr"
DAPRD_MIN_SOURCES = Path(__file__).resolve().parent / "go" / "daprd-min"

DAPRD_BUILD = GoCommand(
    name="daprd",
    module=DAPR_MODULE,
    version=f"v{DAPR_LOCAL_BUILD_VERSION}",
    package=f"{DAPR_MODULE}/cmd/daprd",
    main_dir=DAPRD_MIN_SOURCES,
)
SCHEDULER_BUILD = GoCommand(
    name="scheduler",
    module=DAPR_MODULE,
    version=f"v{DAPR_LOCAL_BUILD_VERSION}",
    package=f"{DAPR_MODULE}/cmd/scheduler",
)


@dataclass(frozen=True)
class Tool:
    path: Path
    version: str
    origin: str
    """Where it came from, for the user: ``PATH``, ``~/.dapr/bin`` or ``built here``."""


def _installed(name: str) -> tuple[Path, str] | None:
    if found := shutil.which(name):
        return Path(found), "PATH"
    cli = Path.home() / ".dapr" / "bin" / name
    if cli.exists():
        return cli, "~/.dapr/bin"
    return None


def _reported_version(binary: Path) -> str:
    result = subprocess.run(  # noqa: S603 - our own binary, fixed argv
        [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    # daprd prints its version; the scheduler has no --version flag and exits non-zero.
    lines = result.stdout.strip().splitlines()
    return lines[-1] if result.returncode == 0 and lines else "version not reported"


def _obtain(name: str, command: GoCommand) -> Tool:
    if found := _installed(name):
        path, origin = found
        return Tool(path, _reported_version(path), origin)
    # Our builds carry no -X version stamp (daprd would say "edge"): the pin is the truth.
    return Tool(build(command), DAPR_LOCAL_BUILD_VERSION, "built here")


def daprd() -> Tool:
    return _obtain("daprd", DAPRD_BUILD)


def scheduler() -> Tool:
    return _obtain("scheduler", SCHEDULER_BUILD)


@dataclass(frozen=True)
class SchedulerPorts:
    port: int
    healthz: int
    metrics: int
    etcd_client: int
    etcd_peer: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


SCHEDULER_ID = "dapr-scheduler-server-0"


def scheduler_argv(binary: Path, ports: SchedulerPorts, data_dir: Path) -> list[str]:
    """Flags of cmd/scheduler v1.14 (cmd/scheduler/options/options.go).

    1.14 takes etcd ports as ``<id>=<port>`` lists and the peer URL from
    ``--initial-cluster``; healthz (8080) and metrics (9090) move off their defaults,
    which collide with everything. ``--listen-address`` keeps it on the loopback.
    """
    return [
        str(binary),
        "--id", SCHEDULER_ID,
        "--port", str(ports.port),
        "--listen-address", "127.0.0.1",
        "--healthz-port", str(ports.healthz),
        "--metrics-port", str(ports.metrics),
        "--etcd-data-dir", str(data_dir),
        "--initial-cluster", f"{SCHEDULER_ID}=http://127.0.0.1:{ports.etcd_peer}",
        "--etcd-client-ports", f"{SCHEDULER_ID}={ports.etcd_client}",
        # The 16Gi production default only triggers a warning locally; 1Gi is plenty.
        "--etcd-space-quota", "1Gi",
    ]  # fmt: skip


@dataclass(frozen=True)
class DaprdPorts:
    http: int
    grpc: int
    internal_grpc: int
    metrics: int

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http}"


def daprd_argv(
    binary: Path,
    *,
    app_id: str,
    app_port: int,
    ports: DaprdPorts,
    resources: list[Path],
    scheduler_address: str,
    config: Path | None = None,
    app_channel_address: str = "127.0.0.1",
    log_level: str = "info",
) -> list[str]:
    """One daprd that calls its app at ``app_channel_address:app_port``, as Dapr Shared does."""
    argv = [
        str(binary),
        "--app-id", app_id,
        "--app-port", str(app_port),
        "--app-channel-address", app_channel_address,
        "--app-protocol", "http",
        "--dapr-http-port", str(ports.http),
        "--dapr-grpc-port", str(ports.grpc),
        "--dapr-internal-grpc-port", str(ports.internal_grpc),
        "--metrics-port", str(ports.metrics),
        # Every listener on the loopback: nothing of the local stack is reachable from outside.
        "--dapr-listen-addresses", "127.0.0.1",
        "--dapr-internal-grpc-listen-address", "127.0.0.1",
        "--metrics-listen-address", "127.0.0.1",
        "--scheduler-host-address", scheduler_address,
        "--log-level", log_level,
        # No placement service locally: the project uses no actors.
        "--placement-host-address", "",
    ]  # fmt: skip
    for path in resources:
        argv += ["--resources-path", str(path)]
    if config is not None:
        argv += ["--config", str(config)]
    return argv
