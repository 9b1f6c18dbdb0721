from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions_env import Env, functions_env
from platform_fixtures import TokenMinter
from taskpulse.store import Store


@pytest.fixture
def env(store: Store, database_url: str, oidc_minter: TokenMinter) -> Iterator[Env]:
    """The functions over real PostgreSQL and SMTP; create-task's public face checks
    tokens of the real local provider (Hydra), minted here for speed with a key that
    the provider publishes (tests/integration/test_identity.py gets them by its flows)."""
    with functions_env(database_url) as env:
        env.oidc_issuer = oidc_minter.issuer
        env.token_for = lambda user: oidc_minter.mint(user)
        yield env
