"""A referral to LEAD, from receipt onwards."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from aggregates.base import LeadAggregate, occurred
from events.base import Actor, DomainEvent
from events.referral import Incident, Pathway, Person, ReferralReceived, Referrer


class Referral(LeadAggregate):
    def __init__(self) -> None:
        self.person_id: UUID | None = None
        self.pathway: Pathway | None = None
        self.status = "new"

    @classmethod
    def receive(
        cls,
        *,
        actor: Actor,
        pathway: Pathway,
        referrer: Referrer,
        incident: Incident,
        person: Person,
        person_id: UUID | None = None,
        occurred_at: datetime | None = None,
        referral_id: UUID | None = None,
    ) -> Referral:
        """A new person gets a new person id; a known one keeps theirs."""
        return cls._create(
            ReferralReceived,
            id=referral_id or uuid4(),
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=person_id or uuid4(),
            pathway=pathway,
            referrer=referrer,
            incident=incident,
            person=person,
        )

    def when(self, event: DomainEvent) -> None:
        match event:
            case ReferralReceived():
                self.person_id = event.person_id
                self.pathway = event.pathway
                self.status = "received"
            case _:
                super().when(event)
