"""One real platform for all end-to-end tests, started the way `task up` starts it, and
stopped after the last of them (package scope) so the rest of the suite runs without it.

Logs of every part are under ``<pytest tmp>/e2e-platform0/logs/<part>.log``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_stack import KafkaClient, Platform


@pytest.fixture(scope="package")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    stack = Platform.start(tmp_path_factory.mktemp("e2e-platform"))
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture
def kafka(platform: Platform) -> Iterator[KafkaClient]:
    client = KafkaClient(platform.kafka)
    yield client
    client.producer.flush(30)
