"""Free TCP ports on the loopback interface, for the services that tests and ``task up``
start.

A port the kernel picks (a bind to port 0) comes from the ephemeral range, the range that
outgoing connections also take their local ports from. Between our check and the
service's own bind, any client connection on the machine may take the port: daprd then
stops with "could not listen on any endpoint" (seen in CI). So ports come from just below
that range, where the kernel never hands out local ports of its own, and one process
never hands out the same port twice.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
SPAN = 10_000
"""How many ports below the ephemeral range are candidates."""
ATTEMPTS = 200

_given: set[int] = set()
_lock = threading.Lock()


def listening_ports(range_file: Path = EPHEMERAL_RANGE) -> range:
    """The candidates: the ``SPAN`` ports below the ephemeral range (empty when the range
    is unknown or starts too low to leave room)."""
    try:
        low = int(range_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return range(0)
    return range(low - SPAN, low) if low - SPAN >= 1024 else range(0)


def free_port() -> int:
    candidates = listening_ports()
    with _lock:
        for _ in range(ATTEMPTS if candidates else 0):
            port = random.choice(candidates)  # noqa: S311 - a port, not a secret
            if port not in _given and _bindable(port):
                _given.add(port)
                return port
        port = _kernel_port()  # no room below the range: the kernel's choice
        _given.add(port)
        return port


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _kernel_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
