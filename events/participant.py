"""Participant and caseload events: case management from enrollment on.

Status is active, inactive or "in the wind", or exited: an exit records a fact
about the person's life, never a sanction, and anyone who exited can re-engage.
Contact notes are sensitive and stay in case management; what reaches partners
is a progress summary, written for them and shared only under consent.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from events.base import CreationEvent, DomainEvent, Role
from events.text import Text


class DataQuality(StrEnum):
    """The HMIS answers recorded instead of a value the person did not give."""

    DOESNT_KNOW = "doesnt_know"
    PREFERS_NOT_TO_ANSWER = "prefers_not_to_answer"
    NOT_COLLECTED = "not_collected"


class GoalDomain(StrEnum):
    HOUSING = "housing"
    INCOME = "income"
    HEALTH = "health"
    SUBSTANCE_USE = "substance_use"
    LEGAL = "legal"
    RELATIONSHIPS = "relationships"
    OTHER = "other"


class GoalStatus(StrEnum):
    OPEN = "open"
    ACHIEVED = "achieved"
    SET_ASIDE = "set_aside"


class ContactKind(StrEnum):
    STREET_OUTREACH = "street_outreach"
    OFFICE = "office"
    PHONE = "phone"
    WARM_HANDOFF = "warm_handoff"
    CASE_CONFERENCE = "case_conference"


class IncomeSource(StrEnum):
    EARNED = "earned"
    SSI = "ssi"
    SSDI = "ssdi"
    TANF = "tanf"
    SNAP = "snap"
    GENERAL_ASSISTANCE = "general_assistance"
    UNEMPLOYMENT = "unemployment"
    OTHER = "other"


class EngagementStatus(StrEnum):
    """The statuses a status change may set; exiting is its own event."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    IN_THE_WIND = "in_the_wind"


class ParticipantStatus(StrEnum):
    """Every status a participant can be in: the engagement statuses, or exited."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    IN_THE_WIND = "in_the_wind"
    EXITED = "exited"


class ExitReason(StrEnum):
    """Why a participant left; each is a circumstance, none a judgement of the person."""

    MOVED_AWAY = "moved_away"
    GRADUATED = "graduated"
    DECLINED_SERVICES = "declined_services"
    INCARCERATED = "incarcerated"
    DECEASED = "deceased"
    OTHER = "other"


# HUD HMIS-style living situation: homeless 100s (116 unsheltered), institutional
# 200s, temporary 300s, permanent 400s.
LivingSituationCode = Annotated[int, Field(ge=100, le=499)]


def housing_category(situation: int | DataQuality) -> str:
    """The HMIS group of a living situation, the level evaluations compare over time."""
    if isinstance(situation, DataQuality) or not 100 <= situation <= 499:
        return "unknown"
    return ("homeless", "institutional", "temporary", "permanent")[situation // 100 - 1]


class ParticipantEnrolled(CreationEvent):
    """The person completed intake and is a participant, with their first case manager."""

    event_type: ClassVar[str] = "participant.enrolled"
    class_version: ClassVar[int] = 1

    person_id: UUID
    referral_id: UUID
    enrolled_on: date
    case_manager: Text = Field(min_length=1, max_length=200)


class ParticipantEvent(DomainEvent):
    """Base of the events after `ParticipantEnrolled`: each concerns the participant."""

    person_id: UUID


class CaseManagerAssigned(ParticipantEvent):
    """Another case manager takes over; the previous one is kept for the record."""

    event_type: ClassVar[str] = "participant.case_manager_assigned"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("reason",)
    class_version: ClassVar[int] = 1

    case_manager: Text = Field(min_length=1, max_length=200)
    previous_case_manager: Text | None = Field(None, min_length=1, max_length=200)
    reason: Text | None = Field(None, max_length=2000)


class GoalSet(ParticipantEvent):
    """The participant set a goal of their own; it starts open."""

    event_type: ClassVar[str] = "participant.goal_set"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("text",)
    class_version: ClassVar[int] = 1

    goal_id: UUID
    text: Text = Field(min_length=1, max_length=1000)
    domain: GoalDomain


class GoalProgressRecorded(ParticipantEvent):
    """Progress towards one of the participant's goals."""

    event_type: ClassVar[str] = "participant.goal_progress_recorded"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("note",)
    class_version: ClassVar[int] = 1

    goal_id: UUID
    note: Text = Field(min_length=1, max_length=2000)


class GoalRevised(ParticipantEvent):
    """The participant reworded a goal or changed its status; both are given in full."""

    event_type: ClassVar[str] = "participant.goal_revised"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("text",)
    class_version: ClassVar[int] = 1

    goal_id: UUID
    text: Text = Field(min_length=1, max_length=1000)
    status: GoalStatus


class ContactRecorded(ParticipantEvent):
    """One contact with the participant: the "dose" of case management evaluations count."""

    event_type: ClassVar[str] = "participant.contact_recorded"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("notes", "place")
    class_version: ClassVar[int] = 1

    contact_id: UUID
    kind: ContactKind
    contacted_on: AwareDatetime
    minutes: int = Field(ge=0, le=1440)
    place: Text | None = Field(None, max_length=300)
    notes: Text | None = Field(
        None,
        max_length=10000,
        description="Sensitive: never disclosed outside case management",
    )


class LivingSituationRecorded(ParticipantEvent):
    """Where the participant lived as of a date, as an HMIS code or a data-quality answer."""

    event_type: ClassVar[str] = "participant.living_situation_recorded"
    class_version: ClassVar[int] = 1

    as_of: date
    situation: LivingSituationCode | DataQuality


class IncomeRecorded(ParticipantEvent):
    """The participant's income sources as of a date; none at all is recorded as empty."""

    event_type: ClassVar[str] = "participant.income_recorded"
    class_version: ClassVar[int] = 1

    as_of: date
    sources: tuple[IncomeSource, ...] | DataQuality


class StatusChanged(ParticipantEvent):
    """The participant's engagement changed, e.g. "in the wind" after days without contact."""

    event_type: ClassVar[str] = "participant.status_changed"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("reason",)
    class_version: ClassVar[int] = 1

    status: EngagementStatus
    reason: Text | None = Field(None, max_length=2000)


class ParticipantExited(ParticipantEvent):
    """The participant left the program; they may re-engage at any time."""

    event_type: ClassVar[str] = "participant.exited"
    class_version: ClassVar[int] = 1

    exited_on: date
    reason: ExitReason


class ParticipantReengaged(ParticipantEvent):
    """A participant who had exited came back; they are active again."""

    event_type: ClassVar[str] = "participant.reengaged"
    class_version: ClassVar[int] = 1

    reengaged_on: date


class ProgressSummaryShared(ParticipantEvent):
    """The case manager shared a progress summary under the consent named here.

    The summary is written for the recipient; contact notes are never part of it.
    """

    event_type: ClassVar[str] = "participant.progress_summary_shared"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("summary",)
    class_version: ClassVar[int] = 1

    summary_id: UUID
    recipient_organisation: Text = Field(min_length=1, max_length=200)
    recipient_role: Role
    summary: Text = Field(min_length=1, max_length=4000)
    consent_id: UUID


class CaseloadOpened(CreationEvent):
    """A case manager's caseload was opened; it concerns no one person."""

    event_type: ClassVar[str] = "caseload.opened"
    class_version: ClassVar[int] = 1

    case_manager: Text = Field(min_length=1, max_length=200)


class CaseloadMembershipEvent(DomainEvent):
    """Base of the caseload events about one participant, keyed by that participant's person."""

    participant_id: UUID
    person_id: UUID


class ParticipantJoinedCaseload(CaseloadMembershipEvent):
    """A participant joined the case manager's caseload."""

    event_type: ClassVar[str] = "caseload.participant_joined"
    class_version: ClassVar[int] = 1


class ParticipantLeftCaseload(CaseloadMembershipEvent):
    """A participant left the case manager's caseload (reassigned or exited)."""

    event_type: ClassVar[str] = "caseload.participant_left"
    class_version: ClassVar[int] = 1
