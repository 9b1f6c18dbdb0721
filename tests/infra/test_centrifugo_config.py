"""Centrifugo's token settings are keys that the pinned Centrifugo reads.

modules/platform renders Centrifugo's config.json from HCL, where a misspelt key would be
ignored by Centrifugo (which warns and goes on) and leave connection tokens unchecked. The
keys of ``client.token`` are compared with the ``Token`` struct of the pinned release's own
source (``internal/configtypes/types.go``) in the Go module cache, where ``task setup`` puts it
when it builds Centrifugo.

The whole ``config.json`` is then rendered by the real tofu and started with the pinned
Centrifugo: the server API and health answer only on the internal port
(``http_server.internal_port``, which the NetworkPolicy opens to push-update alone), the
WebSocket only on the client port, and only for ``centrifugo_allowed_origins`` (decision 0031).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from platform_console import evaluate, initialised_platform

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


# --------------------------------------------- the rendered config, run by the real Centrifugo

LOCAL = {
    "environment": "local",
    "oidc_issuer": "http://127.0.0.1:4444/",
    "oidc_jwks_url": "http://127.0.0.1:4444/.well-known/jwks.json",
    "centrifugo_allowed_origins": ["http://localhost:3000", "https://app.example.org"],
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``local.centrifugo_config`` of modules/platform as the real tofu evaluates it."""
    if shutil.which("go") is None:
        pytest.skip("needs the go command to build tofu")
    where = initialised_platform(tmp_path_factory.mktemp("centrifugo"))
    config: dict[str, Any] = evaluate(where, "local.centrifugo_config", LOCAL)
    return config


def test_http_server_keys_exist_in_the_pinned_centrifugo(rendered: dict[str, Any]) -> None:
    assert rendered["http_server"] == {"port": 8000, "internal_port": "9000"}
    source = _centrifugo_source()
    if source is None:
        pytest.skip(f"{MODULE}@v{versions.CENTRIFUGO_VERSION} is not in the Go module cache")
    types = (source / "internal/configtypes/types.go").read_text()
    struct = types.split("type HTTPServer struct {")[1].split("\n}")[0]
    assert re.search(r'\bPort\s+int\s+`[^`]*json:"port"', struct)
    # A string in v6.9.1 (an int would be refused when the file is read).
    assert re.search(r'\bInternalPort\s+string\s+`[^`]*json:"internal_port"', struct)


def test_allowed_origins_come_from_the_variable(rendered: dict[str, Any]) -> None:
    assert rendered["client"]["allowed_origins"] == LOCAL["centrifugo_allowed_origins"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _status(url: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(
        url, method=method, headers=headers or {}, data=b"{}" if method == "POST" else None
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            status: int = answer.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def _websocket_handshake(port: int, origin: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(
            (
                "GET /connection/websocket HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: {origin}\r\n\r\n"
            ).encode()
        )
        status_line = conn.recv(4096).split(b"\r\n", 1)[0].decode()
    return int(status_line.split()[1])


def test_the_real_centrifugo_serves_the_api_only_on_the_internal_port(
    rendered: dict[str, Any], tmp_path: Path
) -> None:
    """The module's config.json, started by the pinned Centrifugo (ports moved to free ones):
    the server API and /health answer only on the internal port, the WebSocket only on the
    client port, and only for the allowed origins."""
    from devstack import centrifugo

    client, internal = _free_port(), _free_port()
    config = json.loads(json.dumps(rendered))
    config["http_server"] = {"address": "127.0.0.1", "port": client, "internal_port": str(internal)}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    key = "test-api-key"
    process = subprocess.Popen(
        centrifugo.argv(path),
        env={"PATH": "/usr/bin:/bin", "CENTRIFUGO_HTTP_API_KEY": key},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while _status_or_none(f"http://127.0.0.1:{internal}/health") != 200:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "Centrifugo did not become healthy"
            time.sleep(0.2)
        api = {"X-API-Key": key, "Content-Type": "application/json"}
        assert _status(f"http://127.0.0.1:{internal}/api/info", method="POST", headers=api) == 200
        assert _status(f"http://127.0.0.1:{client}/api/info", method="POST", headers=api) == 404
        assert _status(f"http://127.0.0.1:{client}/health") == 404
        assert _websocket_handshake(client, "https://app.example.org") == 101
        assert _websocket_handshake(client, "https://evil.example.net") == 403
        assert _websocket_handshake(internal, "https://app.example.org") == 404
    finally:
        process.terminate()
        process.wait(timeout=10)


def _status_or_none(url: str) -> int | None:
    try:
        return _status(url)
    except OSError:
        return None
