"""Centrifugo's token settings are keys that the pinned Centrifugo reads.

modules/platform renders Centrifugo's config.json from HCL, where a misspelt key would be
ignored by Centrifugo (which warns and goes on) and leave connection tokens unchecked. The
keys of ``client.token`` are compared with the ``Token`` struct of the pinned release's own
source (``internal/configtypes/types.go``) in the Go module cache, where ``task setup`` puts it
when it builds Centrifugo.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from devstack import versions

pytestmark = pytest.mark.infra

CENTRIFUGO_TF = (
    Path(__file__).resolve().parents[2] / "infra/terraform/modules/platform/centrifugo.tf"
)
MODULE = "github.com/centrifugal/centrifugo/v6"


def _token_keys_we_set() -> set[str]:
    text = CENTRIFUGO_TF.read_text()
    block = text.split("centrifugo_token = ")[1].split("} : {}")[0]
    return set(re.findall(r"^\s*([a-z_]+)\s*=", block, re.M))


def _centrifugo_source() -> Path | None:
    if shutil.which("go") is None:
        return None
    modcache = subprocess.run(
        ["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True
    ).stdout.strip()
    source = Path(modcache) / f"{MODULE}@v{versions.CENTRIFUGO_VERSION}"
    return source if source.is_dir() else None


def test_client_token_keys_exist_in_the_pinned_centrifugo() -> None:
    ours = _token_keys_we_set()
    assert ours == {"jwks_public_endpoint", "issuer", "audience", "user_id_claim"}
    source = _centrifugo_source()
    if source is None:
        pytest.skip(f"{MODULE}@v{versions.CENTRIFUGO_VERSION} is not in the Go module cache")
    types = (source / "internal/configtypes/types.go").read_text()
    struct = types.split("type Token struct {")[1].split("\n}")[0]
    known = set(re.findall(r'json:"([a-z_]+)"', struct))
    assert ours <= known, f"unknown client.token keys: {sorted(ours - known)}"
    # The client config nests it as `token` (client.token.*).
    client = types.split("type Client struct {")[1].split("\n}")[0]
    assert re.search(r'Token\s+Token\s+`[^`]*json:"token"', client)
    # And refuses a token without the user claim rather than connect it anonymously.
    assert "disallow_anonymous_connection_tokens = true" in CENTRIFUGO_TF.read_text()
    assert 'json:"disallow_anonymous_connection_tokens"' in client
