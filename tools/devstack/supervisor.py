"""Start local servers, wait until each is ready, stop them all in reverse order.

Each child gets its own session, so a Ctrl-C in the terminal reaches only us and we
stop the children in the right order (functions before their daprd, daprd before
Kafka). Each child also gets SIGTERM if we die without cleaning up (PR_SET_PDEATHSIG),
so a killed test run leaves no Kafka behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from devstack.cache import say

Probe = Callable[[], bool]

_PR_SET_PDEATHSIG = 1


class StartError(RuntimeError):
    pass


@dataclass(frozen=True)
class Service:
    name: str
    argv: Sequence[str]
    ready: Probe
    env: Mapping[str, str] = field(default_factory=dict)
    """Added to (and overriding) our own environment."""
    cwd: Path | None = None
    timeout: float = 60.0
    stop_grace: float = 10.0


@dataclass
class Running:
    service: Service
    process: subprocess.Popen[bytes]
    log: Path

    def rss_mb(self) -> float:
        """Resident memory of the process (not its children), for the at-rest figures."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0.0
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


def tcp_open(host: str, port: int) -> Probe:
    def probe() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            return False

    return probe


def http_ok(url: str, *, headers: Mapping[str, str] | None = None) -> Probe:
    """Ready when ``url`` answers 2xx (a refused connection or 5xx means not yet)."""

    def probe() -> bool:
        request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                return 200 <= int(response.status) < 300
        except (urllib.error.URLError, OSError):
            return False

    return probe


def http_answers(url: str) -> Probe:
    """Ready once the server answers at all: a 401 or 404 still means it is serving."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                return int(response.status) < 500
        except urllib.error.HTTPError as error:
            return error.code < 500
        except (urllib.error.URLError, OSError):
            return False

    return probe


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask the kernel for SIGTERM when we die.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Supervisor:
    """Owns the started processes; use as a context manager so they always stop."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.running: list[Running] = []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_all()

    def start(self, service: Service) -> Running:
        log = self.log_dir / f"{service.name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(  # noqa: S603 - argv built by devstack, no shell
                list(service.argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **service.env},
                cwd=service.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        running = Running(service, process, log)
        self.running.append(running)
        self._wait_ready(running)
        return running

    def _wait_ready(self, running: Running) -> None:
        service = running.service
        deadline = time.monotonic() + service.timeout
        # Exited first, then ready: a process that lost its port to another listener must
        # not pass for ready because that listener answers the probe.
        while running.process.poll() is not None or not service.ready():
            code = running.process.poll()
            if code is not None:
                raise StartError(
                    f"{service.name} exited with code {code} before it was ready; "
                    f"read {running.log}\n{_tail(running.log)}"
                )
            if time.monotonic() > deadline:
                raise StartError(
                    f"{service.name} was not ready after {service.timeout:.0f}s; "
                    f"read {running.log}\n{_tail(running.log)}"
                )
            time.sleep(0.2)

    def first_exit(self) -> Running | None:
        """A started process that has exited since (the stack is then broken)."""
        return next((r for r in self.running if r.process.poll() is not None), None)

    def stop_all(self) -> None:
        # A second Ctrl-C (or SIGTERM) while stopping would abandon the ordered stop
        # half-way; the grace periods bound how long this takes.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _STOP_SIGNALS}
        try:
            while self.running:
                _stop(self.running.pop())
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _stop(running: Running) -> None:
    process = running.process
    if process.poll() is not None:
        return
    try:
        # The whole process group: a wrapper script's children stop with it.
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=running.service.stop_grace)
    except subprocess.TimeoutExpired:
        say(f"{running.service.name} did not stop in {running.service.stop_grace:.0f}s: killed")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


_AS_INTERRUPT = (signal.SIGTERM, signal.SIGHUP)
"""Handled like Ctrl-C (SIGINT): a `kill`, or the terminal closing."""
_STOP_SIGNALS = (signal.SIGINT, *_AS_INTERRUPT)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM and SIGHUP (the terminal closed) like Ctrl-C, so ``task up`` stops
    cleanly either way."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in _AS_INTERRUPT}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
