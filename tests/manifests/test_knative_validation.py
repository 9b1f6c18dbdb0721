"""Knative Serving's own admission of our Services: what its webhook would answer.

The schema tests check structure and types; Knative's webhook refuses more (feature flags,
ranges, reserved ports and names). ``devstack.knative_validate`` runs the webhook's decode,
``SetDefaults`` and ``Validate`` of ``knative.dev/serving`` at the release the Terraform
operator pin installs, with the feature flags of the platform chart, over ``kustomize build``
of the base and both overlays. The negative cases are accepted by the CRD schema (and, where
they are Pod fields, by the Kubernetes PodSpec schema) and refused by Knative.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from manifests_support import KNATIVE_TARGETS, REPO, crd_schema, rendered_knative

from devstack import knative_validate, versions
from devstack.cache import cache_dir
from devstack.knative_validate import Admission, admit
from taskpulse.contract import Function

TARGETS = KNATIVE_TARGETS
PINS_FILE = REPO / "infra" / "terraform" / "modules" / "versions" / "main.tf"
KUBERNETES_VERSION = "1.32"
QUEUE_PROXY = "queue-proxy"

Doc = dict[str, Any]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def validator() -> Path:
    built = (cache_dir("bin", knative_validate.BUILD.key) / knative_validate.BUILD.name).exists()
    if not built and (shutil.which("go") is None or os.environ.get("TASKPULSE_NO_GO_BUILD")):
        pytest.fail("knative-validate is not built and Go is missing: install Go 1.26")
    return knative_validate.binary()


@pytest.fixture(scope="module")
def chart_config() -> dict[str, dict[str, str]]:
    """The configuration the platform chart gives Knative (``helm template`` of it)."""
    return knative_validate.chart_config()


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Doc]]:
    return rendered_knative()


def _services(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["apiVersion"] == "serving.knative.dev/v1"]


@pytest.fixture(scope="module")
def admitted(
    validator: Path, chart_config: dict[str, dict[str, str]], rendered: dict[str, list[Doc]]
) -> dict[str, list[Admission]]:
    return {
        target: admit(_services(docs), chart_config, pods=True, executable=validator)
        for target, docs in rendered.items()
    }


@pytest.fixture(scope="module")
def template(rendered: dict[str, list[Doc]]) -> Doc:
    """create-task as the AKS overlay renders it: the base of every negative case."""
    (svc,) = [
        d
        for d in _services(rendered["knative/overlays/aks"])
        if d["metadata"]["name"] == "create-task"
    ]
    return svc


# ----------------------------------------------------------------------------- our Services


@pytest.mark.parametrize("target", TARGETS)
def test_every_service_is_admitted(admitted: dict[str, list[Admission]], target: str) -> None:
    answers = admitted[target]
    assert {a.name for a in answers} == {f.value for f in Function}
    for answer in answers:
        assert answer.allowed, f"{target}: {answer.name}: {answer.error}"
        assert answer.warnings == (), f"{target}: {answer.name}: {answer.warnings}"


def test_the_chart_flags_reach_the_webhook(chart_config: dict[str, dict[str, str]]) -> None:
    """What the chart sets is what Knative is given (and what the tests below rely on)."""
    assert chart_config["features"]["kubernetes.podspec-securitycontext"] == "enabled"
    assert chart_config["features"]["secure-pod-defaults"] == "enabled"
    assert chart_config["autoscaler"]["enable-scale-to-zero"] == "true"


@pytest.mark.parametrize("target", TARGETS)
def test_the_pods_knative_builds_are_restricted(
    admitted: dict[str, list[Admission]], target: str
) -> None:
    """The Pods (user container and queue-proxy) meet Pod Security ``restricted``'s
    container rules as Knative writes them; item 3 of issue 18 admits them for real."""
    for answer in admitted[target]:
        pod = answer.pod
        assert pod is not None, answer.name
        spec = pod["spec"]
        names = [c["name"] for c in spec["containers"]]
        assert names == ["function", QUEUE_PROXY], answer.name
        assert pod["metadata"]["namespace"] == "taskpulse"
        assert pod["metadata"]["labels"]["serving.knative.dev/service"] == answer.name
        assert spec["serviceAccountName"] == answer.name
        assert spec["enableServiceLinks"] is False
        pod_context = spec.get("securityContext") or {}
        for container in spec["containers"]:
            context = container.get("securityContext") or {}
            where = f"{target}: {answer.name}/{container['name']}"
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not context.get("capabilities", {}).get("add"), where
            assert (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")) is True, where
            seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile") or {}
            assert seccomp.get("type") == "RuntimeDefault", where
            ports = {p["containerPort"] for p in container.get("ports", [])}
            if container["name"] != QUEUE_PROXY:
                assert not ports & {8012, 8022, 9090, 9091, 8112}, where


# ----------------------------------------------------------------------------- refusals


def _pod_part(svc: Doc) -> Doc:
    """The Service's Pod template as a Pod, for the Kubernetes schema (Knative-only fields
    out, probe ports filled in as Knative does)."""
    spec = copy.deepcopy(svc["spec"]["template"]["spec"])
    for knative_only in ("containerConcurrency", "timeoutSeconds"):
        spec.pop(knative_only, None)
    for container in spec["containers"]:
        port = container.get("ports", [{"containerPort": 8080}])[0]["containerPort"]
        for probe in ("readinessProbe", "livenessProbe"):
            if "httpGet" in container.get(probe, {}):
                container[probe]["httpGet"].setdefault("port", port)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": spec}


def _container(svc: Doc) -> Doc:
    container: Doc = svc["spec"]["template"]["spec"]["containers"][0]
    return container


def _annotate(key: str, value: str) -> Callable[[Doc], None]:
    def change(svc: Doc) -> None:
        svc["spec"]["template"]["metadata"]["annotations"][key] = value

    return change


def _host_path(svc: Doc) -> None:
    spec = svc["spec"]["template"]["spec"]
    spec["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}})
    _container(svc)["volumeMounts"].append({"name": "host", "mountPath": "/host"})


def _privileged(svc: Doc) -> None:
    context = _container(svc)["securityContext"]
    context["privileged"] = True
    context["allowPrivilegeEscalation"] = True


def _add_capability(svc: Doc) -> None:
    _container(svc)["securityContext"]["capabilities"]["add"] = ["NET_ADMIN"]


def _two_ports(svc: Doc) -> None:
    _container(svc)["ports"].append({"name": "metrics", "containerPort": 9100})


def _reserved_port(svc: Doc) -> None:
    _container(svc)["ports"][0]["containerPort"] = 8012


def _timeout(svc: Doc) -> None:
    svc["spec"]["template"]["spec"]["timeoutSeconds"] = 601


def _concurrency(svc: Doc) -> None:
    svc["spec"]["template"]["spec"]["containerConcurrency"] = 1001


def _node_selector(svc: Doc) -> None:
    svc["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}


def _host_network(svc: Doc) -> None:
    svc["spec"]["template"]["spec"]["hostNetwork"] = True


def _reserved_env(svc: Doc) -> None:
    _container(svc)["env"].append({"name": "K_SERVICE", "value": "create-task"})


def _misspelt_field(svc: Doc) -> None:
    _container(svc)["imagePullPolicyy"] = "Always"


def _min_over_max(svc: Doc) -> None:
    _annotate("autoscaling.knative.dev/min-scale", "20")(svc)


def _long_name(svc: Doc) -> None:
    svc["metadata"]["name"] = "create-task-" + "x" * 60


CONTAINER = "spec.template.spec.containers[0]"
ANNOTATIONS = "spec.template.metadata.annotations.autoscaling.knative.dev"
MUST_NOT = "must not set the field(s): "

REFUSED: dict[str, tuple[Callable[[Doc], None], str, bool]] = {
    # case: (change, Knative's message, whether the Kubernetes PodSpec schema accepts it too)
    "hostPath volume": (
        _host_path,
        "HostPath volume support is disabled, but found HostPath volume host",
        True,
    ),
    "privileged": (_privileged, f"{MUST_NOT}{CONTAINER}.securityContext.privileged", True),
    "capabilities.add": (
        _add_capability,
        f"{MUST_NOT}{CONTAINER}.securityContext.capabilities.add",
        True,
    ),
    "two ports": (_two_ports, "more than one container port is set", True),
    "queue-proxy's port": (_reserved_port, "8012 is a reserved port", True),
    "timeoutSeconds over 600": (
        _timeout,
        "expected 0 <= 601 <= 600: spec.template.spec.timeoutSeconds",
        True,
    ),
    "containerConcurrency over 1000": (
        _concurrency,
        "expected 0 <= 1001 <= 1000: spec.template.spec.containerConcurrency",
        True,
    ),
    "nodeSelector": (_node_selector, f"{MUST_NOT}spec.template.spec.nodeSelector", True),
    "hostNetwork": (_host_network, f"{MUST_NOT}spec.template.spec.hostNetwork", True),
    "reserved env var": (_reserved_env, '"K_SERVICE" is a reserved environment variable', True),
    # The API server would drop the field silently (the CRD keeps unknown container fields
    # or prunes them); the strict decode makes the typo visible.
    "misspelt field": (_misspelt_field, 'json: unknown field "imagePullPolicyy"', False),
    "target-utilization 101": (
        _annotate("autoscaling.knative.dev/target-utilization-percentage", "101"),
        f"expected 1 <= 101 <= 100: {ANNOTATIONS}/target-utilization-percentage",
        True,
    ),
    "min-scale negative": (
        _annotate("autoscaling.knative.dev/min-scale", "-1"),
        f"expected 0 <= -1 <= 2147483647: {ANNOTATIONS}/min-scale",
        True,
    ),
    "min-scale over max-scale": (_min_over_max, "max-scale=10 is less than min-scale=20", True),
    "window under 6s": (
        _annotate("autoscaling.knative.dev/window", "1s"),
        f"expected 6s <= 1s <= 1h0m0s: {ANNOTATIONS}/window",
        True,
    ),
    "unknown metric": (
        _annotate("autoscaling.knative.dev/metric", "cpu"),
        f"invalid value: cpu: {ANNOTATIONS}/metric",
        True,
    ),
    "name over 63 characters": (
        _long_name,
        "not a DNS 1035 label: [must be no more than 63 characters]: metadata.name",
        True,
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_knative_refuses_what_schemas_accept(
    validator: Path, chart_config: dict[str, dict[str, str]], template: Doc, case: str
) -> None:
    change, message, pod_schema_accepts = REFUSED[case]
    svc = copy.deepcopy(template)
    change(svc)
    # The CRD schema (what the API server applies before the webhook) accepts it ...
    jsonschema.validate(svc, crd_schema("knative/service-crd.yaml", "v1", strict=False))
    if pod_schema_accepts:
        kv = pytest.importorskip("kubernetes_validate")
        kv.validate(_pod_part(svc), KUBERNETES_VERSION, strict=True)
    # ... and Knative refuses it, saying why.
    (answer,) = admit([svc], chart_config, executable=validator)
    assert not answer.allowed, f"{case}: admitted"
    assert message in answer.error, f"{case}: {answer.error}"


def test_pod_security_context_needs_the_charts_flag(
    validator: Path, chart_config: dict[str, dict[str, str]], template: Doc
) -> None:
    """The flag read from the chart decides: without it Knative refuses a pod-level
    securityContext, with it (as the chart sets it) Knative admits it."""
    svc = copy.deepcopy(template)
    svc["spec"]["template"]["spec"]["securityContext"] = {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    features = dict(chart_config["features"])
    del features["kubernetes.podspec-securitycontext"]
    (answer,) = admit([svc], {**chart_config, "features": features}, executable=validator)
    assert not answer.allowed
    assert "spec.template.spec.securityContext" in answer.error
    (answer,) = admit([svc], chart_config, executable=validator)
    assert answer.allowed, answer.error


def test_defaults_are_knatives(
    validator: Path, chart_config: dict[str, dict[str, str]], template: Doc
) -> None:
    """SetDefaults runs with the user: the creator annotation and the probe ports are set."""
    (answer,) = admit([template], chart_config, defaulted=True, user="ci", executable=validator)
    assert answer.defaulted is not None
    assert answer.defaulted["metadata"]["annotations"]["serving.knative.dev/creator"] == "ci"
    (container,) = answer.defaulted["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["successThreshold"] == 1


# ----------------------------------------------------------------------------- the pin


def _unwrap(value: Any) -> Any:
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value.strip('"') if isinstance(value, str) else value


def _terraform_pins() -> dict[str, str]:
    hcl2 = pytest.importorskip("hcl2")
    with PINS_FILE.open() as handle:
        tree = hcl2.load(handle)
    (pins,) = [_unwrap(b)["pins"] for b in tree["locals"] if "pins" in _unwrap(b)]
    return {k: _unwrap(v) for k, v in _unwrap(pins).items()}


def test_go_pin_is_the_release_terraform_installs(validator: Path) -> None:
    """Knative 1.N is module v0.(N+27): the operator chart v1.23.0 installs Serving 1.23,
    which is knative.dev/serving v0.50.0, the module the validator is built against."""
    pins = _terraform_pins()
    major, minor, _ = pins["knative_operator"].removeprefix("v").split(".")
    assert pins["knative_serving"] == f"{major}.{minor}"
    module_version = f"v0.{int(minor) + 27}.0"
    assert f"v{versions.KNATIVE_SERVING_MODULE_VERSION}" == module_version
    assert knative_validate.BUILD.module == "knative.dev/serving"
    assert knative_validate.BUILD.version == module_version
    # The binary itself says which knative.dev/serving it was linked with.
    result = subprocess.run(
        [str(validator), "-version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == module_version


def test_the_operator_release_requires_this_serving_module() -> None:
    """The operator module of the pinned chart (same numbering) requires exactly our
    knative.dev/serving: read from the Go module proxy (its go.mod only)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go")
    minor = int(_terraform_pins()["knative_operator"].removeprefix("v").split(".")[1])
    result = subprocess.run(
        [go, "list", "-m", "-json", f"knative.dev/operator@v0.{minor + 27}.0"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"the Go module proxy did not answer: {result.stderr.strip()[-300:]}")
    go_mod = Path(json.loads(result.stdout)["GoMod"]).read_text()
    required = {
        parts[0]: parts[1]
        for line in go_mod.splitlines()
        if len(parts := line.split()) >= 2 and parts[0] == "knative.dev/serving"
    }
    assert required == {"knative.dev/serving": f"v{versions.KNATIVE_SERVING_MODULE_VERSION}"}
