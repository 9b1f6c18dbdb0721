"""modules/platform's NetworkPolicies against the pods they are written for (decision 0026).

The real tofu evaluates ``local.network_policies`` of modules/platform (network.tf) for a few
settings. Then:

- every policy that knative/base/network-policies.yaml also has (same name) has the same spec,
  so applying the kustomization over the module changes nothing;
- a small evaluator of the NetworkPolicy rules (both ends must allow: the source's egress and
  the destination's ingress, a pod selected by no policy of a type is open for it) shows that
  each path the system uses is open and that the paths it must not have are closed. The pods
  carry the labels of the generated manifests (knative/base: the function's template labels
  plus the ``serving.knative.dev/service`` that Knative adds, the daprd's template labels), and
  the ports come from the same manifests (DAPR_HTTP_ENDPOINT, CENTRIFUGO_API_URL, containerPort);
- the policies pass a server-side dry run on the real kube-apiserver of devstack.kube.
"""

from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hcl2
import pytest
import yaml
from platform_console import evaluate, initialised_platform

from devstack import kube

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra" / "terraform"
KNATIVE_BASE = REPO / "knative" / "base"
NAMESPACE = "taskpulse"
FUNCTIONS = ("create-task", "compute-next-occurrence", "send-reminder", "push-update")

pytestmark = [
    pytest.mark.infra,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(shutil.which("go") is None, reason="needs the go command to build tofu"),
]

AKS = {
    "environment": "aks",
    "oidc_issuer": "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0",
    "oidc_jwks_url": (
        "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/discovery/v2.0/keys"
    ),
    "network_policies": {"database": {"cidrs": ["10.30.1.0/24"]}},
}
LOCAL = {
    "environment": "local",
    "oidc_issuer": "http://127.0.0.1:4444/",
    "oidc_jwks_url": "http://host.minikube.internal:4444/.well-known/jwks.json",
}


# ----------------------------------------------------------------------------- tofu


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return initialised_platform(tmp_path_factory.mktemp("network"))


def policies(where: Path, variables: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``local.network_policies`` as tofu evaluates it with ``variables``."""
    result: dict[str, dict[str, Any]] = evaluate(where, "local.network_policies", variables)
    return result


def valkey_ingress() -> dict[str, Any]:
    """centrifugo_redis.tf's own policy for the Valkey of the namespace, as a spec.

    It lives outside ``local.network_policies`` (decision 0025), so it is read from the
    file: only the shapes written there (one rule of pod selectors and ports) are taken.
    """
    tree = hcl2.load((INFRA / "modules" / "platform" / "centrifugo_redis.tf").open())
    block = next(
        e["kubernetes_network_policy_v1"]["centrifugo_redis"]
        for e in tree["resource"]
        if "centrifugo_redis" in e.get("kubernetes_network_policy_v1", {})
    )
    spec = block["spec"][0]
    rule = spec["ingress"][0]
    return {
        "podSelector": {"matchLabels": spec["pod_selector"][0]["match_labels"][0]},
        "policyTypes": spec["policy_types"][0],
        "ingress": [
            {
                "from": [
                    {"podSelector": {"matchLabels": peer["pod_selector"][0]["match_labels"][0]}}
                    for peer in rule["from"]
                ],
                "ports": [
                    {"protocol": p["protocol"][0], "port": int(p["port"][0])} for p in rule["ports"]
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def aks(platform: Path) -> dict[str, dict[str, Any]]:
    """The module's policies on AKS (two Centrifugo replicas: with Valkey's own policy)."""
    return policies(platform, AKS) | {"centrifugo-redis-ingress": valkey_ingress()}


@pytest.fixture(scope="module")
def local(platform: Path) -> dict[str, dict[str, Any]]:
    return policies(platform, LOCAL)


# ----------------------------------------------------------------------------- manifests


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _one(path: Path, kind: str) -> dict[str, Any]:
    return next(d for d in _docs(path) if d["kind"] == kind)


def _env(function: str, name: str) -> str:
    service = _one(KNATIVE_BASE / function / "service.yaml", "Service")
    for var in service["spec"]["template"]["spec"]["containers"][0]["env"]:
        if var["name"] == name:
            value: str = var["value"]
            return value
    raise KeyError(f"{function}: no {name}")


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


# ----------------------------------------------------------------------------- the evaluator


@dataclass(frozen=True)
class Endpoint:
    """A pod (``namespace`` set) or an address outside the cluster (``ip``)."""

    name: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: str | None = None


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector  # the module writes only matchLabels
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer(peer: Mapping[str, Any], other: Endpoint) -> bool:
    if "ipBlock" in peer:
        # ipBlock means addresses outside the cluster (Cilium never matches pods by CIDR).
        block = peer["ipBlock"]
        if other.ip is None:
            return False
        address = ipaddress.ip_address(other.ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": other.namespace}
        if not _selects(peer["namespaceSelector"], ns_labels):
            return False
    elif other.namespace != NAMESPACE:
        return False
    return _selects(peer.get("podSelector", {}), other.labels)


def _ports(rule: Mapping[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports") or []
    return not ports or any(
        p.get("protocol", "TCP") == protocol and p.get("port") == port for p in ports
    )


def _side(
    table: Mapping[str, Mapping[str, Any]],
    pod: Endpoint,
    kind: str,
    other: Endpoint,
    port: int,
    protocol: str,
) -> bool:
    if pod.namespace != NAMESPACE:
        return True  # other namespaces' policies are not this module's
    key, peers = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
    selecting = [
        p
        for p in table.values()
        if kind in p["policyTypes"] and _selects(p.get("podSelector", {}), pod.labels)
    ]
    if not selecting:
        return True
    return any(
        (not rule.get(peers) or any(_peer(peer, other) for peer in rule[peers]))
        and _ports(rule, port, protocol)
        for p in selecting
        for rule in p.get(key, [])
    )


def allowed(
    table: Mapping[str, Mapping[str, Any]],
    src: Endpoint,
    dst: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    return _side(table, src, "Egress", dst, port, protocol) and _side(
        table, dst, "Ingress", src, port, protocol
    )


# ----------------------------------------------------------------------------- the pods


def function_pod(function: str) -> Endpoint:
    service = _one(KNATIVE_BASE / function / "service.yaml", "Service")
    labels = dict(service["spec"]["template"]["metadata"]["labels"])
    # What Knative puts on every pod of a revision (serving pkg/apis/serving/register.go).
    labels |= {
        "serving.knative.dev/service": function,
        "serving.knative.dev/configuration": function,
        "serving.knative.dev/revision": f"{function}-00001",
    }
    return Endpoint(function, NAMESPACE, labels)


def daprd_pod(function: str) -> Endpoint:
    deployment = _one(KNATIVE_BASE / function / "dapr-shared.yaml", "Deployment")
    return Endpoint(
        f"{function}-dapr", NAMESPACE, deployment["spec"]["template"]["metadata"]["labels"]
    )


def module_daprd_pod(function: str) -> Endpoint:
    """The template labels of modules/platform dapr.tf's Deployment (fewer than knative/'s)."""
    return Endpoint(
        f"{function}-dapr",
        NAMESPACE,
        {"app.kubernetes.io/name": f"{function}-dapr", "dapr.io/app-id": function},
    )


def container_port(function: str, name: str) -> int:
    deployment = _one(KNATIVE_BASE / function / "dapr-shared.yaml", "Deployment")
    ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    port: int = next(p["containerPort"] for p in ports if p["name"] == name)
    return port


def function_port(function: str) -> int:
    service = _one(KNATIVE_BASE / function / "service.yaml", "Service")
    port: int = service["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    return port


CENTRIFUGO = Endpoint(
    "centrifugo",
    NAMESPACE,
    {"app.kubernetes.io/name": "centrifugo", "app.kubernetes.io/part-of": "taskpulse"},
)
MIGRATE = Endpoint(
    "migrate",
    NAMESPACE,
    _docs(REPO / ".github" / "deploy" / "migrate.yaml")[1]["spec"]["template"]["metadata"][
        "labels"
    ],
)
REDIS = Endpoint("centrifugo-redis", NAMESPACE, {"app.kubernetes.io/name": "centrifugo-redis"})
STRANGER = Endpoint("stranger", NAMESPACE, {"app": "stranger"})
OUTSIDER = Endpoint("outsider", "default", {"app": "outsider"})
PROMETHEUS = Endpoint("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"})
ACTIVATOR = Endpoint("activator", "knative-serving", {"app": "activator"})
GATEWAY = Endpoint("kourier", "knative-serving", {"app": "3scale-kourier-gateway"})
NET_KOURIER = Endpoint("kourier", "kourier-system", {"app": "3scale-kourier-gateway"})
CENTRIFUGO_INTERNAL = 9000
"""Centrifugo's http_server.internal_port (modules/platform centrifugo.tf)."""
COREDNS = Endpoint("coredns", "kube-system", {"k8s-app": "kube-dns"})
BROKER = Endpoint(
    "broker",
    "kafka",
    {
        "strimzi.io/cluster": "taskpulse",
        "strimzi.io/kind": "Kafka",
        "strimzi.io/broker-role": "true",
    },
)
ENTITY_OPERATOR = Endpoint(
    "entity-operator",
    "kafka",
    {"strimzi.io/cluster": "taskpulse", "strimzi.io/kind": "Kafka"},
)
DAPR = {
    app: Endpoint(app, "dapr-system", {"app": app})
    for app in ("dapr-operator", "dapr-sentry", "dapr-scheduler-server", "dapr-placement-server")
}
# The Dapr 1.18 chart's pod ports behind dapr-api, dapr-sentry, dapr-scheduler-server-a:443
# and dapr-placement-server (charts/dapr/charts/*/templates/*_service.yaml).
DAPR_PORTS = {
    "dapr-operator": 6500,
    "dapr-sentry": 50001,
    "dapr-scheduler-server": 50006,
    "dapr-placement-server": 50005,
}
DATABASE = Endpoint("postgres", ip="10.30.1.4")
ENTRA = Endpoint("login.microsoftonline.com", ip="20.190.160.1")
SMTP = Endpoint("smtp-relay", ip="52.1.2.3")
HOST = Endpoint("the laptop's host", ip="192.168.49.1")


# ----------------------------------------------------------------------------- tests


def test_the_shared_policies_are_knatives_own(aks: dict[str, dict[str, Any]]) -> None:
    knative = {d["metadata"]["name"]: d for d in _docs(KNATIVE_BASE / "network-policies.yaml")}
    missing = sorted(set(knative) - set(aks))
    assert not missing, f"modules/platform lacks {missing}"
    for name, doc in knative.items():
        assert aks[name] == doc["spec"], f"{name} differs from knative/base"
    # Valkey's own ingress policy is centrifugo_redis.tf's (knative/ runs no Redis).
    extra = {n for n in aks if n.endswith("-ingress") and n not in knative}
    extra -= {"centrifugo-redis-ingress"}
    assert not extra, "an ingress policy of the module is not in knative/base"


def test_every_path_the_system_uses_is_open(aks: dict[str, dict[str, Any]]) -> None:
    problems = []

    def expect(src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> None:
        if not allowed(aks, src, dst, port, protocol):
            problems.append(f"{src.name} -> {dst.name}:{port}/{protocol} is closed")

    for fn in FUNCTIONS:
        pod, daprd = function_pod(fn), daprd_pod(fn)
        for d in (daprd, module_daprd_pod(fn)):
            expect(pod, d, _port(_env(fn, "DAPR_HTTP_ENDPOINT")))
            expect(pod, d, container_port(fn, "grpc"))
            expect(d, BROKER, 9093)
            for app, port in DAPR_PORTS.items():
                expect(d, DAPR[app], port)
            expect(d, GATEWAY, 8081)  # kourier-internal:80, which <fn>.<ns>.svc names
            expect(d, pod, 8012)  # queue-proxy
            expect(PROMETHEUS, d, container_port(fn, "metrics"))
            expect(d, COREDNS, 53, "UDP")
        expect(pod, DATABASE, 5432)
        expect(pod, ENTRA, 443)  # the workload-identity token for PostgreSQL
        expect(pod, COREDNS, 53, "UDP")
        expect(pod, COREDNS, 53, "TCP")
        expect(ACTIVATOR, pod, 8012)
        expect(GATEWAY, pod, 8012)
        expect(PROMETHEUS, pod, function_port(fn))
    expect(
        function_pod("push-update"), CENTRIFUGO, _port(_env("push-update", "CENTRIFUGO_API_URL"))
    )
    expect(function_pod("send-reminder"), SMTP, 587)
    expect(function_pod("create-task"), ENTRA, _port(AKS["oidc_issuer"]))
    expect(CENTRIFUGO, ENTRA, _port(AKS["oidc_jwks_url"]))
    expect(GATEWAY, CENTRIFUGO, 8000)
    expect(NET_KOURIER, CENTRIFUGO, 8000)
    expect(CENTRIFUGO, REDIS, 6379)
    expect(MIGRATE, DATABASE, 5432)
    expect(MIGRATE, ENTRA, 443)
    assert not problems, "\n".join(problems)


def test_nothing_else_is_open(aks: dict[str, dict[str, Any]]) -> None:
    problems = []

    def refuse(src: Endpoint, dst: Endpoint, port: int) -> None:
        if allowed(aks, src, dst, port):
            problems.append(f"{src.name} -> {dst.name}:{port} is open")

    for fn in FUNCTIONS:
        pod, daprd = function_pod(fn), daprd_pod(fn)
        for other in FUNCTIONS:
            if other != fn:
                refuse(pod, daprd_pod(other), 3500)  # another function's Dapr API
                refuse(pod, function_pod(other), 8012)
                refuse(daprd, function_pod(other), 8012)
        refuse(pod, BROKER, 9093)  # Kafka only through daprd
        refuse(pod, DAPR["dapr-sentry"], 50001)
        refuse(daprd, DATABASE, 5432)
        refuse(daprd, ENTRA, 443)
        refuse(daprd, ENTITY_OPERATOR, 9092)
        refuse(daprd, COREDNS, 8080)
        refuse(STRANGER, daprd, 3500)
        refuse(OUTSIDER, daprd, 3500)
        refuse(OUTSIDER, pod, 8080)
        refuse(PROMETHEUS, daprd, 3500)
        refuse(pod, SMTP, 25)
        refuse(CENTRIFUGO, daprd, 3500)
    for fn in ("create-task", "compute-next-occurrence", "send-reminder"):
        refuse(function_pod(fn), CENTRIFUGO, 8000)
        refuse(function_pod(fn), CENTRIFUGO, CENTRIFUGO_INTERNAL)
    for fn in FUNCTIONS:
        refuse(daprd_pod(fn), CENTRIFUGO, CENTRIFUGO_INTERNAL)
    for fn in ("create-task", "compute-next-occurrence", "push-update"):
        refuse(function_pod(fn), SMTP, 587)
    refuse(STRANGER, REDIS, 6379)
    refuse(OUTSIDER, REDIS, 6379)
    refuse(function_pod("push-update"), REDIS, 6379)
    refuse(REDIS, ENTRA, 443)
    refuse(STRANGER, ENTRA, 443)
    refuse(STRANGER, DATABASE, 5432)
    refuse(CENTRIFUGO, DATABASE, 5432)
    refuse(MIGRATE, BROKER, 9093)
    assert not problems, "\n".join(problems)


def test_only_push_update_reaches_centrifugos_server_api(aks: dict[str, dict[str, Any]]) -> None:
    """The server API (internal port) takes push-update's pods and nothing else; the
    client port (WebSocket) takes Kourier's gateway, which publishes it, and nothing else."""
    api = _port(_env("push-update", "CENTRIFUGO_API_URL"))
    assert api == CENTRIFUGO_INTERNAL, "push-update must call the internal port"
    assert allowed(aks, function_pod("push-update"), CENTRIFUGO, api)
    problems = [
        f"{src.name} -> centrifugo:{port} is open"
        for src, port in [
            (function_pod("push-update"), 8000),  # the API is not on the client port
            (GATEWAY, api),  # the edge never reaches the API
            (STRANGER, api),
            (STRANGER, 8000),
            (OUTSIDER, api),
            (OUTSIDER, 8000),
            (PROMETHEUS, api),
            (ACTIVATOR, api),
            (REDIS, api),
            (Endpoint("impostor", "default", {"serving.knative.dev/service": "push-update"}), api),
        ]
        if allowed(aks, src, CENTRIFUGO, port)
    ]
    assert not problems, "\n".join(problems)


def test_on_a_laptop_only_create_task_and_centrifugo_reach_the_issuer(
    local: dict[str, dict[str, Any]],
) -> None:
    issuer = _port(LOCAL["oidc_jwks_url"])
    assert allowed(local, function_pod("create-task"), HOST, issuer)
    assert allowed(local, CENTRIFUGO, HOST, issuer)
    for fn in ("compute-next-occurrence", "send-reminder", "push-update"):
        assert not allowed(local, function_pod(fn), HOST, issuer)
        assert not allowed(local, function_pod(fn), ENTRA, 443), "no Entra ID off AKS"
    assert not allowed(local, function_pod("create-task"), ENTRA, 443)


def test_the_policies_pass_a_server_side_dry_run(aks: dict[str, dict[str, Any]]) -> None:
    with kube.running_apiserver() as server:
        server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        for name, spec in aks.items():
            doc = {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {
                    "name": name,
                    "namespace": NAMESPACE,
                    "labels": {"app.kubernetes.io/part-of": "taskpulse"},
                },
                "spec": spec,
            }
            response = server.apply(doc, dry_run=True, check=False)
            assert response.status < 300, f"{name}: {response.body}"


def test_the_aks_overlay_runs_the_two_daprd_that_the_pdbs_assume() -> None:
    """pdb.tf gives knative/'s daprd a PDB on AKS (components.dapr_shared = false) because
    knative/overlays/aks runs two of each, as this module's own Deployments do there."""
    overlay = yaml.safe_load(
        (REPO / "knative" / "overlays" / "aks" / "kustomization.yaml").read_text()
    )
    # The daprd count is KEDA's, whose floor the overlay raises to two.
    patch = next(p for p in overlay["patches"] if p["target"].get("kind") == "ScaledObject")
    assert yaml.safe_load(patch["patch"]) == [
        {"op": "replace", "path": "/spec/minReplicaCount", "value": 2}
    ]
    dapr_tf = (INFRA / "modules" / "platform" / "dapr.tf").read_text()
    assert "replicas = local.local ? 1 : 2" in dapr_tf
