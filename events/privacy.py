"""Privacy events: a person forgotten at their request or by the site's retention rule;
the master key ring rotated and its old keys retired.

The event itself holds no personal data beyond the pseudonymous person id: it is the
record, for auditors, that the person's key was destroyed, by whom, when and why.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from events.base import CreationEvent, DomainEvent
from events.text import Text


class ErasureGround(StrEnum):
    REQUEST = "request"  # the person asked
    RETENTION = "retention"  # the site's retention period after exit ran out


class PersonForgotten(CreationEvent):
    """The person's data key is destroyed: their sensitive data is unreadable everywhere;
    projections drop what they held in anyone's words. Counts stay."""

    event_type: ClassVar[str] = "privacy.person_forgotten"

    person_id: UUID
    ground: ErasureGround
    reason: Text = Field(min_length=1, max_length=500)


MASTER_KEY_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class KeyRingOpened(CreationEvent):
    """The site's master key ring, so that its rotations and retirements are recorded:
    ids only, never key material."""

    event_type: ClassVar[str] = "key_ring.opened"

    current_key_id: Text = Field(pattern=MASTER_KEY_ID)


class MasterKeyRotated(DomainEvent):
    """A new current master key: every person's data key is now wrapped by it. The data
    keys themselves are unchanged, so everything sealed before opens as it did."""

    event_type: ClassVar[str] = "key_ring.master_key_rotated"

    to_key_id: Text = Field(pattern=MASTER_KEY_ID)
    from_key_ids: list[Text] = Field(
        default_factory=list,
        max_length=100,
        description="The master keys that wrapped data keys before (`unlabelled`: data "
        "keys from before master keys had ids).",
    )
    rewrapped: int = Field(ge=0, description="How many data keys were rewrapped.")


class MasterKeyRetired(DomainEvent):
    """A master key that no data key is wrapped by any more is removed from the key ring."""

    event_type: ClassVar[str] = "key_ring.master_key_retired"

    key_id: Text = Field(pattern=MASTER_KEY_ID)
    reason: Text = Field(min_length=1, max_length=500)
