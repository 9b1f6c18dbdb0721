"""What the admission checkers share (``keda_validate``, ``knative_validate``): a Go program,
built once against the pinned module, that reads objects as JSON on stdin, a settings file
beside them, and answers one admission per object on stdout."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class AdmissionToolError(RuntimeError):
    """The checker itself failed (not an object refused): its stderr."""


def answers(
    executable: Path,
    objects: Sequence[Mapping[str, Any]],
    settings: tuple[str, Mapping[str, Any]],
    flags: Sequence[str] = (),
    timeout: float = 600,
) -> list[dict[str, Any]]:
    """Run ``executable`` on ``objects`` with ``settings`` (its flag, its content) written to
    a file; the raw answers, one per object, in order."""
    flag, content = settings
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix=f"{executable.name}-") as handle:
        json.dump(content, handle)
        handle.flush()
        result = subprocess.run(  # noqa: S603 - our own binary, fixed argv
            [str(executable), flag, handle.name, *flags],
            input=json.dumps(list(objects)),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    if result.returncode != 0:
        raise AdmissionToolError(result.stderr.strip())
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def common(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The fields every checker's answer has: which object, allowed or not, where and why."""
    return {
        "kind": answer.get("kind", ""),
        "name": answer.get("name", ""),
        "namespace": answer.get("namespace", ""),
        "allowed": answer["allowed"],
        "stage": answer.get("stage", ""),
        "error": answer.get("error", ""),
        "warnings": tuple(answer.get("warnings") or ()),
    }


def built_version(executable: Path) -> str:
    """The module version built into the checker (``-version``)."""
    result = subprocess.run(  # noqa: S603 - our own binary, fixed argv
        [str(executable), "-version"], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()
