"""The pipeline (.github/, decision 0022) and the names it shares with Terraform and knative/.

actionlint (built from the Go module proxy) and zizmor (PyPI) check the workflows as `task lint`
does; shellcheck checks the deploy script when it is installed; the deploy script's `apply`
runs for real here against a copy of knative/, with mikefarah's yq (the one GitHub's runners
carry, built from the Go module proxy) and a stand-in kubectl that renders with kustomize and
records what would be applied.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskpulse.contract import Function

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
DEPLOY_SCRIPT = REPO / ".github" / "scripts" / "deploy-aks.sh"
MIGRATE_JOB = REPO / ".github" / "deploy" / "migrate.yaml"
AKS_MODULE = REPO / "infra" / "terraform" / "modules" / "aks"

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", re.MULTILINE)
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def load(path: Path) -> dict[Any, Any]:
    doc: dict[Any, Any] = yaml.safe_load(path.read_text())
    return doc


def triggers(doc: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    on = doc.get("on", doc.get(True))
    return on if isinstance(on, dict) else {name: None for name in on}


# ----------------------------------------------------------------------------- static rules


def test_every_action_is_pinned_by_commit_with_its_version() -> None:
    for path in workflow_files():
        for ref, rest in USES.findall(path.read_text()):
            if ref.startswith("./"):
                continue  # this repository's own reusable workflow
            assert SHA_PIN.match(ref), f"{path.name}: {ref} is not pinned by a full commit SHA"
            assert re.match(r"\s*#\s*v\d+\.\d+\.\d+", rest), f"{path.name}: {ref} has no version"


def test_one_version_of_each_action() -> None:
    seen: dict[str, set[str]] = {}
    for path in workflow_files():
        for ref, _ in USES.findall(path.read_text()):
            if not ref.startswith("./"):
                name, sha = ref.split("@")
                seen.setdefault(name, set()).add(sha)
    assert {name: shas for name, shas in seen.items() if len(shas) > 1} == {}


def test_least_privilege_and_safe_triggers() -> None:
    for path in workflow_files():
        doc = load(path)
        assert "pull_request_target" not in triggers(doc), path.name
        assert "workflow_run" not in triggers(doc), path.name
        assert doc["permissions"] == {}, f"{path.name}: the default token must have nothing"
        assert "concurrency" in doc, path.name
        for name, job in doc["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} must say what it needs"
            write = {k for k, v in job["permissions"].items() if v == "write"}
            assert write <= {"packages", "id-token"}, f"{path.name}: {name} writes {write}"
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def test_ci_runs_exactly_the_readme_test_line_with_the_cache() -> None:
    ci = load(WORKFLOWS / "ci.yml")
    (job,) = ci["jobs"].values()
    runs = [s["run"] for s in job["steps"] if "run" in s]
    # As root (the image tier runs podman as root), with the runner's PATH and HOME.
    assert runs == ['sudo -E env "PATH=$PATH" .ci/run']
    readme_line = (REPO / "README.md").read_text().splitlines()[1]
    assert readme_line == "python3 -m pip install -e '.[dev]' && task test"
    assert "pip install -q -e '.[dev]' && task test" in (REPO / ".ci" / "run").read_text()
    (cache,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache@")]
    assert cache["with"]["path"] == "~/.cache/taskpulse"
    assert "tools/devstack/versions.py" in cache["with"]["key"]
    assert "workflow_call" in triggers(ci)


def test_main_builds_signs_and_deploys_by_digest_after_the_tests() -> None:
    main = load(WORKFLOWS / "main.yml")
    assert triggers(main) == {"push": {"branches": ["main"]}}
    assert main["concurrency"]["cancel-in-progress"] is False
    jobs = main["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    build, deploy = jobs["build"], jobs["deploy"]
    assert build["needs"] == "test" and deploy["needs"] == "build"
    assert set(build["strategy"]["matrix"]["function"]) == {f.value for f in Function}
    (push,) = [s for s in build["steps"] if "build-push-action" in str(s.get("uses"))]
    assert push["with"]["file"] == "functions/Dockerfile"
    assert push["with"]["build-args"].strip() == "FUNCTION=${{ matrix.function }}"
    assert push["with"]["sbom"] is True and push["with"]["provenance"] == "mode=max"
    assert ":${{ steps.image.outputs.tag }}" in push["with"]["tags"]
    assert "main-${GITHUB_SHA}" in str(build["steps"])
    assert 'cosign sign --yes "${IMAGE}@${DIGEST}"' in str(build["steps"])
    assert build["permissions"]["id-token"] == "write"
    assert deploy["permissions"]["id-token"] == "write"
    runs = [s.get("run", "") for s in deploy["steps"]]
    order = ["resolve", "snapshot", "migrate", "apply", "wait", "rollback"]
    assert [r.split()[-1] for r in runs if "deploy-aks.sh" in r] == order
    (rollback,) = [s for s in deploy["steps"] if "rollback" in s.get("run", "")]
    assert rollback["if"].startswith("failure()")
    (login,) = [s for s in deploy["steps"] if "azure/login@" in str(s.get("uses"))]
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert all("secrets." not in str(v) for v in login["with"].values())
    assert "secrets." not in (WORKFLOWS / "main.yml").read_text().replace(
        "secrets.GITHUB_TOKEN", ""
    )


# ------------------------------------------------------------------------- names that meet


def test_terraform_trusts_the_branch_that_deploys() -> None:
    deploy = (AKS_MODULE / "deploy_identity.tf").read_text()
    assert 'issuer                    = "https://token.actions.githubusercontent.com"' in deploy
    assert "repo:${var.github_deploy.repository}:ref:refs/heads/${var.github_deploy.branch}" in (
        deploy
    )
    assert re.search(
        r'branch\s+= optional\(string, "main"\)', (AKS_MODULE / "variables.tf").read_text()
    )
    # The deploy job uses no `environment:`: it would change the token's subject.
    assert "environment" not in load(WORKFLOWS / "main.yml")["jobs"]["deploy"]


def test_the_database_identity_trusts_the_functions_and_the_migration_job() -> None:
    identity = (AKS_MODULE / "database_identity.tf").read_text()
    job = list(yaml.safe_load_all(MIGRATE_JOB.read_text()))
    (account,) = [d for d in job if d["kind"] == "ServiceAccount"]
    assert f'"{account["metadata"]["name"]}"' in identity
    assert "concat(var.functions," in identity
    assert "system:serviceaccount:${var.namespace}:${each.key}" in identity
    assert 'principal_type      = "ServicePrincipal"' in identity


def test_the_aks_overlay_signs_in_with_entra() -> None:
    overlay = (REPO / "knative" / "overlays" / "aks" / "kustomization.yaml").read_text()
    assert "azure.workload.identity~1use" in overlay
    assert "name: DATABASE_AUTH\n          value: entra" in overlay


def test_the_deploy_script_knows_every_function() -> None:
    listed = re.search(r"^FUNCTIONS=\(([^)]*)\)", DEPLOY_SCRIPT.read_text(), re.MULTILINE)
    assert listed is not None
    assert listed.group(1).split() == [f.value for f in Function]


def test_the_migration_job_is_valid_and_restricted() -> None:
    kv = pytest.importorskip("kubernetes_validate")
    text = (
        MIGRATE_JOB.read_text()
        .replace("${IMAGE}", "ghcr.io/o/r/create-task@sha256:" + "0" * 64)
        .replace("${JOB_NAME}", "taskpulse-migrate-1-1")
        .replace("${DATABASE_CLIENT_ID}", "00000000-0000-0000-0000-000000000000")
    )
    docs = list(yaml.safe_load_all(text))
    for doc in docs:
        kv.validate(doc, "1.32", strict=True)
    (job,) = [d for d in docs if d["kind"] == "Job"]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][-3:] == ["python", "-m", "taskpulse.store.migrate"]
    assert container["command"][:4] == ["python", "-m", "taskpulse.store.credentials", "--"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert job["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"


# -------------------------------------------------------------------------------- real tools


def test_actionlint_passes() -> None:
    from devstack.actionlint import actionlint

    if shutil.which("go") is None and not os.environ.get("TASKPULSE_ACTIONLINT"):
        pytest.fail("actionlint is built with Go: install Go 1.26 (task setup needs it anyway)")
    binary = actionlint()
    done = subprocess.run(
        [str(binary), "-no-color", *map(str, workflow_files())],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_passes_even_pedantic() -> None:
    zizmor = shutil.which("zizmor")
    if zizmor is None:
        pytest.fail("zizmor is in the dev extras: pip install -e '.[dev]'")
    done = subprocess.run(
        [zizmor, "--offline", "--persona", "pedantic", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck_passes_on_the_deploy_script() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    done = subprocess.run(
        [shellcheck, str(DEPLOY_SCRIPT)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


def _kustomize() -> list[str] | None:
    found = shutil.which("kustomize")
    if found:
        return [found, "build"]
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    return None


FAKE_KUBECTL = """\
#!/usr/bin/env bash
# kubectl for the test: `kustomize` renders for real, everything else is recorded.
set -euo pipefail
args=("$@")
for i in "${!args[@]}"; do
  if [[ "${args[$i]}" == kustomize ]]; then exec $KUSTOMIZE "${args[@]:$((i + 1))}"; fi
done
echo "$*" >>"$KUBECTL_LOG"
if [[ " $* " == *" -f - "* ]]; then cat >>"$KUBECTL_LOG"; fi
"""


def test_the_deploy_script_applies_every_image_by_digest(tmp_path: Path) -> None:
    from devstack.actionlint import yq

    kustomize = _kustomize()
    if kustomize is None or shutil.which("go") is None:
        pytest.skip("needs kustomize or kubectl, and Go to build yq")
    work = tmp_path / "repo"
    shutil.copytree(REPO / "knative", work / "knative")
    shutil.copytree(REPO / ".github", work / ".github")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "yq").symlink_to(yq())
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    deploy_dir = tmp_path / "deploy"
    deploy_dir.mkdir()
    digests = {f.value: f"sha256:{i:064x}" for i, f in enumerate(Function, start=1)}
    registry = "ghcr.io/example-org/taskpulse"
    (deploy_dir / "images.env").write_text(
        "".join(f"{fn}={registry}/{fn}@{d}\n" for fn, d in digests.items())
    )
    log = tmp_path / "kubectl.log"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "KUSTOMIZE": " ".join(kustomize),
        "KUBECTL_LOG": str(log),
        "GITHUB_REPOSITORY": "Example-Org/TaskPulse",
        "GITHUB_SHA": "0" * 40,
        "DEPLOY_DIR": str(deploy_dir),
        "NAMESPACE": "taskpulse",
        "DATABASE_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
    }
    done = subprocess.run(
        ["bash", ".github/scripts/deploy-aks.sh", "apply"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rendered = [d for d in yaml.safe_load_all((deploy_dir / "rendered.yaml").read_text()) if d]
    services = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "Service"}
    for fn, digest in digests.items():
        (container,) = services[fn]["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"{registry}/{fn}@{digest}"
        env_names = {e["name"]: e.get("value") for e in container["env"]}
        assert env_names["DATABASE_AUTH"] == "entra"
    accounts = {
        d["metadata"]["name"]: d
        for d in rendered
        if d["kind"] == "ServiceAccount"
        and d["metadata"]["labels"]["app.kubernetes.io/component"] == "function"
    }
    assert set(accounts) == set(digests)
    for account in accounts.values():
        annotations = account["metadata"]["annotations"]
        assert annotations["azure.workload.identity/client-id"] == env["DATABASE_CLIENT_ID"]
    assert f"apply -f {deploy_dir}/rendered.yaml" in log.read_text()
