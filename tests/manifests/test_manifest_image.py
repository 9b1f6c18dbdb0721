"""The image's start command, run the way the image runs it (no Docker engine here).

The Dockerfile's final stage copies only ``functions/<name>/main.py`` into /app (the
package comes installed); its CMD is a shell line using the ENV defaults. This test lays
out the same /app in a temporary folder, takes ENV and CMD from the Dockerfile, runs the
CMD with ``/bin/sh -c`` as Docker's shell form does, and asks the function's liveness
endpoint, which is what Knative's probe asks.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest
from manifests_support import REPO

from devstack.ports import free_port
from taskpulse.contract import Function

DOCKERFILE = REPO / "functions" / "Dockerfile"


def _final_stage() -> str:
    return DOCKERFILE.read_text().split("\nFROM ")[-1]


def _env_defaults() -> dict[str, str]:
    """The ENV instruction of the final stage (``KEY=value`` pairs, ``\\`` continued)."""
    stage = _final_stage().replace("\\\n", " ")
    (line,) = [x for x in stage.splitlines() if x.startswith("ENV ")]
    return dict(pair.split("=", 1) for pair in line.removeprefix("ENV ").split())


def _cmd() -> str:
    (line,) = [x for x in _final_stage().splitlines() if x.startswith("CMD ")]
    cmd = line.removeprefix("CMD ")
    assert not cmd.startswith("["), "shell form expected ($FUNCTION is expanded at run time)"
    return cmd


def test_the_final_stage_copies_only_the_entry_point() -> None:
    copies = [x for x in _final_stage().splitlines() if x.startswith("COPY ")]
    assert copies == [
        "COPY --from=build /opt/venv /opt/venv",
        "COPY functions/${FUNCTION}/main.py functions/${FUNCTION}/main.py",
    ]
    assert re.search(r"^WORKDIR /app$", _final_stage(), re.M)


@pytest.mark.parametrize("fn", list(Function), ids=[f.value for f in Function])
def test_the_image_command_serves_the_function(fn: Function, tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "functions" / fn.value).mkdir(parents=True)
    shutil.copy(REPO / "functions" / fn.value / "main.py", app / "functions" / fn.value)
    env = _env_defaults()
    port = free_port()
    scripts = sysconfig.get_path("scripts")
    env.update(
        {
            # The image's PATH starts with the venv; here, this interpreter's scripts.
            "PATH": f"{scripts}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            "FUNCTION": fn.value,
            "PORT": str(port),
            "HOME": str(tmp_path),
            "TMPDIR": str(tmp_path),
            # What the cluster gives every function (its <function>-dapr-tokens Secret) and
            # create-task (the taskpulse-identity ConfigMap): without them it will not start.
            "APP_API_TOKEN": "image-test-app-token",
        }
    )
    if fn.is_public:
        env["OIDC_ISSUER"] = "https://issuer.example"
    assert env["WORKERS"].isdigit() and env["THREADS"].isdigit()
    log = (tmp_path / "function.log").open("wb")
    process = subprocess.Popen(
        ["/bin/sh", "-c", _cmd()], cwd=app, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "function.log").read_text()[-3000:]
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health/liveness", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("the function did not listen within 60 s")
                time.sleep(0.2)
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_the_image_ships_compiled_bytecode() -> None:
    """No Docker engine here, so the recipe is read: the run stage can write nothing
    (read-only root, PYTHONDONTWRITEBYTECODE), so every .pyc must come from the build."""
    build = DOCKERFILE.read_text().split("\nFROM ")[1]
    assert "--no-compile" not in build
    assert re.search(r"compileall -q --invalidation-mode unchecked-hash /opt/venv", build)
    assert _env_defaults()["PYTHONDONTWRITEBYTECODE"] == "1"
