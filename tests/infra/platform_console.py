"""modules/platform as the real tofu evaluates it: initialised in a copy of infra/terraform
(the repository stays clean), then ``tofu console`` expressions under given variables."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack import tofu

INFRA = Path(__file__).resolve().parents[2] / "infra" / "terraform"


def _tofu() -> tuple[Path, dict[str, str]]:
    return tofu.tofu(), tofu.environment(tofu.cli_config(tofu.mirror(tofu.PLATFORM_PROVIDERS)))


def initialised_platform(work: Path) -> Path:
    """modules/platform in a copy of infra/terraform under ``work``, after ``tofu init``."""
    copy = work / "terraform"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl"))
    where = copy / "modules" / "platform"
    binary, env = _tofu()
    init = tofu.run(binary, ["init", "-backend=false", "-input=false"], where, env)
    assert init.returncode == 0, init.stdout + init.stderr
    return where


def evaluate(where: Path, expression: str, variables: Mapping[str, Any]) -> Any:
    """``jsonencode(<expression>)`` in the module at ``where``, decoded."""
    binary, env = _tofu()
    argv = [str(binary), "console", "-no-color"]
    for name, value in variables.items():
        argv += ["-var", f"{name}={value if isinstance(value, str) else json.dumps(value)}"]
    run = subprocess.run(
        argv,
        cwd=where,
        env=env,
        input=f"jsonencode({expression})\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, f"{expression}\n{run.stdout}{run.stderr}"
    return json.loads(json.loads(run.stdout.strip()))
