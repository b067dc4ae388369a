"""Commands: what a caller asks for, validated at the boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from events.referral import Incident, Pathway, Person, Referrer

CLOCK_SKEW = timedelta(minutes=5)


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def not_in_future(value: datetime | None) -> datetime | None:
    if value is not None and value > datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError("must not be in the future")
    return value


class ReceiveReferral(Command):
    """Record a referral: the pathway, who referred, the incident and the person."""

    pathway: Pathway
    referrer: Referrer
    incident: Incident
    person: Person
    person_id: UUID | None = Field(
        None, description="The person's id if they were referred before; omit for a new person."
    )
    occurred_at: AwareDatetime | None = Field(
        None, description="When the referral was made in the world; defaults to now."
    )

    _occurred_not_future = field_validator("occurred_at")(not_in_future)
