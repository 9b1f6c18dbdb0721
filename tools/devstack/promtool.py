"""promtool, Prometheus' own checker of rules and their unit tests, from the Go module proxy."""

from __future__ import annotations

import shutil
from pathlib import Path

from devstack.gobuild import GoCommand, build
from devstack.versions import PROMETHEUS_MODULE_VERSION

MODULE = "github.com/prometheus/prometheus"
BUILD = GoCommand(
    name="promtool",
    module=MODULE,
    version=f"v{PROMETHEUS_MODULE_VERSION}",
    package=f"{MODULE}/cmd/promtool",
)


def binary() -> Path:
    """``promtool`` on PATH, else the cached build of the pinned release."""
    if found := shutil.which("promtool"):
        return Path(found)
    return build(BUILD)
