"""Every manifest against a real kube-apiserver (v1.35.4, built by devstack.kube), no kubelet.

The CRDs come from the pinned releases' own sources, fetched as Go modules (the Dapr chart's
``crds/`` at DAPR_VERSION, Knative Serving 1.23's ``config/core/300-resources``, KEDA's
``config/crd/bases`` at the chart's version); the
``taskpulse`` namespace carries the labels modules/platform gives it (Pod Security
``restricted``). Each rendered manifest is sent as ``kubectl apply --server-side
--dry-run=server`` sends it: a server-side apply with ``dryRun=All`` and strict field
validation, so the CRD schemas, built-in validation and every admission plugin run and nothing
is stored. Pod Security only enforces on Pods (it warns on Deployments), so the Pod of each
Deployment, and the Pod Knative builds for each Service (devstack.knative_validate), is
dry-run as a Pod too. Then envs/local is applied and destroyed with the real tofu and
providers. docs/decisions/0020 says why, and what stands in for the kubelet. The custom
resources of the Strimzi and monitoring charts are checked the same way in
test_apiserver_operators.py.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from charts_support import render_chart

from devstack import kube, versions

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra" / "terraform"
PLATFORM_MAIN = INFRA / "modules" / "platform" / "main.tf"
NAMESPACE = "taskpulse"
FUNCTIONS = ("create-task", "compute-next-occurrence", "send-reminder", "push-update")
RENDERED = (
    "knative/base",
    "knative/overlays/local",
    "knative/overlays/aks",
    "dapr-components/base",
    "dapr-components/local",
    "dapr-components/cluster",
)
# Fields of a Knative revision template that a Pod does not have.
KNATIVE_ONLY = (
    "containerConcurrency",
    "timeoutSeconds",
    "responseStartTimeoutSeconds",
    "idleTimeoutSeconds",
)

pytestmark = [
    pytest.mark.infra,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(shutil.which("go") is None, reason="needs go to build kube-apiserver"),
]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def apiserver() -> Iterator[kube.ApiServer]:
    """etcd + kube-apiserver for the session (built once, ~12 min; started in seconds)."""
    with kube.running_apiserver() as server:
        yield server


def _unwrap(value: Any) -> Any:
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value.strip('"') if isinstance(value, str) else value


def platform_namespace_labels() -> dict[str, str]:
    """The labels of kubernetes_namespace_v1.taskpulse in modules/platform/main.tf."""
    with PLATFORM_MAIN.open() as handle:
        tree = hcl2.load(handle)
    for entry in tree["resource"]:
        body = _unwrap(entry).get("kubernetes_namespace_v1", {}).get("taskpulse")
        if body is not None:
            labels = _unwrap(_unwrap(_unwrap(body)["metadata"])["labels"])
            return {_unwrap(k): _unwrap(v) for k, v in labels.items()}
    raise AssertionError("modules/platform/main.tf has no kubernetes_namespace_v1.taskpulse")


def render(folder: str) -> list[dict[str, Any]]:
    from manifests.manifests_support import kustomize_build

    command = kustomize_build()
    if command is None:
        pytest.skip("no kustomize, kubectl or go to render the kustomizations")
    out = subprocess.run(
        [*command, str(REPO / folder)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def cluster(apiserver: kube.ApiServer) -> kube.ApiServer:
    """The pinned CRDs, the taskpulse namespace as the platform makes it, and the service
    accounts that Pods name (the ServiceAccount admission plugin refuses a Pod without)."""
    apiserver.install_crds(kube.dapr_crds() + kube.knative_serving_crds() + kube.keda_crds())
    apiserver.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": platform_namespace_labels()},
        }
    )
    for folder in RENDERED:
        for doc in render(folder):
            if doc["kind"] == "ServiceAccount":
                apiserver.apply(doc, namespace=NAMESPACE)
    return apiserver


def dry_run(server: kube.ApiServer, doc: dict[str, Any]) -> kube.Response:
    return server.apply(doc, dry_run=True, namespace=NAMESPACE, check=False)


def _workload(doc: dict[str, Any]) -> bool:
    return (doc["apiVersion"], doc["kind"]) in {
        ("apps/v1", "Deployment"),
        ("serving.knative.dev/v1", "Service"),
    }


def pod_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The Pod a Deployment's template makes, or, for the refusal cases, a Knative Service's
    user container as a Pod (probe ports and a container name filled in as Knative would;
    no queue-proxy: the admitted Pods come from Knative's own code instead)."""
    template = copy.deepcopy(doc["spec"]["template"])
    spec = template["spec"]
    if doc["apiVersion"].startswith("serving.knative.dev/"):
        for key in KNATIVE_ONLY:
            spec.pop(key, None)
        for container in spec["containers"]:
            container.setdefault("name", "user-container")
            port = container.get("ports", [{}])[0].get("containerPort", 8080)
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                action = container.get(probe, {})
                for kind in ("httpGet", "tcpSocket", "grpc"):
                    if kind in action:
                        action[kind].setdefault("port", port)
    metadata = template.get("metadata", {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{doc['metadata']['name']}-pod",
            "namespace": NAMESPACE,
            "labels": metadata.get("labels", {}),
            "annotations": metadata.get("annotations", {}),
        },
        "spec": spec,
    }


# ----------------------------------------------------------------------------- the server


def test_the_server_is_the_pinned_kubernetes(apiserver: kube.ApiServer) -> None:
    version = apiserver.request("GET", "/version").body
    assert version["gitVersion"] == f"v{versions.KUBERNETES_VERSION}"


def test_the_wrapper_replaces_every_staging_module() -> None:
    go_mod = kube.module_dir(kube.KUBE_APISERVER.module, kube.KUBE_APISERVER.version) / "go.mod"
    replaces = kube.staging_replaces(go_mod.read_text(), kube.KUBE_APISERVER.version)
    assert len(replaces) == 31, replaces
    staging = "v0." + versions.KUBERNETES_VERSION.split(".", 1)[1]
    assert f"k8s.io/api => k8s.io/api {staging}" in replaces


def test_the_pinned_crds_are_served(cluster: kube.ApiServer) -> None:
    assert cluster.resource("serving.knative.dev/v1", "Service") == ("services", True)
    assert cluster.resource("dapr.io/v1alpha1", "Component") == ("components", True)
    assert cluster.resource("dapr.io/v2alpha1", "Subscription") == ("subscriptions", True)
    assert cluster.resource("dapr.io/v1alpha1", "Resiliency") == ("resiliencies", True)


def test_the_namespace_enforces_pod_security_restricted(cluster: kube.ApiServer) -> None:
    labels = cluster.request("GET", f"/api/v1/namespaces/{NAMESPACE}").body["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


# ----------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("folder", RENDERED)
def test_every_manifest_passes_a_server_side_dry_run(cluster: kube.ApiServer, folder: str) -> None:
    docs = render(folder)
    assert docs, f"{folder} renders nothing"
    problems = []
    for doc in docs:
        answer = dry_run(cluster, doc)
        where = f"{doc['kind']} {doc['metadata']['name']}"
        if answer.status >= 400:
            problems.append(f"{where}: refused: {answer.body.get('message')}")
        elif answer.warnings:
            problems.append(f"{where}: warnings: {answer.warnings}")
    assert not problems, "\n".join(problems)
    # Nothing was stored: a dry run leaves no custom resource behind.
    services = cluster.request(
        "GET", f"/apis/serving.knative.dev/v1/namespaces/{NAMESPACE}/services"
    ).body
    assert services["items"] == []


@pytest.mark.parametrize("folder", ["knative/overlays/local", "knative/overlays/aks"])
def test_every_pod_is_admitted_under_restricted(cluster: kube.ApiServer, folder: str) -> None:
    """The Pod of each Dapr Shared Deployment, and the Pod that Knative itself builds for each
    Service (user container and queue-proxy, from devstack.knative_validate: Knative Serving
    1.23's own code with the platform chart's configuration)."""
    from devstack import knative_validate

    docs = render(folder)
    pods = [pod_of(d) for d in docs if (d["apiVersion"], d["kind"]) == ("apps/v1", "Deployment")]
    services = [d for d in docs if d["apiVersion"] == "serving.knative.dev/v1"]
    for admission in knative_validate.admit(services, knative_validate.chart_config(), pods=True):
        assert admission.allowed and admission.pod, admission.error
        pods.append(admission.pod)
    assert len(pods) == 8, [p["metadata"]["name"] for p in pods]  # 4 functions + 4 daprd
    assert all(
        {c["name"] for c in p["spec"]["containers"]} == {"function", "queue-proxy"}
        for p in pods[4:]
    )
    problems = []
    for pod in pods:
        answer = cluster.create(pod, dry_run=True, namespace=NAMESPACE, check=False)
        if answer.status >= 400 or answer.warnings:
            problems.append(f"{pod['metadata']['name']}: {answer.body.get('message')}")
    assert not problems, "\n".join(problems)


def _pins() -> dict[str, str]:
    with (INFRA / "modules" / "versions" / "main.tf").open() as handle:
        tree = hcl2.load(handle)
    (pins,) = [_unwrap(b)["pins"] for b in tree["locals"] if "pins" in _unwrap(b)]
    return {k: _unwrap(v) for k, v in _unwrap(pins).items() if not k.startswith("__")}


@pytest.fixture(scope="module")
def knative_serving_resource(apiserver: kube.ApiServer) -> dict[str, Any]:
    """The KnativeServing that modules/platform's local chart renders (`helm template`, the
    values the module passes for envs/local), with the pinned operator's CRDs installed."""

    pins = _pins()
    operator_minor = int(pins["knative_operator"].removeprefix("v").split(".")[1])
    assert f"0.{operator_minor + 27}.0" == versions.KNATIVE_SERVING_MODULE_VERSION
    apiserver.install_crds(kube.knative_operator_crds())
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "knative-serving"}}
    apiserver.apply(namespace)
    chart = INFRA / "modules" / "platform" / "charts" / "knative-serving"
    values = {
        "version": pins["knative_serving"],
        "domain": "",
        "highAvailability": {"replicas": 1},
        "skipTagResolving": ["kind.local", "ko.local", "dev.local", "localhost:5001"],
    }
    docs = render_chart(chart.name, values, name="knative-serving", namespace="knative-serving")
    (serving,) = [d for d in docs if d["kind"] == "KnativeServing"]
    return serving


def test_the_platforms_knative_serving_passes_the_operators_crd(
    apiserver: kube.ApiServer, knative_serving_resource: dict[str, Any]
) -> None:
    answer = apiserver.apply(knative_serving_resource, dry_run=True, check=False)
    assert answer.status < 400, answer.body
    assert not answer.warnings, answer.warnings


# ----------------------------------------------------------------------------- refused


def test_the_operators_crd_refuses_a_wrong_knative_serving(
    apiserver: kube.ApiServer, knative_serving_resource: dict[str, Any]
) -> None:
    wrong = copy.deepcopy(knative_serving_resource)
    wrong["spec"]["high-availability"]["replicas"] = "one"
    answer = apiserver.create(wrong, dry_run=True, check=False)
    assert answer.status == 422, answer.body
    assert "high-availability.replicas" in answer.body["message"]
    misspelt = copy.deepcopy(knative_serving_resource)
    misspelt["spec"]["ingres"] = misspelt["spec"].pop("ingress")
    answer = apiserver.apply(misspelt, dry_run=True, check=False)
    assert answer.status >= 400, answer.body
    assert "ingres" in answer.body["message"]


def _first(folder: str, kind: str, api_version: str | None = None) -> dict[str, Any]:
    return next(
        d
        for d in render(folder)
        if d["kind"] == kind and (api_version is None or d["apiVersion"] == api_version)
    )


def test_pod_security_refuses_an_unconfined_pod(cluster: kube.ApiServer) -> None:
    pod = pod_of(_first("knative/overlays/aks", "Deployment"))
    pod["spec"]["securityContext"] = {"seccompProfile": {"type": "Unconfined"}}
    answer = cluster.create(pod, dry_run=True, check=False)
    assert answer.status == 403, answer.body
    assert 'violates PodSecurity "restricted:latest"' in answer.body["message"]
    assert "seccompProfile" in answer.body["message"]


def test_pod_security_refuses_a_function_that_adds_a_capability(cluster: kube.ApiServer) -> None:
    pod = pod_of(_first("knative/overlays/aks", "Service", "serving.knative.dev/v1"))
    pod["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_RAW"]
    answer = cluster.create(pod, dry_run=True, check=False)
    assert answer.status == 403, answer.body
    assert "unrestricted capabilities" in answer.body["message"]


def test_built_in_validation_refuses_privileged_without_escalation(cluster: kube.ApiServer) -> None:
    # Before any admission: `privileged` contradicts the manifests' allowPrivilegeEscalation.
    pod = pod_of(_first("knative/overlays/aks", "Service", "serving.knative.dev/v1"))
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    answer = cluster.create(pod, dry_run=True, check=False)
    assert answer.status == 422, answer.body
    assert "allowPrivilegeEscalation" in answer.body["message"]


def test_pod_security_only_warns_on_a_deployment(cluster: kube.ApiServer) -> None:
    # Why the Pods are checked on their own: on workloads the admission only warns.
    deployment = _first("knative/overlays/aks", "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["capabilities"]["add"] = ["NET_RAW"]
    answer = dry_run(cluster, deployment)
    assert answer.status < 400, answer.body
    assert any("unrestricted capabilities" in w for w in answer.warnings), answer.warnings


def test_the_knative_crd_refuses_a_wrong_type(cluster: kube.ApiServer) -> None:
    service = _first("knative/overlays/aks", "Service", "serving.knative.dev/v1")
    service["spec"]["template"]["spec"]["containerConcurrency"] = "twenty"
    # A server-side apply refuses it while typing the patch (HTTP 500, "failed to create
    # typed patch object"); a create refuses it by the CRD's schema (422).
    applied = dry_run(cluster, service)
    assert applied.status >= 400, applied.body
    assert "containerConcurrency: expected numeric" in applied.body["message"]
    created = cluster.create(service, dry_run=True, namespace=NAMESPACE, check=False)
    assert created.status == 422, created.body
    assert "spec.template.spec.containerConcurrency" in created.body["message"]


def test_strict_field_validation_refuses_an_unknown_field(cluster: kube.ApiServer) -> None:
    subscription = _first("dapr-components/cluster", "Subscription")
    subscription["spec"]["deadLetterTopc"] = "typo"
    answer = dry_run(cluster, subscription)
    assert answer.status >= 400, answer.body
    assert "deadLetterTopc" in answer.body["message"]


def test_a_manifest_for_another_namespace_is_refused(cluster: kube.ApiServer) -> None:
    # NamespaceLifecycle: nothing lands in a namespace that does not exist.
    component = _first("dapr-components/cluster", "Component")
    component["metadata"]["namespace"] = "no-such-namespace"
    answer = cluster.apply(component, dry_run=True, check=False)
    assert answer.status == 404, answer.body


# ----------------------------------------------------------------------------- tofu apply

# What envs/local installs from chart repositories on the internet (helm_release with a
# `repository`): none of them can be fetched here (docs/decisions/0020), so the apply below
# turns them off and installs everything else. With internet access, they are what is left.
REMOTE_CHART_COMPONENTS = ("cert_manager", "monitoring", "knative", "dapr", "keda", "kafka")
OFFLINE_COMPONENTS = {
    **dict.fromkeys(REMOTE_CHART_COMPONENTS, False),
    "centrifugo": True,
    "dapr_shared": True,
    "dapr_resources": True,
}


class StandIns:
    """What the missing kube-controller-manager and kubelets would do, and nothing more:

    - a Deployment is reported rolled out (the provider waits for it: no kubelet runs Pods);
    - a deleted namespace is finalized once nothing is left in it (the namespace controller's
      job); anything still inside at that moment is recorded in ``leftovers``.
    """

    def __init__(self, server: kube.ApiServer) -> None:
        self.server = server
        self.leftovers: dict[str, set[tuple[str, str, str]]] = {}
        self.rolled_out: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.errors: list[str] = []

    def __enter__(self) -> StandIns:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._deployments()
                self._namespaces()
            except Exception as error:  # keep going: the apply reports what went wrong
                self.errors.append(repr(error))

    def _deployments(self) -> None:
        for item in self.server.request("GET", "/apis/apps/v1/deployments").body["items"]:
            meta, spec = item["metadata"], item["spec"]
            status = item.get("status", {})
            replicas = spec.get("replicas", 1)
            if status.get("observedGeneration") == meta["generation"] and (
                status.get("availableReplicas") == replicas
            ):
                continue
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            condition = {"status": "True", "lastUpdateTime": now, "lastTransitionTime": now}
            self.server.request(
                "PATCH",
                f"/apis/apps/v1/namespaces/{meta['namespace']}/deployments/{meta['name']}/status",
                {
                    "status": {
                        "observedGeneration": meta["generation"],
                        "replicas": replicas,
                        "updatedReplicas": replicas,
                        "readyReplicas": replicas,
                        "availableReplicas": replicas,
                        "conditions": [
                            {
                                **condition,
                                "type": "Available",
                                "reason": "MinimumReplicasAvailable",
                            },
                            {
                                **condition,
                                "type": "Progressing",
                                "reason": "NewReplicaSetAvailable",
                            },
                        ],
                    }
                },
                content_type="application/merge-patch+json",
            )
            self.rolled_out.add(f"{meta['namespace']}/{meta['name']}")

    def _namespaces(self) -> None:
        for item in self.server.request("GET", "/api/v1/namespaces").body["items"]:
            meta = item["metadata"]
            if "deletionTimestamp" not in meta or not item["spec"].get("finalizers"):
                continue
            self.leftovers[meta["name"]] = self.server.objects(namespace=meta["name"])
            item["spec"]["finalizers"] = []
            self.server.request("PUT", f"/api/v1/namespaces/{meta['name']}/finalize", item)


def _secret_values(server: kube.ApiServer) -> dict[str, str]:
    import base64

    values = {}
    for item in server.request("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets").body["items"]:
        if item.get("type") == "helm.sh/release.v1":
            continue
        for key, encoded in (item.get("data") or {}).items():
            values[f"{item['metadata']['name']}/{key}"] = base64.b64decode(encoded).decode()
    return values


def _pods_refused(server: kube.ApiServer) -> list[str]:
    refused = []
    path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
    for deployment in server.request("GET", path).body["items"]:
        deployment = {"apiVersion": "apps/v1", "kind": "Deployment", **deployment}
        answer = server.create(pod_of(deployment), dry_run=True, namespace=NAMESPACE, check=False)
        if answer.status >= 400 or answer.warnings:
            refused.append(f"{deployment['metadata']['name']}: {answer.body.get('message')}")
    return refused


def _tofu(binary: Path, env: dict[str, str], where: Path, *args: str, timeout: float = 1800):
    started = time.monotonic()
    result = subprocess.run(
        [str(binary), *args, "-no-color"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    elapsed = time.monotonic() - started
    print(f"tofu {args[0]}: {elapsed:.1f}s")
    assert result.returncode == 0, (
        f"tofu {' '.join(args)}:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    )
    return result


def test_envs_local_applies_and_destroys_against_a_real_api_server(tmp_path: Path) -> None:
    """One `tofu apply` of envs/local creates every resource that needs no chart from the
    internet, with the real providers; `tofu destroy` then leaves the server as it found it."""
    from devstack import tofu

    binary = tofu.tofu()
    env = tofu.environment(tofu.cli_config(tofu.mirror(tofu.PLATFORM_PROVIDERS)))
    work = tmp_path / "terraform"
    shutil.copytree(INFRA, work, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    root = work / "envs" / "local"

    with kube.running_apiserver() as server:
        # What the Dapr chart would have put there before its dependants: its CRDs (the
        # pub/sub Component and Subscriptions of charts/taskpulse-dapr), and Sentry's trust
        # bundle (a public CA certificate; any PEM will do for a server that runs no daprd).
        server.install_crds(kube.dapr_crds())
        server.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dapr-system"}})
        server.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "dapr-trust-bundle", "namespace": "dapr-system"},
                "data": {"ca.crt": server.ca_file.read_text()},
            }
        )
        before = server.objects()
        (root / "apiserver.auto.tfvars.json").write_text(
            json.dumps(
                {
                    "kubeconfig_path": str(server.kubeconfig),
                    "kube_context": server.context,
                    "components": OFFLINE_COMPONENTS,
                }
            )
        )
        _tofu(binary, env, root, "init", "-input=false")
        with StandIns(server) as standins:
            applied = _tofu(binary, env, root, "apply", "-auto-approve", "-input=false")
            state = _tofu(binary, env, root, "state", "list").stdout.split()
            created = server.objects() - before
            secrets = _secret_values(server)
            refused = _pods_refused(server)
            state_text = (root / "terraform.tfstate").read_text()
            # The second plan is empty: what was applied is what the server stored.
            plan = _tofu(binary, env, root, "plan", "-detailed-exitcode", "-input=false")
            _tofu(binary, env, root, "destroy", "-auto-approve", "-input=false")
            after = server.objects()
        assert not standins.errors, standins.errors

    managed = [a for a in state if not a.startswith(("data.", "module.platform.data."))]
    print(f"{len(managed)} resources in state, {len(created)} objects stored")
    kinds = {path.rsplit("/", 1)[-1] for path, _, _ in created}
    assert {"namespaces", "secrets", "configmaps", "deployments", "services"} <= kinds, kinds
    assert {"serviceaccounts", "components", "subscriptions"} <= kinds, kinds
    deployments = {f"{ns}/{name}" for path, ns, name in created if path.endswith("/deployments")}
    assert standins.rolled_out == deployments, (standins.rolled_out, deployments)
    assert {f"{NAMESPACE}/{f}-dapr" for f in FUNCTIONS} | {f"{NAMESPACE}/centrifugo"} <= deployments
    # The Deployments that modules/platform writes in HCL (Dapr Shared, Centrifugo) make
    # Pods that Pod Security `restricted` admits.
    assert not refused, refused
    # The tokens and keys reached the Secrets through write-only arguments: present in the
    # cluster, absent from the state.
    written = {
        f"{f}-dapr-tokens/{k}" for f in FUNCTIONS for k in ("dapr-api-token", "app-api-token")
    }
    written |= {"centrifugo/token-hmac-secret-key", "centrifugo/http-api-key"}
    assert written <= set(secrets), sorted(secrets)
    for where in written:
        value = secrets[where]
        assert len(value) >= 32, where
        assert value not in state_text, f"{where} is in the state"
    # One apply created every resource of the configuration.
    assert f"Apply complete! Resources: {len(managed)} added, 0 changed" in applied.stdout
    assert "No changes" in plan.stdout
    assert standins.leftovers.get(NAMESPACE) == set(), standins.leftovers
    assert after == before, f"left behind: {sorted(after - before)}; gone: {sorted(before - after)}"
