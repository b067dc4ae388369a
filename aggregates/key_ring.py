"""The site's master key ring, as recorded: which key is current, which are retired.

It holds ids only; the key material lives in the ring itself (infra/crypto/master_keys.py).
One per site, its id derived from the site id.
"""

from __future__ import annotations

import uuid
from uuid import UUID

from aggregates.base import DomainError, LeadAggregate, occurred
from events.base import Actor, DomainEvent
from events.privacy import KeyRingOpened, MasterKeyRetired, MasterKeyRotated

KEY_RING_NAMESPACE = UUID("8d6a2f4e-91b3-4c57-a0e2-6f1d3b7c9e21")


def key_ring_id(site_id: str) -> UUID:
    return uuid.uuid5(KEY_RING_NAMESPACE, f"key-ring:{site_id}")


class KeyRing(LeadAggregate):
    def __init__(self) -> None:
        self.current_key_id = ""
        self.retired: set[str] = set()
        self.rotations = 0

    @classmethod
    def open(cls, *, site_id: str, actor: Actor, current_key_id: str) -> KeyRing:
        return cls._create(
            KeyRingOpened,
            id=key_ring_id(site_id),
            actor=actor,
            occurred_at=occurred(None),
            current_key_id=current_key_id,
        )

    def rotated(
        self, *, actor: Actor, to_key_id: str, from_key_ids: list[str], rewrapped: int
    ) -> None:
        if to_key_id in self.retired:
            raise DomainError(f"master key {to_key_id} was retired: it is never current again")
        self.trigger_event(
            MasterKeyRotated,
            actor=actor,
            occurred_at=occurred(None),
            to_key_id=to_key_id,
            from_key_ids=sorted(set(from_key_ids) - {to_key_id}),
            rewrapped=rewrapped,
        )

    def retire(self, *, actor: Actor, key_id: str, reason: str) -> None:
        if key_id == self.current_key_id:
            raise DomainError(f"master key {key_id} is current: rotate to another first")
        self.trigger_event(
            MasterKeyRetired, actor=actor, occurred_at=occurred(None), key_id=key_id, reason=reason
        )

    def when(self, event: DomainEvent) -> None:
        match event:
            case KeyRingOpened():
                self.current_key_id = event.current_key_id
            case MasterKeyRotated():
                self.current_key_id = event.to_key_id
                self.rotations += 1
            case MasterKeyRetired():
                self.retired.add(event.key_id)
            case _:
                super().when(event)
