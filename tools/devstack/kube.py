"""A real Kubernetes API server on 127.0.0.1: etcd + kube-apiserver, no kubelet.

Both are built from the Go module proxy into the cache (``devstack.gobuild``); versions come
from ``devstack.versions``. k8s.io/kubernetes is not meant to be used as a module: its go.mod
requires its 31 staging modules (k8s.io/api, k8s.io/apiserver, ...) at ``v0.0.0`` and replaces
them with ``./staging/...`` folders, which a wrapper module cannot use. The wrapper therefore
replaces each of them with its published release ``v0.<minor>.<patch>`` (read from upstream's
go.mod, so the list never drifts), and the linker stamps the version (otherwise the server
reports ``v0.0.0-master``).

``running_apiserver()`` starts etcd (own client and peer ports, data in a temporary folder)
and kube-apiserver (self-signed serving certificate, one static bearer token, service-account
keys made with ``cryptography``), waits for ``/readyz`` and writes a kubeconfig. Nothing runs
Pods: it is an admission and storage target (server-side dry runs, ``tofu apply``), not a
cluster. ``ApiServer`` speaks its REST API (server-side apply, dry runs, discovery).
docs/decisions/0020-a-real-api-server.md says what it can and cannot prove.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import yaml

from devstack import maven
from devstack.cache import cache_dir, progress
from devstack.gobuild import GoBuildError, GoCommand, _go, _run, build
from devstack.ports import free_port
from devstack.versions import (
    DAPR_VERSION,
    ETCD_VERSION,
    KEDA_MODULE_VERSION,
    KNATIVE_SERVING_MODULE_VERSION,
    KUBERNETES_VERSION,
    PROMETHEUS_OPERATOR_VERSION,
    STRIMZI_JAVA_MIN_MAJOR,
    STRIMZI_VERSION,
)

ETCD = GoCommand(
    name="etcd",
    module="go.etcd.io/etcd/server/v3",
    version=f"v{ETCD_VERSION}",
    package="go.etcd.io/etcd/server/v3",
)

_STAGING_PREFIX = "./staging/src/"


def staging_replaces(go_mod: str, version: str) -> list[str]:
    """``k8s.io/<m> => k8s.io/<m> v0.<minor>.<patch>`` for each staging module of ``go_mod``.

    ``version`` is the kubernetes tag (``v1.35.4``); staging modules are tagged ``v0.35.4``.
    """
    published = "v0." + version.removeprefix("v").split(".", 1)[1]
    lines: list[str] = []
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip().removeprefix("replace ").strip()
        if "=>" not in line:
            continue
        module, target = (part.strip() for part in line.split("=>", 1))
        if target.startswith(_STAGING_PREFIX):
            name = module.split()[0]
            lines.append(f"{name} => {name} {published}")
    return lines


def _kubernetes_replaces(go_mod: str, version: str) -> list[str]:
    replaces = staging_replaces(go_mod, version)
    if len(replaces) < 20:
        raise GoBuildError(f"k8s.io/kubernetes {version}: no staging modules found")
    return replaces


def _version_stamp(version: str) -> str:
    """The ``-ldflags`` that make the server report ``version`` (as Kubernetes' release build
    stamps it), stripped as every other build here."""
    major, minor = version.removeprefix("v").split(".")[:2]
    stamp = "k8s.io/component-base/version"
    return (
        f"-s -w -X {stamp}.gitVersion={version} -X {stamp}.gitMajor={major}"
        f" -X {stamp}.gitMinor={minor} -X {stamp}.gitTreeState=clean"
    )


KUBE_APISERVER = GoCommand(
    name="kube-apiserver",
    module="k8s.io/kubernetes",
    version=f"v{KUBERNETES_VERSION}",
    package="k8s.io/kubernetes/cmd/kube-apiserver",
    more_replaces=_kubernetes_replaces,
    ldflags=_version_stamp(f"v{KUBERNETES_VERSION}"),
)


def kube_apiserver() -> Path:
    return build(KUBE_APISERVER)


def etcd() -> Path:
    return build(ETCD)


def binaries() -> tuple[Path, Path]:
    """Build (once) and return etcd and kube-apiserver."""
    return etcd(), kube_apiserver()


# ----------------------------------------------------------------------------- CRDs

DAPR_MODULE = "github.com/dapr/dapr"
KNATIVE_SERVING_MODULE = "knative.dev/serving"


def module_dir(module: str, version: str) -> Path:
    """The unpacked source of ``module@version`` from the Go module proxy (cached by Go)."""
    go = _go()
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    info = json.loads(
        _run([go, "mod", "download", "-json", f"{module}@{version}"], cache_dir(), env)
    )
    return Path(info["Dir"])


class _CrdLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML as the API server reads it: PyYAML's 1.1 ``=`` (the "value" tag, an enum value
    of the Prometheus CRD's relabelings) is the string "="; libyaml when present (MiB of
    schemas)."""


_CrdLoader.add_constructor(
    "tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node)
)


def _crds_in(folder: Path, pattern: str = "*.yaml") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(folder.glob(pattern)):
        for doc in yaml.load_all(path.read_text(), Loader=_CrdLoader):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                found.append(doc)
    if not found:
        raise FileNotFoundError(f"no CustomResourceDefinition in {folder}/{pattern}")
    return found


def dapr_crds() -> list[dict[str, Any]]:
    """The CRDs of the pinned Dapr chart: ``charts/dapr/crds`` of github.com/dapr/dapr at
    DAPR_VERSION (the chart's own ``crds/`` folder, which Helm installs before templates)."""
    return _crds_in(module_dir(DAPR_MODULE, f"v{DAPR_VERSION}") / "charts" / "dapr" / "crds")


def knative_serving_crds() -> list[dict[str, Any]]:
    """The serving.knative.dev and autoscaling CRDs of Knative Serving 1.23 (what the pinned
    operator installs): ``config/core/300-resources`` of knative.dev/serving."""
    root = module_dir(KNATIVE_SERVING_MODULE, f"v{KNATIVE_SERVING_MODULE_VERSION}")
    return _crds_in(root / "config" / "core" / "300-resources")


KEDA_MODULE = "github.com/kedacore/keda/v2"


def keda_crds() -> list[dict[str, Any]]:
    """The keda.sh CRDs of the pinned KEDA chart's release (chart and app share a version):
    ``config/crd/bases`` of github.com/kedacore/keda/v2 at KEDA_MODULE_VERSION."""
    root = module_dir(KEDA_MODULE, f"v{KEDA_MODULE_VERSION}")
    return _crds_in(root / "config" / "crd" / "bases", "keda.sh_*.yaml")


KNATIVE_OPERATOR_MODULE = "knative.dev/operator"


def knative_operator_crds(namespace: str = "knative-operator") -> list[dict[str, Any]]:
    """KnativeServing and KnativeEventing, the CRDs of the Knative Operator chart that
    infra/terraform pins (operator v1.N is module v0.(N+27), like Serving's): the chart's
    ``templates/crds`` in knative.dev/operator. The source chart is itself a template of
    their release tooling (``version: {{ version }}``), so Helm cannot load it; the CRDs
    hold two Helm expressions, filled in here as Helm would."""
    version = f"v{KNATIVE_SERVING_MODULE_VERSION}"
    root = module_dir(KNATIVE_OPERATOR_MODULE, version)
    folder = root / "config" / "charts" / "knative-operator" / "templates" / "crds"
    release = "v1." + str(int(KNATIVE_SERVING_MODULE_VERSION.split(".")[1]) - 27) + ".0"
    found: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text().replace("{{ .Chart.Version }}", release)
        text = text.replace("{{ .Release.Namespace }}", namespace)
        if "{{" in text:
            raise ValueError(f"{path}: a Helm expression this reader does not fill in")
        found += [
            d for d in yaml.safe_load_all(text) if d and d["kind"] == "CustomResourceDefinition"
        ]
    if not found:
        raise FileNotFoundError(f"no CustomResourceDefinition in {folder}")
    return found


PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"


def prometheus_operator_crds() -> list[dict[str, Any]]:
    """The monitoring.coreos.com CRDs of the operator that the pinned kube-prometheus-stack
    chart runs (PROMETHEUS_OPERATOR_VERSION): ``example/prometheus-operator-crd`` of the
    operator's Go module, the files the chart's ``crds`` subchart carries. (The ``-full``
    variant differs only by AlertmanagerConfig v1beta1, served through a conversion webhook
    that no one runs here.)"""
    root = module_dir(PROMETHEUS_OPERATOR_MODULE, f"v{PROMETHEUS_OPERATOR_VERSION}")
    return _crds_in(root / "example" / "prometheus-operator-crd", "monitoring.coreos.com_*.yaml")


# dependencyManagement: the versions Strimzi's own build uses (its parent POM), not Maven's
# nearest pick.
_STRIMZI_DEPENDENCIES = """  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>io.strimzi</groupId>
        <artifactId>strimzi</artifactId>
        <version>{version}</version>
        <type>pom</type>
        <scope>import</scope>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>io.strimzi</groupId>
      <artifactId>api</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>io.strimzi</groupId>
      <artifactId>crd-generator</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>"""
_CRD_GENERATOR = "io.strimzi.crdgenerator.CrdGenerator"
_POM_NS = "{http://maven.apache.org/POM/4.0.0}"


def strimzi_generator_arguments(api_jar: Path, out: Path) -> list[str]:
    """The arguments that Strimzi's ``api`` build passes to its CRD generator (read from the
    POM inside the jar, so the set of CRDs and their options never drift), each output file
    moved into ``out`` under the name it has in Strimzi's packaging."""
    with zipfile.ZipFile(api_jar) as jar:
        pom = jar.read("META-INF/maven/io.strimzi/api/pom.xml")
    root = ElementTree.fromstring(pom)  # noqa: S314 - the POM of the jar Maven verified
    for arguments in root.iter(f"{_POM_NS}arguments"):
        values = [a.text or "" for a in arguments.findall(f"{_POM_NS}argument")]
        if _CRD_GENERATOR in values:
            break
    else:
        raise ValueError(f"{api_jar}: no {_CRD_GENERATOR} execution in its POM")
    args: list[str] = []
    for value in values[values.index(_CRD_GENERATOR) + 1 :]:
        if "=" in value and value.endswith(".yaml"):
            kind, target = value.split("=", 1)
            value = f"{kind}={out / target.rsplit('}', 1)[-1]}"
        args.append(value)
    return args


def strimzi_crds() -> list[dict[str, Any]]:
    """The kafka.strimzi.io CRDs of Strimzi STRIMZI_VERSION, the release of the pinned
    operator chart. Strimzi publishes no CRD YAML outside GitHub; its chart's ``crds/`` are
    the files its ``api`` build writes with ``io.strimzi:crd-generator``. Both jars come from
    Maven Central at the pin, and the generator runs here with that build's own arguments
    (``strimzi_generator_arguments``), once: the YAML is cached."""
    root = cache_dir("strimzi", STRIMZI_VERSION)
    crds, done = root / "crds", root / "crds.complete"
    if not done.exists():
        java = maven.java_at_least(
            STRIMZI_JAVA_MIN_MAJOR, f"Strimzi {STRIMZI_VERSION}'s CRD generator"
        )
        libs = root / "libs"
        shutil.rmtree(crds, ignore_errors=True)
        crds.mkdir(parents=True)
        maven.fetch_jars(
            root,
            "strimzi-crds",
            _STRIMZI_DEPENDENCIES.format(version=STRIMZI_VERSION),
            libs,
            f"Strimzi {STRIMZI_VERSION}'s api and crd-generator",
        )
        args = strimzi_generator_arguments(libs / f"api-{STRIMZI_VERSION}.jar", crds)
        with progress(f"java: generating Strimzi {STRIMZI_VERSION}'s CRDs"):
            maven.run_checked([java, "-cp", f"{libs}/*", _CRD_GENERATOR, *args], root)
        done.touch()
    return _crds_in(crds)


# ----------------------------------------------------------------------------- the server

TOKEN_USER = "taskpulse-admin"  # noqa: S105 - a user name, not a secret
SERVICE_CIDR = "10.96.0.0/16"


class ApiError(RuntimeError):
    """The API server answered a request with an error status."""

    def __init__(self, status: int, body: dict[str, Any], what: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{what}: HTTP {status}: {body.get('message', body)}")


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass
class ApiServer:
    """A running etcd + kube-apiserver; ``url``, ``token`` and ``ca_file`` reach it."""

    url: str
    token: str
    ca_file: Path
    kubeconfig: Path
    context: str
    logs: Path
    _ssl: ssl.SSLContext = field(init=False, repr=False)
    _kinds: dict[tuple[str, str], tuple[str, bool]] = field(
        init=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._ssl = ssl.create_default_context(cafile=str(self.ca_file))

    # -- raw requests ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        content_type: str = "application/json",
        check: bool = True,
    ) -> Response:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - https to our own server
            self.url + path, data=data, method=method
        )
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=60) as answer:  # noqa: S310
                raw = answer.read()
                status, headers = answer.status, answer.headers
        except urllib.error.HTTPError as error:
            raw, status, headers = error.read(), error.code, error.headers
        try:
            parsed = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            parsed = {"message": raw.decode(errors="replace")}
        warnings = [w.split('"', 1)[-1].rstrip('"') for w in headers.get_all("Warning") or []]
        response = Response(status, parsed if isinstance(parsed, dict) else {"items": parsed})
        response.warnings = warnings
        if check and status >= 400:
            raise ApiError(status, response.body, f"{method} {path}")
        return response

    # -- objects by kind ------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of ``kind`` in ``api_version``, from discovery."""
        key = (api_version, kind)
        if key not in self._kinds:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            found = self.request("GET", base).body
            for item in found.get("resources", []):
                if "/" not in item["name"]:
                    self._kinds[(api_version, item["kind"])] = (item["name"], item["namespaced"])
        if key not in self._kinds:
            raise KeyError(f"the API server does not serve {kind} in {api_version}")
        return self._kinds[key]

    def path(self, obj: Mapping[str, Any], *, named: bool, namespace: str | None = None) -> str:
        api_version, kind = obj["apiVersion"], obj["kind"]
        plural, namespaced = self.resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if namespaced:
            ns = obj.get("metadata", {}).get("namespace") or namespace or "default"
            base += f"/namespaces/{ns}"
        base += f"/{plural}"
        return base + (f"/{obj['metadata']['name']}" if named else "")

    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        dry_run: bool = False,
        namespace: str | None = None,
        check: bool = True,
    ) -> Response:
        """Server-side apply as ``kubectl apply --server-side`` sends it (strict field
        validation: an unknown field is refused); ``dry_run`` adds ``dryRun=All``: every
        admission step runs, nothing is stored."""
        query = "?fieldManager=taskpulse-tests&force=true&fieldValidation=Strict"
        query += "&dryRun=All" if dry_run else ""
        return self.request(
            "PATCH",
            self.path(obj, named=True, namespace=namespace) + query,
            obj,
            content_type="application/apply-patch+yaml",
            check=check,
        )

    def create(
        self,
        obj: Mapping[str, Any],
        *,
        dry_run: bool = False,
        namespace: str | None = None,
        check: bool = True,
    ) -> Response:
        query = "?fieldValidation=Strict" + ("&dryRun=All" if dry_run else "")
        path = self.path(obj, named=False, namespace=namespace)
        return self.request("POST", path + query, obj, check=check)

    def listable(self) -> list[tuple[str, str, bool]]:
        """(api path, plural, namespaced) of every resource that can be listed: each once,
        at the first version of its group that serves it (the preferred version first; a
        group's kinds may be spread over versions, as Dapr's are)."""
        bases = ["/api/v1"]
        for group in self.request("GET", "/apis").body.get("groups", []):
            preferred = group["preferredVersion"]["groupVersion"]
            others = [
                v["groupVersion"] for v in group["versions"] if v["groupVersion"] != preferred
            ]
            bases += [f"/apis/{v}" for v in [preferred, *others]]
        found: dict[tuple[str, str], tuple[str, str, bool]] = {}
        for base in bases:
            group = base.rsplit("/", 1)[0]
            for item in self.request("GET", base).body.get("resources", []):
                if "/" not in item["name"] and "list" in item.get("verbs", []):
                    found.setdefault(
                        (group, item["name"]), (base, item["name"], item["namespaced"])
                    )
        return list(found.values())

    def objects(self, namespace: str | None = None) -> set[tuple[str, str, str]]:
        """Every stored object as (api path/plural, namespace, name); events excluded."""
        found: set[tuple[str, str, str]] = set()
        for base, plural, namespaced in self.listable():
            if plural == "events" or (namespace is not None and not namespaced):
                continue
            where = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
            for item in self.request("GET", where).body.get("items", []):
                meta = item["metadata"]
                found.add((f"{base}/{plural}", meta.get("namespace", ""), meta["name"]))
        return found

    def forget_discovery(self) -> None:
        """Read discovery again (after CRDs were installed)."""
        self._kinds.clear()

    def install_crds(self, crds: list[Mapping[str, Any]], timeout: float = 60.0) -> None:
        """Create (server-side apply) the CRDs and wait until each is Established."""
        for crd in crds:
            self.apply(crd)
        deadline = time.monotonic() + timeout
        for crd in crds:
            name = crd["metadata"]["name"]
            while True:
                got = self.request(
                    "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
                ).body
                conditions = got.get("status", {}).get("conditions") or []
                established = any(
                    c["type"] == "Established" and c["status"] == "True" for c in conditions
                )
                # Established comes first; the storage answers lists (not 429) a moment later.
                if established and all(
                    self.request(
                        "GET",
                        f"/apis/{crd['spec']['group']}/{v['name']}/"
                        f"{crd['spec']['names']['plural']}?limit=1",
                        check=False,
                    ).status
                    == 200
                    for v in crd["spec"]["versions"]
                    if v.get("served")
                ):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"CRD {name} not Established after {timeout:.0f}s")
                time.sleep(0.2)
        self.forget_discovery()


def _service_account_key(certs: Path) -> tuple[Path, Path]:
    """An RSA key pair that signs and verifies service-account tokens (``cryptography`` is
    already installed: PyJWT[crypto] needs it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = certs / "sa.key", certs / "sa.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def _kubeconfig(path: Path, url: str, ca: Path, token: str, context: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": context, "cluster": {"server": url, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": TOKEN_USER, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": TOKEN_USER}}],
        "current-context": context,
    }
    # JSON is YAML: kubectl, client-go and the tofu providers all read it.
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


def _wait_ready(
    server: ApiServer, processes: list[subprocess.Popen[bytes]], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                name = Path(str(process.args[0])).name  # type: ignore[index]
                raise RuntimeError(
                    f"{name} exited with {process.returncode} (logs in {server.logs})"
                )
        try:
            answer = server.request("GET", "/readyz", check=False)
            if answer.status == 200:
                return
            last = str(answer.body.get("message", answer.status))[-500:]
        except (OSError, ssl.SSLError) as error:
            last = str(error)
        time.sleep(0.25)
    raise TimeoutError(
        f"kube-apiserver not ready after {timeout:.0f}s: {last} (logs in {server.logs})"
    )


_PR_SET_PDEATHSIG = 1


def _killed_with_parent() -> None:
    """In the child between fork and exec: SIGKILL when the process that started it dies, so
    a test process killed without cleaning up leaves no server behind. SIGKILL, not SIGTERM:
    on SIGTERM kube-apiserver shuts down gracefully and waits for an etcd that is gone; the
    data of both is throwaway."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_apiserver(
    *, context: str = "kind-taskpulse-apiserver", ready_timeout: float = 120.0
) -> Iterator[ApiServer]:
    """etcd + kube-apiserver on 127.0.0.1 for the ``with`` block; everything in a temp dir.

    ``context`` names the kubeconfig context (envs/local accepts only laptop-cluster names).
    """
    etcd_bin, apiserver_bin = binaries()
    with tempfile.TemporaryDirectory(prefix="taskpulse-kube-") as tmp:
        root = Path(tmp)
        certs = root / "certs"
        certs.mkdir()
        sa_key, sa_pub = _service_account_key(certs)
        token = secrets.token_urlsafe(32)
        tokens = root / "tokens.csv"
        tokens.write_text(f'{token},{TOKEN_USER},{TOKEN_USER},"system:masters"\n')
        tokens.chmod(0o600)
        etcd_port, etcd_peer, secure_port = free_port(), free_port(), free_port()
        processes: list[subprocess.Popen[bytes]] = []
        try:
            with (root / "etcd.log").open("wb") as etcd_log:
                processes.append(
                    subprocess.Popen(  # noqa: S603 - fixed argv
                        [
                            str(etcd_bin),
                            "--name=taskpulse",
                            f"--data-dir={root / 'etcd'}",
                            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                            f"--initial-cluster=taskpulse=http://127.0.0.1:{etcd_peer}",
                            "--unsafe-no-fsync",
                            "--log-level=warn",
                        ],
                        stdout=etcd_log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=_killed_with_parent,
                    )
                )
            with (root / "kube-apiserver.log").open("wb") as api_log:
                processes.append(
                    subprocess.Popen(  # noqa: S603 - fixed argv
                        [
                            str(apiserver_bin),
                            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                            "--bind-address=127.0.0.1",
                            "--advertise-address=127.0.0.1",
                            f"--secure-port={secure_port}",
                            f"--cert-dir={certs}",
                            f"--token-auth-file={tokens}",
                            "--authorization-mode=RBAC",
                            f"--service-account-key-file={sa_pub}",
                            f"--service-account-signing-key-file={sa_key}",
                            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                            f"--service-cluster-ip-range={SERVICE_CIDR}",
                            "--enable-priority-and-fairness=false",
                            "--profiling=false",
                            "--v=1",
                        ],
                        stdout=api_log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=_killed_with_parent,
                    )
                )
            url = f"https://127.0.0.1:{secure_port}"
            ca = certs / "apiserver.crt"
            deadline = time.monotonic() + ready_timeout
            while not ca.exists():  # the server writes its self-signed pair at start
                if time.monotonic() > deadline or processes[-1].poll() is not None:
                    raise RuntimeError(f"kube-apiserver made no certificate (logs in {root})")
                time.sleep(0.1)
            kubeconfig = root / "kubeconfig"
            _kubeconfig(kubeconfig, url, ca, token, context)
            server = ApiServer(url, token, ca, kubeconfig, context, root)
            _wait_ready(server, processes, max(1.0, deadline - time.monotonic()))
            yield server
        finally:
            for process in reversed(processes):
                _stop(process)
