"""The application service: loads aggregates, calls them, saves their events atomically."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Recording

from aggregates.referral import Referral
from events.base import Actor
from services.commands import ReceiveReferral
from services.errors import ConcurrencyError


@dataclass(frozen=True)
class Receipt:
    """What a write returns: the ids it touched and the store position it reached."""

    id: UUID
    person_id: UUID | None
    position: int


class LeadApplication(Application[UUID]):
    """All LEAD use cases. `eventsourcing`'s Application is the unit of work."""

    name = "lead"

    def _save(self, *aggregates: Any) -> int:
        try:
            recordings: list[Recording[UUID]] = self.save(*aggregates)
        except IntegrityError:
            raise ConcurrencyError(
                "the record was changed by someone else; reload it and retry"
            ) from None
        return max(r.notification.id for r in recordings) if recordings else 0

    def receive_referral(self, command: ReceiveReferral, actor: Actor) -> Receipt:
        referral = Referral.receive(
            actor=actor,
            pathway=command.pathway,
            referrer=command.referrer,
            incident=command.incident,
            person=command.person,
            person_id=command.person_id,
            occurred_at=command.occurred_at,
        )
        position = self._save(referral)
        return Receipt(id=referral.id, person_id=referral.person_id, position=position)
