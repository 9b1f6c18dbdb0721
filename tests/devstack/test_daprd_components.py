"""The minimal local daprd (tools/devstack/go/daprd-min) registers every component type
that the local Dapr resources use; a type it lacks would stop daprd at start."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPONENTS_GO = REPO / "tools" / "devstack" / "go" / "daprd-min" / "components.go"
LOADERS = {"pubsubLoader": "pubsub", "secretstoresLoader": "secretstores", "stateLoader": "state"}


def registered() -> set[str]:
    source = COMPONENTS_GO.read_text()
    found: set[str] = set()
    for loader, name in re.findall(
        r'(\w+)\.DefaultRegistry\.RegisterComponent\([^,]+,\s*"([^"]+)"', source
    ):
        found.add(f"{LOADERS.get(loader, loader)}.{name}")
    for loader, name in re.findall(
        r'(\w+)\.DefaultRegistry\.RegisterComponentWithVersions\(\s*"([^"]+)"', source
    ):
        found.add(f"{LOADERS.get(loader, loader)}.{name}")
    return found


def used_locally() -> set[str]:
    run = yaml.safe_load((REPO / "dapr.yaml").read_text())
    types: set[str] = set()
    for folder in run["common"]["resourcesPaths"]:
        for path in sorted((REPO / folder).glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "Component":
                    types.add(doc["spec"]["type"])
    return types


def test_every_local_component_type_is_in_the_minimal_daprd() -> None:
    assert {"pubsub.kafka", "secretstores.local.env"} <= registered()
    missing = used_locally() - registered()
    assert not missing, f"add {sorted(missing)} to {COMPONENTS_GO} (and rebuild: task setup)"
