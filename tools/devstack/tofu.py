"""OpenTofu and the Terraform providers that infra/terraform needs, built from the Go module proxy.

Neither tofu nor the providers come from a package registry, so ``devstack.gobuild`` builds them
(cached under ``~/.cache/taskpulse``). Provider module paths lack ``/vN``, so their v2+ tags
cannot be fetched by tag: each is pinned at the commit (pseudo-version) that carries the
release named in ``release``, and laid out as that release in a filesystem mirror, so that
``tofu init`` installs them with no network and ``required_providers`` constraints still apply.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.cache import cache_dir
from devstack.gobuild import GoCommand, build

TOFU = GoCommand(
    name="tofu",
    module="github.com/opentofu/opentofu",
    version="v1.12.6",
    package="github.com/opentofu/opentofu/cmd/tofu",
)


@dataclass(frozen=True)
class Provider:
    """A provider ``hashicorp/<type>`` at ``release``, built from ``command``."""

    type: str
    release: str
    command: GoCommand

    @property
    def mirror_path(self) -> Path:
        """Path of the binary inside an unpacked filesystem mirror."""
        return Path(
            "registry.opentofu.org",
            "hashicorp",
            self.type,
            self.release,
            "linux_amd64",
            f"terraform-provider-{self.type}_v{self.release}",
        )


def _provider(type_: str, release: str, module: str, version: str) -> Provider:
    command = GoCommand(
        name=f"terraform-provider-{type_}", module=module, version=version, package=module
    )
    return Provider(type_, release, command)


# Commits whose CHANGELOG tops at `release` (the Go proxy serves these pseudo-versions).
HELM = _provider(
    "helm",
    "3.2.0",
    "github.com/hashicorp/terraform-provider-helm",
    "v1.3.3-0.20260629194918-a4f1c1d8b008",
)
KUBERNETES = _provider(
    "kubernetes",
    "3.2.1",
    "github.com/hashicorp/terraform-provider-kubernetes",
    "v1.13.4-0.20260821094251-3a33fb6cc605",
)
# Its go.mod still declares the old organisation's path.
RANDOM = _provider(
    "random",
    "3.9.0",
    "github.com/terraform-providers/terraform-provider-random",
    "v1.3.2-0.20260824155315-e1092b0cfc07",
)
TIME = _provider("time", "0.14.2", "github.com/hashicorp/terraform-provider-time", "v0.14.2")
AZURERM = _provider(
    "azurerm",
    "5.2.0",
    "github.com/hashicorp/terraform-provider-azurerm",
    "v1.44.1-0.20260824201233-fae580791926",
)

HELM_CLI = GoCommand(
    name="helm", module="helm.sh/helm/v3", version="v3.22.0", package="helm.sh/helm/v3/cmd/helm"
)
"""The Helm CLI, to lint and render modules/platform's local charts (tests/infra)."""

PLATFORM_PROVIDERS: tuple[Provider, ...] = (HELM, KUBERNETES, RANDOM)
"""What modules/platform and envs/local need: cheap to build (minutes)."""
AZURE_PROVIDERS: tuple[Provider, ...] = (AZURERM, TIME)
"""What modules/aks and envs/aks add: azurerm is a long build (see infra/terraform/README.md)."""


def tofu() -> Path:
    return build(TOFU)


def helm() -> Path:
    return build(HELM_CLI)


def is_built(command: GoCommand) -> bool:
    """True when the binary is already in the cache (nothing would be built)."""
    return (cache_dir("bin", command.key) / command.name).exists()


def mirror(providers: Iterable[Provider]) -> Path:
    """Build ``providers`` if needed and return a filesystem mirror holding them."""
    root = cache_dir("tofu", "mirror")
    for provider in providers:
        target = root / provider.mirror_path
        binary = build(provider.command)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(binary, target)
        except OSError:
            shutil.copy2(binary, target)
    return root


def cli_config(mirror_root: Path) -> Path:
    """A CLI config that installs hashicorp/* providers from the mirror only."""
    path = cache_dir("tofu") / "tofurc"
    text = (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror_root}"\n'
        '    include = ["registry.opentofu.org/hashicorp/*"]\n'
        "  }\n"
        "}\n"
    )
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def environment(config: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_PLUGIN_CACHE_DIR": str(cache_dir("tofu", "plugin-cache")),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }


def run(
    binary: Path, args: Sequence[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run tofu with ``args`` in ``cwd``; the caller decides what a failure means."""
    argv = [str(binary), args[0], *(["-no-color"] if args[0] != "fmt" else []), *args[1:]]
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
