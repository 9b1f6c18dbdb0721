"""tests/manifests: make the shared platform fixtures (tests/platform_fixtures.py) available.

The real-daprd test needs Kafka, the scheduler and the supervisor of the session. If the
root conftest has not registered the plugin (``pytest_plugins``), register it here, once,
under the same name, so that the session still starts each part only once.
"""

from __future__ import annotations

import importlib

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("platform_fixtures"):
        module = importlib.import_module("platform_fixtures")
        config.pluginmanager.register(module, "platform_fixtures")
