"""Referral events: how a person comes to LEAD."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.base import CreationEvent


class Pathway(StrEnum):
    ARREST_DIVERSION = "arrest_diversion"
    SOCIAL_CONTACT = "social_contact"
    COMMUNITY = "community"


class SelfReported(StrEnum):
    """The HMIS-style answers allowed wherever a person self-reports."""

    DOESNT_KNOW = "doesnt_know"
    PREFERS_NOT_TO_ANSWER = "prefers_not_to_answer"
    NOT_COLLECTED = "not_collected"


class Referrer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    principal: str = Field(min_length=1, max_length=200)
    organisation: str = Field(min_length=1, max_length=200)


class Incident(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    offense_code: str = Field(min_length=1, max_length=40, examples=["69.50.4013"])
    description: str = Field(min_length=1, max_length=500)
    nibrs_code: str | None = Field(None, max_length=4, examples=["35A"])
    place: str | None = Field(None, max_length=300)


class Person(BaseModel):
    """The person referred; the sensitive part (names, birth date) of a referral."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    given_name: str = Field(min_length=1, max_length=200)
    family_name: str = Field(min_length=1, max_length=200)
    aliases: tuple[str, ...] = ()
    birth_date: date | None = None
    race: str = Field(SelfReported.NOT_COLLECTED.value, max_length=80)
    ethnicity: str = Field(SelfReported.NOT_COLLECTED.value, max_length=80)
    gender: str = Field(SelfReported.NOT_COLLECTED.value, max_length=80)


class ReferralReceived(CreationEvent):
    """A referral arrived on one of the three pathways.

    Version 1 had no ``occurred_at``: its upcaster takes the recording time, the
    best that version knew.
    """

    event_type: ClassVar[str] = "referral.received"
    class_version: ClassVar[int] = 2

    person_id: UUID
    pathway: Pathway
    referrer: Referrer
    incident: Incident
    person: Person

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["occurred_at"] = state["timestamp"]
