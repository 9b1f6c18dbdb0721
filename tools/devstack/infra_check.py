"""Check infra/terraform with a real OpenTofu: fmt, validate, test; and checkov.

    python -m devstack.infra_check            # every step
    python -m devstack.infra_check validate   # some steps: fmt validate test checkov

Each step that passed is remembered under the cache, keyed by the content of infra/terraform
and the versions of the tools, so a second run with nothing changed answers at once.
Roots and modules that need azurerm are validated by tofu only when the azurerm provider has
been built (``TASKPULSE_BUILD_AZURERM=1`` builds it; it is long, see the README); otherwise
tests/infra checks them statically against the provider's documentation.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack import tofu
from devstack.cache import cache_dir, progress, say

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra" / "terraform"
_SKIP_DIRS = {".terraform", "charts", "__pycache__"}
_CHECKOV_ARGS = ("--compact", "--quiet", "--skip-download", "--framework", "terraform", "secrets")


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    output: str
    cached: bool = False


def _files() -> list[Path]:
    return sorted(
        p
        for p in INFRA.rglob("*")
        if p.is_file()
        and ".terraform" not in p.parts
        and "__pycache__" not in p.parts
        and not p.name.startswith(".terraform.lock")
    )


def digest() -> str:
    """Content of infra/terraform plus the versions of tofu and the providers."""
    h = hashlib.sha256()
    for path in _files():
        h.update(str(path.relative_to(INFRA)).encode() + b"\0" + path.read_bytes() + b"\0")
    for command in (
        tofu.TOFU,
        *(p.command for p in tofu.PLATFORM_PROVIDERS + tofu.AZURE_PROVIDERS),
    ):
        h.update(command.key.encode())
    h.update(b"azurerm" if azurerm_enabled() else b"no-azurerm")
    return h.hexdigest()


def targets() -> list[Path]:
    """Every root, module and example: directories holding ``*.tf`` (relative to INFRA)."""
    dirs = {p.parent for p in INFRA.rglob("*.tf") if ".terraform" not in p.parts}
    return sorted(
        d.relative_to(INFRA)
        for d in dirs
        if not _SKIP_DIRS.intersection(d.relative_to(INFRA).parts)
    )


def needs_azure(target: Path) -> bool:
    return any("hashicorp/azurerm" in f.read_text() for f in (INFRA / target).glob("*.tf"))


def azurerm_enabled() -> bool:
    return os.environ.get("TASKPULSE_BUILD_AZURERM") == "1" or tofu.is_built(tofu.AZURERM.command)


def tofu_targets() -> list[Path]:
    """Targets that tofu itself validates here."""
    return [t for t in targets() if azurerm_enabled() or not needs_azure(t)]


def _cached(name: str, step: Callable[[], StepResult]) -> StepResult:
    marker = (
        cache_dir("infra-check", "passed")
        / f"{hashlib.sha256(name.encode()).hexdigest()[:16]}-{digest()}"
    )
    if marker.exists():
        return StepResult(name, True, marker.read_text(), cached=True)
    result = step()
    if result.ok:
        marker.write_text(result.output)
    return result


def _environment() -> tuple[Path, dict[str, str]]:
    binary = tofu.tofu()
    providers = tofu.PLATFORM_PROVIDERS + (tofu.AZURE_PROVIDERS if azurerm_enabled() else ())
    config = tofu.cli_config(tofu.mirror(providers))
    return binary, tofu.environment(config)


def _workdir() -> Path:
    """A copy of infra/terraform to init in (the repo gets no .terraform or lock files)."""
    parent = cache_dir("infra-check", "work")
    work = parent / digest()[:16]
    if not (work / ".complete").exists():
        for old in parent.iterdir():  # copies of earlier contents, unused for an hour:
            # another checkout (a CI clone beside a working tree) may be using a newer one
            if time.time() - old.stat().st_mtime > 3600:
                shutil.rmtree(old, ignore_errors=True)
        shutil.copytree(
            INFRA, work, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl")
        )
        (work / ".complete").write_text("")
    os.utime(work)  # in use: another checkout leaves it alone for an hour
    return work


def _result(name: str, runs: list[subprocess.CompletedProcess[str]]) -> StepResult:
    output = "\n".join(r.stdout + r.stderr for r in runs)
    return StepResult(name, all(r.returncode == 0 for r in runs), output)


def fmt_check() -> StepResult:
    def step() -> StepResult:
        binary, env = _environment()
        return _result(
            "fmt", [tofu.run(binary, ["fmt", "-check", "-recursive", "-diff"], INFRA, env)]
        )

    return _cached("fmt", step)


def _init(binary: Path, env: dict[str, str], where: Path) -> subprocess.CompletedProcess[str]:
    if (where / ".terraform").exists():
        return subprocess.CompletedProcess([], 0, "", "")
    return tofu.run(binary, ["init", "-backend=false", "-input=false"], where, env)


def validate(target: Path) -> StepResult:
    name = f"validate {target}"

    def step() -> StepResult:
        binary, env = _environment()
        where = _workdir() / target
        with progress(f"tofu validate {target}"):
            init = _init(binary, env, where)
            if init.returncode != 0:
                return _result(name, [init])
            return _result(name, [init, tofu.run(binary, ["validate"], where, env)])

    return _cached(name, step)


def test(target: Path) -> StepResult:
    name = f"test {target}"

    def step() -> StepResult:
        binary, env = _environment()
        where = _workdir() / target
        with progress(f"tofu test {target}"):
            init = _init(binary, env, where)
            if init.returncode != 0:
                return _result(name, [init])
            return _result(name, [init, tofu.run(binary, ["test"], where, env)])

    return _cached(name, step)


def test_targets() -> list[Path]:
    return [t for t in tofu_targets() if any((INFRA / t / "tests").glob("*.tftest.hcl"))]


def checkov() -> StepResult:
    def step() -> StepResult:
        exe = shutil.which("checkov")
        if exe is None:
            return StepResult("checkov", False, "checkov is not installed (pip install checkov)")
        with progress("checkov over infra/terraform"):
            run = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [exe, "-d", str(INFRA), *_CHECKOV_ARGS],
                capture_output=True,
                text=True,
                check=False,
            )
        return _result("checkov", [run])

    return _cached("checkov", step)


def all_steps() -> dict[str, Callable[[], list[StepResult]]]:
    return {
        "fmt": lambda: [fmt_check()],
        "validate": lambda: [validate(t) for t in tofu_targets()],
        "test": lambda: [test(t) for t in test_targets()],
        "checkov": lambda: [checkov()],
    }


def main(argv: list[str]) -> int:
    steps = all_steps()
    chosen = argv or list(steps)
    unknown = [s for s in chosen if s not in steps]
    if unknown:
        say(f"unknown step(s) {unknown}; choose from {list(steps)}")
        return 2
    failed = 0
    for name in chosen:
        for result in steps[name]():
            state = "ok" if result.ok else "FAILED"
            say(f"{result.name}: {state}{' (cached)' if result.cached else ''}")
            if not result.ok:
                failed += 1
                print(result.output, file=sys.stderr)
    skipped = [str(t) for t in targets() if t not in tofu_targets()]
    if skipped:
        say(f"validated statically only (no azurerm build): {', '.join(skipped)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
