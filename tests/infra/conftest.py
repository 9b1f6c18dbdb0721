"""Fixtures of tests/infra shared by more than one file."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import tofu


@pytest.fixture(scope="session")
def helm() -> Path:
    """The pinned helm (built from the Go module proxy once, cached)."""
    return tofu.helm()
