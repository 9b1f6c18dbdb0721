"""The cluster runs the same Dapr (and Centrifugo) as the rest of the project."""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest

from devstack import versions

INFRA = Path(__file__).resolve().parents[2] / "infra" / "terraform"
PINS_FILE = INFRA / "modules" / "versions" / "main.tf"

pytestmark = pytest.mark.infra


def _unwrap(value):
    # python-hcl2 and checkov's fork (both import as `hcl2`) differ: attributes may be lists.
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        value = value.strip('"')
    return value


def pins() -> dict[str, str]:
    with PINS_FILE.open() as handle:
        tree = hcl2.load(handle)
    local_blocks = [_unwrap(b) for b in tree["locals"]]
    found = [b["pins"] for b in local_blocks if "pins" in b]
    assert len(found) == 1, "modules/versions/main.tf must define `pins` once"
    return {k: _unwrap(v) for k, v in _unwrap(found[0]).items() if not k.startswith("__")}


def test_dapr_pin_is_the_projects_single_dapr_version():
    assert pins()["dapr"] == versions.DAPR_VERSION


def test_centrifugo_pin_matches_the_local_platform():
    assert pins()["centrifugo"] == f"v{versions.CENTRIFUGO_VERSION}"


def test_every_chart_version_comes_from_the_pins():
    # Each helm_release with a remote chart takes its version from local.versions (the pins).
    infra = PINS_FILE.parents[2]
    releases = {}
    for path in infra.rglob("*.tf"):
        if ".terraform" in path.parts:
            continue
        with path.open() as handle:
            tree = hcl2.load(handle)
        for entry in tree.get("resource", []):
            for name, body in _unwrap(entry).get("helm_release", {}).items():
                releases[f"{path.relative_to(infra)}:{name}"] = _unwrap(body)
    assert len(releases) >= 9
    for where, body in releases.items():
        chart = _unwrap(body["chart"])
        if "path.module" in chart:
            assert "version" not in body, f"{where}: local charts carry no version"
        else:
            version = _unwrap(body["version"])
            assert "local.versions." in version, f"{where}: version not from the pins"
