"""A throwaway Redis: the engine that Centrifugo nodes share (tests only; ``task up`` runs a
single Centrifugo with its memory engine).

Debian's ``redis-server`` (``task setup`` installs it, tools/devstack/setup.py), started
per run on a loopback port, with a password, and nothing written to disk: Centrifugo keeps
only PUB/SUB fan-out and presence there, nothing that must outlive the run (decision 0025).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


class RedisUnavailable(RuntimeError):
    pass


def binary() -> Path:
    if found := shutil.which("redis-server"):
        return Path(found)
    raise RedisUnavailable(
        "redis-server was not found. Run `task setup` (it installs Debian's redis-server)."
    )


@dataclass(frozen=True)
class RedisServer:
    port: int
    password: str
    directory: Path
    """Its working directory: nothing is saved there, but Redis needs one."""

    @property
    def address(self) -> str:
        """The address as Centrifugo's ``engine.redis.address`` takes it (no password:
        that comes separately, as in the cluster)."""
        return f"redis://127.0.0.1:{self.port}"

    def config(self) -> Path:
        """A config file, so that the password is not on the command line (``ps``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "redis.conf"
        path.write_text(
            "\n".join(
                (
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f"requirepass {self.password}",
                    'save ""',
                    "appendonly no",
                    f"dir {self.directory}",
                    "",
                )
            )
        )
        path.chmod(0o600)
        return path

    def argv(self) -> list[str]:
        return [str(binary()), str(self.config())]
