"""Render the deployment manifests that follow from ``taskpulse.contract``.

``python -m devstack.manifests generate`` writes them; ``python -m devstack.manifests check``
exits non-zero, naming each file, when a file on disk differs from what the contract gives.

What is generated (everything that names a topic, an event type, an app id or a route):

- ``dapr-components/base/subscription-<function>-<topic>.yaml``: one declarative
  Subscription per (function, topic). daprd 1.18.3 keeps only the FIRST declarative
  subscription of an app for a given pubsub+topic and silently ignores the others
  (pkg/runtime/compstore/subscriptions.go:199-212, ``taken[sub.Topic]``), so the several
  contract entries of one function on one topic become several routing rules of one manifest.
- ``dapr-components/base/resiliency.yaml`` (the app targets are the contract's functions).
- ``knative/base/``: the Knative Service, the Dapr Shared instance (ServiceAccount,
  Deployment and Service ``<app>-dapr``), RBAC and NetworkPolicies of every function.
- ``functions/<name>/func.yaml``.

Hand-written (not derivable): the Dapr components of each variant, the Configuration, the
kustomize overlays and the READMEs.
"""

# The docstring above is also the CLI's --help; which module builds what is said in each
# module's own docstring (dapr, chart, knative, dapr_shared, access, func, local; files lays
# them out on disk).

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from devstack.manifests._common import (
    CONSUMER_GROUP_ENV,
    ROOT,
    consumer_group_for,
    dapr_service,
)
from devstack.manifests.dapr import (
    PUBSUB_PLACE_KEYS,
    match_expression,
    publishing_scopes,
    subscription_manifest,
    subscription_scopes,
)
from devstack.manifests.files import check, generate, render
from devstack.manifests.local import (
    KAFKA_BROKERS_ENV,
    LOCAL_CONFIG,
    LOCAL_RESOURCE_DIRS,
    local_daprd_env,
)

__all__ = [
    "CONSUMER_GROUP_ENV",
    "KAFKA_BROKERS_ENV",
    "LOCAL_CONFIG",
    "LOCAL_RESOURCE_DIRS",
    "PUBSUB_PLACE_KEYS",
    "check",
    "consumer_group_for",
    "dapr_service",
    "generate",
    "local_daprd_env",
    "main",
    "match_expression",
    "publishing_scopes",
    "render",
    "subscription_manifest",
    "subscription_scopes",
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.manifests", description=__doc__)
    parser.add_argument("command", choices=("generate", "check"))
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    args = parser.parse_args(argv)
    root: Path = args.root
    if args.command == "generate":
        for rel in generate(root):
            print(f"wrote {rel}")
        return 0
    problems = check(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"{len(problems)} manifest(s) out of date: python -m devstack.manifests generate",
            file=sys.stderr,
        )
        return 1
    print(f"{len(render())} generated manifests match taskpulse.contract")
    return 0
