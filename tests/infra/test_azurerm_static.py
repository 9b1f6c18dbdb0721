"""modules/aks and envs/aks checked against the pinned azurerm provider's documentation.

tofu validates these too when the azurerm provider is built (TASKPULSE_BUILD_AZURERM=1, see
infra/terraform/README.md for what that build costs); this check always runs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from infra_azurerm_docs import changelog_version, check_file, docs_dir

from devstack import tofu

INFRA = Path(__file__).resolve().parents[2] / "infra" / "terraform"

pytestmark = [
    pytest.mark.infra,
    pytest.mark.skipif(shutil.which("go") is None, reason="needs the go command"),
]


@pytest.fixture(scope="module")
def docs() -> Path:
    return docs_dir()


def _azure_files() -> list[Path]:
    return sorted(
        p for p in INFRA.rglob("*.tf") if ".terraform" not in p.parts and "azurerm" in p.read_text()
    )


def test_the_pinned_commit_is_the_release_the_code_requires(docs):
    assert changelog_version(docs) == tofu.AZURERM.release
    major_minor = ".".join(tofu.AZURERM.release.split(".")[:2])
    for path in _azure_files():
        pattern = r'source\s*=\s*"hashicorp/azurerm"\s*\n\s*version\s*=\s*"([^"]+)"'
        for constraint in re.findall(pattern, path.read_text()):
            assert constraint == f"~> {major_minor}", f"{path}: azurerm {constraint}"


@pytest.mark.parametrize("path", _azure_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_azurerm_argument_exists_in_the_pinned_provider(path, docs):
    assert check_file(path, docs) == []


def test_the_check_catches_wrong_names(tmp_path, docs):
    bad = tmp_path / "bad.tf"
    bad.write_text(
        """
resource "azurerm_kubernetes_cluster" "x" {
  name                = "x"
  location            = "westeurope"
  resource_group_name = "rg"
  enable_auto_scaling = true
  default_node_pool {
    name              = "system"
    enable_node_public_ip = false
  }
  network_profile {
    network_plugin = "azure"
    ebpf_data_plane = "cilium"
  }
}
output "x" {
  value = azurerm_kubernetes_cluster.x.kube_admin_password
}
"""
    )
    errors = "\n".join(check_file(bad, docs))
    assert "`enable_auto_scaling` is not an argument" in errors  # v3 name, renamed in v4
    assert "default_node_pool: `enable_node_public_ip`" in errors
    assert "network_profile: `ebpf_data_plane`" in errors
    assert "required `node_provisioning_profile` is missing" in errors  # v5 requirement
    assert "exports no attribute `kube_admin_password`" in errors
