"""The custom resources of modules/platform's Strimzi and monitoring charts against the real
kube-apiserver of devstack.kube, with the CRDs of the operators that infra/terraform pins.

- Strimzi (``strimzi``): its chart's CRDs are what Strimzi's ``api`` build writes with its
  own ``crd-generator``; both jars come from Maven Central at the pin and the generator runs
  with that build's arguments (devstack.kube.strimzi_crds).
- Prometheus Operator: the operator release of the pinned kube-prometheus-stack chart
  (``kube_prometheus_stack``; devstack.versions says which), from its Go module
  (devstack.kube.prometheus_operator_crds).

The charts are rendered with the pinned helm and the values modules/platform passes them: the
``values`` of each helm_release, evaluated by the real tofu (``tofu console``) for a laptop
(envs/local, with its monitoring opt-in on) and for AKS (envs/aks: three brokers, the premium
storage class). Each document is dry-run as ``kubectl apply --server-side --dry-run=server``
sends it (strict field validation); then one wrong resource per CRD family must be refused.
"""

from __future__ import annotations

import copy
import json
import shutil
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import hcl2
import pytest
from charts_support import render_chart
from platform_console import evaluate, initialised_platform

from devstack import kube, versions
from devstack.cache import cache_dir

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra" / "terraform"
PLATFORM = INFRA / "modules" / "platform"

pytestmark = [
    pytest.mark.infra,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(shutil.which("go") is None, reason="needs go to build kube-apiserver"),
]

_OIDC = {
    "oidc_issuer": "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0",
    "oidc_jwks_url": "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/keys",
}
# modules/platform's inputs as the roots set them (envs/local/main.tf, envs/aks/main.tf with
# modules/aks's platform_kafka); the local monitoring opt-in is on, so that the Kafka
# Exporter's PodMonitor is rendered too.
ENVS: dict[str, dict[str, Any]] = {
    "local": {
        "environment": "local",
        "components": {"monitoring": True},
        "kafka": {"mode": "strimzi", "replicas": 1, "storage_size": "5Gi"},
        **_OIDC,
    },
    "aks": {
        "environment": "aks",
        "storage_class": "managed-csi-premium",
        "kafka": {"mode": "strimzi", "replicas": 3, "storage_size": "50Gi", "tls": False},
        **_OIDC,
    },
}
# helm_release name in modules/platform -> its local chart.
RELEASES = {"kafka_cluster": "strimzi-kafka", "taskpulse_monitoring": "taskpulse-monitoring"}


def _unwrap(value: Any) -> Any:
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value.strip('"') if isinstance(value, str) else value


def _pins() -> dict[str, str]:
    with (INFRA / "modules" / "versions" / "main.tf").open() as handle:
        tree = hcl2.load(handle)
    (pins,) = [_unwrap(b)["pins"] for b in tree["locals"] if "pins" in _unwrap(b)]
    return {k: _unwrap(v) for k, v in _unwrap(pins).items() if not k.startswith("__")}


# ----------------------------------------------------------------------------- the values


def _closing(text: str, start: int) -> int:
    """Index just past the bracket that closes the one at ``start`` (HCL strings, heredoc-free
    expressions and ``#``/``//`` comments skipped)."""
    depth, i, quoted = 0, start, False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "#" or text.startswith("//", i):
            i = text.index("\n", i)
            continue
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced bracket at {start}")


# The namespace resource of modules/platform (main.tf) is named var.namespace; without a
# state tofu console knows it only "after apply".
_NAMESPACE_RESOURCE = "kubernetes_namespace_v1.taskpulse.metadata[0].name"


def _attribute(body: str, name: str) -> str:
    """The expression of the top-level attribute ``name`` of a resource body (one line)."""
    return body.split(f"\n  {name} ", 1)[1].split("=", 1)[1].split("\n", 1)[0].strip()


def release_block(name: str) -> tuple[str, str, str]:
    """(release name, namespace expression, values expression) of ``helm_release.<name>`` in
    modules/platform, as written there; values ``[]`` when it passes none."""
    for path in sorted(PLATFORM.glob("*.tf")):
        text = path.read_text()
        header = f'resource "helm_release" "{name}"'
        if header not in text:
            continue
        start = text.index("{", text.index(header))
        body = text[start : _closing(text, start)]
        release = json.loads(_attribute(body, "name"))
        namespace = _attribute(body, "namespace").replace(_NAMESPACE_RESOURCE, "var.namespace")
        if "\n  values " not in body:
            return release, namespace, "[]"
        at = body.index("[", body.index("\n  values "))
        return release, namespace, body[at : _closing(body, at)]
    raise AssertionError(f"modules/platform has no helm_release.{name}")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return initialised_platform(tmp_path_factory.mktemp("operators"))


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of values files: maps deep, everything else replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def release_values(
    where: Path, variables: Mapping[str, Any], name: str
) -> tuple[str, str, dict[str, Any]]:
    """(release name, namespace, merged values) of ``helm_release.<name>`` as tofu evaluates
    them for ``variables``."""
    release, namespace, values = release_block(name)
    expression = f"[{namespace}, [for v in {values} : yamldecode(v)]]"
    evaluated, documents = evaluate(where, expression, variables)
    merged: dict[str, Any] = {}
    for document in documents:
        merged = _merge(merged, document or {})
    return release, evaluated, merged


def render(where: Path, env: str) -> list[dict[str, Any]]:
    """Every document of the two charts for ``env``, in the namespace its release uses."""
    docs: list[dict[str, Any]] = []
    for release, chart in RELEASES.items():
        name, namespace, values = release_values(where, ENVS[env], release)
        docs += render_chart(chart, values, name=name, namespace=namespace)
    return docs


@pytest.fixture(scope="module")
def rendered(platform: Path) -> dict[str, list[dict[str, Any]]]:
    return {env: render(platform, env) for env in ENVS}


# ----------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def cluster(rendered: dict[str, list[dict[str, Any]]]) -> Iterator[kube.ApiServer]:
    """etcd + kube-apiserver with the Strimzi and Prometheus Operator CRDs and the namespaces
    the charts render into."""
    with kube.running_apiserver() as server:
        server.install_crds(kube.strimzi_crds() + kube.prometheus_operator_crds())
        namespaces = {d["metadata"]["namespace"] for docs in rendered.values() for d in docs}
        for name in sorted(namespaces):
            server.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        yield server


def dry_run(server: kube.ApiServer, doc: Mapping[str, Any]) -> kube.Response:
    return server.apply(doc, dry_run=True, check=False)


def _first(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for d in docs if d["kind"] == kind))


# ----------------------------------------------------------------------------- the pins


def test_the_crd_sources_are_the_terraform_pins() -> None:
    pins = _pins()
    assert pins["strimzi"] == versions.STRIMZI_VERSION
    assert pins["kube_prometheus_stack"] == versions.KUBE_PROMETHEUS_STACK_VERSION
    # What was fetched is that version: the api jar's own Maven coordinates, and the
    # operator's stamp on each of its CRDs.
    api = cache_dir("strimzi", versions.STRIMZI_VERSION) / "libs"
    kube.strimzi_crds()
    with zipfile.ZipFile(api / f"api-{versions.STRIMZI_VERSION}.jar") as jar:
        properties = jar.read("META-INF/maven/io.strimzi/api/pom.properties").decode()
    assert f"version={versions.STRIMZI_VERSION}" in properties.splitlines()
    stamps = {
        c["metadata"]["annotations"]["operator.prometheus.io/version"]
        for c in kube.prometheus_operator_crds()
    }
    assert stamps == {versions.PROMETHEUS_OPERATOR_VERSION}


def test_the_strimzi_crds_are_the_ones_the_chart_installs() -> None:
    crds = {c["spec"]["names"]["kind"]: c for c in kube.strimzi_crds()}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "StrimziPodSet"} <= set(crds)
    for kind in ("Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"):
        (version,) = crds[kind]["spec"]["versions"]
        assert version["name"] == "v1" and version["served"] and version["storage"], kind


def test_the_charts_render_the_expected_kinds(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for env, docs in rendered.items():
        kinds = {d["kind"] for d in docs}
        assert {"Kafka", "KafkaNodePool", "KafkaTopic", "PodMonitor", "PrometheusRule"} <= kinds
        pools = [d for d in docs if d["kind"] == "KafkaNodePool"]
        volume = pools[0]["spec"]["storage"]["volumes"][0]
        if env == "aks":
            assert pools[0]["spec"]["replicas"] == 3
            assert volume["class"] == "managed-csi-premium"
        else:
            assert volume["type"] == "ephemeral"


# ----------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("env", list(ENVS))
def test_every_custom_resource_passes_a_server_side_dry_run(
    cluster: kube.ApiServer, rendered: dict[str, list[dict[str, Any]]], env: str
) -> None:
    problems, checked = [], set()
    for doc in rendered[env]:
        answer = dry_run(cluster, doc)
        where = f"{doc['kind']} {doc['metadata']['namespace']}/{doc['metadata']['name']}"
        checked.add(doc["kind"])
        if answer.status >= 400:
            problems.append(f"{where}: refused: {answer.body.get('message')}")
        elif answer.warnings:
            problems.append(f"{where}: warnings: {answer.warnings}")
    assert not problems, "\n".join(problems)
    assert {"Kafka", "KafkaTopic", "PrometheusRule", "PodMonitor"} <= checked
    # Nothing was stored.
    topics = cluster.request("GET", "/apis/kafka.strimzi.io/v1/kafkatopics").body
    assert topics["items"] == []


# ----------------------------------------------------------------------------- refused


def _kafka_user(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The chart's first KafkaUser, or one like it (the contract's topics, SCRAM, simple
    ACLs) while the chart has none."""
    users = [d for d in docs if d["kind"] == "KafkaUser"]
    if users:
        return copy.deepcopy(users[0])
    topic = _first(docs, "KafkaTopic")
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {
            "name": "create-task",
            "namespace": topic["metadata"]["namespace"],
            "labels": topic["metadata"]["labels"],
        },
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {
                "type": "simple",
                "acls": [
                    {
                        "resource": {"type": "topic", "name": topic["metadata"]["name"]},
                        "operations": ["Write", "Describe"],
                    }
                ],
            },
        },
    }


def test_a_kafka_user_like_the_charts_is_admitted(
    cluster: kube.ApiServer, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    # The refusal below is for the operation alone.
    answer = dry_run(cluster, _kafka_user(rendered["aks"]))
    assert answer.status < 400, answer.body


def test_the_strimzi_crd_refuses_an_unknown_acl_operation(
    cluster: kube.ApiServer, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    user = _kafka_user(rendered["aks"])
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Publish"]
    answer = cluster.create(user, dry_run=True, check=False)
    assert answer.status == 422, answer.body
    assert "spec.authorization.acls[0].operations[0]" in answer.body["message"]
    assert 'Unsupported value: "Publish"' in answer.body["message"]


def test_the_strimzi_crd_refuses_a_node_pool_role_it_does_not_know(
    cluster: kube.ApiServer, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    pool = _first(rendered["aks"], "KafkaNodePool")
    pool["spec"]["roles"] = ["leader"]
    answer = cluster.create(pool, dry_run=True, check=False)
    assert answer.status == 422, answer.body
    assert "spec.roles[0]" in answer.body["message"]


def test_strict_validation_refuses_a_misspelt_kafka_listener_field(
    cluster: kube.ApiServer, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    kafka = _first(rendered["aks"], "Kafka")
    listener = kafka["spec"]["kafka"]["listeners"][0]
    listener["networkPolicyPeer"] = listener.pop("networkPolicyPeers")
    answer = dry_run(cluster, kafka)
    assert answer.status >= 400, answer.body
    assert "networkPolicyPeer" in answer.body["message"]


def test_the_strimzi_crd_refuses_a_topic_without_partitions_as_a_number(
    cluster: kube.ApiServer, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    topic = _first(rendered["aks"], "KafkaTopic")
    topic["spec"]["partitions"] = "three"
    answer = cluster.create(topic, dry_run=True, check=False)
    assert answer.status == 422, answer.body
    assert "spec.partitions" in answer.body["message"]


def test_the_operator_crd_refuses_a_rule_with_a_wrong_duration(
    cluster: kube.ApiServer, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    rule = _first(rendered["aks"], "PrometheusRule")
    alert = next(r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r)
    alert["for"] = "five minutes"
    answer = cluster.create(rule, dry_run=True, check=False)
    assert answer.status == 422, answer.body
    assert '.for: Invalid value: "five minutes"' in answer.body["message"]


def test_strict_validation_refuses_a_misspelt_rule_field(
    cluster: kube.ApiServer, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    rule = _first(rendered["aks"], "PrometheusRule")
    alert = next(r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r)
    alert["expresion"] = alert.pop("expr")
    answer = dry_run(cluster, rule)
    assert answer.status >= 400, answer.body
    assert "expresion" in answer.body["message"]


def test_strict_validation_refuses_a_misspelt_pod_monitor_field(
    cluster: kube.ApiServer, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    monitor = _first(rendered["aks"], "PodMonitor")
    monitor["spec"]["podMetricEndpoints"] = monitor["spec"].pop("podMetricsEndpoints")
    answer = dry_run(cluster, monitor)
    assert answer.status >= 400, answer.body
    assert "podMetricEndpoints" in answer.body["message"]
