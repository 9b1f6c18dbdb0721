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


PROMETHEUS = GoCommand(
    name="prometheus",
    module=MODULE,
    version=f"v{PROMETHEUS_MODULE_VERSION}",
    package=f"{MODULE}/cmd/prometheus",
)


def prometheus_binary() -> Path:
    """The Prometheus server of the same release (its API; the web UI's assets are not
    in the Go module), for the check that alerts and dashboards find live series."""
    if found := shutil.which("prometheus"):
        return Path(found)
    return build(PROMETHEUS)
