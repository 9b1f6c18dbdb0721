"""modules/platform's local charts rendered as Terraform's helm_release would: the pinned helm
(devstack.tofu), ``helm template`` with the values on stdin."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from devstack import tofu

REPO = Path(__file__).resolve().parents[2]
PLATFORM = REPO / "infra" / "terraform" / "modules" / "platform"
CHARTS = PLATFORM / "charts"


def helm_template(
    chart: str, values: Mapping[str, Any], *, name: str = "t", namespace: str = "ns"
) -> subprocess.CompletedProcess[str]:
    """``helm template`` of ``charts/<chart>`` (success or not: some tests want the refusal)."""
    return subprocess.run(
        [
            str(tofu.helm()),
            "template",
            name,
            str(CHARTS / chart),
            "--namespace",
            namespace,
            "--values",
            "-",
        ],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        check=False,
    )


def render_chart(
    chart: str, values: Mapping[str, Any], *, name: str = "t", namespace: str = "ns"
) -> list[dict[str, Any]]:
    """Every document ``charts/<chart>`` renders with ``values``; fails the test if helm
    refuses."""
    out = helm_template(chart, values, name=name, namespace=namespace)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]
