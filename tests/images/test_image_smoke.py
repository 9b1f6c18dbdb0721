"""Each function's image, run under its Knative Service's own security settings.

The flags come from the generated ``knative/base/<function>/service.yaml``
(``KnativeRun.from_service``): read-only root, its uid and gid, capabilities dropped,
no privilege escalation, ``/tmp`` as the memory emptyDir, its memory limit, its literal
environment (THREADS, TMPDIR...). Then what the cluster relies on: both probes answer,
nobody gets in without a token, and SIGTERM stops it cleanly within the grace period
Knative gives a revision's pods (its ``timeoutSeconds``).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from images_support import SOCKET_DIR, Container, in_container, run_container

from devstack import images
from devstack.images import Built, ImageError, KnativeRun
from recording import RecordingServer
from taskpulse.contract import Function

FUNCTIONS = list(Function)
IDS = [f.value for f in FUNCTIONS]


# A fresh machine builds the base and the images in the first test's setup (~3-4 min).
pytestmark = pytest.mark.timeout(1200)


def status_field(container: Container, field: str) -> str:
    """A field of ``/proc/1/status`` of the container: its PID 1 is the function."""
    result = container.exec("cat", "/proc/1/status")
    assert result.returncode == 0, result.stderr
    (line,) = [x for x in result.stdout.splitlines() if x.startswith(f"{field}:")]
    return line.split(":", 1)[1].strip()


def create_command() -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/clients/image-test",
            "type": "dev.taskpulse.task.create.v1",
            "datacontenttype": "application/json",
            "data": {"user_id": "alice", "title": "anonymous"},
        }
    ).encode()


@pytest.mark.parametrize("function", FUNCTIONS, ids=IDS)
def test_the_image_runs_as_its_knative_service_asks(
    function: Function,
    built_images: dict[Function, Built],
    database_url: str,
    fake_dapr: RecordingServer,
    tmp_path: Path,
) -> None:
    with run_container(
        built_images[function], tmp_path, database_url=database_url, dapr_url=fake_dapr.url
    ) as container:
        knative = container.knative
        listened = container.wait_listening()

        # The probes Knative's queue-proxy and the kubelet ask.
        assert set(knative.probes) == {"liveness", "readiness"}
        for kind, path in knative.probes.items():
            response = httpx.get(container.url(path), timeout=5)
            assert response.status_code == 200, (kind, response.text)

        # Who it runs as and what it may do, seen from inside.
        uid, _, gid = knative.user.partition(":")
        assert container.exec("id", "-u").stdout.strip() == uid
        assert container.exec("id", "-g").stdout.strip() == (gid or uid)
        assert status_field(container, "CapEff") == "0000000000000000"
        assert status_field(container, "CapBnd") == "0000000000000000"
        assert status_field(container, "NoNewPrivs") == "1"
        # The root is read-only, the image's files included; /tmp (the emptyDir) is not.
        for path in ("/app/written", "/opt/venv/written", "/written"):
            refused = container.exec("touch", path)
            assert refused.returncode != 0, path
            assert "Read-only file system" in refused.stderr, refused.stderr
        assert container.exec("touch", "/tmp/written").returncode == 0
        # The image carries this function, and the manifest's literal environment is in.
        env = dict(
            line.split("=", 1) for line in container.exec("env").stdout.splitlines() if "=" in line
        )
        assert env["FUNCTION"] == function.value
        for key, value in knative.env.items():
            if key != "DAPR_HTTP_ENDPOINT":
                assert env[key] == value, key

        # No token, no entry.
        headers = {"content-type": "application/cloudevents+json"}
        anonymous = httpx.post(container.url("/"), content=create_command(), headers=headers)
        assert anonymous.status_code == 401, anonymous.text
        if function.is_public:
            assert anonymous.headers["www-authenticate"].startswith("Bearer"), anonymous.headers
        else:
            wrong = httpx.post(
                container.url("/"),
                content=create_command(),
                headers={**headers, "dapr-api-token": "not-the-token"},
            )
            assert wrong.status_code == 401, wrong.text

        # SIGTERM, as the kubelet sends it when Knative scales the revision down.
        code, seconds = container.terminate()
        assert code == 0, container.log_tail()
        assert seconds < knative.grace_seconds, seconds
        print(f"{function.value}: listening after {listened:.1f}s, stopped in {seconds:.1f}s")


def test_the_run_flags_follow_the_manifest() -> None:
    """The flags are the manifest's, not a copy of them: change the manifest, the flags
    change; a setting podman cannot honour here is refused, not ignored."""
    service = images.service_manifest(Function.PUSH_UPDATE)
    flags = KnativeRun.from_service(service).flags()
    assert flags[:4] == ["--user", "10001:10001", "--read-only", "--read-only-tmpfs=false"]
    assert "--cap-drop=ALL" in flags
    assert flags[flags.index("--security-opt") + 1] == "no-new-privileges"
    assert flags[flags.index("--tmpfs") + 1] == f"/tmp:rw,mode=1777,size={64 * 1024**2}"
    assert flags[flags.index("--memory") + 1] == str(384 * 1024**2)

    spec = service["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    container["securityContext"]["runAsUser"] = 20002
    container["securityContext"]["allowPrivilegeEscalation"] = True
    changed = KnativeRun.from_service(service)
    assert changed.user == "20002:10001"
    assert "--security-opt" not in changed.flags()
    spec["volumes"][0]["emptyDir"] = {}
    with pytest.raises(ImageError, match="memory emptyDirs"):
        KnativeRun.from_service(service)


def test_an_unknown_function_fails_the_build_before_pip(
    built_images: dict[Function, Built], tmp_path: Path
) -> None:
    start = time.monotonic()
    argv = images.build_argv("no-such-function", images.base_tag(), "localhost/taskpulse/no:test")
    result = subprocess.run(
        argv, env=images.podman_env(), capture_output=True, text=True, check=False, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "build with --build-arg FUNCTION=" in output, output
    assert "pip install" not in output, output
    assert time.monotonic() - start < 60


def test_a_port_is_what_knative_gives(built_images: dict[Function, Built]) -> None:
    """Knative sets PORT to the containerPort; the image's default is that port too."""
    service = images.service_manifest(Function.CREATE_TASK)
    (container,) = service["spec"]["template"]["spec"]["containers"]
    (port,) = container["ports"]
    result = subprocess.run(
        images.podman(
            "image",
            "inspect",
            "--format",
            "{{json .Config}}",
            images.image_tag(Function.CREATE_TASK),
        ),
        env=images.podman_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(result.stdout)
    assert f"PORT={port['containerPort']}" in config["Env"]
    assert f"{port['containerPort']}/tcp" in config["ExposedPorts"]


def test_the_build_stage_result_is_found_in_podmans_output() -> None:
    """What keeps the pip layer from the prune: the image the build stage ended with."""
    log = "\n".join(
        [
            "[1/2] STEP 1/8: FROM localhost/base AS build",
            "--> Using cache 7b92b60774dad143edee10ee23ac033d0b0edbd1add191790b6aec5c1ea0755b",
            "--> 7b92b60774d",
            "[1/2] STEP 8/8: RUN python -m venv /opt/venv && /opt/venv/bin/pip install .",
            "Successfully installed taskpulse-0.1.0",
            "--> 649b0477b32",
            "[2/2] STEP 1/9: FROM localhost/base",
            "--> a15ed2c8d4f",
        ]
    )
    assert images.stage_results(log) == {1: "649b0477b32"}


def test_a_socket_database_is_mounted_and_a_tcp_one_is_not() -> None:
    url, volumes = in_container(
        "postgresql+psycopg://taskpulse@/taskpulse_test?host=/tmp/pg-x/sock&port=5433"
    )
    assert volumes == [f"/tmp/pg-x/sock:{SOCKET_DIR}"]
    assert url == (
        "postgresql+psycopg://taskpulse@/taskpulse_test?host=%2Frun%2Fpostgresql-host&port=5433"
    )
    tcp = "postgresql+psycopg://u:p@db.example:5432/taskpulse"
    assert in_container(tcp) == (tcp, [])
