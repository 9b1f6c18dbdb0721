"""The kustomize bases and overlays render, and render what we expect."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml
from manifests_support import REPO, crd_schema, kustomize_build, load_docs

from taskpulse.contract import PUBSUB_NAME, Function

TARGETS = (
    "dapr-components/local",
    "dapr-components/cluster",
    "knative/overlays/local",
    "knative/overlays/aks",
)


@pytest.fixture(scope="module")
def kustomize_cmd() -> list[str]:
    cmd = kustomize_build()
    if cmd is None:
        pytest.fail(
            "no kustomize, no kubectl and no Go to build kustomize: "
            "install Go 1.26 (task setup needs it anyway)"
        )
    return cmd


@pytest.fixture(scope="module")
def rendered(kustomize_cmd: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for target in TARGETS:
        result = subprocess.run(
            [*kustomize_cmd, str(REPO / target)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"kustomize build {target}:\n{result.stderr}"
        out[target] = [d for d in yaml.safe_load_all(result.stdout) if d]
    return out


def _names(docs: list[dict[str, Any]], kind: str) -> set[str]:
    return {d["metadata"]["name"] for d in docs if d["kind"] == kind}


def test_dapr_variants_render_the_same_names(rendered: dict[str, list[dict[str, Any]]]) -> None:
    local, cluster = rendered["dapr-components/local"], rendered["dapr-components/cluster"]
    for kind in ("Component", "Subscription", "Resiliency", "Configuration"):
        assert _names(local, kind) == _names(cluster, kind), kind
    assert PUBSUB_NAME in _names(local, "Component")
    assert {d["metadata"].get("namespace") for d in cluster} == {"taskpulse"}


def test_local_render_equals_the_folders_daprd_reads(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """The launcher passes the folders to daprd; kustomize must not add or change anything."""
    folders = [
        d
        for folder in ("dapr-components/base", "dapr-components/local")
        for p in sorted((REPO / folder).glob("*.yaml"))
        if p.name != "kustomization.yaml"
        for d in load_docs(p)
    ]

    def key(d: dict[str, Any]) -> str:
        return f"{d['kind']}/{d['metadata']['name']}"

    assert sorted(map(key, rendered["dapr-components/local"])) == sorted(map(key, folders))
    by_key = {key(d): d for d in folders}
    for doc in rendered["dapr-components/local"]:
        assert doc == by_key[key(doc)]


@pytest.mark.parametrize("overlay", ["knative/overlays/local", "knative/overlays/aks"])
def test_knative_overlay(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    docs = rendered[overlay]
    assert {d["metadata"].get("namespace") for d in docs} == {"taskpulse"}
    services = {
        d["metadata"]["name"]: d for d in docs if d["apiVersion"] == "serving.knative.dev/v1"
    }
    assert set(services) == {f.value for f in Function}
    registry = "localhost:5001/" if overlay.endswith("local") else ".azurecr.io/"
    for svc in services.values():
        (container,) = svc["spec"]["template"]["spec"]["containers"]
        assert registry in container["image"]
    shared = [d for d in docs if d["kind"] == "Deployment"]
    assert _names(docs, "Deployment") == {f"{f.value}-dapr" for f in Function}
    # KEDA owns each daprd's count: no Deployment sets one; on AKS the floor is two.
    assert all("replicas" not in d["spec"] for d in shared)
    floors = {d["spec"]["minReplicaCount"] for d in docs if d["kind"] == "ScaledObject"}
    assert floors == ({2} if overlay.endswith("aks") else {1})
    if overlay.endswith("aks"):
        for deployment in shared:
            (spread,) = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
            # Per function: without the key, all eight daprd pods count as one group.
            assert spread["matchLabelKeys"] == ["app.kubernetes.io/name"]


BUILTIN = {"Deployment", "Service", "ServiceAccount", "Role", "RoleBinding", "NetworkPolicy"}
DAPR_CRD_FILES = {
    "Component": "dapr/components.yaml",
    "Subscription": "dapr/subscription.yaml",
    "Resiliency": "dapr/resiliency.yaml",
    "Configuration": "dapr/configuration.yaml",
}
KEDA_CRD_FILES = {
    "ScaledObject": "keda/scaledobjects.yaml",
    "TriggerAuthentication": "keda/triggerauthentications.yaml",
}


@pytest.mark.parametrize("target", TARGETS)
def test_rendered_documents_match_their_schemas(
    rendered: dict[str, list[dict[str, Any]]], target: str
) -> None:
    """What the overlays add (patches, namespaces, images) is still valid."""
    import jsonschema

    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    for doc in rendered[target]:
        kind, api = doc["kind"], doc["apiVersion"]
        if api.startswith("dapr.io/"):
            schema = crd_schema(DAPR_CRD_FILES[kind], api.split("/")[1], strict=True)
            errors = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
            assert errors == [], f"{kind}/{doc['metadata']['name']}: {errors[0].message}"
        elif api == "serving.knative.dev/v1":
            schema = crd_schema("knative/service-crd.yaml", "v1", strict=False)
            jsonschema.validate(doc, schema)
        elif api == "keda.sh/v1alpha1":
            # KEDA's CRDs; KEDA's own admission checks them further (test_keda.py).
            schema = crd_schema(KEDA_CRD_FILES[kind], "v1alpha1", strict=True)
            errors = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
            assert errors == [], f"{kind}/{doc['metadata']['name']}: {errors[0].message}"
        else:
            assert kind in BUILTIN, kind
            kv.validate(doc, "1.32", strict=True)
