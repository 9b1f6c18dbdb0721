"""Who may reach the local Kafka, and what each may do there: TLS, SCRAM and ACLs.

The broker `task up` runs is secured as the cluster's Strimzi listener is (issue 19,
docs/decisions/0029-kafka-identities.md): SASL_SSL with SCRAM-SHA-512, a CA made for the
stack, and Kafka's StandardAuthorizer with ACLs from ``taskpulse.contract`` (``reads``,
``writes``, ``group_prefix``). Each function's daprd logs in as the function; trusted
backends as ``taskpulse-backend``; the devstack itself (topics, ACLs, tests that write
garbage on purpose) as the super user ``taskpulse-admin``.

A broker the user runs (``KAFKA_BOOTSTRAP_SERVERS``, Redpanda on PATH) is reached as it is,
in plaintext: :class:`Brokers` without :class:`KafkaLogins`. The broker `task up` runs also
has a plaintext loopback listener for a developer's tools, the contract's ``kafka`` endpoint
(``devstack.kafka.KafkaNode.door_port``); nothing of the system uses it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskpulse.contract import (
    BACKEND_PRINCIPAL,
    BACKEND_PUBLISHES,
    Function,
    group_prefix,
    reads,
    writes,
)

ADMIN_PRINCIPAL = "taskpulse-admin"
"""The devstack's super user: it creates topics and ACLs, and is the broker's own login."""
CONTROLLER_PRINCIPAL = "controller"
"""The broker's login to its KRaft controller (SASL/PLAIN on the loopback controller port:
SCRAM credentials live in the metadata the controller serves, so they cannot guard it)."""
MECHANISM = "SCRAM-SHA-512"

# What the local pubsub-kafka component reads with envRef (dapr-components/local).
AUTH_TYPE_ENV = "TASKPULSE_KAFKA_AUTH_TYPE"
DISABLE_TLS_ENV = "TASKPULSE_KAFKA_DISABLE_TLS"
USERNAME_ENV = "TASKPULSE_KAFKA_USERNAME"
PASSWORD_ENV = "TASKPULSE_KAFKA_PASSWORD"  # noqa: S105 - a variable's name
CA_CERT_ENV = "TASKPULSE_KAFKA_CA_CERT"

ClientConfig = dict[str, str | int | float | bool]
"""Settings of a confluent_kafka client, as its constructors type them."""


def principals() -> tuple[str, ...]:
    """Every login of the local broker but the controller's."""
    return (ADMIN_PRINCIPAL, BACKEND_PRINCIPAL, *(f.value for f in Function))


@dataclass(frozen=True)
class Grant:
    """One ACL: ``principal`` may ``operation`` the ``resource`` named ``name`` (or every
    one starting so, when ``prefixed``)."""

    principal: str
    operation: str  # READ, WRITE, DESCRIBE (confluent_kafka.admin.AclOperation names)
    resource: str  # TOPIC or GROUP
    name: str
    prefixed: bool = False


def contract_grants() -> tuple[Grant, ...]:
    """The ACLs of the contract's principals: exactly what each reads and writes.

    READ and WRITE imply DESCRIBE in Kafka, so a topic's metadata needs no grant of its own.
    """
    grants: list[Grant] = []
    for function in Function:
        grants += [Grant(function.value, "WRITE", "TOPIC", name) for name in writes(function)]
        grants += [Grant(function.value, "READ", "TOPIC", t.name) for t in reads(function)]
        if reads(function):
            grants.append(
                Grant(function.value, "READ", "GROUP", group_prefix(function), prefixed=True)
            )
    grants += [Grant(BACKEND_PRINCIPAL, "WRITE", "TOPIC", t.name) for t in BACKEND_PUBLISHES]
    return tuple(grants)


@dataclass(frozen=True)
class KafkaLogins:
    """What a client needs to log in: the CA that signed the broker's certificate and the
    password of every principal."""

    ca_file: Path
    passwords: Mapping[str, str]


@dataclass(frozen=True)
class KafkaSecurity:
    """The broker's side: the logins, its own key and certificate, the controller's login
    (all made per stack, never kept)."""

    logins: KafkaLogins
    keystore_file: Path
    controller_password: str

    @classmethod
    def generate(cls, folder: Path) -> KafkaSecurity:
        folder.mkdir(parents=True, exist_ok=True)
        ca_pem, keystore_pem = _certificates()
        ca_file, keystore = folder / "ca.pem", folder / "broker.pem"
        ca_file.write_bytes(ca_pem)
        keystore.touch(mode=0o600)
        keystore.write_bytes(keystore_pem)
        # Hex: nothing in it needs quoting in a JAAS line or StorageTool's --add-scram.
        passwords = {p: secrets.token_hex(16) for p in principals()}
        return cls(KafkaLogins(ca_file, passwords), keystore, secrets.token_hex(16))

    def server_properties(self) -> dict[str, str]:
        """The broker's settings for the ``SASL_SSL`` and ``CONTROLLER`` listeners."""
        admin = self.logins.passwords[ADMIN_PRINCIPAL]
        return {
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": MECHANISM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{ADMIN_PRINCIPAL}" password="{admin}";'
            ),
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{CONTROLLER_PRINCIPAL}" password="{self.controller_password}" '
                f'user_{CONTROLLER_PRINCIPAL}="{self.controller_password}";'
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore_file),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.logins.ca_file),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN_PRINCIPAL};User:{CONTROLLER_PRINCIPAL}",
            "allow.everyone.if.no.acl.found": "false",
        }

    def scram_arguments(self) -> list[str]:
        """StorageTool ``format`` arguments that create every SCRAM login with the storage:
        the broker's own must exist before it can talk to itself."""
        out: list[str] = []
        for principal, password in self.logins.passwords.items():
            out += ["--add-scram", f"{MECHANISM}=[name={principal},password={password}]"]
        return out


@dataclass(frozen=True)
class Brokers:
    """How to reach the stack's Kafka: the address and, for the broker the stack runs, TLS
    and SCRAM. Everything that talks to Kafka takes its settings from here."""

    bootstrap: str
    logins: KafkaLogins | None = None
    """None: a plaintext broker of the developer's own."""

    @property
    def secured(self) -> bool:
        return self.logins is not None

    def client(self, principal: str = ADMIN_PRINCIPAL) -> ClientConfig:
        """librdkafka (confluent_kafka) settings that log in as ``principal``."""
        config: ClientConfig = {"bootstrap.servers": self.bootstrap}
        if self.logins is None:
            return config
        return config | {
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": MECHANISM,
            "sasl.username": principal,
            "sasl.password": self.logins.passwords[principal],
            "ssl.ca.location": str(self.logins.ca_file),
        }

    def daprd_env(self, principal: str) -> dict[str, str]:
        """What dapr-components/local reads through ``envRef`` to log in as ``principal``."""
        if self.logins is None:
            return {AUTH_TYPE_ENV: "none", DISABLE_TLS_ENV: "true"} | {
                USERNAME_ENV: "",
                PASSWORD_ENV: "",
                CA_CERT_ENV: "",
            }
        return {
            AUTH_TYPE_ENV: "password",
            DISABLE_TLS_ENV: "false",
            USERNAME_ENV: principal,
            PASSWORD_ENV: self.logins.passwords[principal],
            CA_CERT_ENV: self.logins.ca_file.read_text(),
        }

    def to_json(self) -> dict[str, Any]:
        """For ``.local/endpoints.json`` (0600), so that tools and tests log in too."""
        if self.logins is None:
            return {"bootstrap": self.bootstrap, "security_protocol": "PLAINTEXT"}
        return {
            "bootstrap": self.bootstrap,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "ca_file": str(self.logins.ca_file),
            "passwords": dict(self.logins.passwords),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Brokers:
        if document.get("security_protocol") != "SASL_SSL":
            return cls(document["bootstrap"])
        logins = KafkaLogins(Path(document["ca_file"]), dict(document["passwords"]))
        return cls(document["bootstrap"], logins)


def grant(brokers: Brokers, grants: Iterable[Grant] | None = None) -> int:
    """Create the ACLs (the contract's by default) as the admin; returns how many.

    Creating an ACL that exists is a no-op in Kafka, so this runs on every start.
    """
    if not brokers.secured:
        return 0
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )

    bindings = [
        AclBinding(
            ResourceType[g.resource],
            g.name,
            ResourcePatternType.PREFIXED if g.prefixed else ResourcePatternType.LITERAL,
            f"User:{g.principal}",
            "*",
            AclOperation[g.operation],
            AclPermissionType.ALLOW,
        )
        for g in (contract_grants() if grants is None else grants)
    ]
    admin = AdminClient(brokers.client() | {"log_level": 4})
    for future in admin.create_acls(bindings).values():
        future.result(timeout=60)
    # The controller has them now; the broker authorizes from its copy of the metadata,
    # which follows a moment later. DescribeAcls answers from that copy.
    # None matches any name, principal and host (AclBindingFilter's documented wildcard;
    # the package's stubs type them str).
    anything: Any = None
    everything = AclBindingFilter(
        ResourceType.ANY,
        anything,
        ResourcePatternType.ANY,
        anything,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    deadline = time.monotonic() + 30
    while not set(bindings) <= set(admin.describe_acls(everything).result(timeout=30)):
        if time.monotonic() > deadline:
            raise TimeoutError("the broker did not apply its ACLs within 30 s")
        time.sleep(0.1)
    return len(bindings)


def _certificates() -> tuple[bytes, bytes]:
    """A CA for the stack and the broker's certificate for 127.0.0.1 and localhost (clients
    check the name: librdkafka and Go's TLS both verify it). Returns the CA's PEM and the
    broker's key (PKCS#8, as Kafka's PEM keystore wants it) followed by its chain."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "taskpulse local Kafka CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    broker = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_pem = ca.public_bytes(pem)
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca_pem, key_pem + broker.public_bytes(pem) + ca_pem
