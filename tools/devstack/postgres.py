"""A private, throwaway PostgreSQL cluster for tests and ``task up``.

``DATABASE_URL`` wins when it is set. Otherwise ``initdb`` + ``pg_ctl`` from the
Debian packages build a cluster under a temporary directory, on a free port, reached
over a Unix socket in the same directory (no password travels, nothing listens on the
network), and the cluster is removed when it stops.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.cache import say
from devstack.ports import free_port

DEBIAN_PACKAGE = "postgresql"


class PostgresUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path:
    """Newest ``/usr/lib/postgresql/<N>/bin``, or the directory of ``pg_ctl`` on PATH."""
    on_path = shutil.which("initdb") or shutil.which("pg_ctl")
    if on_path:
        # Debian links single tools into /usr/local/bin; the rest sit beside the target.
        return Path(on_path).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for candidate in reversed(candidates):
        if (candidate / "initdb").exists():
            return candidate
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. Run `task setup`, "
        f"or install the Debian package `{DEBIAN_PACKAGE}`, or set DATABASE_URL."
    )


@dataclass(frozen=True)
class Postgres:
    url: str
    """SQLAlchemy URL (``postgresql+psycopg://``)."""
    data_dir: Path | None = None
    """None when the server is not ours (DATABASE_URL)."""


def _run(args: list[str], *, user_env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603 - fixed argv
        args, capture_output=True, text=True, env=user_env, check=False
    )
    if result.returncode != 0:
        raise PostgresUnavailable(f"`{' '.join(args)}` failed:\n{result.stderr.strip()}")


def _as_owner(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; when we are root it runs as ``nobody``."""
    if os.geteuid() != 0:
        return args
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *args]


def to_sqlalchemy_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` as users write them; use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


@contextmanager
def running_postgres(*, database: str = "taskpulse") -> Iterator[Postgres]:
    """Yield a reachable PostgreSQL: ``DATABASE_URL`` if set, else a throwaway cluster."""
    if url := os.environ.get("DATABASE_URL"):
        yield Postgres(url=to_sqlalchemy_url(url))
        return
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="taskpulse-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "nobody", "nogroup")
        shutil.chown(sock, "nobody", "nogroup")
    port = free_port()
    env = dict(os.environ)
    _run(
        _as_owner(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "taskpulse",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        user_env=env,
    )
    options = (
        f"-p {port} -k {sock} -c listen_addresses='' -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    try:
        _run(
            _as_owner(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(root / "postgres.log"),
                    "-w",
                    "start",
                ]
            ),
            user_env=env,
        )
        say(f"PostgreSQL {bin_dir.parent.name} started on socket {sock} (port {port})")
        _run(
            _as_owner(
                [
                    str(bin_dir / "createdb"),
                    "-h",
                    str(sock),
                    "-p",
                    str(port),
                    "-U",
                    "taskpulse",
                    database,
                ]
            ),
            user_env=env,
        )
        yield Postgres(
            url=f"postgresql+psycopg://taskpulse@/{database}?host={sock}&port={port}",
            data_dir=data,
        )
    finally:
        # Also after an interrupted or failed start (pg_ctl may have left a postmaster),
        # and without raising: a server that already died must not hide the first error.
        subprocess.run(  # noqa: S603 - fixed argv
            _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            env=env,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)
