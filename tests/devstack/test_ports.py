"""Ports for the services we start: never from the range the kernel gives outgoing
connections, where a client could take one before the service binds it."""

from __future__ import annotations

import socket
from pathlib import Path

from devstack.ports import EPHEMERAL_RANGE, SPAN, free_port, listening_ports


def test_ports_come_from_below_the_ephemeral_range_and_never_twice() -> None:
    low = int(EPHEMERAL_RANGE.read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(low - SPAN <= port < low for port in ports), ports
    with socket.socket() as sock:  # each was free when handed out
        sock.bind(("127.0.0.1", ports[-1]))


def test_without_room_below_the_range_there_are_no_candidates(tmp_path: Path) -> None:
    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("32768\t60999\n")
    assert listening_ports(ranges) == range(32768 - SPAN, 32768)
    ranges.write_text("1024\t65535\n")
    assert listening_ports(ranges) == range(0)
    assert listening_ports(tmp_path / "missing") == range(0)
