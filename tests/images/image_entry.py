"""Start a function from its image where the run file would start it from source.

    python tests/images/image_entry.py <function>

The command of an app in a dapr.yaml run file (tests/images/test_image_platform.py): it
takes the variables ``devstack.up`` gives the function (those ``Settings`` reads, ``PORT``
and ``HOST``), runs the image as its Knative Service runs it (``KnativeRun``), on the host
network, and hands itself over to ``podman run`` (exec): the supervisor's SIGTERM reaches
podman, which passes it to the container's PID 1.
"""

from __future__ import annotations

import os
import sys

from images_support import in_container

from devstack import images
from devstack.images import KnativeRun
from taskpulse.contract import Function
from taskpulse.settings import Settings

NAME_PREFIX = "taskpulse-platform-"


def main(function_name: str) -> None:
    function = Function(function_name)
    knative = KnativeRun.from_service(images.service_manifest(function))
    names = {name.upper() for name in Settings.model_fields} | {"PORT", "HOST"}
    env = {name: os.environ[name] for name in sorted(names) if name in os.environ}
    env["DATABASE_URL"], volumes = in_container(env["DATABASE_URL"])
    # The local SMTP server speaks no TLS; the cluster's relay does (the manifest's value).
    env.setdefault("SMTP_STARTTLS", "false")
    name = f"{NAME_PREFIX}{function.value}-{os.getpid()}"
    argv = images.run_argv(images.image_tag(function), name, knative, env, volumes)
    os.execvpe(argv[0], argv, images.podman_env())


if __name__ == "__main__":
    main(sys.argv[1])
