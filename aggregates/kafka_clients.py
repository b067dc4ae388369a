"""The site's external Kafka clients: who was given which kind of access, and when it ended.

One register per site, so a name is granted once (a revoked name is never reused: the
history of what `User:<name>` read stays unambiguous) and the clients can be listed
without a read model.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from aggregates.base import DomainError, LeadAggregate, occurred
from aggregates.principal import PRINCIPAL_NAMESPACE
from events.access import (
    KafkaClientGranted,
    KafkaClientKind,
    KafkaClientRevoked,
    KafkaClientsOpened,
)
from events.base import Actor, DomainEvent


def register_id(site_id: str) -> UUID:
    return uuid.uuid5(PRINCIPAL_NAMESPACE, f"kafka-clients:{site_id}")


@dataclass
class KafkaClient:
    name: str
    kind: KafkaClientKind
    organisation: str
    mechanism: str
    granted_at: datetime
    granted_by: str
    revoked_at: datetime | None = None
    revoked_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KafkaClientRegister(LeadAggregate):
    def __init__(self) -> None:
        self.clients: dict[str, KafkaClient] = {}

    @classmethod
    def open(cls, *, site_id: str, actor: Actor) -> KafkaClientRegister:
        return cls._create(
            KafkaClientsOpened, id=register_id(site_id), actor=actor, occurred_at=occurred(None)
        )

    def grant(
        self, *, actor: Actor, name: str, kind: KafkaClientKind, organisation: str, mechanism: str
    ) -> None:
        if name in self.clients:
            raise DomainError(
                f"the Kafka client name {name!r} is taken (names are never reused); choose another"
            )
        self.trigger_event(
            KafkaClientGranted,
            actor=actor,
            occurred_at=occurred(None),
            name=name,
            kind=kind,
            organisation=organisation,
            mechanism=mechanism,
        )

    def revoke(self, *, actor: Actor, name: str, reason: str) -> None:
        client = self.clients.get(name)
        if client is None:
            raise DomainError(f"no Kafka client named {name!r}")
        if not client.active:
            raise DomainError(f"the Kafka client {name!r} was revoked already")
        self.trigger_event(
            KafkaClientRevoked, actor=actor, occurred_at=occurred(None), name=name, reason=reason
        )

    def when(self, event: DomainEvent) -> None:
        match event:
            case KafkaClientsOpened():
                pass
            case KafkaClientGranted():
                self.clients[event.name] = KafkaClient(
                    event.name,
                    event.kind,
                    event.organisation,
                    event.mechanism,
                    event.occurred_at,
                    event.actor.principal,
                )
            case KafkaClientRevoked():
                client = self.clients[event.name]
                client.revoked_at = event.occurred_at
                client.revoked_reason = event.reason
            case _:
                super().when(event)
