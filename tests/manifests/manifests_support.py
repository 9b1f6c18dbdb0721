"""Shared helpers of the manifest tests: where the files are, how to read them, the schemas."""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "schemas"

DAPR_DIRS = ("dapr-components/base", "dapr-components/local", "dapr-components/cluster")
QUEUE_PROXY_PORTS = frozenset({8012, 8022, 9090, 9091, 8112})
KUSTOMIZE_VERSION = "v5.5.0"


def load_docs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def yaml_files(*dirs: str) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        files += sorted((REPO / d).rglob("*.yaml"))
    return files


def manifest_files() -> list[Path]:
    """Every Kubernetes-style manifest we ship (kustomizations excluded)."""
    return [p for p in yaml_files("dapr-components", "knative") if p.name != "kustomization.yaml"]


def func_yaml_files() -> list[Path]:
    return sorted(REPO.glob("functions/*/func.yaml"))


def all_docs() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, doc) for p in manifest_files() for doc in load_docs(p)]


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


# ----------------------------------------------------------------------------- schemas


def _strict(schema: Any) -> Any:
    """A CRD's structural schema as the API server applies it to *our* files: an object
    with listed properties and no ``x-kubernetes-preserve-unknown-fields`` would have its
    unknown fields pruned silently, which for a hand-written manifest is a typo: reject."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_schema(file: str, version: str, *, strict: bool) -> dict[str, Any]:
    """``openAPIV3Schema`` of ``version`` in the vendored CRD ``file`` (under schemas/)."""
    crd = load_docs(SCHEMAS / file)[0]
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            assert v["served"], f"{file}: {version} is not served"
            schema = copy.deepcopy(v["schema"]["openAPIV3Schema"])
            result: dict[str, Any] = _strict(schema) if strict else schema
            return result
    raise KeyError(f"{file} has no version {version}")


def crd_identity(file: str) -> tuple[str, str, list[str]]:
    crd = load_docs(SCHEMAS / file)[0]
    return (
        crd["spec"]["group"],
        crd["spec"]["names"]["kind"],
        [v["name"] for v in crd["spec"]["versions"] if v["served"]],
    )


@functools.cache
def func_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / "knative" / "func_yaml-schema.json").read_text())
    return schema


# ----------------------------------------------------------------------------- kustomize


def kustomize_build() -> list[str] | None:
    """The command line that renders a kustomization folder given as its last argument:
    ``kustomize build`` on PATH, ``kubectl kustomize`` (which takes the folder directly,
    without ``build``), or ``kustomize build`` built once from the Go module proxy into
    the project cache (about 50 s the first time)."""
    found = shutil.which("kustomize")
    if found:
        return [found, "build"]
    from devstack.cache import cache_dir

    cached = cache_dir("bin", f"kustomize-{KUSTOMIZE_VERSION}") / "kustomize"
    if cached.exists():
        return [str(cached), "build"]
    kubectl = shutil.which("kubectl")
    if kubectl:
        probe = subprocess.run([kubectl, "kustomize", "--help"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [kubectl, "kustomize"]
    if shutil.which("go") is None or os.environ.get("TASKPULSE_NO_GO_BUILD"):
        return None
    from devstack.gobuild import GoCommand, build

    module = "sigs.k8s.io/kustomize/kustomize/v5"
    return [str(build(GoCommand("kustomize", module, KUSTOMIZE_VERSION, module))), "build"]


KNATIVE_TARGETS = ("knative/base", "knative/overlays/local", "knative/overlays/aks")
"""The kustomizations a cluster is given: the base and each overlay."""


def rendered_knative() -> dict[str, list[dict[str, Any]]]:
    """Each of ``KNATIVE_TARGETS`` as ``kustomize build`` renders it (documents in order);
    fails the calling test, saying what to install, when nothing can render them."""
    import pytest

    cmd = kustomize_build()
    if cmd is None:
        pytest.fail("no kustomize, no kubectl and no Go to build kustomize: install Go 1.26")
    out: dict[str, list[dict[str, Any]]] = {}
    for target in KNATIVE_TARGETS:
        result = subprocess.run(
            [*cmd, str(REPO / target)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"kustomize build {target}:\n{result.stderr}"
        out[target] = [d for d in yaml.safe_load_all(result.stdout) if d]
    return out
