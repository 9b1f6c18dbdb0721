"""The supervisor behind `task up` and the platform fixtures, with real child processes."""

from __future__ import annotations

import subprocess
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


# Run in a child interpreter: a signal that got through would interrupt pytest itself.
SIGNALS_DURING_STOP = """
import os, signal, sys, threading, time
from pathlib import Path
from devstack.supervisor import Service, Supervisor, sigterm_as_interrupt

logs, slow = Path(sys.argv[1]), sys.argv[2]
try:
    with sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGHUP)  # the terminal closed
        time.sleep(5)
    print("SIGHUP ignored")
    raise SystemExit(1)
except KeyboardInterrupt:
    print("SIGHUP stops like Ctrl-C")
supervisor = Supervisor(logs)
ready = Path(slow + ".ready")
supervisor.start(Service("slow", [sys.executable, "-c", SLOW, str(ready)], ready.exists))
# A second Ctrl-C and a SIGTERM while the ordered stop waits for "slow" to exit.
for delay, sig in ((0.3, signal.SIGINT), (0.6, signal.SIGTERM)):
    threading.Timer(delay, os.kill, (os.getpid(), sig)).start()
supervisor.stop_all()
print("stopped all:", supervisor.running == [])
"""
SLOW_TO_STOP = """
import signal, sys, time
def stop(*_):
    time.sleep(1.5)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open(sys.argv[1], "w").close()
time.sleep(600)
"""


def test_sighup_stops_and_signals_during_the_ordered_stop_do_not_break_it(
    tmp_path: Path,
) -> None:
    script = f"SLOW = {SLOW_TO_STOP!r}\n" + SIGNALS_DURING_STOP
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "logs"), str(tmp_path / "slow")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["SIGHUP stops like Ctrl-C", "stopped all: True"]
