"""The cold-start import rule: functions that keep no state never load the store.

push-update and send-reminder start at zero replicas on every burst; SQLModel,
SQLAlchemy and psycopg are most of what a database function pays to start (see
docs/performance.md), so those two must not import them, directly or through
``taskpulse.store``. Each function is loaded in a fresh interpreter, as
functions-framework loads ``main.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
STORE_MODULES = ("taskpulse.store", "sqlmodel", "sqlalchemy", "psycopg")

PROBE = """
import json, runpy, sys
runpy.run_path("main.py")
{then}
print(json.dumps(sorted(sys.modules)))
"""
FIRST_UNIT_OF_WORK = """
from taskpulse.contract import Function
from taskpulse.runtime import Runtime
Runtime(Function("create-task")).store  # what a first unit of work builds; connects nowhere
"""


def modules_after_loading(function: str, *, then: str = "") -> list[str]:
    """The modules loaded once ``main.py`` is (and then ``then`` ran)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(then=then)],
        cwd=FUNCTIONS / function,
        # Settings a function refuses to start without; none of them loads anything.
        env={**os.environ, "APP_API_TOKEN": "t", "OIDC_ISSUER": "https://issuer.invalid/"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def store_modules(loaded: list[str]) -> list[str]:
    return [m for m in loaded if any(m == s or m.startswith(f"{s}.") for s in STORE_MODULES)]


@pytest.mark.parametrize("function", ["push-update", "send-reminder"])
def test_stateless_functions_do_not_load_the_store(function: str) -> None:
    loaded = modules_after_loading(function)
    assert "taskpulse.runtime" in loaded  # the probe really loaded the function
    assert store_modules(loaded) == []


def test_the_probe_sees_the_store_where_it_is_loaded() -> None:
    # create-task stores tasks: the same probe must find the store there, or it proves nothing.
    # Its services see only ports, so the store comes with its first unit of work.
    loaded = modules_after_loading("create-task", then=FIRST_UNIT_OF_WORK)
    assert "taskpulse.store" in store_modules(loaded)
