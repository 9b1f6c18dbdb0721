"""The Dapr Shared daprd of each function: a Deployment and a Service ``<function>-dapr``.

A sidecar would keep every function pod up for its daprd, so a scale-to-zero Knative
Service gets a daprd of its own beside it instead (``knative/base/<function>/dapr-shared.yaml``)
that reaches the function through the Knative Service's host. The flags and environment
follow what the 1.18.3 sidecar injector gives a sidecar, where daprd needs the same.
"""

from __future__ import annotations

from devstack.manifests._common import (
    CONSUMER_GROUP_ENV,
    DAPR_GRPC_PORT,
    DAPR_HTTP_PORT,
    DAPR_INTERNAL_GRPC_PORT,
    DAPR_METRICS_PORT,
    NAMESPACE,
    Manifest,
    consumer_group_for,
    dapr_service,
    resource_labels,
    restricted_security_context,
    secret_env,
    subscribed_topics,
    tokens_secret,
)
from devstack.versions import DAPR_VERSION
from taskpulse.contract import Function, Topic

DAPRD_IMAGE = f"ghcr.io/dapr/daprd:{DAPR_VERSION}"
DAPR_CONTROL_PLANE_NAMESPACE = "dapr-system"
# The addresses the sidecar injector of 1.18.3 gives a sidecar
# (pkg/injector/patcher/services.go, pkg/injector/patcher/sidecar_container.go:202-209).
DAPR_API_ADDRESS = f"dapr-api.{DAPR_CONTROL_PLANE_NAMESPACE}.svc.cluster.local:443"
DAPR_SENTRY_ADDRESS = f"dapr-sentry.{DAPR_CONTROL_PLANE_NAMESPACE}.svc.cluster.local:443"
DAPR_SCHEDULER_ADDRESS = (
    f"dapr-scheduler-server-a.{DAPR_CONTROL_PLANE_NAMESPACE}.svc.cluster.local:443"
)
DAPR_TRUST_DOMAIN = "cluster.local"
"""The control plane's trust domain (dapr/dapr charts/dapr/values.yaml:46, the default)."""
DAPR_TRUST_ANCHORS_CONFIGMAP = "dapr-trust-anchors"
"""ConfigMap (key ``ca.crt``) with the public root of dapr-system/dapr-trust-bundle; the
platform (infra) copies it into the namespace. It holds a certificate, not a secret."""

DAPR_PUBLIC_PORT = 3501

KAFKA_CREDENTIALS_ENV = {
    "TASKPULSE_KAFKA_USERNAME": "username",
    "TASKPULSE_KAFKA_PASSWORD": "password",
    "TASKPULSE_KAFKA_CA_CERT": "ca.crt",
}
"""Environment variable -> key of ``kafka_secret(function)``: what the cluster's
pubsub-kafka component reads with ``envRef`` as saslUsername, saslPassword and caCert (PEM).
modules/platform writes the Secret: the function's Kafka user, its password, and the CA of
the brokers' TLS listener (infra/terraform/modules/platform/kafka.tf)."""
KEDA_KAFKA_SECRET = "keda-kafka"  # noqa: S105 - the name of a Secret, not a value
"""The Kafka identity of KEDA's lag triggers (keys as ``KAFKA_CREDENTIALS_ENV``): it may only
Describe the functions' topics and consumer groups (modules/platform kafka.tf)."""

CONFIGURATION_NAME = "taskpulse"
DAPRD_UID = 65532


def kafka_secret(function: Function) -> str:
    """Secret ``<function>-kafka``: the function's own Kafka identity (its KafkaUser)."""
    return f"{function.value}-kafka"


def function_host(function: Function) -> str:
    """The in-cluster host of the Knative Service (always served, public or not)."""
    return f"{function.value}.{NAMESPACE}.svc.cluster.local"


def daprd_args(function: Function) -> list[str]:
    return [
        "--mode=kubernetes",
        f"--app-id={function.value}",
        # The Knative Service: port 80 of its in-cluster host; at zero replicas the
        # activator holds the request while a pod starts.
        f"--app-channel-address={function_host(function)}",
        "--app-port=80",
        "--app-protocol=http",
        f"--dapr-http-port={DAPR_HTTP_PORT}",
        f"--dapr-grpc-port={DAPR_GRPC_PORT}",
        f"--dapr-internal-grpc-port={DAPR_INTERNAL_GRPC_PORT}",
        f"--dapr-public-port={DAPR_PUBLIC_PORT}",
        "--dapr-listen-addresses=0.0.0.0",
        f"--control-plane-address={DAPR_API_ADDRESS}",
        f"--sentry-address={DAPR_SENTRY_ADDRESS}",
        # Flags, not the env var of the dapr-shared chart (DAPR_CONTROL_PLANE_NAMESPACE),
        # which daprd does not read: it reads DAPR_CONTROLPLANE_NAMESPACE, else the flag's
        # default "default" (cmd/daprd/options/options.go:145-146, :255-267).
        f"--control-plane-namespace={DAPR_CONTROL_PLANE_NAMESPACE}",
        f"--control-plane-trust-domain={DAPR_TRUST_DOMAIN}",
        # A flag, not the env var of the dapr-shared chart: 1.18 reads only the flag or
        # DAPR_SCHEDULER_HOST_ADDRESS_DNS_A (cmd/daprd/options/options.go:273-279).
        f"--scheduler-host-address={DAPR_SCHEDULER_ADDRESS}",
        f"--config={CONFIGURATION_NAME}",
        "--enable-mtls=true",
        "--enable-metrics=true",
        f"--metrics-port={DAPR_METRICS_PORT}",
        # Health probes to the app would keep the function warm forever.
        "--enable-app-health-check=false",
        # No GET /dapr/subscribe nor /dapr/config at start: they would wake the function
        # (pkg/runtime/config.go:82-89; subscriber.go:562-564; runtime.go:1592-1594).
        "--disable-init-endpoints=subscribe,config",
        "--disable-builtin-k8s-secret-store=true",
        "--dapr-graceful-shutdown-seconds=20",
        "--log-as-json=true",
    ]


def dapr_shared(function: Function) -> list[Manifest]:
    name = dapr_service(function)
    labels = resource_labels(name, "dapr-shared", function)
    selector = {"app.kubernetes.io/name": name}
    group = consumer_group_for(function)
    env: list[Manifest] = [
        {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {
            "name": "DAPR_TRUST_ANCHORS",
            "valueFrom": {
                "configMapKeyRef": {"name": DAPR_TRUST_ANCHORS_CONFIGMAP, "key": "ca.crt"}
            },
        },
        secret_env("DAPR_API_TOKEN", tokens_secret(function), "dapr-api-token"),
        # Sent with every delivery and job trigger, to create-task too: the function tells
        # them by it from what a client sends to its public face.
        secret_env("APP_API_TOKEN", tokens_secret(function), "app-api-token"),
    ]
    if group is not None:
        env.append({"name": CONSUMER_GROUP_ENV, "value": group})
    # The function's own Kafka identity: ACLs allow exactly what the contract says it reads
    # and writes (taskpulse.contract reads/writes/group_prefix).
    env += [
        secret_env(name, kafka_secret(function), key) for name, key in KAFKA_CREDENTIALS_ENV.items()
    ]
    healthz = {"httpGet": {"path": "/v1.0/healthz", "port": "public"}}
    deployment: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        # No replicas: its ScaledObject owns the count (an apply that set one would reset
        # what KEDA scaled); a new Deployment starts with one.
        "spec": {
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": {**labels, "dapr.io/app-id": function.value},
                    # Sentry checks the requested app id against dapr.io/app-id; and never
                    # a sidecar in the shared instance itself.
                    "annotations": {"dapr.io/app-id": function.value, "dapr.io/enabled": "false"},
                },
                "spec": {
                    "serviceAccountName": name,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "daprd",
                            "image": DAPRD_IMAGE,
                            "command": ["/daprd"],
                            "args": daprd_args(function),
                            "env": env,
                            "ports": [
                                {"name": "http", "containerPort": DAPR_HTTP_PORT},
                                {"name": "grpc", "containerPort": DAPR_GRPC_PORT},
                                {"name": "internal-grpc", "containerPort": DAPR_INTERNAL_GRPC_PORT},
                                {"name": "public", "containerPort": DAPR_PUBLIC_PORT},
                                {"name": "metrics", "containerPort": DAPR_METRICS_PORT},
                            ],
                            "readinessProbe": {**healthz, "periodSeconds": 5},
                            # As the injector probes a sidecar (pkg/injector/patcher
                            # sidecar_container.go, sidecar.go defaults): liveness is the
                            # port only. /v1.0/healthz stays unhealthy while a component
                            # cannot start, e.g. Kafka still coming up on the first apply,
                            # and a restart would not help it.
                            "livenessProbe": {
                                "tcpSocket": {"port": "public"},
                                "initialDelaySeconds": 180,
                                "timeoutSeconds": 3,
                                "periodSeconds": 10,
                                "failureThreshold": 5,
                            },
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "96Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi"},
                            },
                            "securityContext": restricted_security_context(DAPRD_UID),
                            "volumeMounts": [
                                {
                                    "name": "dapr-identity-token",
                                    "mountPath": "/var/run/secrets/dapr.io/sentrytoken",
                                    "readOnly": True,
                                }
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "dapr-identity-token",
                            "projected": {
                                "sources": [
                                    {
                                        "serviceAccountToken": {
                                            "audience": "dapr.io/sentry",
                                            "expirationSeconds": 7200,
                                            "path": "token",
                                        }
                                    }
                                ]
                            },
                        }
                    ],
                },
            },
        },
    }
    service: Manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": selector,
            "ports": [
                {"name": "http", "port": DAPR_HTTP_PORT, "targetPort": "http"},
                {"name": "grpc", "port": DAPR_GRPC_PORT, "targetPort": "grpc"},
                {
                    "name": "internal-grpc",
                    "port": DAPR_INTERNAL_GRPC_PORT,
                    "targetPort": "internal-grpc",
                },
            ],
        },
    }
    return [deployment, service, *autoscaling(function)]


# --- Autoscaling on Kafka lag (KEDA; docs/decisions/0028-autoscaling-on-lag.md) -------------

KAFKA_BOOTSTRAP_SERVERS = "taskpulse-kafka-bootstrap.kafka.svc.cluster.local:9093"
"""The brokers of dapr-components/cluster/pubsub-kafka.yaml: SASL/SCRAM over TLS."""
KAFKA_VERSION_FOR_CLIENTS = "3.6.0"
"""The protocol version pubsub-kafka's clients speak (its ``version``); KEDA's sarama too."""
KAFKA_SASL = "scram_sha512"
"""KEDA's name for the component's ``saslMechanism: SHA-512``."""
KAFKA_AUTH_PARAMETERS = {
    "username": "username",
    "password": "password",
    "ca": "ca.crt",
}
"""KEDA Kafka scaler parameter -> key of ``KEDA_KAFKA_SECRET``: KEDA's own Kafka user (it
reads offsets and lag, nothing more), its password and the brokers' CA."""
LAG_THRESHOLD = 20
"""Target lag per daprd replica: the HPA wants ceil(total lag / 20) replicas."""
ACTIVATION_LAG_THRESHOLD = 5
"""Above this lag KEDA reports the ScaledObject active. With ``minReplicaCount`` 1 it never
scales to zero, so it only marks when the lag matters (the Active condition, the metric)."""
MIN_REPLICAS = 1
"""Never zero: the daprd is more than a Kafka consumer. The function publishes through it
(its outbox publisher calls the daprd's HTTP API), and the Dapr scheduler delivers job
triggers (reminders, on_schedule series) only over the stream of a connected daprd of the
app id: a due job is no Kafka lag, so nothing would start a daprd for it and the reminder
would wait for the next Kafka record. Kafka lag alone could scale from zero; these cannot."""


def trigger_authentication_name(function: Function) -> str:
    return f"{dapr_service(function)}-kafka"


def max_replicas(function: Function) -> int:
    """At most one daprd per partition of the smallest topic it consumes: one consumer group
    spreads a topic's partitions over its members, so a member beyond the partitions of a
    topic idles on it (and KEDA's Kafka trigger caps at the partitions anyway)."""
    return min(topic.partitions for topic in subscribed_topics(function))


def lag_trigger(function: Function, topic: Topic, group: str) -> Manifest:
    return {
        "type": "kafka",
        "name": f"lag-{topic.name}",
        "metadata": {
            "bootstrapServers": KAFKA_BOOTSTRAP_SERVERS,
            "consumerGroup": group,
            "topic": topic.name,
            "lagThreshold": str(LAG_THRESHOLD),
            "activationLagThreshold": str(ACTIVATION_LAG_THRESHOLD),
            # A group without committed offsets starts at the oldest record (pubsub-kafka's
            # initialOffset: oldest): all of the retained topic is then its lag.
            "offsetResetPolicy": "earliest",
            "version": KAFKA_VERSION_FOR_CLIENTS,
            "sasl": KAFKA_SASL,
            "tls": "enable",
        },
        "authenticationRef": {"name": trigger_authentication_name(function)},
    }


def autoscaling(function: Function) -> list[Manifest]:
    """The ScaledObject of a consuming function's daprd (one Kafka lag trigger per topic it
    consumes, in its one consumer group) and the TriggerAuthentication it uses; nothing for
    a function that consumes nothing."""
    group = consumer_group_for(function)
    if group is None:
        return []
    name = dapr_service(function)
    labels = resource_labels(name, "dapr-shared", function)
    authentication: Manifest = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": trigger_authentication_name(function), "labels": labels},
        "spec": {
            "secretTargetRef": [
                {"parameter": parameter, "name": KEDA_KAFKA_SECRET, "key": key}
                for parameter, key in KAFKA_AUTH_PARAMETERS.items()
            ]
        },
    }
    scaled_object: Manifest = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicaCount": MIN_REPLICAS,
            "maxReplicaCount": max_replicas(function),
            "triggers": [
                lag_trigger(function, topic, group) for topic in subscribed_topics(function)
            ],
        },
    }
    return [authentication, scaled_object]
