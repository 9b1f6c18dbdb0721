"""What a daprd run on the developer's machine is given: no file, a command line and an environment.

``task up`` and the tests start daprd with dapr-components/base and dapr-components/local.
The local pubsub-kafka component reads its brokers, login and consumer group from daprd's
environment (``envRef``) instead of naming them, so these values are computed from the
contract and the running broker here rather than written into the components.
"""

from __future__ import annotations

from devstack.kafka_access import Brokers
from devstack.manifests._common import CONSUMER_GROUP_ENV, consumer_group_for
from taskpulse.contract import Function

LOCAL_RESOURCE_DIRS = ("dapr-components/base", "dapr-components/local")
"""What a local daprd gets as ``--resources-path`` (in this order), relative to the repo."""
LOCAL_CONFIG = "dapr-components/base/configuration.yaml"
"""What a local daprd gets as ``--config``."""
KAFKA_BROKERS_ENV = "TASKPULSE_KAFKA_BROKERS"
"""Read by the local pubsub-kafka component through ``envRef``."""


def local_daprd_env(function: Function, brokers: Brokers) -> dict[str, str]:
    """The environment a local daprd of ``function`` needs for dapr-components/local: the
    brokers, the function's own Kafka login, its consumer group."""
    env = {KAFKA_BROKERS_ENV: brokers.bootstrap, **brokers.daprd_env(function.value)}
    group = consumer_group_for(function)
    if group is not None:
        env[CONSUMER_GROUP_ENV] = group
    return env
