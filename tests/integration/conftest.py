from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions_env import Env, functions_env
from taskpulse.store import Store


@pytest.fixture
def env(store: Store, database_url: str) -> Iterator[Env]:
    with functions_env(database_url) as env:
        yield env
