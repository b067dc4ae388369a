"""Forgetting people: on request, or when the site's retention period after exit runs out.

The erasure is recorded first (so it is in the history even if what follows fails),
then the person's key is destroyed; running it again finishes a forgetting that was
cut short. Nothing in the store changes: the chain still verifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol
from uuid import UUID

from aggregates.participant import Participant
from aggregates.privacy import Erasure, erasure_id
from events.base import Actor
from events.privacy import ErasureGround
from services.application import LeadApplication, participant_id_for


class Keys(Protocol):
    def destroy(self, person_id: UUID, reason: str) -> bool: ...


@dataclass(frozen=True)
class Forgotten:
    person_id: UUID
    recorded: bool  # False: it was recorded before (this run only finished it)
    position: int


class Privacy:
    def __init__(self, application: LeadApplication, keys: Keys) -> None:
        self.app = application
        self.keys = keys

    def forget(
        self, person_id: UUID, *, actor: Actor, reason: str, ground: ErasureGround
    ) -> Forgotten:
        existing = self.app._find(erasure_id(person_id))
        position = 0
        if existing is None:
            erasure = Erasure.record(actor=actor, person_id=person_id, ground=ground, reason=reason)
            position = self.app._save(erasure)
        self.keys.destroy(person_id, reason)
        return Forgotten(person_id, existing is None, position)

    def due_for_retention(self, people: list[UUID], *, days: int, today: date) -> list[UUID]:
        """Of `people`, those who exited more than `days` ago and are not forgotten yet."""
        due = []
        for person in people:
            participant = self.app._find(participant_id_for(person))
            if not isinstance(participant, Participant):
                continue
            exited_on = participant.exited_on
            if exited_on is None or exited_on > today - timedelta(days=days):
                continue
            if self.app._find(erasure_id(person)) is None:
                due.append(person)
        return due
