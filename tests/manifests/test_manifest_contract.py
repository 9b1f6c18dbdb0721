"""The manifests say what taskpulse.contract says, and nothing secret."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from manifests_support import (
    QUEUE_PROXY_PORTS,
    REPO,
    all_docs,
    func_yaml_files,
    load_docs,
    manifest_files,
    rel,
)

from devstack import kafka_access, manifests
from devstack.kafka_access import Brokers, KafkaLogins
from taskpulse.contract import (
    PUBSUB_NAME,
    SUBSCRIPTIONS,
    TOPIC_MAX_MESSAGE_BYTES,
    TOPICS,
    EventType,
    Function,
    all_topics,
    consumer_group,
    gate_of,
)

APP_IDS = {f.value for f in Function}
TOPIC_NAMES = {t.name for t in all_topics()}


def _docs(kind: str, prefix: str = "") -> list[tuple[Path, dict[str, Any]]]:
    return [
        (p, d)
        for p, d in all_docs()
        if d.get("kind") == kind and str(d.get("apiVersion", "")).startswith(prefix)
    ]


def _metadata(component: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in component["spec"]["metadata"]}


# ----------------------------------------------------------------------------- generator


def test_generated_files_match_the_contract() -> None:
    assert manifests.check(REPO) == []


def test_check_detects_drift(tmp_path: Path) -> None:
    for rel_path in manifests.render():
        target = tmp_path / rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel_path, target)
    assert manifests.check(tmp_path) == []
    sub = tmp_path / "dapr-components/base/subscription-push-update-task-updates.yaml"
    sub.write_text(sub.read_text().replace("/events/task-update", "/events/other"))
    (tmp_path / "dapr-components/base/subscription-stray.yaml").write_text("{}\n")
    (tmp_path / "functions/create-task/func.yaml").unlink()
    problems = manifests.check(tmp_path)
    assert len(problems) == 3, problems


def test_check_ignores_what_func_writes_back(tmp_path: Path) -> None:
    for rel_path in manifests.render():
        target = tmp_path / rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel_path, target)
    path = tmp_path / "functions/push-update/func.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["image"] = "example.azurecr.io/push-update:latest"
    doc["deploy"]["image"] = "example.azurecr.io/push-update@sha256:" + "0" * 64
    path.write_text(yaml.safe_dump(doc))
    assert manifests.check(tmp_path) == []


def test_cli_check_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert manifests.main(["check", "--root", str(REPO)]) == 0
    assert "match taskpulse.contract" in capsys.readouterr().out


# ----------------------------------------------------------------------------- subscriptions


SUBS = _docs("Subscription", "dapr.io/")


def test_every_contract_subscription_is_exactly_one_route() -> None:
    """Each entry of SUBSCRIPTIONS is one route of exactly one manifest, scoped to its
    function, on its topic: a rule matching exactly its CloudEvent types, or, for a gate,
    the default route of a rawPayload subscription."""
    rules: list[tuple[str, str, str, str]] = []
    for _, doc in SUBS:
        (app,) = doc["scopes"]
        routes = doc["spec"]["routes"]
        for rule in routes.get("rules", []):
            rules.append((app, doc["spec"]["topic"], rule["path"], rule["match"]))
        if "default" in routes:
            raw = doc["spec"].get("metadata", {}).get("rawPayload")
            rules.append((app, doc["spec"]["topic"], routes["default"], f"rawPayload={raw}"))
    expected = []
    for sub in SUBSCRIPTIONS:
        if sub.gate:
            expected.append((sub.function.value, sub.topic.name, sub.path, "rawPayload=true"))
            continue
        match = manifests.match_expression(sub.types, sub.data_present)
        types = re.findall(r'event\.type (?:==|in) \[?("[^]&]+)', match)
        assert set(re.findall(r'"([^"]+)"', types[0])) == {t.value for t in sub.types}
        for field in sub.data_present:
            assert f"type(event.data.{field}) == string" in match
        expected.append((sub.function.value, sub.topic.name, sub.path, match))
    assert sorted(rules) == sorted(expected)


def test_one_subscription_per_function_and_topic() -> None:
    """daprd 1.18.3 ignores a second declarative subscription of one app on one topic."""
    keys = [(d["scopes"][0], d["spec"]["pubsubname"], d["spec"]["topic"]) for _, d in SUBS]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(("path", "doc"), SUBS, ids=[rel(p) for p, _ in SUBS])
def test_subscription_names_only_contract_things(path: Path, doc: dict[str, Any]) -> None:
    spec = doc["spec"]
    assert doc["apiVersion"] == "dapr.io/v2alpha1"
    assert spec["pubsubname"] == PUBSUB_NAME
    assert spec["topic"] in {t.name for t in TOPICS}
    assert len(doc["scopes"]) == 1 and doc["scopes"][0] in APP_IDS
    if "default" in spec["routes"]:
        # Only a gate: every record of its topic, unparsed, and no rules beside it.
        assert spec["metadata"] == {"rawPayload": "true"}
        assert "rules" not in spec["routes"]
    contract = [
        sub
        for sub in SUBSCRIPTIONS
        if sub.function.value == doc["scopes"][0] and sub.topic.name == spec["topic"]
    ]
    if any(sub.gate for sub in contract):
        # In bulk, in batches whose worst case (events at the topic's limit) stays bounded,
        # waiting little for a batch to fill.
        bulk = spec["bulkSubscribe"]
        assert bulk["enabled"] is True
        assert bulk["maxMessagesCount"] * TOPIC_MAX_MESSAGE_BYTES <= 64 * 1024 * 1024
        assert 0 < bulk["maxAwaitDurationMs"] <= 50
    else:
        assert "bulkSubscribe" not in spec
    for rule in spec["routes"].get("rules", []):
        # CEL on the CloudEvent `type` attribute first; fields of `data` only where the
        # contract narrows a subscription (checked against it above).
        assert rule["match"].startswith("event.type ")
        on_type = rule["match"].split(" && ", 1)[0]
        for value in re.findall(r'"([^"]+)"', on_type):
            EventType(value)
    if "deadLetterTopic" in spec:
        assert spec["deadLetterTopic"] == f"{spec['topic']}-dlq"
        assert spec["deadLetterTopic"] in TOPIC_NAMES


def test_each_topic_has_one_gate_and_only_the_gate_has_a_dead_letter_topic() -> None:
    """daprd dead-letters every event that no rule of a subscription matches, so a
    deadLetterTopic on a subscription that reads only some types of its topic would catch
    the other functions' events. The gate reads everything (rawPayload, default route) and
    has one; no other subscription does."""
    gates: dict[str, str] = {}
    for _, doc in SUBS:
        spec = doc["spec"]
        if "default" in spec["routes"]:
            assert spec["topic"] not in gates, f"two gates on {spec['topic']}"
            gates[spec["topic"]] = doc["scopes"][0]
            assert spec["deadLetterTopic"] == f"{spec['topic']}-dlq"
        else:
            assert "deadLetterTopic" not in spec, doc["metadata"]["name"]
    assert gates == {t.name: gate_of(t).function.value for t in TOPICS}
    assert gates == {
        "task-events": "compute-next-occurrence",
        "reminders": "send-reminder",
        "task-updates": "push-update",
    }


# ----------------------------------------------------------------------------- components


def _variant_components(variant: str) -> dict[str, dict[str, Any]]:
    docs = [
        d
        for p in sorted((REPO / "dapr-components" / variant).glob("*.yaml"))
        for d in load_docs(p)
        if d.get("kind") == "Component"
    ]
    return {d["metadata"]["name"]: d for d in docs}


LOCAL = _variant_components("local")
CLUSTER = _variant_components("cluster")
MAY_DIFFER = manifests.PUBSUB_PLACE_KEYS


def test_component_names_are_the_same_in_both_variants() -> None:
    assert set(LOCAL) == set(CLUSTER)
    assert PUBSUB_NAME in LOCAL
    assert not list((REPO / "dapr-components/base").glob("*component*"))
    base_components = [
        d
        for p in (REPO / "dapr-components/base").glob("*.yaml")
        for d in load_docs(p)
        if d.get("kind") == "Component"
    ]
    assert base_components == []  # components live only in the variants


def test_the_variants_differ_only_where_they_must() -> None:
    for name in LOCAL:
        local, cluster = LOCAL[name], CLUSTER[name]
        if name != PUBSUB_NAME:  # the secret store: same name, the store of each place
            assert local["spec"]["type"].startswith("secretstores.")
            assert cluster["spec"]["type"] == "secretstores.kubernetes"
            continue
        assert local["spec"]["type"] == cluster["spec"]["type"] == "pubsub.kafka"
        lm, cm = _metadata(local), _metadata(cluster)
        for key in (set(lm) | set(cm)) - MAY_DIFFER:
            assert lm.get(key) == cm.get(key), f"{key} differs between local and cluster"
        # Locally the launcher says whether the broker is the secured one it runs.
        assert lm["authType"] == {"name": "authType", "envRef": kafka_access.AUTH_TYPE_ENV}
        assert lm["disableTls"] == {"name": "disableTls", "envRef": kafka_access.DISABLE_TLS_ENV}
        assert cm["authType"]["value"] == "password"
        assert cm["disableTls"]["value"] == "false"
        assert cm["saslMechanism"]["value"] == "SHA-512"
        # Each daprd logs in as its function: no secret value, no shared Secret.
        for secret, env in (
            ("saslUsername", kafka_access.USERNAME_ENV),
            ("saslPassword", kafka_access.PASSWORD_ENV),
            ("caCert", kafka_access.CA_CERT_ENV),
        ):
            assert cm[secret] == {"name": secret, "envRef": env}


def test_each_function_may_publish_and_subscribe_only_as_the_contract_says() -> None:
    for variant in (LOCAL, CLUSTER):
        meta = _metadata(variant[PUBSUB_NAME])
        assert meta["publishingScopes"]["value"] == manifests.publishing_scopes()
        assert meta["subscriptionScopes"]["value"] == manifests.subscription_scopes()
    # Dapr lets an app whose scope is empty use every topic: each must name one at least.
    scopes = dict(s.split("=") for s in manifests.publishing_scopes().split(";"))
    assert set(scopes) == {f.value for f in Function}
    assert all(scopes.values())
    assert scopes[Function.PUSH_UPDATE.value] == "task-updates-dlq"


def test_kafka_retries_are_bounded_and_groups_follow_the_contract() -> None:
    for variant in (LOCAL, CLUSTER):
        meta = _metadata(variant[PUBSUB_NAME])
        # Retries belong to the Resiliency alone (below); the component's own retry,
        # forever by default, would hold a partition on every record daprd cannot read.
        assert meta["consumeRetryEnabled"]["value"] == "false"
        assert not {k for k in meta if k.startswith("backOff")}, "unused without consumeRetry"
        assert meta["initialOffset"]["value"] == "oldest"
        assert int(meta["maxMessageBytes"]["value"]) == TOPIC_MAX_MESSAGE_BYTES
        assert meta["consumerGroup"] == {
            "name": "consumerGroup",
            "envRef": manifests.CONSUMER_GROUP_ENV,
        }
    deployments = {d["metadata"]["name"]: d for _, d in _docs("Deployment")}
    for fn in Function:
        env = {
            e["name"]: e.get("value")
            for e in deployments[manifests.dapr_service(fn)]["spec"]["template"]["spec"][
                "containers"
            ][0]["env"]
        }
        first_topic = next(s.topic for s in SUBSCRIPTIONS if s.function is fn)
        assert env[manifests.CONSUMER_GROUP_ENV] == consumer_group(fn, first_topic)


# ----------------------------------------------------------------------------- resiliency


def test_each_resiliency_is_alone_in_its_file() -> None:
    for path in manifest_files():
        docs = load_docs(path)
        if any(d.get("kind") == "Resiliency" for d in docs):
            assert len(docs) == 1, rel(path)


def test_resiliency_targets_exist() -> None:
    ((_, res),) = _docs("Resiliency", "dapr.io/")
    policies = res["spec"]["policies"]
    targets = res["spec"]["targets"]
    assert set(targets["apps"]) == APP_IDS
    assert set(targets["components"]) == {PUBSUB_NAME}
    for target in [*targets["apps"].values(), *targets["components"][PUBSUB_NAME].values()]:
        assert target["retry"] in policies["retries"]
        assert target["timeout"] in policies["timeouts"]
        if "circuitBreaker" in target:
            assert target["circuitBreaker"] in policies["circuitBreakers"]
    for retry in policies["retries"].values():
        assert 0 <= retry["maxRetries"] <= 20  # bounded, never -1


# ------------------------------------------------------------------------ Knative + Dapr Shared


KSVC = {d["metadata"]["name"]: d for _, d in _docs("Service", "serving.knative.dev/")}
DEPLOYMENTS = {d["metadata"]["name"]: d for _, d in _docs("Deployment")}
SERVICES = {d["metadata"]["name"]: d for _, d in _docs("Service", "v1")}


@pytest.mark.parametrize("fn", list(Function), ids=[f.value for f in Function])
def test_knative_service(fn: Function) -> None:
    ksvc = KSVC[fn.value]
    template = ksvc["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/min-scale"] == "0"
    assert annotations["dapr.io/enabled"] == "false"
    visibility = ksvc["metadata"].get("labels", {}).get("networking.knative.dev/visibility")
    assert visibility == (None if fn is Function.CREATE_TASK else "cluster-local")
    spec = template["spec"]
    assert spec["containerConcurrency"] > 0 and 0 < spec["timeoutSeconds"] <= 600
    (container,) = spec["containers"]
    ports = {p["containerPort"] for p in container["ports"]}
    assert not ports & QUEUE_PROXY_PORTS
    env = {e["name"]: e for e in container["env"]}
    assert env["DAPR_HTTP_ENDPOINT"]["value"] == (
        f"http://{fn.value}-dapr.taskpulse.svc.cluster.local:3500"
    )
    if fn is Function.SEND_REMINDER:
        # The local defaults (taskpulse.local) cannot be delivered from a cluster.
        for name in ("SMTP_SENDER", "MAIL_DOMAIN", "SMTP_HOST"):
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "taskpulse-smtp", name
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    # Knative probes readiness every 50 ms until ready only when periodSeconds is unset
    # (knative/serving pkg/queue/readiness/probe.go): with a period, each cold start waits.
    assert "periodSeconds" not in container["readinessProbe"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveness"
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("fn", list(Function), ids=[f.value for f in Function])
def test_dapr_shared_instance(fn: Function) -> None:
    name = f"{fn.value}-dapr"
    pod = DEPLOYMENTS[name]["spec"]["template"]["spec"]
    (daprd,) = pod["containers"]
    args = dict(a.removeprefix("--").split("=", 1) for a in daprd["args"])
    assert args["app-id"] == fn.value
    assert args["app-channel-address"] == f"{fn.value}.taskpulse.svc.cluster.local"
    assert args["app-port"] == "80"
    assert args["enable-app-health-check"] == "false"
    assert "subscribe" in args["disable-init-endpoints"].split(",")
    assert args["scheduler-host-address"].endswith(":443")
    assert args["mode"] == "kubernetes"
    assert args["control-plane-namespace"] == "dapr-system"
    env = {e["name"] for e in daprd["env"]}
    assert {"NAMESPACE", "POD_NAME", "DAPR_TRUST_ANCHORS"} <= env
    assert int(args["metrics-port"]) not in QUEUE_PROXY_PORTS
    assert daprd["image"].endswith(":1.18.3")
    # Liveness on the port, as the injector does: healthz fails while Kafka is not there yet.
    assert "tcpSocket" in daprd["livenessProbe"] and "httpGet" in daprd["readinessProbe"]
    # The Service the function's DAPR_HTTP_ENDPOINT names.
    ports = {p["name"]: p["port"] for p in SERVICES[name]["spec"]["ports"]}
    assert ports["http"] == 3500
    assert (
        SERVICES[name]["spec"]["selector"] == DEPLOYMENTS[name]["spec"]["selector"]["matchLabels"]
    )
    assert pod["serviceAccountName"] == name


def test_rbac_is_least_privilege() -> None:
    # No Role at all: each daprd's Kafka login comes from its environment (decision 0029),
    # and neither the functions nor their daprds read anything through the Kubernetes API.
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert not _docs(kind), kind
    accounts = {d["metadata"]["name"]: d for _, d in _docs("ServiceAccount")}
    for fn in Function:
        assert accounts[fn.value]["automountServiceAccountToken"] is False
        assert KSVC[fn.value]["spec"]["template"]["spec"]["serviceAccountName"] == fn.value


def test_network_policies_cover_every_pod() -> None:
    policies = [d for _, d in _docs("NetworkPolicy")]
    assert any(p["spec"]["podSelector"] == {} and p["spec"]["ingress"] == [] for p in policies)
    selected = [p["spec"]["podSelector"].get("matchLabels", {}) for p in policies]
    for fn in Function:
        assert {"serving.knative.dev/service": fn.value} in selected
        assert {"app.kubernetes.io/name": f"{fn.value}-dapr"} in selected
    # Centrifugo, which modules/platform runs in the same namespace, stays reachable: its
    # WebSocket from Kourier's gateway, its server API from push-update only (decision 0031).
    (centrifugo,) = [
        p for p in policies if p["spec"]["podSelector"] == {"matchLabels": CENTRIFUGO_POD}
    ]
    client, api = centrifugo["spec"]["ingress"]
    assert client["ports"] == [{"protocol": "TCP", "port": 8000}]
    assert {f["podSelector"]["matchLabels"]["app"] for f in client["from"]} == {
        "3scale-kourier-gateway"
    }
    assert api == {
        "from": [{"podSelector": {"matchLabels": {"serving.knative.dev/service": "push-update"}}}],
        "ports": [{"protocol": "TCP", "port": 9000}],
    }


CENTRIFUGO_POD = {"app.kubernetes.io/name": "centrifugo"}


def test_what_the_functions_read_is_what_modules_platform_makes() -> None:
    """push-update's Centrifugo key and the pods the network policy lets through are the
    Secret and the labels that modules/platform gives Centrifugo."""
    platform = (REPO / "infra/terraform/modules/platform/centrifugo.tf").read_text()
    outputs = (REPO / "infra/terraform/modules/platform/outputs.tf").read_text()
    env = {e["name"]: e for e in _walk_env(KSVC[Function.PUSH_UPDATE.value])}
    ref = env["CENTRIFUGO_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert f'local.c.centrifugo ? "{ref["name"]}" : null' in outputs
    assert f'"{ref["key"]}"' in platform.split('ephemeral "random_password" "centrifugo"')[1]
    assert '"app.kubernetes.io/name" = "centrifugo"' in platform


# ----------------------------------------------------------------------------- func.yaml


@pytest.mark.parametrize("path", func_yaml_files(), ids=[rel(p) for p in func_yaml_files()])
def test_func_yaml(path: Path) -> None:
    (doc,) = load_docs(path)
    fn = Function(path.parent.name)
    assert doc["name"] == fn.value and doc["specVersion"] == "0.36.0"
    assert doc["runtime"] == "python" and doc["invoke"] == "http"
    deploy = doc["deploy"]
    assert deploy["namespace"] == "taskpulse"
    assert deploy["annotations"]["dapr.io/enabled"] == "false"
    assert deploy["options"]["scale"]["min"] == 0
    assert deploy["healthEndpoints"] == {
        "liveness": "/health/liveness",
        "readiness": "/health/readiness",
    }
    assert deploy["serviceAccountName"] == fn.value
    labels = {label["key"]: label["value"] for label in deploy["labels"]}
    visibility = labels.get("networking.knative.dev/visibility")
    assert visibility == (None if fn is Function.CREATE_TASK else "cluster-local")
    envs = {e["name"]: e["value"] for e in doc["run"]["envs"]}
    assert envs["DAPR_HTTP_ENDPOINT"] == f"http://{fn.value}-dapr.taskpulse.svc.cluster.local:3500"
    assert {"WORKERS", "THREADS"} <= set(envs)
    # A thread for every request slot, and spares for probes and scrapes.
    concurrency = deploy["options"]["resources"]["limits"]["concurrency"]
    assert int(envs["THREADS"]) > concurrency


# ----------------------------------------------------------------------------- no secrets


SECRETISH = re.compile(
    r"(password|secret|token|api_?key|api-key|credential|private|database_url)", re.I
)
PEM = re.compile(r"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----")
FUNC_SECRET = re.compile(r"^\{\{ secret:[a-z0-9-]+:[A-Za-z0-9._-]+ \}\}$")


def _walk_env(doc: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(doc, dict):
        if isinstance(doc.get("env"), list):
            found += doc["env"]
        for value in doc.values():
            found += _walk_env(value)
    elif isinstance(doc, list):
        for value in doc:
            found += _walk_env(value)
    return found


def test_no_secret_values_anywhere() -> None:
    files = [*manifest_files(), *func_yaml_files(), REPO / "functions/Dockerfile"]
    for path in files:
        assert not PEM.search(path.read_text()), rel(path)
    for path, doc in all_docs():
        if doc.get("kind") == "Component":
            for item in doc["spec"].get("metadata", []):
                if SECRETISH.search(item["name"]) or item["name"] in {"caCert", "clientKey"}:
                    assert "value" not in item, f"{rel(path)}: {item['name']} has a value"
        for env in _walk_env(doc):
            if SECRETISH.search(env["name"]):
                assert "value" not in env, f"{rel(path)}: env {env['name']} has a value"
                assert "secretKeyRef" in env["valueFrom"]
    for path in func_yaml_files():
        (doc,) = load_docs(path)
        for env in doc["run"]["envs"]:
            if SECRETISH.search(env["name"]):
                assert FUNC_SECRET.match(env["value"]), f"{rel(path)}: {env['name']}"


# ----------------------------------------------------------------------------- image


def test_dockerfile() -> None:
    text = (REPO / "functions/Dockerfile").read_text()
    assert re.search(r"^ARG FUNCTION$", text, re.M)
    assert "python:3.11-slim" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and all(re.fullmatch(r"[1-9][0-9]*(:[1-9][0-9]*)?", u) for u in users)
    assert re.search(
        r"functions-framework --source \"functions/\$\{FUNCTION\}/main.py\" --target handle "
        r"--signature-type http",
        text,
    )
    assert re.search(r"^\s+WORKERS=\d+", text, re.M) and re.search(r"^\s+THREADS=\d+", text, re.M)
    assert "pip install" in text and "pyproject.toml" in text
    assert not re.search(r"(?i)^(ENV|ARG)\s.*(TOKEN|PASSWORD|SECRET)", text, re.M)
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*")] == "*"  # allow-list: everything else stays out
    assert not [line for line in ignore if line.startswith("!") and ".env" in line]


def test_the_local_component_reads_what_the_launcher_sets(tmp_path: Path) -> None:
    meta = _metadata(LOCAL[PUBSUB_NAME])
    assert meta["brokers"] == {"name": "brokers", "envRef": manifests.KAFKA_BROKERS_ENV}
    plain = manifests.local_daprd_env(Function.SEND_REMINDER, Brokers("127.0.0.1:9092"))
    assert plain == {
        manifests.KAFKA_BROKERS_ENV: "127.0.0.1:9092",
        manifests.CONSUMER_GROUP_ENV: "send-reminder-reminders-v1",
        kafka_access.AUTH_TYPE_ENV: "none",
        kafka_access.DISABLE_TLS_ENV: "true",
        kafka_access.USERNAME_ENV: "",
        kafka_access.PASSWORD_ENV: "",
        kafka_access.CA_CERT_ENV: "",
    }
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    passwords = {"send-reminder": "s3cret"}
    secured = Brokers("127.0.0.1:9093", KafkaLogins(ca, passwords))
    env = manifests.local_daprd_env(Function.SEND_REMINDER, secured)
    assert env[kafka_access.AUTH_TYPE_ENV] == "password"
    assert env[kafka_access.DISABLE_TLS_ENV] == "false"
    assert env[kafka_access.USERNAME_ENV] == "send-reminder"
    assert env[kafka_access.PASSWORD_ENV] == "s3cret"
    assert env[kafka_access.CA_CERT_ENV] == ca.read_text()
    # Every envRef of the local component is set, so none falls back to an empty value.
    refs = {m["envRef"] for m in meta.values() if "envRef" in m}
    assert refs == set(env)
    for folder in manifests.LOCAL_RESOURCE_DIRS:
        assert (REPO / folder).is_dir()
    assert (REPO / manifests.LOCAL_CONFIG).is_file()


def test_the_resiliency_policy_is_what_decision_0027_says() -> None:
    """The seed's asks against what ships (docs/decisions/0027-resiliency-against-the-seed.md):
    the breakers trip after 5 consecutive failures, publishing retries 5 times, deliveries
    20 times up to 30 s apart, and no breaker guards deliveries from Kafka."""
    root = Path(__file__).resolve().parents[2]
    (doc,) = yaml.safe_load_all((root / "dapr-components/base/resiliency.yaml").read_text())
    policies = doc["spec"]["policies"]
    assert {b["trip"] for b in policies["circuitBreakers"].values()} == {"consecutiveFailures >= 5"}
    assert policies["retries"]["publish"] == {
        "policy": "exponential",
        "maxInterval": "5s",
        "maxRetries": 5,
    }
    assert policies["retries"]["delivery"] == {
        "policy": "exponential",
        "maxInterval": "30s",
        "maxRetries": 20,
    }
    inbound = doc["spec"]["targets"]["components"]["pubsub-kafka"]["inbound"]
    assert "circuitBreaker" not in inbound
    record = (root / "docs/decisions/0027-resiliency-against-the-seed.md").read_text()
    assert "`trip: consecutiveFailures >= 5`" in record
