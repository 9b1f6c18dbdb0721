"""`task up` as a user runs it: everything starts, endpoints.json appears, SIGTERM stops all.

The functions are stand-ins (the recording echo app) so that this tests the launcher and
the real Dapr resources of dapr-components/, not the function code.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from platform_fixtures import wait_for
from taskpulse.contract import PUBSUB_NAME, TASK_EVENTS, EventType, Function

REPO = Path(__file__).resolve().parents[2]
ECHO = REPO / "tests" / "platform_echo.py"


def _run_file(tmp_path: Path) -> Path:
    """The repo's dapr.yaml with every app replaced by the echo app, on free ports."""
    doc = yaml.safe_load((REPO / "dapr.yaml").read_text())
    for key in ("resourcesPaths",):
        doc["common"][key] = [str((REPO / p).resolve()) for p in doc["common"][key]]
    doc["common"]["configFilePath"] = str((REPO / doc["common"]["configFilePath"]).resolve())
    doc["common"].pop("schedulerHostAddress", None)
    for app in doc["apps"]:
        for key in (
            "appPort",
            "daprHTTPPort",
            "daprGRPCPort",
            "daprInternalGRPCPort",
            "metricsPort",
        ):
            app.pop(key, None)
        app["appDirPath"] = str(tmp_path)
        app["command"] = [sys.executable, str(ECHO)]
        app["env"] = {"ECHO_RECORD": str(tmp_path / f"{app['appID']}.jsonl")}
    path = tmp_path / "dapr.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _oidc_env_of(tmp_path: Path, app_id: str) -> dict[str, str]:
    """The OIDC_* environment of the running stand-in for ``app_id`` (found by the record
    file its environment names)."""
    marker = f"ECHO_RECORD={tmp_path / f'{app_id}.jsonl'}".encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            entries = environ.read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in entries:
            pairs = (e.decode().split("=", 1) for e in entries if e.startswith(b"OIDC_"))
            return dict(pair for pair in pairs if len(pair) == 2)
    raise AssertionError(f"no running process of {app_id}")


def test_up_runs_the_stack_and_stops_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "state"
    endpoints_file = state / "endpoints.json"
    log = (tmp_path / "up.log").open("wb")
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.up",
            "-f",
            str(_run_file(tmp_path)),
            "--state",
            str(state),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_for(lambda: endpoints_file.exists() or up.poll() is not None, timeout=240)
        assert up.poll() is None, (tmp_path / "up.log").read_text()
        endpoints = json.loads(endpoints_file.read_text())
        for key in (
            "create_task",
            "dapr_http",
            "kafka",
            "centrifugo_ws",
            "smtp",
            "mailbox",
            "oidc_issuer",
        ):
            assert endpoints[key], key
        # The gateway takes HMAC tokens made with it as well as the provider's
        # (docs/decisions/0016-local-oidc-provider.md; tests/e2e connects with both).
        assert isinstance(endpoints["centrifugo_token_secret"], str)
        assert len(endpoints["centrifugo_token_secret"]) >= 32

        # `task token -- alice` against this run: one line, a JWT from this issuer.
        token = subprocess.run(
            [sys.executable, "-m", "devstack.token", "--endpoints", str(endpoints_file), "alice"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert token.count("\n") == 1
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert (claims["iss"], claims["sub"]) == (endpoints["oidc_issuer"], "alice")
        # create-task, and only create-task, is told whose tokens to accept.
        oidc_env = {
            "OIDC_ISSUER": endpoints["oidc_issuer"],
            "OIDC_AUDIENCE": "taskpulse",
            "OIDC_SERVICE_SCOPE": "taskpulse.service",
        }
        assert _oidc_env_of(tmp_path, Function.CREATE_TASK.value) == oidc_env
        assert _oidc_env_of(tmp_path, Function.PUSH_UPDATE.value) == {}
        assert sorted(endpoints["dapr_http"]) == sorted(f.value for f in Function)
        assert endpoints_file.stat().st_mode & 0o777 == 0o600  # it holds local secrets

        # A second `task up` on the same folder refuses instead of deleting this one's
        # logs and data under it.
        run_file, state_dir = str(tmp_path / "dapr.yaml"), str(state)
        second = subprocess.run(
            [sys.executable, "-m", "devstack.up", "-f", run_file, "--state", state_dir],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1, second.stdout + second.stderr
        assert "another `task up` is running" in second.stdout + second.stderr
        assert endpoints_file.exists() and (state / "logs").is_dir()

        # A completion published through one daprd reaches the function whose
        # subscription matches it, through the real dapr-components resources.
        event = {
            "specversion": "1.0",
            "id": "up-test-1",
            "source": "/tests/up",
            "type": EventType.TASK_COMPLETED.value,
            "data": {"task_id": "t1", "user_id": "alice"},
        }
        response = httpx.post(
            f"{endpoints['dapr_http'][Function.CREATE_TASK.value]}/v1.0/publish/{PUBSUB_NAME}/{TASK_EVENTS.name}",
            params={"metadata.partitionKey": "alice"},
            content=json.dumps(event),
            headers={
                "Content-Type": "application/cloudevents+json",
                "dapr-api-token": endpoints["dapr_api_token"],
            },
            timeout=30,
        )
        assert (response.status_code, response.content) == (204, b"")
        record = tmp_path / f"{Function.COMPUTE_NEXT_OCCURRENCE.value}.jsonl"
        wait_for(
            lambda: record.exists() and "/events/task-events" in record.read_text(), timeout=60
        )
    finally:
        up.send_signal(signal.SIGTERM)
        code = up.wait(timeout=120)
        log.close()
    assert code == 0, (tmp_path / "up.log").read_text()
    assert not endpoints_file.exists()
    assert "stopped" in (tmp_path / "up.log").read_text()
    host, port = endpoints["kafka"].rsplit(":", 1)
    with socket.socket() as probe:
        assert probe.connect_ex((host, int(port))) != 0, "Kafka still listens after stop"
