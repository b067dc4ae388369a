"""A case manager's caseload, kept within the site's hard cap.

There is one caseload per case manager, with an id derived from the principal, so
every writer for that case manager meets on the same aggregate and the event
store's optimistic concurrency makes the cap check race-free.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from aggregates.base import DomainError, LeadAggregate, occurred
from events.base import Actor, DomainEvent
from events.participant import CaseloadOpened, ParticipantJoinedCaseload, ParticipantLeftCaseload

# Fixed forever: changing it would give every case manager a second, empty caseload.
CASELOAD_NAMESPACE = UUID("0b6f4f0e-8d57-4c1a-9f3e-2a7c5d9e4b61")


def caseload_id(case_manager: str) -> UUID:
    """The id of the case manager's caseload: the same principal always gives the same id."""
    return uuid.uuid5(CASELOAD_NAMESPACE, case_manager)


class CaseloadCapReachedError(DomainError):
    """A case manager with a full caseload cannot give a new participant the time LEAD needs."""


class AlreadyOnCaseloadError(DomainError):
    """A participant is on a caseload once."""


class NotOnCaseloadError(DomainError):
    """Only a participant on the caseload can leave it."""


class Caseload(LeadAggregate):
    def __init__(self) -> None:
        self._case_manager = ""
        self._members: dict[UUID, UUID] = {}  # participant id -> person id

    @property
    def case_manager(self) -> str:
        return self._case_manager

    @property
    def size(self) -> int:
        return len(self._members)

    @property
    def participant_ids(self) -> frozenset[UUID]:
        return frozenset(self._members)

    @classmethod
    def open(
        cls,
        *,
        actor: Actor,
        case_manager: str,
        occurred_at: datetime | None = None,
    ) -> Caseload:
        """Opened under `caseload_id(case_manager)`, so a second opening conflicts in the store."""
        return cls._create(
            CaseloadOpened,
            id=caseload_id(case_manager),
            actor=actor,
            occurred_at=occurred(occurred_at),
            case_manager=case_manager,
        )

    def join(
        self,
        *,
        actor: Actor,
        participant_id: UUID,
        person_id: UUID,
        hard_cap: int,
        warning: int,
        occurred_at: datetime | None = None,
    ) -> bool:
        """Returns whether the caseload is now above the warning level, for the caller to report."""
        if participant_id in self._members:
            raise AlreadyOnCaseloadError(
                f"Participant {participant_id} is already on {self._case_manager}'s caseload."
            )
        if self.size >= hard_cap:
            raise CaseloadCapReachedError(
                f"{self._case_manager}'s caseload already holds {self.size} participants and "
                f"the cap is {hard_cap}; assign the participant to another case manager, or "
                "move someone off this caseload first."
            )
        self.trigger_event(
            ParticipantJoinedCaseload,
            actor=actor,
            occurred_at=occurred(occurred_at),
            participant_id=participant_id,
            person_id=person_id,
        )
        return self.size > warning

    def leave(
        self,
        *,
        actor: Actor,
        participant_id: UUID,
        occurred_at: datetime | None = None,
    ) -> None:
        person_id = self._members.get(participant_id)
        if person_id is None:
            raise NotOnCaseloadError(
                f"Participant {participant_id} is not on {self._case_manager}'s caseload, "
                "so cannot leave it."
            )
        self.trigger_event(
            ParticipantLeftCaseload,
            actor=actor,
            occurred_at=occurred(occurred_at),
            participant_id=participant_id,
            person_id=person_id,
        )

    def when(self, event: DomainEvent) -> None:
        match event:
            case CaseloadOpened():
                self._case_manager = event.case_manager
            case ParticipantJoinedCaseload():
                self._members[event.participant_id] = event.person_id
            case ParticipantLeftCaseload():
                self._members.pop(event.participant_id)
            case _:
                super().when(event)
