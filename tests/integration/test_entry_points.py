"""Each functions/<name>/main.py starts under the real functions-framework CLI."""

from __future__ import annotations

import os
import subprocess
import sys
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
        # Never fetched here: no request in this test carries a token.
        "OIDC_ISSUER": "https://issuer.invalid/",
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
        public = function is Function.CREATE_TASK
        assert (unauthorised.status_code, unauthorised.json()) == (
            401,
            {"error": "no access token: send Authorization: Bearer <token>"}
            if public
            else {"error": "missing or wrong dapr-api-token"},
        )
        if public:
            hidden = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            assert hidden.status_code == 401
        metrics = httpx.get(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": "Bearer entry-token"},
            timeout=5,
        )
        assert "taskpulse_events_total" in metrics.text
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("function", list(Function), ids=lambda f: f.value)
def test_a_function_without_its_tokens_refuses_to_start_and_says_what_to_set(
    function: Function, database_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("APP_API_TOKEN", "OIDC_ISSUER")}
    env |= {"DATABASE_URL": database_url, "INSECURE_LOCAL_DEV": "false"}
    folder = REPO / "functions" / function.value

    def load_main() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "import runpy; runpy.run_path('main.py')"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = load_main()
    assert done.returncode == 1
    assert f"{function.value} will not start:" in done.stderr
    assert "APP_API_TOKEN is not set" in done.stderr
    assert ("OIDC_ISSUER is not set" in done.stderr) is (function is Function.CREATE_TASK)
    # On a developer machine, said explicitly, a private function starts without it.
    env |= {"INSECURE_LOCAL_DEV": "true", "OIDC_ISSUER": "https://issuer.invalid/"}
    local = load_main()
    assert local.returncode == 0, local.stderr
