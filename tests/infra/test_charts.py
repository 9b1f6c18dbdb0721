"""modules/platform's local charts lint and render to what the contract asks for.

These charts carry the custom resources (KnativeServing, Strimzi Kafka and KafkaTopics, Dapr
Component/Subscriptions, SecretProviderClasses) that `tofu test` cannot see inside: the helm
provider is mocked there. A Helm CLI built from the Go module proxy renders them here with the
values modules/platform passes (topics from contract.py, which test_contract_sync.py
ties to contract.tf). The Dapr chart's Subscriptions and Resiliency are generated from
contract.py (devstack.manifests); here they must render to the documents of
dapr-components/base, in the release's namespace.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from charts_support import helm_template, render_chart

from devstack import kube, manifests, versions
from taskpulse import contract

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "infra" / "terraform" / "modules" / "platform" / "charts"

pytestmark = [
    pytest.mark.infra,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(shutil.which("go") is None, reason="needs the go command to build helm"),
]


@pytest.fixture(scope="module")
def dapr_schemas() -> dict[tuple[str, str], dict]:
    """openAPIV3Schema of each Dapr CRD at the project's Dapr pin (from the Go module zip)."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"github.com/dapr/dapr@v{versions.DAPR_VERSION}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    crds = Path(json.loads(out)["Dir"]) / "charts" / "dapr" / "crds"
    schemas = {}
    for path in crds.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                spec = doc["spec"]
                for version in spec["versions"]:
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def _validate_dapr(docs: list[dict], schemas: dict[tuple[str, str], dict]) -> int:
    checked = 0
    for doc in docs:
        schema = schemas.get((doc["apiVersion"], doc["kind"]))
        if schema is not None:
            jsonschema.Draft7Validator(schema).validate(doc)
            checked += 1
    return checked


def _topics() -> dict[str, dict[str, int]]:
    return {
        t.name: {
            "partitions": t.partitions,
            "retention_ms": int(t.retention.total_seconds() * 1000),
            "max_message_bytes": t.max_message_bytes,
        }
        for t in contract.all_topics()
    }


def _render(helm: Path, chart: str, values: dict[str, object], tmp_path: Path) -> list[dict]:
    """The chart rendered as modules/platform would, and `helm lint` clean with those values."""
    docs = render_chart(chart, values)
    values_file = tmp_path / f"{chart}.yaml"
    values_file.write_text(yaml.safe_dump(values))
    lint = subprocess.run(
        [str(helm), "lint", str(CHARTS / chart), "-f", str(values_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    return docs


def test_strimzi_chart_renders_the_contracts_topics(helm, tmp_path):
    docs = _render(
        helm,
        "strimzi-kafka",
        {
            "replicas": 3,
            "replication": 3,
            "ephemeral": False,
            "topics": _topics(),
            "storageClass": "managed-csi-premium",
            # What modules/platform passes (kafka.tf).
            "clients": {"namespace": "taskpulse", "podLabel": "dapr.io/app-id"},
            "keda": {"namespace": "keda", "podLabels": {"app": "keda-operator"}},
            "backendClients": [{"namespace": "orders", "podLabels": {"app": "orders-api"}}],
            "users": _users(),
        },
        tmp_path,
    )
    topics = {d["metadata"]["name"]: d for d in docs if d["kind"] == "KafkaTopic"}
    assert set(topics) == {t.name for t in contract.all_topics()}
    for t in contract.all_topics():
        spec = topics[t.name]["spec"]
        assert spec["partitions"] == t.partitions
        assert spec["replicas"] == 3
        # An integer, not 6.048e+08: Kafka rejects a float retention.ms.
        assert spec["config"]["retention.ms"] == int(t.retention.total_seconds() * 1000)
        assert spec["config"]["max.message.bytes"] == t.max_message_bytes
        assert topics[t.name]["metadata"]["labels"]["strimzi.io/cluster"] == "taskpulse"
    kafka = next(d for d in docs if d["kind"] == "Kafka")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
    # One listener, TLS + SCRAM-SHA-512, ACLs enforced: no anonymous client anywhere.
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert (listener["port"], listener["tls"]) == (9093, True)
    assert listener["authentication"] == {"type": "scram-sha-512"}
    assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple"}
    assert "userOperator" in kafka["spec"]["entityOperator"]
    assert listener["networkPolicyPeers"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "taskpulse"}},
            "podSelector": {"matchExpressions": [{"key": "dapr.io/app-id", "operator": "Exists"}]},
        },
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
            "podSelector": {"matchLabels": {"app": "keda-operator"}},
        },
        # A trusted backend (kafka.backend_clients), which logs in as taskpulse-backend.
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "orders"}},
            "podSelector": {"matchLabels": {"app": "orders-api"}},
        },
    ]
    users = {d["metadata"]["name"]: d for d in docs if d["kind"] == "KafkaUser"}
    assert set(users) == set(_users())
    for name, user in users.items():
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "taskpulse"
        assert user["spec"]["authentication"] == {
            "type": "scram-sha-512",
            "password": {
                "valueFrom": {"secretKeyRef": {"name": f"{name}-kafka-password", "key": "password"}}
            },
        }
        assert user["spec"]["authorization"] == {"type": "simple", "acls": _users()[name]["acls"]}
    (job,) = [d for d in docs if d["kind"] == "Job"]
    (volume,) = job["spec"]["template"]["spec"]["volumes"]
    assert volume["secret"]["secretName"] == "taskpulse-cluster-ca-cert"
    # Kafka, KafkaNodePool, KafkaTopics and KafkaUsers: valid against Strimzi's CRDs.
    strimzi = _strimzi_schemas()
    validated = 0
    for doc in docs:
        schema = strimzi.get((doc["apiVersion"], doc["kind"]))
        if schema is not None:
            jsonschema.Draft7Validator(schema).validate(doc)
            validated += 1
    assert validated == len(docs) - 1  # all but the Job
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    pool = next(d for d in docs if d["kind"] == "KafkaNodePool")
    volume = pool["spec"]["storage"]["volumes"][0]
    assert volume["type"] == "persistent-claim" and volume["class"] == "managed-csi-premium"


def _users() -> dict[str, dict]:
    """The KafkaUsers modules/platform passes (kafka.tf, from contract.tf kafka_access)."""

    def topic(name: str, *ops: str) -> dict:
        return {
            "resource": {"type": "topic", "name": name, "patternType": "literal"},
            "operations": list(ops),
        }

    users = {}
    for fn in contract.Function:
        acls = [topic(t, "Write", "Describe") for t in contract.writes(fn)]
        acls += [topic(t.name, "Read", "Describe") for t in contract.reads(fn)]
        acls.append(
            {
                "resource": {
                    "type": "group",
                    "name": contract.group_prefix(fn),
                    "patternType": "prefix",
                },
                "operations": ["Read"],
            }
        )
        users[fn.value] = {"passwordSecret": f"{fn.value}-kafka-password", "acls": acls}
    users[contract.BACKEND_PRINCIPAL] = {
        "passwordSecret": f"{contract.BACKEND_PRINCIPAL}-kafka-password",
        "acls": [topic(t.name, "Write", "Describe") for t in contract.BACKEND_PUBLISHES],
    }
    return users


def _strimzi_schemas() -> dict[tuple[str, str], dict]:
    """openAPIV3Schema of each kafka.strimzi.io CRD at the pinned Strimzi (devstack.kube)."""
    schemas = {}
    for doc in kube.strimzi_crds():
        spec = doc["spec"]
        for version in spec["versions"]:
            key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
            schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def test_strimzi_chart_on_a_laptop_is_one_ephemeral_broker(helm, tmp_path):
    docs = _render(helm, "strimzi-kafka", {"topics": _topics()}, tmp_path)
    pool = next(d for d in docs if d["kind"] == "KafkaNodePool")
    assert pool["spec"]["replicas"] == 1
    assert pool["spec"]["storage"]["volumes"][0]["type"] == "ephemeral"
    kafka = next(d for d in docs if d["kind"] == "Kafka")
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 1


def _dapr_components(pattern: str) -> list[dict]:
    """The documents of the dapr-components files matching ``pattern`` (e.g. base/*.yaml)."""
    folder = REPO / "dapr-components"
    return [d for p in sorted(folder.glob(pattern)) for d in yaml.safe_load_all(p.read_text()) if d]


def _without_namespace(doc: dict) -> dict:
    metadata = {k: v for k, v in doc["metadata"].items() if k != "namespace"}
    return {**doc, "metadata": metadata}


def test_dapr_chart_renders_component_and_subscriptions(helm, tmp_path, dapr_schemas):
    functions = [f.value for f in contract.Function]
    docs = _render(
        helm,
        "taskpulse-dapr",
        {"brokers": "b:9092", "functions": functions, "secure": False},
        tmp_path,
    )
    component = next(d for d in docs if d["kind"] == "Component")
    assert component["metadata"]["name"] == contract.PUBSUB_NAME
    meta = {m["name"]: m for m in component["spec"]["metadata"]}
    assert meta["brokers"]["value"] == "b:9092" and meta["authType"]["value"] == "none"
    assert meta["disableTls"]["value"] == "true"
    # Everything but brokers, authentication and TLS as in the dapr-components variants.
    (local,) = _dapr_components("local/pubsub-kafka.yaml")
    differ = manifests.PUBSUB_PLACE_KEYS
    same = {m["name"]: m for m in local["spec"]["metadata"] if m["name"] not in differ}
    assert {k: v for k, v in meta.items() if k not in differ} == same

    # Subscriptions and Resiliency: those of dapr-components/base, in the release namespace.
    subs = [d for d in docs if d["kind"] == "Subscription"]
    assert {s["metadata"]["namespace"] for s in subs} == {"ns"}
    key = lambda d: d["metadata"]["name"]  # noqa: E731
    assert sorted(map(_without_namespace, subs), key=key) == sorted(
        _dapr_components("base/subscription-*.yaml"), key=key
    )
    (resiliency,) = [d for d in docs if d["kind"] == "Resiliency"]
    assert [_without_namespace(resiliency)] == _dapr_components("base/resiliency.yaml")
    # The Configuration daprd's --config=taskpulse names (modules/platform dapr.tf).
    (configuration,) = [d for d in docs if d["kind"] == "Configuration"]
    assert [_without_namespace(configuration)] == _dapr_components("base/configuration.yaml")
    for daprd in _terraform_dapr_shared().values():
        args = daprd["deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--config={configuration['metadata']['name']}" in args
    assert not [d for d in docs if d["kind"] == "SecretProviderClass"]
    # Valid against the CRDs of Dapr DAPR_VERSION (Component v1alpha1, Subscription v2alpha1,
    # Resiliency v1alpha1, Configuration v1alpha1).
    assert _validate_dapr(docs, dapr_schemas) == 3 + len(subs)


def _terraform_dapr_shared() -> dict[str, dict]:
    """What modules/platform's dapr.tf builds its Dapr Shared Deployments and Services from."""
    return yaml.safe_load((CHARTS.parent / "generated" / "dapr-shared.yaml").read_text())


def test_dapr_chart_on_strimzi_is_the_clusters_component(helm, tmp_path, dapr_schemas):
    """One source: with Strimzi the chart's pubsub-kafka is dapr-components/cluster's, but
    for the brokers (in the release namespace)."""
    brokers = "taskpulse-kafka-bootstrap.kafka.svc.cluster.local:9093"
    docs = _render(helm, "taskpulse-dapr", {"brokers": brokers, "secure": True}, tmp_path)
    component = next(d for d in docs if d["kind"] == "Component")
    (cluster,) = _dapr_components("cluster/pubsub-kafka.yaml")
    assert _without_namespace(component) == cluster
    assert _validate_dapr([component], dapr_schemas) == 1


def test_terraforms_dapr_shared_is_knatives(tmp_path):
    """One source: modules/platform builds each <function>-dapr Deployment and Service from
    generated/dapr-shared.yaml, which must be the documents of knative/base (dapr.tf reads
    it with yamldecode; tests/local.tftest.hcl checks that the plan follows it)."""
    generated = _terraform_dapr_shared()
    assert set(generated) == {f.value for f in contract.Function}
    for fn, docs in generated.items():
        base = REPO / "knative" / "base" / fn / "dapr-shared.yaml"
        knative = {d["kind"]: d for d in yaml.safe_load_all(base.read_text()) if d}
        assert docs["deployment"] == knative["Deployment"], fn
        assert docs["service"] == knative["Service"], fn
    dapr_tf = (CHARTS.parent / "dapr.tf").read_text()
    assert 'yamldecode(file("${path.module}/generated/dapr-shared.yaml"))' in dapr_tf


def test_dapr_chart_with_key_vault_and_sasl(helm, tmp_path, dapr_schemas):
    docs = _render(
        helm,
        "taskpulse-dapr",
        {
            "brokers": "kafka.example.net:9092",
            "secure": True,
            "functions": ["create-task"],
            "keyVault": {"enabled": True, "name": "kv", "tenantId": "t", "clientId": "c"},
        },
        tmp_path,
    )
    component = next(d for d in docs if d["kind"] == "Component")
    meta = {m["name"]: m for m in component["spec"]["metadata"]}
    assert meta["authType"]["value"] == "password"
    assert meta["saslPassword"] == {"name": "saslPassword", "envRef": "TASKPULSE_KAFKA_PASSWORD"}
    assert meta["saslMechanism"]["value"] == "SHA-512"
    assert meta["disableTls"]["value"] == "false"
    spc = next(d for d in docs if d["kind"] == "SecretProviderClass")
    assert spc["metadata"]["name"] == "create-task-dapr-tokens"
    synced = spc["spec"]["secretObjects"][0]
    assert synced["secretName"] == "create-task-dapr-tokens"
    assert {d["key"] for d in synced["data"]} == {"dapr-api-token", "app-api-token"}
    assert spc["spec"]["parameters"]["clientID"] == "c"
    # The component, the Resiliency and every Subscription: valid at the Dapr pin.
    assert _validate_dapr(docs, dapr_schemas) == len(docs) - 1  # all but the SecretProviderClass


def test_dapr_chart_refuses_a_sasl_mechanism_that_pubsub_kafka_would_read_as_plain(helm, tmp_path):
    """pubsub.kafka knows SHA-512, SHA-256 and PLAINTEXT; Kafka's own spelling,
    SCRAM-SHA-512, falls through to SASL/PLAIN there (components-contrib
    common/component/kafka/auth.go), so the chart stops instead."""
    values = {
        "brokers": "kafka.example.net:9092",
        "saslSecretName": "kafka-sasl",
        "saslMechanism": "SCRAM-SHA-512",
    }
    out = helm_template("taskpulse-dapr", values)
    assert out.returncode != 0
    assert 'saslMechanism "SCRAM-SHA-512"' in out.stderr


def test_knative_chart_renders_kourier_with_scale_to_zero(helm, tmp_path):
    docs = _render(
        helm,
        "knative-serving",
        {"version": "1.23", "domain": "fn.example.com", "highAvailability": {"replicas": 2}},
        tmp_path,
    )
    (serving,) = docs
    assert serving["kind"] == "KnativeServing"
    assert serving["apiVersion"] == "operator.knative.dev/v1beta1"
    assert serving["spec"]["ingress"]["kourier"]["enabled"] is True
    config = serving["spec"]["config"]
    assert config["network"]["ingress-class"] == "kourier.ingress.networking.knative.dev"
    assert config["autoscaler"]["enable-scale-to-zero"] == "true"
    assert config["domain"] == {"fn.example.com": ""}
    assert "deployment" not in config  # tags resolved to digests, as Knative does by default
    assert serving["spec"]["high-availability"]["replicas"] == 2


def test_knative_chart_on_a_laptop_skips_tag_resolution_for_the_local_registry(helm, tmp_path):
    values = {"skipTagResolving": ["kind.local", "localhost:5001"]}
    (serving,) = _render(helm, "knative-serving", values, tmp_path)
    deployment = serving["spec"]["config"]["deployment"]
    assert deployment == {"registries-skipping-tag-resolving": "kind.local,localhost:5001"}
    overlay = (REPO / "knative/overlays/local/kustomization.yaml").read_text()
    assert "newName: localhost:5001/" in overlay


def test_monitoring_chart_scrapes_the_pods_the_manifests_make(helm, tmp_path):
    """The PodMonitors select the functions' and daprd's pods by the labels knative/ gives
    them, on ports those pods name (Knative names the user container's port user-port)."""
    docs = _render(helm, "taskpulse-monitoring", {}, tmp_path)
    monitors = {d["metadata"]["name"]: d for d in docs}
    assert {d["kind"] for d in docs} == {"PodMonitor", "PrometheusRule", "ConfigMap"}
    assert {d["metadata"]["namespace"] for d in docs} == {"ns"}
    knative = [
        d
        for p in sorted((REPO / "knative/base").rglob("*.yaml"))
        for d in yaml.safe_load_all(p.read_text())
        if d and d.get("kind") in {"Service", "Deployment"}
    ]
    functions = [d for d in knative if d["apiVersion"] == "serving.knative.dev/v1"]
    daprds = [d for d in knative if d["kind"] == "Deployment"]
    assert len(functions) == len(daprds) == len(contract.Function)

    public = [f.value for f in contract.Function if f.is_public]
    selector = monitors["taskpulse-functions"]["spec"]["selector"]
    assert selector["matchExpressions"] == [
        {"key": "taskpulse.dev/function", "operator": "NotIn", "values": public}
    ]
    (endpoint,) = monitors["taskpulse-functions"]["spec"]["podMetricsEndpoints"]
    assert endpoint == {"port": "user-port", "path": "/metrics"}
    for ksvc in functions:
        name = ksvc["metadata"]["name"]
        labels = ksvc["spec"]["template"]["metadata"]["labels"]
        assert selector["matchLabels"].items() <= labels.items(), name
        if name in public:
            # Its /metrics need the app token: Prometheus sends the function's own.
            guarded = monitors[f"taskpulse-{name}"]["spec"]
            assert guarded["selector"]["matchLabels"].items() <= labels.items()
            assert labels["taskpulse.dev/function"] == name
            (endpoint,) = guarded["podMetricsEndpoints"]
            assert endpoint["authorization"] == {
                "type": "Bearer",
                "credentials": {"name": f"{name}-dapr-tokens", "key": "app-api-token"},
            }
            env = {e["name"]: e for e in ksvc["spec"]["template"]["spec"]["containers"][0]["env"]}
            assert env["APP_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
                "name": f"{name}-dapr-tokens",
                "key": "app-api-token",
            }

    (expression,) = monitors["taskpulse-daprd"]["spec"]["selector"]["matchExpressions"]
    (endpoint,) = monitors["taskpulse-daprd"]["spec"]["podMetricsEndpoints"]
    for deployment in daprds:
        pod = deployment["spec"]["template"]
        assert expression == {"key": "dapr.io/app-id", "operator": "Exists"}
        assert expression["key"] in pod["metadata"]["labels"]
        ports = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
        assert endpoint["port"] in ports
    # And the daprd that Terraform makes carries the same label and port name.
    for docs in _terraform_dapr_shared().values():
        pod = docs["deployment"]["spec"]["template"]
        assert expression["key"] in pod["metadata"]["labels"]
        assert endpoint["port"] in {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
