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


def _inputs_of(step: dict[str, Any]) -> dict[str, Any]:
    with_: dict[str, Any] = step.get("with", {})
    return with_


def test_main_pushes_to_the_acr_and_deploys_from_it_without_a_password() -> None:
    main = load(WORKFLOWS / "main.yml")
    build, deploy = main["jobs"]["build"], main["jobs"]["deploy"]
    for job in (build, deploy):
        uses = [str(s.get("uses", "")) for s in job["steps"]]
        runs = [s.get("run", "") for s in job["steps"]]
        login = uses.index(next(u for u in uses if u.startswith("azure/login@")))
        acr_login = next(i for i, r in enumerate(runs) if r.startswith("az acr login"))
        # azure/login (OIDC), then the registry token from it: never a password or token input.
        assert login < acr_login
        assert runs[acr_login] == 'az acr login --name "$ACR_NAME"'
        assert job["steps"][acr_login]["env"] == {"ACR_NAME": "${{ vars.ACR_NAME }}"}
        assert "--expose-token" not in str(job["steps"])
        for step in job["steps"]:
            inputs = _inputs_of(step)
            for key, value in inputs.items():
                if key == "password":
                    # Only GHCR's job token, which expires with the job.
                    assert value == "${{ secrets.GITHUB_TOKEN }}", step
                    assert inputs["registry"] == "ghcr.io", step
                assert "secrets." not in str(value) or key == "password", step
                assert key not in {"creds", "client-secret", "auth-type"}, step
    # One push, both names: the same manifest (and digest) in GHCR and the ACR.
    (image,) = [s for s in build["steps"] if s.get("id") == "image"]
    assert image["env"]["ACR_LOGIN_SERVER"] == "${{ vars.ACR_LOGIN_SERVER }}"
    assert 'echo "acr=${ACR_LOGIN_SERVER,,}/taskpulse/${FUNCTION}"' in image["run"]
    (push,) = [s for s in build["steps"] if "build-push-action" in str(s.get("uses"))]
    tags = push["with"]["tags"].strip().splitlines()
    assert tags == [
        "${{ steps.image.outputs.name }}:${{ steps.image.outputs.tag }}",
        "${{ steps.image.outputs.acr }}:${{ steps.image.outputs.tag }}",
    ]
    # The ACR login comes before the build in the build job, before resolve in the deploy job.
    steps = [str(s.get("uses", "")) + s.get("run", "") for s in build["steps"]]
    acr = next(i for i, st in enumerate(steps) if st.startswith("az acr login"))
    assert acr < next(i for i, st in enumerate(steps) if "build-push-action" in st)
    runs = [s.get("run", "") for s in deploy["steps"]]
    acr = next(i for i, r in enumerate(runs) if r.startswith("az acr login"))
    resolve = next(i for i, r in enumerate(runs) if r.endswith("deploy-aks.sh resolve"))
    assert acr < resolve
    assert deploy["steps"][resolve]["env"] == {"ACR_LOGIN_SERVER": "${{ vars.ACR_LOGIN_SERVER }}"}


# ------------------------------------------------------------------------- names that meet


def test_terraform_lets_the_kubelets_pull_and_the_pipeline_push() -> None:
    registry = (AKS_MODULE / "registry.tf").read_text()
    assert "admin_enabled                 = false" in registry
    assert "anonymous_pull_enabled        = false" in registry
    # AcrPull/AcrPush are not honoured in the ABAC mode.
    assert 'role_assignment_mode = "LegacyRegistryPermissions"' in registry
    pull = registry.split('resource "azurerm_role_assignment" "kubelet_acr_pull"')[1]
    pull = pull.split("}")[0]
    assert '"AcrPull"' in pull
    assert "azurerm_kubernetes_cluster.this.kubelet_identity[0].object_id" in pull
    push = registry.split('resource "azurerm_role_assignment" "deploy_acr_push"')[1]
    push = push.split("}")[0]
    assert '"AcrPush"' in push
    assert "azurerm_user_assigned_identity.deploy[0].principal_id" in push
    # What the workflow reads as vars.ACR_NAME and vars.ACR_LOGIN_SERVER comes from here.
    outputs = (AKS_MODULE / "outputs.tf").read_text()
    assert "container_registry_name         = azurerm_container_registry.this.name" in outputs
    assert "container_registry_login_server = azurerm_container_registry.this.login_server" in (
        outputs
    )
    # The path under the registry is the one envs/aks shows and the deploy script deploys.
    env = (AKS_MODULE.parents[1] / "envs" / "aks" / "main.tf").read_text()
    assert "${module.aks.container_registry.login_server}/taskpulse" in env
    assert 'local acr="${ACR_LOGIN_SERVER,,}/taskpulse"' in DEPLOY_SCRIPT.read_text()


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
    registry = "taskpulseimages.azurecr.io/taskpulse"
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


FAKE_DOCKER = """\
#!/usr/bin/env bash
# docker for the test: `buildx imagetools inspect <ref> --format ...` answers from $DIGESTS.
set -euo pipefail
ref="$4"
digest="$(grep "^${ref} " "$DIGESTS" | cut -d' ' -f2)"
[[ -n "$digest" ]] || { echo "not found: $ref" >&2; exit 1; }
printf '{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s"}\\n' "$digest"
"""

FAKE_COSIGN = """\
#!/usr/bin/env bash
echo "$*" >>"$COSIGN_LOG"
"""


def _resolve(tmp_path: Path, acr_digest_of: dict[str, str] | None = None) -> tuple[Any, Path]:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("cosign", FAKE_COSIGN)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    sha = "a" * 40
    digests = {f.value: f"sha256:{i:064x}" for i, f in enumerate(Function, start=1)}
    acr = "taskpulseimages.azurecr.io/taskpulse"
    lines = []
    for fn, digest in digests.items():
        lines.append(f"ghcr.io/example-org/taskpulse/{fn}:main-{sha} {digest}")
        lines.append(f"{acr}/{fn}:main-{sha} {(acr_digest_of or {}).get(fn, digest)}")
    (tmp_path / "digests").write_text("\n".join(lines) + "\n")
    deploy_dir = tmp_path / "deploy"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DIGESTS": str(tmp_path / "digests"),
        "COSIGN_LOG": str(tmp_path / "cosign.log"),
        "GITHUB_REPOSITORY": "Example-Org/TaskPulse",
        "GITHUB_SHA": sha,
        "DEPLOY_DIR": str(deploy_dir),
        "NAMESPACE": "taskpulse",
        "ACR_LOGIN_SERVER": "TaskPulseImages.azurecr.io",
    }
    done = subprocess.run(
        ["bash", str(DEPLOY_SCRIPT), "resolve"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return done, tmp_path


def test_resolve_deploys_the_acr_copy_of_the_signed_digest(tmp_path: Path) -> None:
    done, work = _resolve(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    images = dict(
        line.split("=", 1) for line in (work / "deploy" / "images.env").read_text().splitlines()
    )
    acr = "taskpulseimages.azurecr.io/taskpulse"
    digests = {f.value: f"sha256:{i:064x}" for i, f in enumerate(Function, start=1)}
    assert images == {fn: f"{acr}/{fn}@{d}" for fn, d in digests.items()}
    verified = (work / "cosign.log").read_text().splitlines()
    signer = "https://github.com/Example-Org/TaskPulse/.github/workflows/main.yml@refs/heads/main"
    assert verified == [
        f"verify ghcr.io/example-org/taskpulse/{fn}@{d} --certificate-identity {signer} "
        "--certificate-oidc-issuer https://token.actions.githubusercontent.com"
        for fn, d in digests.items()
    ]


def test_resolve_refuses_an_acr_digest_that_was_not_signed(tmp_path: Path) -> None:
    done, _ = _resolve(tmp_path, {"send-reminder": "sha256:" + "f" * 64})
    assert done.returncode != 0
    assert "send-reminder: the ACR has sha256:" + "f" * 64 in done.stderr
