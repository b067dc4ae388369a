"""How every Kafka client of the project authenticates: TLS + SASL/SCRAM, one principal
per component.

`KafkaAuth` turns the settings and a component name (``relay``, ``workers``, ``api``,
``admin``, ``replay``) into the keyword arguments of kafka-python's clients
(`kafka_python`), of aiokafka's (`aiokafka`) and into faust's broker credentials
(`faust_credentials`). A process says once which component it is (`use`, called by the
command line and the test suite) and every client it makes connects as that component
(`client_kwargs`, `aiokafka_kwargs`).

Against the local stack each component is the principal ``lead-<component>`` and its
password is kept in ``<data_dir>/kafka/credentials/lead-<component>`` (0600), made by
`lead infra up`; the server is verified against the site CA (`infra/local/pki.py`). Against
an external cluster ``LEAD_KAFKA_CREDENTIALS_DIR`` holds the same files (each
component its own user), or ``LEAD_KAFKA_USER`` and ``LEAD_KAFKA_PASSWORD_FILE`` name
the one credential of this process; ``LEAD_KAFKA_CA_FILE`` the operator's CA.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.settings import Settings

COMPONENTS = ("admin", "relay", "workers", "api", "replay")
ADMIN_USER = "lead-admin"


class KafkaCredentialError(RuntimeError):
    """A Kafka credential the settings name cannot be read."""


def principal_name(component: str) -> str:
    return f"lead-{component}"


def credentials_dir(settings: Settings) -> Path:
    return settings.kafka_credentials_dir or settings.data_dir / "kafka" / "credentials"


def local_password_file(settings: Settings, user: str) -> Path:
    return credentials_dir(settings) / user


def ensure_local_password(settings: Settings, user: str) -> str:
    """The local principal's password, generated on first call and kept (0600)."""
    path = local_password_file(settings, user)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    return password


@dataclass(frozen=True)
class KafkaAuth:
    """One client identity: protocol, mechanism, CA and SCRAM credential."""

    protocol: str
    mechanism: str
    username: str | None
    password_file: Path | None
    ca_file: Path | None
    bootstrap_timeout_ms: int | None = None  # kafka-python's; None: its own default (30 s)

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def password(self) -> str:
        if self.password_file is None:
            raise KafkaCredentialError(f"no password file for Kafka user {self.username}")
        try:
            return self.password_file.read_text().strip()
        except OSError as exc:
            raise KafkaCredentialError(
                f"cannot read the Kafka password of {self.username} from {self.password_file}: "
                f"{exc.strerror}"
            ) from None

    def ssl_context(self) -> ssl.SSLContext:
        if self.ca_file is not None and not self.ca_file.is_file():
            raise KafkaCredentialError(
                f"the CA certificate Kafka is checked against, {self.ca_file}, does not exist "
                "(`lead infra up` makes the local stack's; LEAD_KAFKA_CA_FILE names another)"
            )
        context = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaConsumer/KafkaProducer/KafkaAdminClient."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            kwargs["ssl_context"] = self.ssl_context()
        if self.sasl:
            kwargs["sasl_mechanism"] = self.mechanism
            kwargs["sasl_plain_username"] = self.username
            kwargs["sasl_plain_password"] = self.password()
        if self.bootstrap_timeout_ms is not None:
            kwargs["bootstrap_timeout_ms"] = self.bootstrap_timeout_ms
        return kwargs

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's AIOKafkaConsumer/AIOKafkaProducer."""
        kwargs = self.kafka_python()  # the same names, but for kafka-python's timeout
        kwargs.pop("bootstrap_timeout_ms", None)
        return kwargs

    def faust_credentials(self) -> Any:
        """`broker_credentials` for a faust App (None for PLAINTEXT)."""
        import faust

        if self.sasl:
            return faust.SASLCredentials(
                username=self.username,
                password=self.password(),
                mechanism=self.mechanism,
                ssl_context=self.ssl_context() if self.tls else None,
            )
        return None


def auth_for(settings: Settings, component: str) -> KafkaAuth:
    """The identity `component` connects with under `settings`."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown Kafka component {component!r}; one of {', '.join(COMPONENTS)}")
    protocol = settings.kafka_security_protocol
    if settings.kafka_user:
        user: str | None = settings.kafka_user
        password_file = settings.kafka_password_file
    elif settings.local_kafka or settings.kafka_credentials_dir is not None:
        user = principal_name(component)
        password_file = local_password_file(settings, user)
    else:
        user, password_file = None, settings.kafka_password_file
    if protocol.startswith("SASL_") and (user is None or password_file is None):
        raise KafkaCredentialError(
            "an external Kafka with SASL needs LEAD_KAFKA_CREDENTIALS_DIR (a password file "
            "per component) or LEAD_KAFKA_USER and LEAD_KAFKA_PASSWORD_FILE"
        )
    ca = settings.kafka_ca_file
    if ca is None and settings.local_kafka:
        ca = settings.local_ca_file
    timeout = settings.connect_timeout_seconds
    return KafkaAuth(
        protocol,
        settings.kafka_sasl_mechanism,
        user,
        password_file,
        ca,
        bootstrap_timeout_ms=None if timeout is None else int(timeout * 1000),
    )


_current: tuple[Settings, str] | None = None


def use(settings: Settings, component: str) -> None:
    """This process's Kafka clients connect as `component` from now on."""
    auth_for(settings, component)  # a clear error now rather than at the first connection
    global _current
    _current = (settings, component)


@contextlib.contextmanager
def connecting_as(settings: Settings, component: str) -> Iterator[None]:
    """Within it, this process's clients connect to `settings`' cluster as `component`
    (a benchmark's or a test's stack of its own), then as before."""
    global _current
    before = _current
    use(settings, component)
    try:
        yield
    finally:
        _current = before


@contextlib.contextmanager
def kept() -> Iterator[None]:
    """Within it `use` may choose other identities; after it, the one before is back (a
    command run in a test's process leaves the test's own)."""
    global _current
    before = _current
    try:
        yield
    finally:
        _current = before


def current() -> KafkaAuth:
    """The identity `use` chose; before any `use`, the settings from the environment and
    the component ``LEAD_KAFKA_COMPONENT`` names (default admin, as the command line)."""
    if _current is None:
        return auth_for(Settings(), os.environ.get("LEAD_KAFKA_COMPONENT", "admin"))
    return auth_for(*_current)


def client_kwargs() -> dict[str, Any]:
    """kafka-python keyword arguments for this process's identity."""
    return current().kafka_python()


def aiokafka_kwargs() -> dict[str, Any]:
    return current().aiokafka()
