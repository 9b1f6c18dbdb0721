"""Every manifest against the real schema of its kind (vendored under schemas/, see there)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from manifests_support import (
    all_docs,
    crd_identity,
    crd_schema,
    func_schema,
    func_yaml_files,
    load_docs,
    rel,
)

DAPR_CRDS = {
    "Component": "dapr/components.yaml",
    "Subscription": "dapr/subscription.yaml",
    "Resiliency": "dapr/resiliency.yaml",
    "Configuration": "dapr/configuration.yaml",
}
KNATIVE_SERVICE_CRD = "knative/service-crd.yaml"
BUILTIN_KINDS = {
    "Deployment",
    "Service",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "NetworkPolicy",
}
KUBERNETES_VERSION = "1.32"
"""The Kubernetes minor the built-in kinds are checked against (AKS supports it)."""


def _docs_of(kind: str, api_group: str | None = None) -> list[tuple[Path, dict[str, Any]]]:
    return [
        (p, d)
        for p, d in all_docs()
        if d.get("kind") == kind
        and (api_group is None or str(d.get("apiVersion", "")).startswith(api_group))
    ]


def _ids(items: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    return [f"{rel(p)}:{d['metadata']['name']}" for p, d in items]


def _errors(schema: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=str)
    ]


def test_every_manifest_has_a_known_kind() -> None:
    # KEDA's kinds are checked by KEDA's own admission code (test_keda.py).
    known = set(DAPR_CRDS) | BUILTIN_KINDS | {"Service", "ScaledObject", "TriggerAuthentication"}
    unknown = [
        f"{rel(p)}: {d.get('apiVersion')}/{d.get('kind')}"
        for p, d in all_docs()
        if d.get("kind") not in known
    ]
    assert not unknown
    # No Secret objects at all: secrets never live in the repository.
    assert not [rel(p) for p, d in all_docs() if d.get("kind") == "Secret"]


@pytest.mark.parametrize("kind", sorted(DAPR_CRDS))
def test_dapr_kind_is_present(kind: str) -> None:
    assert _docs_of(kind, "dapr.io/"), f"no {kind} manifest"


DAPR_DOCS = [(p, d) for p, d in all_docs() if str(d.get("apiVersion", "")).startswith("dapr.io/")]


@pytest.mark.parametrize(("path", "doc"), DAPR_DOCS, ids=_ids(DAPR_DOCS))
def test_dapr_resource_matches_its_crd(path: Path, doc: dict[str, Any]) -> None:
    crd_file = DAPR_CRDS[doc["kind"]]
    group, kind, versions = crd_identity(crd_file)
    api_group, _, version = doc["apiVersion"].partition("/")
    assert (api_group, doc["kind"]) == (group, kind)
    assert version in versions, f"{doc['apiVersion']} is not served by the CRD ({versions})"
    assert _errors(crd_schema(crd_file, version, strict=True), doc) == []


KSVC_DOCS = _docs_of("Service", "serving.knative.dev/")


@pytest.mark.parametrize(("path", "doc"), KSVC_DOCS, ids=_ids(KSVC_DOCS))
def test_knative_service_matches_its_crd(path: Path, doc: dict[str, Any]) -> None:
    group, kind, versions = crd_identity(KNATIVE_SERVICE_CRD)
    assert doc["apiVersion"] == f"{group}/v1" and "v1" in versions and doc["kind"] == kind
    # The vendored CRD keeps unknown Pod fields (see its header): validate it as written,
    # and the Pod part again, strictly, as a Kubernetes PodSpec below.
    assert _errors(crd_schema(KNATIVE_SERVICE_CRD, "v1", strict=False), doc) == []


def test_four_knative_services() -> None:
    assert len(KSVC_DOCS) == 4


def _kv() -> Any:
    return pytest.importorskip(
        "kubernetes_validate",
        reason="pip install kubernetes-validate (the Kubernetes OpenAPI schemas)",
    )


def _as_pod(ksvc: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(ksvc["spec"]["template"]["spec"])
    for knative_only in (
        "containerConcurrency",
        "timeoutSeconds",
        "responseStartTimeoutSeconds",
        "idleTimeoutSeconds",
    ):
        spec.pop(knative_only, None)
    # Knative fills in the probe port (the container's port) when it is left out.
    for container in spec["containers"]:
        port = container["ports"][0]["containerPort"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            for action in ("httpGet", "tcpSocket", "grpc"):
                if action in container.get(probe, {}):
                    container[probe][action].setdefault("port", port)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": ksvc["metadata"]["name"]},
        "spec": spec,
    }


@pytest.mark.parametrize(("path", "doc"), KSVC_DOCS, ids=_ids(KSVC_DOCS))
def test_knative_pod_template_is_a_valid_pod_spec(path: Path, doc: dict[str, Any]) -> None:
    kv = _kv()
    kv.validate(_as_pod(doc), KUBERNETES_VERSION, strict=True)


BUILTIN_DOCS = [
    (p, d)
    for p, d in all_docs()
    if d.get("kind") in BUILTIN_KINDS and not str(d.get("apiVersion", "")).startswith("serving.")
]


@pytest.mark.parametrize(("path", "doc"), BUILTIN_DOCS, ids=_ids(BUILTIN_DOCS))
def test_builtin_kind_matches_kubernetes_schema(path: Path, doc: dict[str, Any]) -> None:
    kv = _kv()
    kv.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("path", func_yaml_files(), ids=[rel(p) for p in func_yaml_files()])
def test_func_yaml_matches_func_schema(path: Path) -> None:
    (doc,) = load_docs(path)
    validator = jsonschema.Draft4Validator(func_schema(), format_checker=jsonschema.FormatChecker())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []


def test_four_func_yaml() -> None:
    assert [p.parent.name for p in func_yaml_files()] == sorted(
        ["create-task", "compute-next-occurrence", "send-reminder", "push-update"]
    )


def test_strict_schema_rejects_a_typo() -> None:
    """The strict CRD check is not a rubber stamp: a misspelt field fails it."""
    subs = [d for _, d in DAPR_DOCS if d["kind"] == "Subscription"]
    sub = next(d for d in subs if "rules" in d["spec"]["routes"])
    bad = copy.deepcopy(sub)
    bad["spec"]["deadLetterTopics"] = "x"
    assert _errors(crd_schema(DAPR_CRDS["Subscription"], "v2alpha1", strict=True), bad)
    bad = copy.deepcopy(sub)
    bad["spec"]["routes"]["rules"][0].pop("match")
    assert _errors(crd_schema(DAPR_CRDS["Subscription"], "v2alpha1", strict=True), bad)
