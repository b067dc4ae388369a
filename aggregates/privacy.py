"""An erasure: once per person, recorded before their key is destroyed."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from aggregates.base import LeadAggregate, occurred
from events.base import Actor, DomainEvent
from events.privacy import ErasureGround, PersonForgotten

ERASURE_NAMESPACE = UUID("0f3c1f7e-3b0e-4a8c-9e7d-5a1b2c3d4e5f")


def erasure_id(person_id: UUID) -> UUID:
    return uuid.uuid5(ERASURE_NAMESPACE, str(person_id))


class Erasure(LeadAggregate):
    def __init__(self) -> None:
        self.person_id: UUID | None = None
        self.ground: ErasureGround | None = None

    @classmethod
    def record(
        cls,
        *,
        actor: Actor,
        person_id: UUID,
        ground: ErasureGround,
        reason: str,
        occurred_at: datetime | None = None,
    ) -> Erasure:
        return cls._create(
            PersonForgotten,
            id=erasure_id(person_id),
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=person_id,
            ground=ground,
            reason=reason,
        )

    def when(self, event: DomainEvent) -> None:
        match event:
            case PersonForgotten():
                self.person_id = event.person_id
                self.ground = event.ground
            case _:
                super().when(event)
