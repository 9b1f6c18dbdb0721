"""``functions/<name>/func.yaml``: the same function as its Knative Service, for ``func deploy``.

The environment and sizing come from ``knative``, so a function deployed with ``func`` and
one deployed from ``knative/`` run alike. ``func`` writes some keys back into the file
(``FUNC_YAML_OWNED_BY_FUNC``); ``strip_func_owned`` drops them before a comparison, so
generating neither undoes nor reports what ``func`` wrote.
"""

from __future__ import annotations

from typing import Any

from devstack.manifests._common import NAMESPACE, Manifest
from devstack.manifests.knative import (
    SIZING,
    FromConfigMap,
    FromSecret,
    Setting,
    function_settings,
)
from taskpulse.contract import Function


def func_envs(function: Function) -> list[Manifest]:
    """``run.envs``: func's own templates for Secret and ConfigMap keys.

    func turns ``{{ configMap:<name>:<key> }}`` into a required reference (knative/func
    ``ProcessEnvs``) and has no optional form, so an optional setting (``OIDC_JWKS_URL``,
    absent when create-task uses discovery) is left out here; deploy from knative/ to have
    it, or add it with ``func config envs``."""
    envs: list[Manifest] = []
    for name, value in function_settings(function):
        if isinstance(value, FromConfigMap) and value.optional:
            continue
        envs.append({"name": name, "value": _func_value(value)})
    return envs


def _func_value(value: Setting) -> str:
    if isinstance(value, FromSecret):
        return f"{{{{ secret:{value.secret}:{value.key} }}}}"
    if isinstance(value, FromConfigMap):
        return f"{{{{ configMap:{value.config_map}:{value.key} }}}}"
    return value


def func_yaml(function: Function) -> Manifest:
    sizing = SIZING[function]
    return {
        "specVersion": "0.36.0",
        "name": function.value,
        "runtime": "python",
        "namespace": NAMESPACE,
        "created": "2026-11-27T00:00:00Z",
        "invoke": "http",
        "run": {"envs": func_envs(function)},
        "deploy": {
            "namespace": NAMESPACE,
            "annotations": {
                "dapr.io/enabled": "false",
                "autoscaling.knative.dev/metric": "concurrency",
                "autoscaling.knative.dev/target-utilization-percentage": "70",
            },
            "labels": [
                {"key": "app.kubernetes.io/part-of", "value": "taskpulse"},
                {"key": "app.kubernetes.io/component", "value": "function"},
                {"key": "taskpulse.dev/function", "value": function.value},
                # As in knative/: only create-task is reachable from outside the cluster.
                *(
                    []
                    if sizing.public
                    else [{"key": "networking.knative.dev/visibility", "value": "cluster-local"}]
                ),
            ],
            "options": {
                # Every scale field is set: func removes the annotation of an unset one.
                "scale": {
                    "min": 0,
                    "max": sizing.max_scale,
                    "metric": "concurrency",
                    "target": sizing.container_concurrency,
                    "utilization": 70,
                },
                "resources": {
                    "requests": {"cpu": sizing.cpu_request, "memory": sizing.memory_request},
                    "limits": {
                        "cpu": sizing.cpu_limit,
                        "memory": sizing.memory_limit,
                        "concurrency": sizing.container_concurrency,
                    },
                },
            },
            "healthEndpoints": {
                "liveness": "/health/liveness",
                "readiness": "/health/readiness",
            },
            "serviceAccountName": function.value,
        },
    }


FUNC_YAML_OWNED_BY_FUNC = ("image", "registry", "build")
"""func.yaml keys that ``func`` itself writes back (deploy.image too); ``check`` ignores them."""


def strip_func_owned(doc: Any) -> Any:
    if isinstance(doc, dict):
        doc = {k: v for k, v in doc.items() if k not in FUNC_YAML_OWNED_BY_FUNC}
        if isinstance(doc.get("deploy"), dict):
            doc["deploy"] = {k: v for k, v in doc["deploy"].items() if k != "image"}
    return doc
