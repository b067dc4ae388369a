"""Privacy events: a person forgotten at their request or by the site's retention rule.

The event itself holds no personal data beyond the pseudonymous person id: it is the
record, for auditors, that the person's key was destroyed, by whom, when and why.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from events.base import CreationEvent
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
