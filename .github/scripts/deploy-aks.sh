#!/usr/bin/env bash
# The deploy job of .github/workflows/main.yml, one step per subcommand (decision 0022):
#   resolve   the digest behind each main-<sha> tag, its cosign signature verified in GHCR,
#             the same digest in the ACR, which is what AKS pulls
#   snapshot  the Knative Services and Dapr Shared Deployments running now
#   migrate   the migration Job (.github/deploy/migrate.yaml), waited for
#   apply     knative/overlays/aks with the images by digest and the workload identity
#   wait      every Knative Service Ready at its new generation, every daprd rolled out
#   rollback  the snapshot back, and wait again
# Needs GITHUB_REPOSITORY, GITHUB_SHA, DEPLOY_DIR, NAMESPACE (ACR_LOGIN_SERVER for resolve,
# DATABASE_CLIENT_ID for migrate and apply); docker (buildx), kubectl, jq, yq, envsubst and
# cosign on PATH.
set -euo pipefail

FUNCTIONS=(create-task compute-next-occurrence send-reminder push-update)
# GHCR keeps the public record (signatures, SBOM, provenance); the ACR (modules/aks
# registry.tf) holds the same manifests, and AKS pulls them from there with AcrPull.
GHCR="ghcr.io/${GITHUB_REPOSITORY,,}"
SIGNER="https://github.com/${GITHUB_REPOSITORY}/.github/workflows/main.yml@refs/heads/main"
OIDC_ISSUER="https://token.actions.githubusercontent.com"
TIMEOUT="${TIMEOUT:-300s}"
mkdir -p "$DEPLOY_DIR"
IMAGES="$DEPLOY_DIR/images.env"
SNAPSHOT="$DEPLOY_DIR/previous.json"

kube() { kubectl --namespace "$NAMESPACE" "$@"; }

image_of() { grep "^$1=" "$IMAGES" | cut -d= -f2-; }

digest_of() {
  docker buildx imagetools inspect "$1" --format '{{json .Manifest}}' | jq -r .digest
}

resolve() {
  [[ -n "${ACR_LOGIN_SERVER:-}" ]] || { echo "ACR_LOGIN_SERVER is not set" >&2; exit 1; }
  local acr="${ACR_LOGIN_SERVER,,}/taskpulse"
  : >"$IMAGES"
  for fn in "${FUNCTIONS[@]}"; do
    local digest acr_digest
    digest="$(digest_of "$GHCR/$fn:main-$GITHUB_SHA")"
    [[ "$digest" == sha256:* ]] || { echo "no digest for $fn" >&2; exit 1; }
    # Deploy only what this workflow on main built and signed.
    cosign verify "$GHCR/$fn@$digest" \
      --certificate-identity "$SIGNER" --certificate-oidc-issuer "$OIDC_ISSUER" >/dev/null
    # The build pushed one manifest under both names: a digest is its content, so the ACR's
    # must be the signed one, or something else was pushed there.
    acr_digest="$(digest_of "$acr/$fn:main-$GITHUB_SHA")"
    if [[ "$acr_digest" != "$digest" ]]; then
      echo "$fn: the ACR has $acr_digest, the signed image is $digest" >&2
      exit 1
    fi
    echo "$fn=$acr/$fn@$digest" >>"$IMAGES"
    echo "$fn: $acr/$fn@$digest (signature verified on $GHCR/$fn@$digest)"
  done
}

snapshot() {
  kube get ksvc,deployment -l app.kubernetes.io/part-of=taskpulse -o json >"$SNAPSHOT"
  echo "$(jq '.items | length' "$SNAPSHOT") resources remembered"
}

migrate() {
  local job="taskpulse-migrate-${GITHUB_RUN_ID:-0}-${GITHUB_RUN_ATTEMPT:-1}"
  # envsubst replaces only the three names it is given (single quotes: literally those).
  # shellcheck disable=SC2016
  IMAGE="$(image_of create-task)" JOB_NAME="$job" DATABASE_CLIENT_ID="$DATABASE_CLIENT_ID" \
    envsubst '${IMAGE} ${JOB_NAME} ${DATABASE_CLIENT_ID}' <.github/deploy/migrate.yaml \
    | kube apply -f -
  local deadline=$((SECONDS + 600))
  while ((SECONDS < deadline)); do
    local state
    state="$(kube get job "$job" \
      -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type} {end}')"
    if [[ "$state" == *Complete* ]]; then
      kube logs "job/$job" --tail=50 || true
      return 0
    fi
    if [[ "$state" == *Failed* ]]; then
      kube logs "job/$job" --tail=200 || true
      echo "migration failed: nothing was deployed" >&2
      exit 1
    fi
    sleep 5
  done
  kube logs "job/$job" --tail=200 || true
  echo "migration did not finish in 10 minutes" >&2
  exit 1
}

apply() {
  local overlay=knative/overlays/aks/kustomization.yaml
  for fn in "${FUNCTIONS[@]}"; do
    local ref
    ref="$(image_of "$fn")"
    NAME="taskpulse/$fn" NEW="${ref%@*}" DIGEST="${ref#*@}" yq -i '
      (.images[] | select(.name == strenv(NAME))) |= {"name": .name, "newName": strenv(NEW), "digest": strenv(DIGEST)}
    ' "$overlay"
  done
  # The functions sign in to PostgreSQL as the database identity (decision 0023).
  CLIENT_ID="$DATABASE_CLIENT_ID" yq -i '.patches += [{
      "target": {"kind": "ServiceAccount", "labelSelector": "app.kubernetes.io/component=function"},
      "patch": "- op: add\n  path: /metadata/annotations\n  value:\n    azure.workload.identity/client-id: \"" + strenv(CLIENT_ID) + "\"\n"
    }]' "$overlay"
  kubectl kustomize knative/overlays/aks >"$DEPLOY_DIR/rendered.yaml"
  for fn in "${FUNCTIONS[@]}"; do
    grep -qF "image: $(image_of "$fn")" "$DEPLOY_DIR/rendered.yaml" \
      || { echo "$fn is not deployed by digest" >&2; exit 1; }
  done
  kube apply -f "$DEPLOY_DIR/rendered.yaml"
}

wait_ready() {
  local failed=0
  for fn in "${FUNCTIONS[@]}"; do
    local generation
    generation="$(kube get ksvc "$fn" -o jsonpath='{.metadata.generation}')"
    # Ready counts only once Knative has seen this generation, or it is the old one's.
    if ! kube wait "ksvc/$fn" --for=jsonpath='{.status.observedGeneration}'="$generation" \
      --timeout=120s || ! kube wait "ksvc/$fn" --for=condition=Ready --timeout="$TIMEOUT"; then
      echo "::error::Knative Service $fn is not Ready"
      kube get ksvc "$fn" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' || true
      failed=1
    fi
  done
  for fn in "${FUNCTIONS[@]}"; do
    if ! kube rollout status "deployment/$fn-dapr" --timeout="$TIMEOUT"; then
      echo "::error::Dapr Shared Deployment $fn-dapr did not roll out"
      failed=1
    fi
  done
  return "$failed"
}

rollback() {
  if [[ ! -s "$SNAPSHOT" ]] || [[ "$(jq '.items | length' "$SNAPSHOT")" == 0 ]]; then
    echo "::error::nothing ran before this deployment: nothing to roll back to"
    exit 1
  fi
  # The previous specs as they were applied; Knative makes a revision of the old template
  # again (same images by digest), and the Deployments roll back to their old pods.
  jq '.items |= map(
      del(.status, .metadata.resourceVersion, .metadata.uid, .metadata.creationTimestamp,
          .metadata.generation, .metadata.managedFields,
          .metadata.annotations["serving.knative.dev/creator"],
          .metadata.annotations["serving.knative.dev/lastModifier"])
    )' "$SNAPSHOT" | kube apply -f -
  wait_ready
  # The job has failed already (the step before); this step succeeds when the rollback did.
  echo "::warning::rolled back to the previous revisions; the database keeps the new migrations"
}

case "${1:-}" in
  resolve) resolve ;;
  snapshot) snapshot ;;
  migrate) migrate ;;
  apply) apply ;;
  wait) wait_ready ;;
  rollback) rollback ;;
  *) echo "usage: $0 resolve|snapshot|migrate|apply|wait|rollback" >&2; exit 2 ;;
esac
