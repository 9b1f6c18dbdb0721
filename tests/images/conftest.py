"""tests/images: the four functions' images, built here by podman from functions/Dockerfile
(tools/devstack/images.py) and run the way their Knative Services run them.

The images are built once per session (``built_images``): the first time about 90 s for
the base (debootstrap; `task setup` makes it) and about 25 s per image; afterwards every
layer is a cache hit under ``~/.cache/taskpulse/images`` (about 5 s per image). Each
container runs with the flags that ``KnativeRun`` reads from
``knative/base/<function>/service.yaml``, on the host network, with the variables the
cluster would fill from Secrets and ConfigMaps given here (tests/images/images_support.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import nullcontext

import pytest

from devstack import images
from devstack.cache import say
from devstack.images import Built
from recording import RecordingServer, recording_server
from taskpulse.contract import Function


@pytest.fixture(scope="session")
def built_images(request: pytest.FixtureRequest) -> dict[Function, Built]:
    if os.geteuid() != 0:
        pytest.skip("the image tier runs podman as root (rootless podman is not set up here)")
    # The progress lines reach the terminal as they come: a fresh build takes minutes.
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else nullcontext():
        images.ensure_tools()
        start = time.monotonic()
        base = images.base_image()
        say(f"images: base ready in {time.monotonic() - start:.0f}s")
        built = {function: images.build(function, base=base) for function in Function}
        images.prune()
        say(
            "images: built in "
            + ", ".join(f"{b.function.value} {b.seconds:.0f}s" for b in built.values())
            + f"; {time.monotonic() - start:.0f}s in all"
        )
    return built


@pytest.fixture(scope="session")
def fake_dapr() -> Iterator[RecordingServer]:
    """Records what the functions send to their Dapr (publishes, jobs)."""
    with recording_server() as server:
        yield server
