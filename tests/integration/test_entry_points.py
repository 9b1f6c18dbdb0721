"""Each functions/<name>/main.py starts under the real functions-framework CLI."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_port
from support import functions_framework_argv
from taskpulse.contract import Function

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("function", list(Function), ids=lambda f: f.value)
def test_the_entry_point_serves_health_and_enforces_the_app_token(
    function: Function, database_url: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "APP_API_TOKEN": "entry-token",
        "DATABASE_URL": database_url,
        "PORT": str(port),
    }
    command = functions_framework_argv(REPO / "functions" / function.value / "main.py", port)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health/readiness", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "function did not start in 30 s"
                time.sleep(0.1)
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        unauthorised = httpx.post(f"http://127.0.0.1:{port}/", json={}, timeout=5)
        assert (unauthorised.status_code, unauthorised.json()) == (
            401,
            {"error": "missing or wrong dapr-api-token"},
        )
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert "taskpulse_events_total" in metrics.text
    finally:
        process.terminate()
        process.wait(timeout=10)
