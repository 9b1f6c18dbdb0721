"""infra/terraform through a real OpenTofu built from the Go module proxy, and checkov.

The first run builds tofu and the helm, kubernetes and random providers (minutes, cached in
~/.cache/taskpulse); every step that passed is remembered for the same content, so a second
run with nothing changed takes about a second.
"""

from __future__ import annotations

import shutil

import pytest

from devstack import infra_check

pytestmark = [
    pytest.mark.infra,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(shutil.which("go") is None, reason="needs the go command to build tofu"),
]


def _explain(result: infra_check.StepResult) -> str:
    return f"{result.name} failed:\n{result.output[-6000:]}"


def test_fmt():
    result = infra_check.fmt_check()
    assert result.ok, _explain(result)


@pytest.mark.parametrize("target", infra_check.tofu_targets(), ids=str)
def test_validate(target):
    result = infra_check.validate(target)
    assert result.ok, _explain(result)


@pytest.mark.parametrize("target", infra_check.test_targets(), ids=str)
def test_tofu_test(target):
    result = infra_check.test(target)
    assert result.ok, _explain(result)
    if not result.cached:
        assert "0 failed" in result.output


def test_every_module_and_root_is_checked():
    checked = {str(t) for t in infra_check.targets()}
    expected = {"modules/platform", "modules/aks", "modules/versions", "envs/local", "envs/aks"}
    assert expected <= checked
    assert {str(t) for t in infra_check.test_targets()} >= {"modules/platform"}


def test_checkov():
    if shutil.which("checkov") is None:
        pytest.skip("checkov is not installed")
    result = infra_check.checkov()
    assert result.ok, _explain(result)
