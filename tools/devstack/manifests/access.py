"""Who may do what: ServiceAccounts and NetworkPolicies.

``knative/base/<function>/identity.yaml`` gives the function and its daprd an account each,
with no Role: daprd gets its Kafka login from its environment (decision 0029), so neither
needs to read a Secret;
``knative/base/network-policies.yaml`` denies all ingress to the namespace and then opens,
per function, exactly the paths between Knative, the function, its daprd and monitoring.
"""

from __future__ import annotations

from devstack.manifests._common import (
    CENTRIFUGO_INTERNAL_PORT,
    CENTRIFUGO_PORT,
    DAPR_GRPC_PORT,
    DAPR_HTTP_PORT,
    DAPR_INTERNAL_GRPC_PORT,
    DAPR_METRICS_PORT,
    FUNCTION_PORT,
    KOURIER_GATEWAY,
    PART_OF,
    Manifest,
    dapr_service,
    resource_labels,
)
from taskpulse.contract import Function


def identities(function: Function) -> list[Manifest]:
    """The function's ServiceAccount and its daprd's; no Role binds either."""
    daprd = dapr_service(function)
    manifests: list[Manifest] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": function.value,
                "labels": resource_labels(function.value, "function", function),
            },
            # The function talks to Dapr and PostgreSQL, never to the Kubernetes API.
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": daprd, "labels": resource_labels(daprd, "dapr-shared", function)},
            # secretstores.kubernetes uses the in-cluster API credentials of this account.
            "automountServiceAccountToken": True,
        },
    ]
    return manifests


def network_policies() -> list[Manifest]:
    def policy(name: str, pod: dict[str, str], ingress: list[Manifest]) -> Manifest:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "labels": dict(PART_OF)},
            "spec": {
                "podSelector": {"matchLabels": pod} if pod else {},
                "policyTypes": ["Ingress"],
                "ingress": ingress,
            },
        }

    def from_namespace(namespace: str) -> Manifest:
        return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}

    manifests = [policy("default-deny-ingress", {}, [])]
    for fn in Function:
        daprd = dapr_service(fn)
        # The function's pods: reached only through Knative (activator, ingress gateway)
        # and from its own daprd (which goes through the gateway too, but pods may be
        # reached directly once warm); Prometheus scrapes /metrics on the function's port
        # (modules/platform's taskpulse-monitoring PodMonitor).
        manifests.append(
            policy(
                f"{fn.value}-ingress",
                {"serving.knative.dev/service": fn.value},
                [
                    {
                        "from": [
                            from_namespace("knative-serving"),
                            from_namespace("kourier-system"),
                            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": daprd}}},
                        ]
                    },
                    {
                        "from": [from_namespace("monitoring")],
                        "ports": [{"protocol": "TCP", "port": FUNCTION_PORT}],
                    },
                ],
            )
        )
        # Its daprd: the Dapr API only from its own function; metrics from monitoring.
        manifests.append(
            policy(
                f"{daprd}-ingress",
                {"app.kubernetes.io/name": daprd},
                [
                    {
                        "from": [
                            {
                                "podSelector": {
                                    "matchLabels": {"serving.knative.dev/service": fn.value}
                                }
                            }
                        ],
                        "ports": [
                            {"protocol": "TCP", "port": DAPR_HTTP_PORT},
                            {"protocol": "TCP", "port": DAPR_GRPC_PORT},
                        ],
                    },
                    {
                        # daprd-to-daprd (service invocation) is mTLS-authenticated by Sentry.
                        "from": [
                            {
                                "podSelector": {
                                    "matchLabels": {"app.kubernetes.io/component": "dapr-shared"}
                                }
                            }
                        ],
                        "ports": [{"protocol": "TCP", "port": DAPR_INTERNAL_GRPC_PORT}],
                    },
                    {
                        "from": [from_namespace("monitoring")],
                        "ports": [{"protocol": "TCP", "port": DAPR_METRICS_PORT}],
                    },
                ],
            )
        )
    # Centrifugo (made by modules/platform in this namespace) listens twice: browsers hold
    # their WebSockets on the client port, which only Kourier's gateway reaches (it publishes
    # it over TLS, a DomainMapping of modules/platform edge.tf; the Knative Operator runs the
    # gateway in knative-serving, net-kourier's own release in kourier-system); the server
    # API is on the internal port, which only push-update's pods reach (decision 0031).
    manifests.append(
        policy(
            "centrifugo-ingress",
            {"app.kubernetes.io/name": "centrifugo"},
            [
                {
                    "from": [
                        from_namespace(ns) | {"podSelector": {"matchLabels": dict(KOURIER_GATEWAY)}}
                        for ns in ("knative-serving", "kourier-system")
                    ],
                    "ports": [{"protocol": "TCP", "port": CENTRIFUGO_PORT}],
                },
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchLabels": {"serving.knative.dev/service": "push-update"}
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": CENTRIFUGO_INTERNAL_PORT}],
                },
            ],
        )
    )
    return manifests
