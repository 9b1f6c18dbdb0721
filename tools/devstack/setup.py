"""``task setup``: install what the project needs beyond Python, then fetch the parts.

Idempotent and quick when everything is there. System packages come from Debian's
archive (as root, or through sudo); the heavy parts (daprd, the scheduler, Centrifugo,
ORY Hydra, Kafka's jars, OpenTofu) are built or fetched once into ``~/.cache/taskpulse``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from devstack.cache import progress, say


@dataclass(frozen=True)
class Requirement:
    what: str
    present: Callable[[], bool]
    debian_packages: tuple[str, ...]
    up_needs: Callable[[], bool] | None = None
    """Whether ``task up`` needs it here; ``None``: always. The tests always do: some of
    them run Kafka itself, whatever broker ``task up`` would use."""


def _postgres_present() -> bool:
    from devstack.postgres import PostgresUnavailable, _bin_dir

    if os.environ.get("DATABASE_URL"):
        return True
    try:
        _bin_dir()
    except PostgresUnavailable:
        return False
    return True


def _hydra_built() -> bool:
    """A cached Hydra needs no compiler any more."""
    from devstack.cache import cache_dir
    from devstack.oidc import BUILD

    return (cache_dir("bin", BUILD.key) / BUILD.name).exists()


def _up_needs_java() -> bool:
    # Imported when asked: devstack.kafka needs the package installed, which setup is
    # about to make sure of.
    from devstack.kafka import needs_java

    return needs_java()


def _up_needs_maven() -> bool:
    from devstack.kafka import needs_maven

    return needs_maven()


REQUIREMENTS = (
    Requirement("PostgreSQL server (initdb, pg_ctl)", _postgres_present, ("postgresql",)),
    Requirement(
        "Java 17+ (runs Kafka)",
        lambda: shutil.which("java") is not None,
        ("openjdk-17-jre-headless",),
        up_needs=_up_needs_java,
    ),
    Requirement(
        "Maven (fetches Kafka's jars once)",
        lambda: shutil.which("mvn") is not None,
        ("maven",),
        up_needs=_up_needs_maven,
    ),
    Requirement(
        "a C compiler (cgo: ORY Hydra's in-memory SQLite)",
        # cgo runs $CC, gcc by default.
        lambda: shutil.which(os.environ.get("CC", "gcc")) is not None or _hydra_built(),
        ("gcc", "libc6-dev"),
    ),
    Requirement(
        "setpriv (runs PostgreSQL unprivileged when we are root)",
        lambda: shutil.which("setpriv") is not None or os.geteuid() != 0,
        ("util-linux",),
    ),
    Requirement(
        "Redis server (two Centrifugo nodes share it in tests/devstack)",
        lambda: shutil.which("redis-server") is not None,
        ("redis-server",),
        up_needs=lambda: False,  # `task up` runs one Centrifugo with its memory engine
    ),
)


def _apt(packages: list[str]) -> None:
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    if prefix and shutil.which("sudo") is None:
        raise SystemExit(f"Please install these Debian packages as root: {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with progress(f"apt-get: installing {' '.join(packages)}"):
        for args in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        ):
            result = subprocess.run([*prefix, *args], env=env, check=False)  # noqa: S603
            if result.returncode != 0:
                raise SystemExit(
                    f"`{' '.join(args)}` failed; install {' '.join(packages)} by hand "
                    "and run `task setup` again"
                )


def _needed(requirement: Requirement, *, platform_only: bool) -> bool:
    return not platform_only or requirement.up_needs is None or requirement.up_needs()


def ensure_system(*, platform_only: bool = False) -> None:
    missing = [
        r for r in REQUIREMENTS if not r.present() and _needed(r, platform_only=platform_only)
    ]
    if missing:
        say("missing: " + "; ".join(r.what for r in missing))
        _apt(sorted({p for r in missing for p in r.debian_packages}))
    if shutil.which("go") is None:
        raise SystemExit(
            "Go 1.26 or newer is needed to build daprd, the scheduler, Centrifugo and ORY "
            "Hydra once. "
            "Install it (https://go.dev/doc/install) or put a daprd from the Dapr CLI on PATH."
        )


def fetch_parts() -> None:
    """Obtain every part of the local platform (each is reused when already there)."""
    from devstack import parts

    failed = parts.fetch() != 0
    failed = not fetch_oidc_provider() or failed
    if failed:
        raise SystemExit("some parts could not be obtained: read the lines above")


def fetch_oidc_provider() -> bool:
    """ORY Hydra, the local OpenID Connect provider of ``task up`` and the tests."""
    import time

    from devstack import oidc
    from devstack.versions import HYDRA_VERSION

    start = time.monotonic()
    try:
        where = oidc.binary()
    except Exception as error:
        say(f"ORY Hydra {HYDRA_VERSION}: FAILED: {error}")
        return False
    say(f"ORY Hydra {HYDRA_VERSION}: {where} [{time.monotonic() - start:.0f}s]")
    return True


def fetch_infra_tools() -> None:
    """OpenTofu, its providers and the helm CLI for ``task check:infra`` (built once)."""
    from devstack import infra_check, tofu

    with progress("infra tools: tofu, providers, helm (first time ~10 min; azurerm opt-in)"):
        tofu.tofu()
        tofu.helm()
        azure = tofu.AZURE_PROVIDERS if infra_check.azurerm_enabled() else ()
        tofu.mirror(tofu.PLATFORM_PROVIDERS + azure)


def main(argv: list[str]) -> int:
    platform_only = "--platform-only" in argv  # `task up`: no tests, no infrastructure check
    ensure_system(platform_only=platform_only)
    if "--system-only" not in argv:
        fetch_parts()
        if not platform_only:
            from devstack.kafka import libs

            libs()  # the tests run Kafka themselves, whatever broker `task up` would use
            # Built here, before the tests, so that no test waits on a compiler.
            fetch_infra_tools()
            from devstack import knative_validate

            knative_validate.binary()  # Knative's webhook checks for tests/manifests
            from devstack import keda_validate

            keda_validate.binary()  # KEDA's webhooks and Kafka scaler for tests/manifests
            from devstack import promtool

            with progress("promtool and Prometheus for the alert tests (first time ~10-15 min)"):
                promtool.binary()  # tests/infra: the rules and their unit tests
                promtool.prometheus_binary()  # tests/e2e: the live series
            from devstack import kube

            with progress("API server for tests/infra: etcd, kube-apiserver (first ~6-12 min)"):
                kube.binaries()
            # The CRDs of the pinned Strimzi (Maven Central, its own generator; Java 21+)
            # and Prometheus Operator (Go module), for tests/infra/test_apiserver_operators.
            with progress("CRDs for tests/infra: Strimzi, Prometheus Operator (first ~1 min)"):
                kube.strimzi_crds()
                kube.prometheus_operator_crds()
            from devstack import images

            # tests/images: podman, runc, debootstrap (apt, ~40 s) and the base (~2 min), once.
            images.ensure_tools()
            images.base_image()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
