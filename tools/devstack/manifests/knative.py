"""The Knative Service of each function, and the environment and sizing it shares with func.yaml.

Each function is one Knative Service in ``knative/base/<function>/service.yaml``. Its
environment (``function_settings``) and its ``Sizing`` are also what ``func`` deploys from
``functions/<name>/func.yaml`` (module ``func``), so they are defined once here for both.
"""

from __future__ import annotations

from dataclasses import dataclass

from devstack.manifests._common import (
    CENTRIFUGO_INTERNAL_PORT,
    DAPR_HTTP_PORT,
    FUNCTION_PORT,
    NAMESPACE,
    Manifest,
    dapr_service,
    resource_labels,
    restricted_security_context,
    secret_env,
    tokens_secret,
)
from taskpulse.contract import Function

FUNCTION_UID = 10001
DATABASE_SECRET = "taskpulse-database"  # noqa: S105 - the name of a Secret, not a value
CENTRIFUGO_SECRET = "centrifugo"  # noqa: S105 - the name of a Secret, not a value
"""Made by modules/platform beside Centrifugo (keys http-api-key, token-hmac-secret-key)."""
SMTP_SECRET = "taskpulse-smtp"  # noqa: S105 - the name of a Secret, not a value
IDENTITY_CONFIGMAP = "taskpulse-identity"
"""Made by modules/platform (identity.tf) from its oidc_* variables: one key per setting."""
OIDC_SETTINGS = (
    "OIDC_ISSUER",
    "OIDC_AUDIENCE",
    "OIDC_USER_CLAIM",
    "OIDC_SERVICE_SCOPE",
    "OIDC_JWKS_URL",
)
"""What create-task's public face reads to verify access tokens (contract section 3). Each
is the key of the same name in ``IDENTITY_CONFIGMAP``, so the cluster has one place for
every value; Centrifugo's token checks come from the same Terraform variables."""
OIDC_OPTIONAL = frozenset({"OIDC_JWKS_URL"})
"""Absent from the ConfigMap when the keys are found through discovery: referenced as
optional, so the variable is then unset rather than empty."""


def dapr_http_endpoint(function: Function) -> str:
    return f"http://{dapr_service(function)}.{NAMESPACE}.svc.cluster.local:{DAPR_HTTP_PORT}"


@dataclass(frozen=True, slots=True)
class Sizing:
    """What a function may use; the numbers are starting points to revisit with load data."""

    container_concurrency: int
    timeout_seconds: int
    max_scale: int
    cpu_request: str = "100m"
    memory_request: str = "192Mi"
    cpu_limit: str = "1"
    memory_limit: str = "384Mi"
    public: bool = False


SIZING: dict[Function, Sizing] = {
    Function.CREATE_TASK: Sizing(
        container_concurrency=20, timeout_seconds=30, max_scale=10, public=True
    ),
    Function.COMPUTE_NEXT_OCCURRENCE: Sizing(
        container_concurrency=10, timeout_seconds=30, max_scale=5
    ),
    Function.SEND_REMINDER: Sizing(container_concurrency=10, timeout_seconds=30, max_scale=5),
    Function.PUSH_UPDATE: Sizing(container_concurrency=20, timeout_seconds=30, max_scale=10),
}
WORKERS = 1
"""gunicorn workers per pod: Knative scales pods, so one process per pod."""


SPARE_THREADS = 2
"""gunicorn threads beyond containerConcurrency. The kubelet's liveness probe and
Prometheus' scrape reach the container directly, past queue-proxy's limit: with every
request slot busy, these answer them instead of queueing (a probe that times out three
times restarts a pod that was only busy)."""


def threads(function: Function) -> int:
    """gunicorn threads: one per request slot (containerConcurrency) and the spares."""
    return SIZING[function].container_concurrency + SPARE_THREADS


@dataclass(frozen=True, slots=True)
class FromSecret:
    """An environment value taken from key ``key`` of the Kubernetes Secret ``secret``."""

    secret: str
    key: str


@dataclass(frozen=True, slots=True)
class FromConfigMap:
    """An environment value taken from key ``key`` of the ConfigMap ``config_map``; an
    ``optional`` one leaves the variable unset when the key is absent."""

    config_map: str
    key: str
    optional: bool = False


Setting = str | FromSecret | FromConfigMap


def function_settings(function: Function) -> list[tuple[str, Setting]]:
    """The environment of a function (names as in taskpulse.settings), for the Knative
    Service and func.yaml alike. Secrets are referenced, never written.

    Every function gets ``APP_API_TOKEN``, create-task too: its daprd brings it Kafka records
    and job triggers, and the token is what tells those calls from a client's (a private
    function refuses to start without it; nothing here sets ``INSECURE_LOCAL_DEV``). Clients
    of create-task's public face prove who they are with an access token instead, checked
    with the ``OIDC_SETTINGS`` from ``IDENTITY_CONFIGMAP``."""
    tokens = tokens_secret(function)
    settings: list[tuple[str, Setting]] = [
        ("DAPR_HTTP_ENDPOINT", dapr_http_endpoint(function)),
        ("DAPR_API_TOKEN", FromSecret(tokens, "dapr-api-token")),
        ("APP_API_TOKEN", FromSecret(tokens, "app-api-token")),
        ("DATABASE_URL", FromSecret(DATABASE_SECRET, "url")),
    ]
    if function.is_public:
        settings += [
            (name, FromConfigMap(IDENTITY_CONFIGMAP, name, optional=name in OIDC_OPTIONAL))
            for name in OIDC_SETTINGS
        ]
    if function is Function.PUSH_UPDATE:
        settings += [
            (
                "CENTRIFUGO_API_URL",
                f"http://centrifugo.{NAMESPACE}.svc.cluster.local:{CENTRIFUGO_INTERNAL_PORT}/api",
            ),
            ("CENTRIFUGO_API_KEY", FromSecret(CENTRIFUGO_SECRET, "http-api-key")),
        ]
    if function is Function.SEND_REMINDER:
        settings += [
            ("SMTP_HOST", FromSecret(SMTP_SECRET, "host")),
            ("SMTP_PORT", FromSecret(SMTP_SECRET, "port")),
            ("SMTP_USERNAME", FromSecret(SMTP_SECRET, "username")),
            ("SMTP_PASSWORD", FromSecret(SMTP_SECRET, "password")),
            ("SMTP_STARTTLS", "true"),
            # Without them reminders would leave as reminders@taskpulse.local, to
            # <user>@taskpulse.local: the local defaults, which no cluster can deliver.
            ("SMTP_SENDER", FromSecret(SMTP_SECRET, "sender")),
            ("MAIL_DOMAIN", FromSecret(SMTP_SECRET, "mail-domain")),
        ]
    settings += [
        ("WORKERS", str(WORKERS)),
        ("THREADS", str(threads(function))),
        ("PYTHONDONTWRITEBYTECODE", "1"),
    ]
    return settings


def _env(name: str, value: Setting) -> Manifest:
    if isinstance(value, FromSecret):
        return secret_env(name, value.secret, value.key)
    if isinstance(value, FromConfigMap):
        ref: Manifest = {"name": value.config_map, "key": value.key}
        if value.optional:
            ref["optional"] = True
        return {"name": name, "valueFrom": {"configMapKeyRef": ref}}
    return {"name": name, "value": value}


def function_env(function: Function) -> list[Manifest]:
    env = [_env(name, value) for name, value in function_settings(function)]
    env.append({"name": "TMPDIR", "value": "/tmp"})  # noqa: S108 - an emptyDir (read-only root)
    return env


def knative_service(function: Function) -> Manifest:
    sizing = SIZING[function]
    labels = resource_labels(function.value, "function", function)
    metadata_labels = dict(labels)
    if not sizing.public:
        metadata_labels["networking.knative.dev/visibility"] = "cluster-local"
    liveness = {"periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3}
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": function.value, "labels": metadata_labels},
        "spec": {
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "autoscaling.knative.dev/min-scale": "0",
                        "autoscaling.knative.dev/max-scale": str(sizing.max_scale),
                        "autoscaling.knative.dev/metric": "concurrency",
                        "autoscaling.knative.dev/target": str(sizing.container_concurrency),
                        "autoscaling.knative.dev/target-utilization-percentage": "70",
                        # daprd runs as Dapr Shared (<app>-dapr), never as a sidecar here.
                        "dapr.io/enabled": "false",
                    },
                },
                "spec": {
                    "serviceAccountName": function.value,
                    "containerConcurrency": sizing.container_concurrency,
                    "timeoutSeconds": sizing.timeout_seconds,
                    "enableServiceLinks": False,
                    "containers": [
                        {
                            "name": "function",
                            "image": f"taskpulse/{function.value}",
                            "ports": [{"name": "http1", "containerPort": FUNCTION_PORT}],
                            "env": function_env(function),
                            # No periodSeconds: queue-proxy then probes every 50 ms until the
                            # function is ready (knative/serving pkg/queue/readiness/probe.go,
                            # IsAggressive); with one it waits for the period, on every cold
                            # start.
                            "readinessProbe": {"httpGet": {"path": "/health/readiness"}},
                            "livenessProbe": {
                                "httpGet": {"path": "/health/liveness"},
                                **liveness,
                            },
                            "resources": {
                                "requests": {
                                    "cpu": sizing.cpu_request,
                                    "memory": sizing.memory_request,
                                },
                                "limits": {
                                    "cpu": sizing.cpu_limit,
                                    "memory": sizing.memory_limit,
                                },
                            },
                            "securityContext": restricted_security_context(FUNCTION_UID),
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}
                    ],
                },
            }
        },
    }
