"""actionlint, built from the Go module proxy, over the GitHub Actions workflows.

``python -m devstack.actionlint [files...]`` builds it once (``devstack.gobuild``, cached under
``~/.cache/taskpulse``) and checks ``.github/workflows`` (or the files given). v1.7.12 is the
newest release the Go module proxy serves (``go list -m -versions github.com/rhysd/actionlint``).
shellcheck and pyflakes are used for ``run:`` scripts when they are on PATH.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devstack.gobuild import GoCommand, build

ACTIONLINT = GoCommand(
    name="actionlint",
    module="github.com/rhysd/actionlint",
    version="v1.7.12",
    package="github.com/rhysd/actionlint/cmd/actionlint",
)

YQ = GoCommand(
    name="yq",
    module="github.com/mikefarah/yq/v4",
    version="v4.54.3",
    package="github.com/mikefarah/yq/v4",
)
"""mikefarah's yq, the one GitHub's Ubuntu runners carry: tests/infra/test_workflows.py runs
the deploy script's overlay edit with it (Debian's ``yq`` is another program)."""

ROOT = Path(__file__).resolve().parents[2]


def actionlint() -> Path:
    return build(ACTIONLINT)


def yq() -> Path:
    return build(YQ)


def main(argv: list[str]) -> int:
    binary = actionlint()
    files = argv or sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.y*ml"))
    return subprocess.run(  # noqa: S603 - our own binary, file names as arguments
        [str(binary), "-no-color", *files], cwd=ROOT, check=False
    ).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
