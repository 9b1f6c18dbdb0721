"""``python -m devstack.parts fetch``: obtain every part of the local platform, with progress.

``task setup`` calls it so that ``task up`` and the e2e tests start in seconds. Each part
is taken from where a user already has it (PATH, ``~/.dapr/bin``, ``KAFKA_BOOTSTRAP_SERVERS``)
or obtained once into ``~/.cache/taskpulse``: Go builds from the module proxy, Kafka jars
from Maven Central. ``python -m devstack.parts status`` only reports, obtaining nothing.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from devstack import centrifugo, daprd, kafka, redpanda
from devstack.cache import say
from devstack.versions import CENTRIFUGO_VERSION, DAPR_LOCAL_BUILD_VERSION, KAFKA_VERSION


@dataclass(frozen=True)
class Part:
    name: str
    obtain: Callable[[], str]
    """Returns where the part is (and which version), obtaining it first when needed."""


def _daprd() -> str:
    tool = daprd.daprd()
    return f"{tool.path} ({tool.version}, {tool.origin})"


def _scheduler() -> str:
    tool = daprd.scheduler()
    return f"{tool.path} ({tool.version}, {tool.origin})"


def _kafka() -> str:
    if bootstrap := kafka.external_bootstrap():
        return f"the broker at {bootstrap} ({kafka.BOOTSTRAP_ENV})"
    if not kafka.needs_java():
        return f"Redpanda: {redpanda.rpk()} (on PATH)"
    java = kafka.java()
    return f"{kafka.libs()} (Kafka {KAFKA_VERSION}, {java})"


def _centrifugo() -> str:
    return str(centrifugo.binary())


def _postgres() -> str:
    # Only checked: the server comes from the Debian package (see devstack.postgres).
    from devstack.postgres import _bin_dir

    return str(_bin_dir())


def _smtp() -> str:
    import aiosmtpd

    return f"aiosmtpd {aiosmtpd.__version__}"


PARTS = (
    Part("PostgreSQL", _postgres),
    Part("Kafka", _kafka),
    Part("SMTP server", _smtp),
    # The Go builds last and one at a time: they are the long ones (2 cores).
    Part(f"Dapr scheduler {DAPR_LOCAL_BUILD_VERSION}", _scheduler),
    Part(f"daprd {DAPR_LOCAL_BUILD_VERSION}", _daprd),
    Part(f"Centrifugo {CENTRIFUGO_VERSION}", _centrifugo),
)


def _installed_or_cached() -> list[str]:
    lines = []
    for name in ("daprd", "scheduler", "centrifugo", "java", "mvn", "rpk", "go"):
        lines.append(f"{name}: {shutil.which(name) or '-'}")
    return lines


def fetch() -> int:
    failures = 0
    total = time.monotonic()
    for part in PARTS:
        start = time.monotonic()
        try:
            where = part.obtain()
        except Exception as error:
            failures += 1
            say(f"{part.name}: FAILED: {error}")
            continue
        say(f"{part.name}: {where} [{time.monotonic() - start:.0f}s]")
    say(f"parts: {len(PARTS) - failures}/{len(PARTS)} ready in {time.monotonic() - total:.0f}s")
    return 1 if failures else 0


def status() -> int:
    for line in _installed_or_cached():
        say(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.parts", description=__doc__)
    parser.add_argument("command", choices=("fetch", "status"))
    args = parser.parse_args(argv)
    return fetch() if args.command == "fetch" else status()


if __name__ == "__main__":
    raise SystemExit(main())
