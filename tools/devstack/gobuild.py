"""Build a Go command from the Go module proxy into the cache.

Projects such as dapr/dapr and opentofu/opentofu carry ``replace`` directives, so
``go install module/cmd@version`` refuses them. We build through a throwaway wrapper
module that requires the target at its tag and copies the tag's own ``replace`` block
(read from the proxy, so it never drifts from upstream).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack.cache import cache_dir, progress, say


class GoBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class GoCommand:
    """One binary: ``package`` (a main package) inside ``module`` at ``version``."""

    name: str
    module: str
    version: str
    package: str
    tags: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    main_dir: Path | None = None
    """A local main package (``*.go``) built inside the wrapper instead of ``package``;
    ``module`` still pins the upstream release it imports."""
    more_replaces: Callable[[str, str], list[str]] | None = None
    """``replace`` lines the wrapper needs beyond upstream's own, from upstream's go.mod and
    ``version`` (k8s.io/kubernetes: its staging modules at their published versions)."""
    ldflags: str = "-s -w"

    @property
    def key(self) -> str:
        suffix = "-".join(self.tags)
        key = f"{self.name}-{self.version}" + (f"-{suffix}" if suffix else "")
        if self.main_dir is not None:
            # Editing the local sources must give a new binary, not the cached one.
            digest = hashlib.sha256()
            for source in sorted(self.main_dir.glob("*.go")):
                digest.update(source.name.encode() + b"\0" + source.read_bytes())
            key += f"-{digest.hexdigest()[:12]}"
        return key


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise GoBuildError("Go is not installed: install Go 1.26 or newer and run again")
    return go


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise GoBuildError(f"`{' '.join(args)}` failed in {cwd}:\n{result.stderr.strip()[-4000:]}")
    return result.stdout


_REPLACE_LINE = re.compile(r"^\s*(\S+)(\s+v\S+)?\s+=>\s+(\S+)(\s+v\S+)?\s*$")


def upstream_replaces(go_mod: str) -> list[str]:
    """The module-to-module ``replace`` lines of a go.mod; local-path replaces are dropped."""
    lines: list[str] = []
    in_block = False
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line.startswith("replace ("):
            in_block = True
            continue
        if in_block and line == ")":
            in_block = False
            continue
        body = line.removeprefix("replace ").strip() if line.startswith("replace ") else line
        if not (in_block or line.startswith("replace ")):
            continue
        match = _REPLACE_LINE.match(body)
        if match and not match.group(3).startswith((".", "/")):
            lines.append(body)
    return lines


def build(command: GoCommand) -> Path:
    """Return the cached binary, building it first when it is missing."""
    binary = cache_dir("bin", command.key) / command.name
    if binary.exists():
        return binary
    go = _go()
    work = cache_dir("build", command.key)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", **command.env}
    with progress(f"go: downloading {command.module} {command.version}"):
        mod_info = json.loads(
            _run([go, "mod", "download", "-json", f"{command.module}@{command.version}"], work, env)
        )
    upstream = Path(mod_info["GoMod"]).read_text()
    replaces = upstream_replaces(upstream)
    if command.more_replaces is not None:
        replaces = command.more_replaces(upstream, command.version) + replaces
    go_version = _run([go, "env", "GOVERSION"], work, env).strip().removeprefix("go")
    (work / "go.mod").write_text(
        f"module taskpulse.local/build/{command.name}\n\ngo {go_version}\n\n"
        f"require {command.module} {command.version}\n"
        + ("\nreplace (\n" + "".join(f"\t{r}\n" for r in replaces) + ")\n" if replaces else "")
    )
    # Upstream's go.sum vouches for every module it builds with, so `go mod tidy` does not
    # need a checksum-database lookup for them (the proxy here answers some with 404).
    upstream_sum = Path(mod_info.get("Dir", "")) / "go.sum"
    if mod_info.get("Dir") and upstream_sum.exists():
        shutil.copyfile(upstream_sum, work / "go.sum")
    target = command.package
    if command.main_dir is not None:
        # The local main package's own imports tell `go mod tidy` what to resolve.
        local = work / "main"
        local.mkdir(exist_ok=True)
        for source in command.main_dir.glob("*.go"):
            shutil.copyfile(source, local / source.name)
        target = "./main"
    else:
        # A blank import pins the package into the wrapper so `go mod tidy` resolves it
        # (tidy reads every build tag, so the `tools` constraint keeps it out of builds only).
        (work / "tools.go").write_text(
            f'//go:build tools\n\npackage tools\n\nimport _ "{command.package}"\n'
        )
    with progress(f"go: resolving modules for {command.name} {command.version}"):
        _run([go, "mod", "tidy"], work, env)
    staging = binary.with_suffix(".partial")
    with progress(f"go: building {command.name} {command.version} (first time only)"):
        _run(
            [
                go,
                "build",
                *(["-tags", ",".join(command.tags)] if command.tags else []),
                "-trimpath",
                "-ldflags",
                command.ldflags,
                "-o",
                str(staging),
                target,
            ],
            work,
            env,
        )
    staging.rename(binary)
    say(f"{command.name} cached at {binary}")
    return binary
