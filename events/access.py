"""Access events: the principals who may use the API, each with a role and an organisation.

A token is never recorded, only its SHA-256 (a 256-bit random secret's hash cannot
be turned back into the token), and the hash stays in the store: it is published as
null (`UNPUBLISHED`). Issuing, rotating and revoking are events like any other, so
auditors see who gave whom access, and when. A token expires (`token_expires_at`;
older events without it: when the site's default validity after issue has passed).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from events.base import CreationEvent, DomainEvent, Role
from events.text import Text

PRINCIPAL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$"
KAFKA_CLIENT_NAME = r"^[a-z0-9][a-z0-9.-]{1,62}$"
"""A Kafka principal (`User:<name>`) and the prefix of its consumer groups."""


class PrincipalRegistered(CreationEvent):
    """Someone (or a system) may now use the API as `name`, in a role, for an organisation."""

    event_type: ClassVar[str] = "principal.registered"

    UNPUBLISHED: ClassVar[tuple[str, ...]] = ("token_sha256",)

    name: Text = Field(pattern=PRINCIPAL_NAME)
    role: Role
    organisation: Text = Field(min_length=1, max_length=200)
    token_sha256: Text | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="In the store only; null when published."
    )
    token_expires_at: AwareDatetime | None = None


class PrincipalTokenRotated(DomainEvent):
    """A new token replaces the old one, which stops working at once."""

    event_type: ClassVar[str] = "principal.token_rotated"
    UNPUBLISHED: ClassVar[tuple[str, ...]] = ("token_sha256",)

    token_sha256: Text | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="In the store only; null when published."
    )
    token_expires_at: AwareDatetime | None = None


class PrincipalRevoked(DomainEvent):
    """The principal's access ends; the name stays taken so history stays unambiguous."""

    event_type: ClassVar[str] = "principal.revoked"

    reason: Text = Field(min_length=1, max_length=500)


class DirectoryOpened(CreationEvent):
    """The site's list of principals, so they can be listed without a read model."""

    event_type: ClassVar[str] = "principal_directory.opened"


class PrincipalListed(DomainEvent):
    event_type: ClassVar[str] = "principal_directory.listed"

    principal_id: UUID
    name: Text = Field(pattern=PRINCIPAL_NAME)


class KafkaClientKind(StrEnum):
    """What an external system reads from Kafka; each kind has its own ACLs
    (infra/kafka/acls.py `client_grants`)."""

    PROSECUTION = "prosecution"  # a prosecutor's case system: lead.prosecution.v1
    DASHBOARD = "dashboard"  # the lead.projections.* view topics
    AUDITOR = "auditor"  # lead.audit.v1


class KafkaClientsOpened(CreationEvent):
    """The site's register of external Kafka clients."""

    event_type: ClassVar[str] = "kafka_clients.opened"


class KafkaClientGranted(DomainEvent):
    """An external system was issued a Kafka credential (SCRAM; only the broker keeps
    its salted hash, nothing here) and the ACLs of its kind."""

    event_type: ClassVar[str] = "kafka_clients.granted"

    name: Text = Field(pattern=KAFKA_CLIENT_NAME)
    kind: KafkaClientKind
    organisation: Text = Field(min_length=1, max_length=200)
    mechanism: Text = Field(pattern=r"^SCRAM-SHA-(256|512)$")


class KafkaClientRevoked(DomainEvent):
    """The client's credential and ACLs were removed from the brokers."""

    event_type: ClassVar[str] = "kafka_clients.revoked"

    name: Text = Field(pattern=KAFKA_CLIENT_NAME)
    reason: Text = Field(min_length=1, max_length=500)
