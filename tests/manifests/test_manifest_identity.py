"""Identity in the cluster: what create-task verifies tokens with, and what tells Dapr apart.

create-task reads every ``OIDC_*`` setting from the one ConfigMap that modules/platform
writes from its ``oidc_*`` variables (the same variables configure Centrifugo's token
checks); every function and its daprd share ``APP_API_TOKEN``; nothing in the cluster sets
``INSECURE_LOCAL_DEV``, which would let a private function start without the token.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from manifests_support import REPO, all_docs, func_yaml_files, load_docs, rel

from devstack.manifests.knative import IDENTITY_CONFIGMAP, OIDC_OPTIONAL, OIDC_SETTINGS
from taskpulse.contract import Function

PLATFORM = REPO / "infra/terraform/modules/platform"
FUNCTIONS = [f.value for f in Function]


def _kinds(kind: str, api_prefix: str) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d
        for _, d in all_docs()
        if d.get("kind") == kind and str(d.get("apiVersion", "")).startswith(api_prefix)
    }


KSVC = _kinds("Service", "serving.knative.dev/")
DEPLOYMENTS = _kinds("Deployment", "apps/")


def _container_env(pod_owner: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = pod_owner["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container.get("env", [])}


def _func_envs(fn: str) -> dict[str, str]:
    (doc,) = load_docs(REPO / "functions" / fn / "func.yaml")
    return {e["name"]: e["value"] for e in doc["run"]["envs"]}


# ----------------------------------------------------------------------------- OIDC


def test_create_task_reads_every_oidc_setting_from_the_identity_config_map() -> None:
    env = _container_env(KSVC[Function.CREATE_TASK.value])
    oidc = {name: e for name, e in env.items() if name.startswith("OIDC_")}
    assert list(oidc) == list(OIDC_SETTINGS)
    for name, entry in oidc.items():
        assert "value" not in entry, f"{name} is written into the manifest"
        ref = entry["valueFrom"]["configMapKeyRef"]
        assert ref["name"] == IDENTITY_CONFIGMAP and ref["key"] == name
        # Required settings make a pod without the ConfigMap fail to start, not start open.
        assert ref.get("optional", False) is (name in OIDC_OPTIONAL), name
    assert not envfrom_anywhere(), "whole-ConfigMap envFrom would let any key in"


def envfrom_anywhere() -> list[str]:
    return [
        rel(path)
        for path, doc in all_docs()
        if doc.get("kind") in {"Service", "Deployment"} and "envFrom" in str(doc)
    ]


@pytest.mark.parametrize("fn", [f for f in FUNCTIONS if f != Function.CREATE_TASK.value])
def test_only_the_public_function_verifies_access_tokens(fn: str) -> None:
    assert not [n for n in _container_env(KSVC[fn]) if n.startswith("OIDC_")]
    assert not [n for n in _func_envs(fn) if n.startswith("OIDC_")]


def test_func_yaml_of_create_task_takes_the_same_keys() -> None:
    envs = _func_envs(Function.CREATE_TASK.value)
    for name in OIDC_SETTINGS:
        if name in OIDC_OPTIONAL:
            # func has no optional ConfigMap reference: a required one to an absent key
            # would keep the pod from starting.
            assert name not in envs
        else:
            assert envs[name] == f"{{{{ configMap:{IDENTITY_CONFIGMAP}:{name} }}}}"


def test_the_identity_config_map_is_what_modules_platform_makes() -> None:
    """The ConfigMap's name and keys as identity.tf writes them; its tofu tests check the
    values (tests/local.tftest.hcl, identity_reaches_create_task_through_one_config_map)."""
    identity = (PLATFORM / "identity.tf").read_text()
    assert f'identity_config_map = "{IDENTITY_CONFIGMAP}"' in identity
    written = set(re.findall(r"\b(OIDC_[A-Z_]+)\s*=\s*var\.oidc_", identity))
    assert written == set(OIDC_SETTINGS)
    # The optional one is written only when its variable is set.
    for name in OIDC_OPTIONAL:
        assert re.search(rf"== null \? \{{\}} : \{{ {name} = var\.", identity), name
    outputs = (PLATFORM / "outputs.tf").read_text()
    assert "kubernetes_config_map_v1.identity.metadata[0].name" in outputs


def test_centrifugo_checks_tokens_with_the_same_variables() -> None:
    centrifugo = (PLATFORM / "centrifugo.tf").read_text()
    token = centrifugo.split("centrifugo_token = ")[1].split("}")[0]
    # Centrifugo v6.9.1 client.token keys (internal/configtypes/types.go, Token).
    assert re.search(r"jwks_public_endpoint\s*=\s*var\.oidc_jwks_url", token)
    assert re.search(r"issuer\s*=\s*var\.oidc_issuer", token)
    assert re.search(r"audience\s*=\s*var\.oidc_audience", token)
    assert re.search(r"user_id_claim\s*=\s*var\.oidc_user_claim", token)


def test_the_functions_settings_know_every_oidc_variable() -> None:
    """Each OIDC_* set here is one taskpulse.settings reads; one it reads and the cluster
    leaves out (a tuning knob such as OIDC_LEEWAY_SECONDS) has a default."""
    from taskpulse.settings import Settings

    fields = {
        name.upper(): field
        for name, field in Settings.model_fields.items()
        if name.startswith("oidc_")
    }
    if not fields:
        pytest.skip("taskpulse.settings reads no OIDC_* setting yet")
    assert set(OIDC_SETTINGS) <= set(fields)
    for name in set(fields) - set(OIDC_SETTINGS):
        assert fields[name].default is not None, f"{name} has no default and is not set"


# ----------------------------------------------------------------------------- app token


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_every_function_and_its_daprd_share_the_app_api_token(fn: str) -> None:
    expected = {"secretKeyRef": {"name": f"{fn}-dapr-tokens", "key": "app-api-token"}}
    assert _container_env(KSVC[fn])["APP_API_TOKEN"]["valueFrom"] == expected
    assert _container_env(DEPLOYMENTS[f"{fn}-dapr"])["APP_API_TOKEN"]["valueFrom"] == expected
    assert _func_envs(fn)["APP_API_TOKEN"] == f"{{{{ secret:{fn}-dapr-tokens:app-api-token }}}}"


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_modules_platform_gives_every_daprd_the_app_api_token(fn: str) -> None:
    # dapr.tf builds its Deployments from generated/dapr-shared.yaml (decision 0030), and
    # passes every Secret reference but the Kafka login's through as it is.
    generated = yaml.safe_load((PLATFORM / "generated" / "dapr-shared.yaml").read_text())
    expected = {"secretKeyRef": {"name": f"{fn}-dapr-tokens", "key": "app-api-token"}}
    assert _container_env(generated[fn]["deployment"])["APP_API_TOKEN"]["valueFrom"] == expected
    dapr = (PLATFORM / "dapr.tf").read_text()
    assert 'yamldecode(file("${path.module}/generated/dapr-shared.yaml"))' in dapr


def _cluster_files() -> list[Path]:
    files = [
        *sorted((REPO / "knative").rglob("*")),
        *sorted((REPO / "dapr-components").rglob("*")),
        *sorted((REPO / "infra/terraform").rglob("*")),
        *func_yaml_files(),
    ]
    # What configures something; the READMEs and the tofu tests name it only to say
    # that it is absent.
    return [
        p
        for p in files
        if p.is_file()
        and ".terraform" not in p.parts
        and p.suffix != ".md"
        and not p.name.endswith(".tftest.hcl")
    ]


def test_nothing_in_the_cluster_turns_the_token_checks_off() -> None:
    offenders = [
        rel(p)
        for p in _cluster_files()
        if "INSECURE_LOCAL_DEV" in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert offenders == []
