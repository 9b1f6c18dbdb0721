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


def _registry_validations() -> list[str]:
    import hcl2

    with (INFRA / "modules" / "aks" / "variables.tf").open() as handle:
        tree = hcl2.load(handle)
    (variable,) = [v["container_registry"] for v in tree["variable"] if "container_registry" in v]
    return [str(v["condition"]) for v in variable["validation"]]


def test_the_registry_name_rule_is_azures():
    # Azure: 5-50 alphanumerics (the pinned docs: "Only Alphanumeric characters allowed").
    (name_rule,) = [c for c in _registry_validations() if "container_registry.name" in c]
    pattern = re.search(r'regex\("([^"]+)"', name_rule)
    assert pattern is not None
    rule = re.compile(pattern.group(1).replace("\\\\", "\\"))
    for good in ("acrtp", "TaskPulseImages", "a" * 50, "acrtaskpulsex1y2z"):
        assert rule.match(good), good
    for bad in ("acr1", "a" * 51, "task-pulse", "task_pulse", "taskpulse.io"):
        assert not rule.match(bad), bad


def test_the_registry_sku_rule_takes_the_documented_skus(docs):
    (sku_rule,) = [c for c in _registry_validations() if "contains(" in c]
    doc = (docs / "r" / "container_registry.html.markdown").read_text()
    documented = re.search(r"\* `sku` - \(Required\).*Possible values are (.*)\.", doc)
    assert documented is not None
    listed = re.search(r"contains\(\[([^\]]*)\]", sku_rule)
    assert listed is not None
    assert set(re.findall(r"`(\w+)`", documented.group(1))) == set(
        re.findall(r"[\"'](\w+)[\"']", listed.group(1))
    )


def test_the_module_names_the_registry_roles_it_relies_on():
    registry = (INFRA / "modules" / "aks" / "registry.tf").read_text()
    roles = re.findall(r'role_definition_name\s*=\s*"([^"]+)"', registry)
    assert sorted(roles) == ["AcrPull", "AcrPush", "Reader"]
    # No admin user, so no password in state; no anonymous pulls.
    assert re.search(r"admin_enabled\s*=\s*false", registry)
    assert re.search(r"anonymous_pull_enabled\s*=\s*false", registry)
    assert "admin_password" not in "".join(
        p.read_text() for p in (INFRA / "modules" / "aks").glob("*.tf")
    )
