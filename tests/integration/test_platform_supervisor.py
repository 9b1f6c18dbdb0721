"""The supervisor behind `task up` and the platform fixtures, with real child processes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from devstack.supervisor import Service, StartError, Supervisor

# A child that writes its name to a file when SIGTERM arrives, then exits.
RECORDS_STOP = """
import signal, sys, time
name, out = sys.argv[1], sys.argv[2]
def stop(*_):
    with open(out, "a") as f:
        f.write(name + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open(out + "." + name + ".ready", "w").close()
while True:
    time.sleep(0.1)
"""
IGNORES_SIGTERM = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(sys.argv[1], "w").close()
time.sleep(600)
"""


def _child(name: str, out: Path) -> Service:
    ready = Path(f"{out}.{name}.ready")
    return Service(
        name, [sys.executable, "-c", RECORDS_STOP, name, str(out)], ready.exists, timeout=20
    )


def test_stops_in_reverse_start_order(tmp_path: Path) -> None:
    out = tmp_path / "stopped.txt"
    with Supervisor(tmp_path / "logs") as supervisor:
        for name in ("kafka", "daprd", "function"):
            supervisor.start(_child(name, out))
    assert out.read_text().split() == ["function", "daprd", "kafka"]


def test_a_child_that_dies_at_start_names_its_log(tmp_path: Path) -> None:
    with Supervisor(tmp_path / "logs") as supervisor, pytest.raises(StartError) as error:
        supervisor.start(
            Service(
                "broken",
                [sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
                lambda: False,
            )
        )
    assert "code 3" in str(error.value)
    assert str(tmp_path / "logs" / "broken.log") in str(error.value)
    assert "boom" in str(error.value)


def test_a_child_that_is_never_ready_times_out(tmp_path: Path) -> None:
    with (
        Supervisor(tmp_path / "logs") as supervisor,
        pytest.raises(StartError, match="not ready after"),
    ):
        supervisor.start(
            Service(
                "slow",
                [sys.executable, "-c", "import time; time.sleep(60)"],
                lambda: False,
                timeout=1,
            )
        )


def test_a_child_that_ignores_sigterm_is_killed_after_its_grace(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    with Supervisor(tmp_path / "logs") as supervisor:
        running = supervisor.start(
            Service(
                "stubborn",
                [sys.executable, "-c", IGNORES_SIGTERM, str(ready)],
                ready.exists,
                stop_grace=1,
            )
        )
        started = time.monotonic()
    assert running.process.returncode == -9
    assert time.monotonic() - started < 10
