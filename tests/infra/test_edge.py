"""The edge's charts (decision 0031) render to what the pinned Knative and cert-manager read.

modules/platform's tofu tests (tests/edge.tftest.hcl) show which values the module hands the
charts with and without a `domain`; here a Helm CLI built from the Go module proxy renders
them with those values, and:

- the KnativeServing's network keys are keys of the pinned knative.dev/networking
  (``pkg/config/config.go``), its certificate class the one Serving's cert-manager integration
  registers, and ``certmanager`` the ConfigMap ``config-certmanager`` of Serving 1.23 whose
  ``issuerRef`` names the ClusterIssuer; without a domain none of it is there;
- the ClusterIssuers, the ClusterDomainClaim and Centrifugo's DomainMapping, and the
  KnativeServing, pass a server-side dry run on the real kube-apiserver of devstack.kube with
  the CRDs of cert-manager v1.21.1, Knative Serving 1.23 and its operator installed (strict
  field validation: a misspelt field is refused, which the last test shows).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts_support import helm_template, render_chart

from devstack import kube, versions

REPO = Path(__file__).resolve().parents[2]
PLATFORM = REPO / "infra" / "terraform" / "modules" / "platform"
CHARTS = PLATFORM / "charts"
NAMESPACE = "taskpulse"
DOMAIN = "tp.example.org"
CENTRIFUGO_HOST = f"centrifugo.{NAMESPACE}.{DOMAIN}"
CERT_MANAGER = ("github.com/cert-manager/cert-manager", "v1.21.1")

pytestmark = [
    pytest.mark.infra,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(shutil.which("go") is None, reason="needs the go command to build helm"),
]


def _render(helm: Path, chart: str, values: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    return render_chart(chart, values, namespace=NAMESPACE)


def _serving_source() -> Path:
    return kube.module_dir("knative.dev/serving", f"v{versions.KNATIVE_SERVING_MODULE_VERSION}")


def _networking_source() -> Path:
    go_mod = (_serving_source() / "go.mod").read_text()
    version = re.search(r"^\s*knative\.dev/networking (\S+)$", go_mod, re.M)
    assert version, "knative.dev/serving's go.mod names no knative.dev/networking"
    return kube.module_dir("knative.dev/networking", version.group(1))


def _the_module_pins_serving_1_23() -> None:
    pins = (REPO / "infra" / "terraform" / "modules" / "versions" / "main.tf").read_text()
    minor = int(versions.KNATIVE_SERVING_MODULE_VERSION.split(".")[1]) - 27
    assert f'knative_serving  = "1.{minor}"' in pins, "the module's Serving is not the checked one"


TLS_VALUES = {
    "version": "1.23",
    "domain": DOMAIN,
    "tls": {"enabled": True, "clusterIssuer": "letsencrypt-production"},
    "highAvailability": {"replicas": 2},
}
EDGE_VALUES = {"acme": {"email": "ops@example.org"}, "centrifugo": {"host": CENTRIFUGO_HOST}}


def test_external_domain_tls_uses_keys_the_pinned_knative_reads(helm: Path, tmp_path: Path) -> None:
    _the_module_pins_serving_1_23()
    (serving,) = _render(helm, "knative-serving", TLS_VALUES, tmp_path)
    config = serving["spec"]["config"]
    network = config["network"]
    assert network["external-domain-tls"] == "Enabled"
    assert network["http-protocol"] == "Enabled"
    assert config["domain"] == {DOMAIN: ""}

    config_go = (_networking_source() / "pkg" / "config" / "config.go").read_text()
    keys = set(re.findall(r'^\s*\w+Key\s*=\s*"([a-z.-]+)"', config_go, re.M))
    unknown = set(network) - keys
    assert not unknown, f"config-network keys the pinned networking does not read: {unknown}"

    # The class of Serving's own cert-manager reconciler (pkg/reconciler/certificate).
    serving_src = _serving_source()
    assert f'CertManagerCertificateClassName = "{network["certificate-class"]}"' in config_go
    controller = (serving_src / "pkg" / "reconciler" / "certificate" / "controller.go").read_text()
    assert "netcfg.CertManagerCertificateClassName" in controller

    # The operator maps spec.config.<name> onto config-<name>; Serving 1.23 ships
    # config-certmanager, whose issuerRef is a cert-manager ObjectReference in YAML.
    certmanager = yaml.safe_load(
        (serving_src / "config" / "core" / "configmaps" / "certmanager.yaml").read_text()
    )
    assert certmanager["metadata"]["name"] == "config-certmanager"
    assert "issuerRef:" in certmanager["data"]["_example"]
    assert yaml.safe_load(config["certmanager"]["issuerRef"]) == {
        "kind": "ClusterIssuer",
        "name": "letsencrypt-production",
    }


def test_without_a_domain_knative_stays_plain_http(helm: Path, tmp_path: Path) -> None:
    values = {"version": "1.23", "domain": "127.0.0.1.sslip.io"}
    (serving,) = _render(helm, "knative-serving", values, tmp_path)
    config = serving["spec"]["config"]
    assert "certmanager" not in config
    assert set(config["network"]) == {"ingress-class"}
    assert config["domain"] == {"127.0.0.1.sslip.io": ""}


def test_the_edge_chart_makes_both_issuers_and_maps_centrifugo(helm: Path, tmp_path: Path) -> None:
    docs = _render(helm, "taskpulse-edge", EDGE_VALUES, tmp_path)
    issuers = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterIssuer"}
    assert set(issuers) == {"letsencrypt-staging", "letsencrypt-production"}
    assert issuers["letsencrypt-staging"]["spec"]["acme"]["server"].startswith(
        "https://acme-staging-v02.api.letsencrypt.org/"
    )
    assert issuers["letsencrypt-production"]["spec"]["acme"]["server"].startswith(
        "https://acme-v02.api.letsencrypt.org/"
    )
    for issuer in issuers.values():
        (solver,) = issuer["spec"]["acme"]["solvers"]
        assert solver == {
            "http01": {"ingress": {"class": "kourier.ingress.networking.knative.dev"}}
        }
        assert issuer["spec"]["acme"]["email"] == "ops@example.org"
    (mapping,) = (d for d in docs if d["kind"] == "DomainMapping")
    assert mapping["metadata"] == {
        "name": CENTRIFUGO_HOST,
        "namespace": NAMESPACE,
        "labels": {"app.kubernetes.io/part-of": "taskpulse"},
    }
    assert mapping["spec"]["ref"] == {
        "apiVersion": "v1",
        "kind": "Service",
        "name": "centrifugo",
        "namespace": NAMESPACE,
    }
    (claim,) = (d for d in docs if d["kind"] == "ClusterDomainClaim")
    assert claim["spec"] == {"namespace": NAMESPACE}

    # Serving resolves a v1 Service as an Addressable and sends the mapping's traffic to its
    # port 80, which centrifugo.tf's Service maps to the client port by number.
    source = _serving_source() / "pkg" / "reconciler" / "domainmapping"
    assert (
        "ServicePort:      intstr.FromInt(80)" in (source / "resources" / "ingress.go").read_text()
    )
    centrifugo_tf = (PLATFORM / "centrifugo.tf").read_text()
    assert re.search(
        r'name\s+= "edge"\s+port\s+= 80\s+target_port = tostring\(local\.centrifugo_client_port\)',
        centrifugo_tf,
    )


def test_the_edge_chart_needs_an_acme_contact(helm: Path, tmp_path: Path) -> None:
    out = helm_template("taskpulse-edge", {"centrifugo": {"host": CENTRIFUGO_HOST}})
    assert out.returncode != 0
    assert "acme.email is required" in out.stderr


@pytest.fixture(scope="module")
def apiserver() -> Iterator[kube.ApiServer]:
    cert_manager = kube.module_dir(*CERT_MANAGER) / "deploy" / "crds"
    crds = [
        *kube.knative_operator_crds(),
        *kube.knative_serving_crds(),
        *kube._crds_in(_networking_source() / "config", "domain-claim.yaml"),
        *kube._crds_in(cert_manager, "cert-manager.io_clusterissuers.yaml"),
    ]
    with kube.running_apiserver() as server:
        server.install_crds(crds)
        for ns in (NAMESPACE, "knative-serving"):
            server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        yield server


def test_the_edge_passes_a_server_side_dry_run(
    apiserver: kube.ApiServer, helm: Path, tmp_path: Path
) -> None:
    docs = _render(helm, "taskpulse-edge", EDGE_VALUES, tmp_path)
    (serving,) = _render(helm, "knative-serving", TLS_VALUES, tmp_path)
    serving["metadata"]["namespace"] = "knative-serving"
    assert {d["kind"] for d in docs} == {"ClusterIssuer", "ClusterDomainClaim", "DomainMapping"}
    for doc in [*docs, serving]:
        response = apiserver.apply(doc, dry_run=True, check=False)
        assert response.status < 300, f"{doc['kind']} {doc['metadata']['name']}: {response.body}"


def test_the_dry_run_refuses_a_misspelt_issuer(
    apiserver: kube.ApiServer, helm: Path, tmp_path: Path
) -> None:
    docs = _render(helm, "taskpulse-edge", EDGE_VALUES, tmp_path)
    issuer = next(d for d in docs if d["kind"] == "ClusterIssuer")
    issuer["spec"]["acme"]["solvers"][0]["http01"]["ingres"] = issuer["spec"]["acme"]["solvers"][0][
        "http01"
    ].pop("ingress")
    response = apiserver.apply(issuer, dry_run=True, check=False)
    assert response.status >= 400


def test_the_solver_policy_names_cert_managers_pods_and_port() -> None:
    """acme-http01-solver-ingress (edge.tf) lets Kourier reach cert-manager's HTTP-01 solver
    pods: their label and listen port as cert-manager v1.21.1 sets them, and they meet Pod
    Security "restricted" (non-root by default, RuntimeDefault seccomp, no capabilities)."""
    source = kube.module_dir(*CERT_MANAGER)
    http = (source / "pkg" / "issuer" / "acme" / "http" / "http.go").read_text()
    port = re.search(r"acmeSolverListenPort\s*=\s*(\d+)", http)
    assert port
    types = (source / "pkg" / "apis" / "acme" / "v1" / "types.go").read_text()
    label = re.search(r'SolverIdentificationLabelKey\s*=\s*"([^"]+)"', types)
    assert label
    edge = (PLATFORM / "edge.tf").read_text()
    assert f'matchLabels = {{ "{label.group(1)}" = "true" }}' in edge
    assert f"port = {port.group(1)} }}" in edge and f'port     = "{port.group(1)}"' in edge
    pod = (source / "pkg" / "issuer" / "acme" / "http" / "pod.go").read_text()
    assert "SeccompProfileTypeRuntimeDefault" in pod and 'Drop: []corev1.Capability{"ALL"}' in pod
    defaults = source / "internal" / "apis" / "config" / "controller" / "v1alpha1" / "defaults.go"
    assert "defaultACMEHTTP01SolverRunAsNonRoot          = true" in defaults.read_text()
