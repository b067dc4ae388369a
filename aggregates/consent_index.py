"""Which consents are on file for a person, so a disclosure check finds them at once.

Saved in the same transaction as the consent itself, so the index is never behind.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from aggregates.base import LeadAggregate, occurred
from events.base import Actor, DomainEvent
from events.consent import AnotherConsentFiled, ConsentFiled

INDEX_NAMESPACE = UUID("9d1d8f1e-6a51-4a43-b3f6-0d8a4d3c2b77")


def consent_index_id(person_id: UUID) -> UUID:
    return uuid.uuid5(INDEX_NAMESPACE, str(person_id))


class ConsentIndex(LeadAggregate):
    def __init__(self) -> None:
        self.person_id: UUID | None = None
        self.consent_ids: list[UUID] = []

    @classmethod
    def start(
        cls, *, actor: Actor, person_id: UUID, consent_id: UUID, occurred_at: datetime | None = None
    ) -> ConsentIndex:
        return cls._create(
            ConsentFiled,
            id=consent_index_id(person_id),
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=person_id,
            consent_id=consent_id,
        )

    def file(self, *, actor: Actor, consent_id: UUID, occurred_at: datetime | None = None) -> None:
        self.trigger_event(
            AnotherConsentFiled,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self.person_id,
            consent_id=consent_id,
        )

    def when(self, event: DomainEvent) -> None:
        match event:
            case ConsentFiled():
                self.person_id = event.person_id
                self.consent_ids.append(event.consent_id)
            case AnotherConsentFiled():
                self.consent_ids.append(event.consent_id)
            case _:
                super().when(event)
