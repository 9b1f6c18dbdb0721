"""Redpanda, single node in dev-container mode, started with the ``rpk`` a user already has.

``task up`` uses this only when ``rpk`` is on PATH and no Kafka distribution is; otherwise
devstack.kafka runs Kafka (from a distribution on PATH, else Maven-resolved jars). The node
is then the stack's Kafka broker: ``devstack.kafka.create_topics`` creates the contract's
topics on it, and daprd's pubsub.kafka talks to it unchanged.

Tested with a stand-in ``rpk`` (tests/devstack/test_redpanda.py): the real
Redpanda cannot be obtained on the project's build machines (it is not on PyPI, Debian,
npm, the Go module proxy or Maven Central). The stand-in checks the command line and the
files written here, then runs a real Kafka broker on the node's port.

Notes, from the Redpanda documentation (and, where it is silent, rpk's and the broker's
source in github.com/redpanda-data/redpanda):

* ``rpk redpanda start`` flags: ``--config``, ``--mode``, ``--kafka-addr``,
  ``--advertise-kafka-addr``, ``--rpc-addr`` and ``--advertise-rpc-addr`` are in the flag
  table of [start]; an address without ``name://`` is an unnamed listener. ``--smp``,
  ``--memory`` and ``--default-log-level`` are Seastar/broker flags that rpk passes
  through: not in that table, but in the quickstart's single-broker compose file
  [compose]. Log levels: error, warn, info, debug, trace [levels].
* ``--mode dev-container`` bundles ``--overprovisioned --reserve-memory 0M --check=false
  --unsafe-bypass-fsync`` and some cluster properties, among them
  ``auto_create_topics_enabled: true`` and ``storage_min_free_bytes: 10485760`` [start].
* redpanda.yaml keys (``data_directory``, ``empty_seed_starts_cluster``, ``seed_servers``,
  ``kafka_api``, ``advertised_kafka_api``, ``admin``, ``rpc_server``,
  ``advertised_rpc_api``, ``developer_mode``) [broker]. An empty ``seed_servers`` with
  ``empty_seed_starts_cluster: true`` makes this node the root of a new cluster. No
  ``node_id``: [broker] says to let Redpanda assign it.
* No ``pandaproxy`` or ``schema_registry`` section: when present they listen on
  0.0.0.0:8082 and 0.0.0.0:8081 [broker]. The docs do not say in words that leaving them
  out turns them off; the source does: rpk adds both only when there is no config file
  (``DevDefault`` in src/go/rpk/pkg/config), and the broker starts each only
  ``if (config["pandaproxy"])`` / ``if (config["schema_registry"])`` (application.cc).
* Cluster properties at first start: a ``.bootstrap.yaml`` next to redpanda.yaml, read
  once, when the cluster first forms ("Configure bootstrapping" in [bootstrap]). The
  source shows two more things (src/v/cluster/config_manager.cc ``preload``,
  src/v/config/config_store.h ``read_yaml``): when that file exists, the cluster
  properties that dev-container mode writes into redpanda.yaml are not read; and an
  unknown name in it stops the broker. So it holds only long-standing names: ours, and the
  one bundled property that matters on a developer's disk (``storage_min_free_bytes``,
  whose 5 GiB default refuses writes on a nearly full laptop). The other bundled
  properties only tune speed and are left at their defaults.
* Foreground: rpk replaces itself with the broker (``unix.Exec``,
  src/go/rpk/pkg/redpanda/launcher.go), so the supervisor owns the broker's process; the
  docs do not say it either way. rpk finds the broker as ``bin/redpanda`` beside
  ``bin/rpk`` (src/go/rpk/pkg/redpanda/paths.go), which is why ``rpk()`` looks there: a
  stand-alone rpk (the zip, or Homebrew's, used with a Redpanda in a container) cannot
  start a broker and is not picked.
* rpk rewrites redpanda.yaml at start (it records the mode and the address flags);
  ``format_storage`` writes it anew before each start.

[start]: https://docs.redpanda.com/streaming/26.1/reference/rpk/rpk-redpanda/rpk-redpanda-start/
[compose]: https://docs.redpanda.com/redpanda-labs/docker-compose/single-broker/
[levels]: github.com/redpanda-data/docs, modules/reference/pages/rpk/rpk-redpanda/
  rpk-redpanda-admin-config-log-level-set.adoc (``--level``)
[broker]: https://docs.redpanda.com/docs/reference/node-properties
[bootstrap]: https://docs.redpanda.com/22.2/deployment/custom-deployment/
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack.kafka_access import Brokers

_HOST = "127.0.0.1"
_MEMORY = "1G"
_LOG_LEVEL = "warn"
_CLUSTER_BOOTSTRAP: dict[str, Any] = {
    # Topics come from the contract only; a typo'd topic fails loudly (as on KafkaNode).
    "auto_create_topics_enabled": False,
    # dev-container mode's value, lost otherwise (see the module notes).
    "storage_min_free_bytes": 10 * 1024 * 1024,
}


def rpk() -> str | None:
    """The ``rpk`` on PATH that can start a broker (a ``redpanda`` beside it), else None."""
    found = shutil.which("rpk")
    if found is None:
        return None
    # rpk's own lookup: the directory above the resolved rpk holds bin/rpk and bin/redpanda.
    install = Path(found).resolve().parent.parent
    return found if (install / "bin" / "redpanda").is_file() else None


@dataclass(frozen=True)
class RedpandaNode:
    """One Redpanda broker; ``format_storage`` writes its config, ``argv`` runs it."""

    port: int
    """Kafka API."""
    admin_port: int
    rpc_port: int
    data_dir: Path
    executable: str
    """The ``rpk`` to start it with (``rpk()``)."""

    @property
    def bootstrap(self) -> str:
        return f"{_HOST}:{self.port}"

    @property
    def brokers(self) -> Brokers:
        """Plaintext: the stack secures only the Kafka it runs itself (decision 0029)."""
        return Brokers(self.bootstrap)

    @property
    def endpoint(self) -> str:
        return self.bootstrap

    @property
    def config_file(self) -> Path:
        return self.data_dir / "redpanda.yaml"

    @property
    def cluster_bootstrap_file(self) -> Path:
        """Cluster properties for the first start; must sit next to ``config_file``."""
        return self.data_dir / ".bootstrap.yaml"

    def node_config(self) -> dict[str, Any]:
        """The contents of redpanda.yaml (broker properties only)."""
        return {
            "redpanda": {
                "data_directory": str((self.data_dir / "data").absolute()),
                "empty_seed_starts_cluster": True,
                "seed_servers": [],
                "kafka_api": [{"address": _HOST, "port": self.port}],
                "advertised_kafka_api": [{"address": _HOST, "port": self.port}],
                "admin": [{"address": _HOST, "port": self.admin_port}],
                "rpc_server": {"address": _HOST, "port": self.rpc_port},
                "advertised_rpc_api": {"address": _HOST, "port": self.rpc_port},
                "developer_mode": True,
            },
        }

    def write_config(self) -> None:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(self.node_config(), sort_keys=False))
        self.cluster_bootstrap_file.write_text(yaml.safe_dump(_CLUSTER_BOOTSTRAP, sort_keys=False))

    def format_storage(self, cluster_id: str | None = None) -> None:
        """Write the config files; Redpanda has no storage format step.

        Named like ``KafkaNode.format_storage`` so that the caller prepares either node the
        same way. ``cluster_id`` is ignored: Redpanda assigns its own on first start.
        """
        del cluster_id
        self.write_config()

    def argv(self) -> list[str]:
        address = self.bootstrap
        rpc = f"{_HOST}:{self.rpc_port}"
        return [
            self.executable,
            "redpanda",
            "start",
            "--config",
            str(self.config_file),
            "--mode",
            "dev-container",
            "--smp",
            "1",
            "--memory",
            _MEMORY,
            # Passed through to the broker by rpk; the "=" form keeps it one argument there.
            f"--default-log-level={_LOG_LEVEL}",
            "--kafka-addr",
            address,
            "--advertise-kafka-addr",
            address,
            "--rpc-addr",
            rpc,
            "--advertise-rpc-addr",
            rpc,
        ]
