"""The functions' container images, built and run on this machine without a Docker daemon.

Debian's ``podman`` (as root, the ``runc`` runtime, native overlay storage) builds
``functions/Dockerfile`` unchanged for each function. There is no registry to pull from,
so the base image is made here: ``debootstrap --variant=minbase`` of Debian bookworm with
its Python 3.11, trimmed, kept as a tar in the cache and imported once
(docs/decisions/0021-images-under-test.md). Everything podman keeps (its storage, its run
state, its ``containers.conf``) is private, under ``~/.cache/taskpulse/images``, so the
layers survive between runs (a second build is a cache hit) and nothing else on the
machine is touched.

pip inside the build reaches the package index through whatever TLS proxy the host trusts:
the host's CA bundle is mounted for the build (``-v``), never copied into an image.

    python -m devstack.images build            # the base and the four images, with progress
    python -m devstack.images run create-task  # print the podman command the tests use
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.cache import cache_dir, progress, say
from taskpulse.contract import Function

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "functions" / "Dockerfile"

DEBIAN_PACKAGES = ("podman", "runc", "debootstrap")
"""What building and running the images needs (about 40 s and 120 MB to install)."""

SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
"""Debian bookworm's Python is 3.11, the version of the official ``python:3.11-slim``
base that the Dockerfile pins for real builds."""
MIRROR = os.environ.get("TASKPULSE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
TRIMMED = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
)
"""Left out of the base: nothing at run time reads them (about 40 MB)."""
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
"""The host's CA bundle (Debian's path, also the base's): mounted into the build only."""

CONTAINERS_CONF = """\
# Written by tools/devstack/images.py: podman as the tests run it on this machine.
[containers]
# runc refuses the default rlimits of this kind of host (far above the hard limits).
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
# crun fails on hybrid cgroups (v1 with a v2 unified mount); runc works.
runtime = "runc"
# No systemd as PID 1 and no journald on a CI runner or a container.
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


class ImageError(RuntimeError):
    pass


def home() -> Path:
    return cache_dir("images")


def containers_conf() -> Path:
    path = home() / "containers.conf"
    if not path.exists() or path.read_text() != CONTAINERS_CONF:
        path.write_text(CONTAINERS_CONF)
    return path


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(containers_conf())}


def podman(*args: str) -> list[str]:
    """The podman command line with the private storage (``--root``/``--runroot``)."""
    return [
        "podman",
        "--root",
        str(home() / "storage"),
        "--runroot",
        str(home() / "run"),
        "--storage-driver",
        "overlay",
        *args,
    ]


def _run(args: Sequence[str], *, log: Path | None = None, what: str) -> str:
    """Run a command, its output to ``log`` (or captured); its tail in the error. Returns
    its standard output (with ``log``: everything it wrote)."""
    if log is None:
        captured = subprocess.run(  # noqa: S603 - our own argv
            list(args), env=podman_env(), capture_output=True, text=True, check=False
        )
        code, output, answer = captured.returncode, captured.stdout + captured.stderr, None
    else:
        with log.open("w") as out:
            code = subprocess.run(  # noqa: S603 - our own argv
                list(args), env=podman_env(), stdout=out, stderr=subprocess.STDOUT, check=False
            ).returncode
        output = answer = log.read_text(errors="replace")
    if code != 0:
        where = f" (log: {log})" if log else ""
        raise ImageError(f"{what} failed{where}:\n{output[-4000:]}")
    return captured.stdout if answer is None else answer


DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
"""What debootstrap checks Debian's archive with: always there on Debian, a package
(``debian-archive-keyring``) to add on Ubuntu."""


def missing_packages() -> list[str]:
    missing = [tool for tool in DEBIAN_PACKAGES if not shutil.which(tool)]
    if not DEBIAN_KEYRING.exists():
        missing.append("debian-archive-keyring")
    return missing


def ensure_tools() -> None:
    """Install podman, runc and debootstrap (and Debian's keyring) when missing."""
    if missing := missing_packages():
        from devstack.setup import _apt

        _apt(missing)


# ------------------------------------------------------------------------------ the base


def base_key() -> str:
    recipe = f"{SUITE}|{','.join(BASE_PACKAGES)}|{','.join(TRIMMED)}|{BASE_ENV}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def base_tag() -> str:
    return f"localhost/taskpulse-base:python3.11-{SUITE}-{base_key()}"


def base_tar() -> Path:
    """The base's root filesystem as a tar, made once by debootstrap (about 2 minutes)."""
    tar = home() / f"base-{SUITE}-{base_key()}.tar"
    if tar.exists():
        return tar
    ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="base-", dir=home()))
    root = work / "root"
    try:
        with progress(f"base image: debootstrap --variant=minbase {SUITE} (first time ~2 min)"):
            _run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    SUITE,
                    str(root),
                    MIRROR,
                ],
                log=work / "debootstrap.log",
                what="debootstrap",
            )
            for trimmed in TRIMMED:
                target = root / trimmed
                if target.is_dir():
                    shutil.rmtree(target)
                    target.mkdir()
            part = tar.with_suffix(".part")
            _run(
                ["tar", "--numeric-owner", "-C", str(root), "-cf", str(part), "."],
                what="tar of the base",
            )
            part.rename(tar)
        say(f"base image: {tar} ({tar.stat().st_size / 1e6:.0f} MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tar


def image_exists(tag: str) -> bool:
    return (
        subprocess.run(  # noqa: S603 - our own argv
            podman("image", "exists", tag), env=podman_env(), capture_output=True, check=False
        ).returncode
        == 0
    )


def base_image() -> str:
    """The base, imported into podman's storage once; its tag."""
    ensure_tools()
    tag = base_tag()
    if image_exists(tag):
        return tag
    tar = base_tar()
    changes = [arg for key, value in BASE_ENV.items() for arg in ("--change", f"ENV {key}={value}")]
    with progress(f"base image: podman import {tag}"):
        _run(podman("import", *changes, str(tar), tag), what="podman import")
    return tag


# ---------------------------------------------------------------------------- the images


def image_tag(function: Function) -> str:
    return f"localhost/taskpulse/{function.value}:test"


@dataclass(frozen=True)
class Built:
    function: Function
    tag: str
    seconds: float


def build_argv(function: str, base: str, tag: str) -> list[str]:
    return podman(
        "build",
        "--layers",
        "--pull=never",
        "--network=host",
        "-f",
        str(DOCKERFILE),
        "--build-arg",
        f"FUNCTION={function}",
        "--build-arg",
        f"PYTHON_IMAGE={base}",
        "-v",
        f"{HOST_CA}:{HOST_CA}:ro",
        "-t",
        tag,
        str(REPO),
    )


_STAGE_START = re.compile(r"^\[(\d+)/\d+\] STEP 1/")
_STEP_RESULT = re.compile(r"^--> ([0-9a-f]{6,64})$")


def stage_results(log: str) -> dict[int, str]:
    """The image each earlier stage ended with, from ``podman build``'s output: the last
    ``--> <id>`` before the next stage's first step."""
    found: dict[int, str] = {}
    last: str | None = None
    for line in log.splitlines():
        if (start := _STAGE_START.match(line)) and last is not None:
            found[int(start.group(1)) - 1] = last
        elif result := _STEP_RESULT.match(line):
            last = result.group(1)
    return found


def build(function: Function, *, base: str | None = None) -> Built:
    """Build one function's image (layers cached in podman's storage).

    The build stage's result is tagged too (``<image>-stage1``): untagged, it would look
    unused and go with the next prune, and its pip layer with it."""
    base = base or base_image()
    tag = image_tag(function)
    start = time.monotonic()
    with progress(f"image {function.value}: podman build"):
        log = _run(
            build_argv(function.value, base, tag),
            log=home() / f"build-{function.value}.log",
            what=f"podman build of {function.value}",
        )
        for stage, image in stage_results(log).items():
            _run(podman("tag", image, f"{tag}-stage{stage}"), what="podman tag")
    return Built(function, tag, time.monotonic() - start)


def prune() -> None:
    """Remove what no tag keeps: the images of earlier sources, once rebuilt. Only those
    older than ten minutes: a build running beside this one may be about to use a step's
    image that nothing holds yet."""
    _run(podman("image", "prune", "--force", "--filter", "until=10m"), what="podman image prune")


def build_all() -> list[Built]:
    ensure_tools()
    base = base_image()
    built = [build(function, base=base) for function in Function]
    prune()
    return built


# ------------------------------------------------------- running as the Knative Service


@dataclass(frozen=True)
class KnativeRun:
    """What the Knative Service asks of its container, read from the generated
    ``knative/base/<function>/service.yaml`` and said again as podman flags."""

    user: str
    read_only: bool
    cap_drop: tuple[str, ...]
    cap_add: tuple[str, ...]
    no_new_privileges: bool
    tmpfs: tuple[str, ...]
    """``path:options`` of each memory-backed emptyDir."""
    env: dict[str, str]
    """The literal ``value`` entries (secrets and ConfigMaps are the caller's)."""
    env_from_refs: dict[str, bool]
    """The variables the cluster fills from Secrets and ConfigMaps: name -> optional."""
    grace_seconds: int
    """Knative gives a revision's pods ``terminationGracePeriodSeconds`` =
    ``timeoutSeconds`` of the template."""
    memory_limit: str | None = None
    probes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_service(cls, service: Mapping[str, Any]) -> KnativeRun:
        spec = service["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        security = container.get("securityContext", {})
        if security.get("runAsNonRoot") and security.get("runAsUser", 0) == 0:
            raise ImageError("runAsNonRoot with uid 0")
        user = str(security["runAsUser"])
        if "runAsGroup" in security:
            user += f":{security['runAsGroup']}"
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        tmpfs = []
        for mount in container.get("volumeMounts", []):
            empty_dir = volumes[mount["name"]].get("emptyDir")
            if empty_dir is None or empty_dir.get("medium") != "Memory":
                raise ImageError(f"only memory emptyDirs are run here: {mount}")
            options = "rw,mode=1777"
            if size := empty_dir.get("sizeLimit"):
                options += f",size={_bytes(size)}"
            tmpfs.append(f"{mount['mountPath']}:{options}")
        env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        refs = {
            e["name"]: any(bool(ref.get("optional")) for ref in e["valueFrom"].values())
            for e in container.get("env", [])
            if "valueFrom" in e
        }
        capabilities = security.get("capabilities", {})
        probes = {
            kind: container[f"{kind}Probe"]["httpGet"]["path"]
            for kind in ("liveness", "readiness")
            if f"{kind}Probe" in container
        }
        memory = container.get("resources", {}).get("limits", {}).get("memory")
        return cls(
            user=user,
            read_only=bool(security.get("readOnlyRootFilesystem")),
            cap_drop=tuple(capabilities.get("drop", ())),
            cap_add=tuple(capabilities.get("add", ())),
            no_new_privileges=security.get("allowPrivilegeEscalation") is False,
            tmpfs=tuple(tmpfs),
            env=env,
            env_from_refs=refs,
            grace_seconds=int(spec.get("timeoutSeconds", 300)),
            memory_limit=str(_bytes(memory)) if memory else None,
            probes=probes,
        )

    def flags(self) -> list[str]:
        flags = ["--user", self.user]
        if self.read_only:
            # podman would otherwise mount tmpfs on /tmp, /run and /var/tmp by itself.
            flags += ["--read-only", "--read-only-tmpfs=false"]
        flags += [f"--cap-drop={cap}" for cap in self.cap_drop]
        flags += [f"--cap-add={cap}" for cap in self.cap_add]
        if self.no_new_privileges:
            flags += ["--security-opt", "no-new-privileges"]
        for tmpfs in self.tmpfs:
            flags += ["--tmpfs", tmpfs]
        if self.memory_limit:
            flags += ["--memory", self.memory_limit]
        return flags


_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "K": 1000, "M": 1000**2, "G": 1000**3}


def _bytes(quantity: str) -> int:
    for unit, factor in _UNITS.items():
        if quantity.endswith(unit):
            return int(float(quantity.removesuffix(unit)) * factor)
    return int(quantity)


def service_manifest(function: Function) -> dict[str, Any]:
    import yaml

    path = REPO / "knative" / "base" / function.value / "service.yaml"
    (service,) = [
        d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "Service"
    ]
    return dict(service)


def run_argv(
    tag: str,
    name: str,
    knative: KnativeRun,
    env: Mapping[str, str],
    volumes: Sequence[str] = (),
) -> list[str]:
    """``podman run`` of an image as its Knative Service runs it; host network, so the
    container reaches the local PostgreSQL and identity provider on 127.0.0.1 and the
    host's iptables stay untouched."""
    argv = podman("run", "--rm", "--name", name, "--pull=never", "--network=host")
    argv += knative.flags()
    for key, value in {**knative.env, **env}.items():
        argv += ["-e", f"{key}={value}"]
    for volume in volumes:
        argv += ["-v", volume]
    return [*argv, tag]


def main(argv: list[str]) -> int:
    if argv[:1] == ["build"]:
        for built in build_all():
            say(f"{built.tag}: {built.seconds:.0f}s")
        return 0
    if argv[:1] == ["run"] and len(argv) == 2:
        function = Function(argv[1])
        knative = KnativeRun.from_service(service_manifest(function))
        argv = run_argv(image_tag(function), function.value, knative, {})
        print(f"CONTAINERS_CONF={containers_conf()} {shlex.join(argv)}")
        say("add -e NAME=value for what the cluster fills: " + ", ".join(knative.env_from_refs))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
