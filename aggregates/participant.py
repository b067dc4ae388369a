"""A participant in case management: case manager, goals, contacts, status, disclosures.

An exit is a fact about the person's life, never a sanction, and the only thing
that can follow it is re-engagement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from types import MappingProxyType
from typing import NamedTuple
from uuid import UUID, uuid4

from aggregates.base import DomainError, LeadAggregate, occurred
from events.base import Actor, DomainEvent, Role
from events.participant import (
    CaseManagerAssigned,
    ContactKind,
    ContactRecorded,
    DataQuality,
    EngagementStatus,
    ExitReason,
    GoalDomain,
    GoalProgressRecorded,
    GoalRevised,
    GoalSet,
    GoalStatus,
    IncomeRecorded,
    IncomeSource,
    LivingSituationRecorded,
    ParticipantEnrolled,
    ParticipantExited,
    ParticipantReengaged,
    ParticipantStatus,
    ProgressSummaryShared,
    StatusChanged,
)


class ParticipantExitedError(DomainError):
    """After an exit nothing is recorded until the participant re-engages."""


class NotExitedError(DomainError):
    """Only a participant who exited can re-engage."""


class AlreadyCaseManagerError(DomainError):
    """Assigning the current case manager again would change nothing."""


class DuplicateGoalError(DomainError):
    """A goal id names one goal, so it is set once."""


class UnknownGoalError(DomainError):
    """Progress and revisions belong to a goal the participant set."""


class GoalUnchangedError(DomainError):
    """A revision must change the goal's text or status."""


class DuplicateContactError(DomainError):
    """A contact id names one contact, so a retried request does not count the dose twice."""


class LivingSituationCodeError(DomainError):
    """A living situation is an HMIS code from 100 to 499, or a data-quality answer."""


class StatusUnchangedError(DomainError):
    """Setting the status the participant already has would change nothing."""


class DisclosureWithoutConsentError(DomainError):
    """Golden Rule #1: nothing about a participant leaves case management without consent."""


class Goal(NamedTuple):
    """A goal as the participant last worded it."""

    text: str
    domain: GoalDomain
    status: GoalStatus


class Participant(LeadAggregate):
    def __init__(self) -> None:
        self._person_id: UUID | None = None
        self._referral_id: UUID | None = None
        self._enrolled_on: date | None = None
        self._case_manager = ""
        self._status = ParticipantStatus.ACTIVE
        self._exited_on: date | None = None
        self._exit_reason: ExitReason | None = None
        self._goals: dict[UUID, Goal] = {}
        self._contact_ids: set[UUID] = set()
        self._last_contact_at: datetime | None = None
        self._living_situation: tuple[date, int | DataQuality] | None = None
        self._income: tuple[date, tuple[IncomeSource, ...] | DataQuality] | None = None

    @property
    def person_id(self) -> UUID | None:
        return self._person_id

    @property
    def referral_id(self) -> UUID | None:
        return self._referral_id

    @property
    def enrolled_on(self) -> date | None:
        return self._enrolled_on

    @property
    def case_manager(self) -> str:
        return self._case_manager

    @property
    def status(self) -> ParticipantStatus:
        return self._status

    @property
    def exited(self) -> bool:
        return self._status is ParticipantStatus.EXITED

    @property
    def exited_on(self) -> date | None:
        return self._exited_on if self.exited else None

    @property
    def goals(self) -> Mapping[UUID, Goal]:
        return MappingProxyType(self._goals)

    @property
    def last_contact_at(self) -> datetime | None:
        return self._last_contact_at

    @property
    def contact_count(self) -> int:
        return len(self._contact_ids)

    @property
    def living_situation(self) -> int | DataQuality | None:
        """The situation with the latest as-of date, however late it was recorded."""
        return self._living_situation[1] if self._living_situation else None

    @property
    def income_sources(self) -> tuple[IncomeSource, ...] | DataQuality | None:
        """The income with the latest as-of date, however late it was recorded."""
        return self._income[1] if self._income else None

    @classmethod
    def enroll(
        cls,
        *,
        actor: Actor,
        person_id: UUID,
        referral_id: UUID,
        enrolled_on: date,
        case_manager: str,
        occurred_at: datetime | None = None,
        participant_id: UUID | None = None,
    ) -> Participant:
        """Completing intake enrolls the person, with the case manager who did it."""
        return cls._create(
            ParticipantEnrolled,
            id=participant_id or uuid4(),
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=person_id,
            referral_id=referral_id,
            enrolled_on=enrolled_on,
            case_manager=case_manager,
        )

    def assign_case_manager(
        self,
        *,
        actor: Actor,
        case_manager: str,
        reason: str | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        self._check_not_exited("assign a case manager")
        if case_manager == self._case_manager:
            raise AlreadyCaseManagerError(
                f"{case_manager} is already this participant's case manager; "
                "assign a different case manager."
            )
        self.trigger_event(
            CaseManagerAssigned,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self._person_id,
            case_manager=case_manager,
            previous_case_manager=self._case_manager or None,
            reason=reason,
        )

    def set_goal(
        self,
        *,
        actor: Actor,
        text: str,
        domain: GoalDomain,
        goal_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> UUID:
        """Returns the goal's id, so progress can be recorded against it."""
        self._check_not_exited("set a goal")
        goal_id = goal_id or uuid4()
        if goal_id in self._goals:
            raise DuplicateGoalError(
                f"Goal {goal_id} was already set; give a new goal its own id, "
                "or revise the existing one."
            )
        self.trigger_event(
            GoalSet,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self._person_id,
            goal_id=goal_id,
            text=text,
            domain=domain,
        )
        return goal_id

    def record_goal_progress(
        self,
        *,
        actor: Actor,
        goal_id: UUID,
        note: str,
        occurred_at: datetime | None = None,
    ) -> None:
        self._check_not_exited("record goal progress")
        self._goal(goal_id)
        self.trigger_event(
            GoalProgressRecorded,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self._person_id,
            goal_id=goal_id,
            note=note,
        )

    def revise_goal(
        self,
        *,
        actor: Actor,
        goal_id: UUID,
        text: str | None = None,
        status: GoalStatus | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """What is left out stays as it was; the event records the goal in full."""
        self._check_not_exited("revise a goal")
        goal = self._goal(goal_id)
        text = goal.text if text is None else text
        status = goal.status if status is None else status
        if (text, status) == (goal.text, goal.status):
            raise GoalUnchangedError(
                f"Goal {goal_id} already has this text and is {goal.status.value}; "
                "a revision must change its text or its status."
            )
        self.trigger_event(
            GoalRevised,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self._person_id,
            goal_id=goal_id,
            text=text,
            status=status,
        )

    def record_contact(
        self,
        *,
        actor: Actor,
        kind: ContactKind,
        contacted_on: datetime,
        minutes: int,
        place: str | None = None,
        notes: str | None = None,
        contact_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> UUID:
        """The contact happened when it happened, so that is its default `occurred_at`."""
        self._check_not_exited("record a contact")
        contact_id = contact_id or uuid4()
        if contact_id in self._contact_ids:
            raise DuplicateContactError(
                f"Contact {contact_id} was already recorded; a new contact needs its own id."
            )
        self.trigger_event(
            ContactRecorded,
            actor=actor,
            occurred_at=occurred_at or contacted_on,
            person_id=self._person_id,
            contact_id=contact_id,
            kind=kind,
            contacted_on=contacted_on,
            minutes=minutes,
            place=place,
            notes=notes,
        )
        return contact_id

    def record_living_situation(
        self,
        *,
        actor: Actor,
        as_of: date,
        situation: int | DataQuality,
        occurred_at: datetime | None = None,
    ) -> None:
        self._check_not_exited("record a living situation")
        if not isinstance(situation, DataQuality) and not 100 <= situation <= 499:
            raise LivingSituationCodeError(
                f"{situation} is not an HMIS living situation code; use a code from 100 to 499 "
                "(homeless 100s, institutional 200s, temporary 300s, permanent 400s) or a "
                f"data-quality answer ({', '.join(DataQuality)})."
            )
        self.trigger_event(
            LivingSituationRecorded,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self._person_id,
            as_of=as_of,
            situation=situation,
        )

    def record_income(
        self,
        *,
        actor: Actor,
        as_of: date,
        sources: Sequence[IncomeSource] | DataQuality,
        occurred_at: datetime | None = None,
    ) -> None:
        """No sources at all means no income; a source named twice counts once."""
        self._check_not_exited("record income")
        self.trigger_event(
            IncomeRecorded,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self._person_id,
            as_of=as_of,
            sources=sources if isinstance(sources, DataQuality) else tuple(dict.fromkeys(sources)),
        )

    def change_status(
        self,
        *,
        actor: Actor,
        status: EngagementStatus,
        reason: str | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        self._check_not_exited("change the status")
        if status.value == self._status.value:
            raise StatusUnchangedError(
                f"The participant is already {status.value}; choose another of "
                f"{', '.join(EngagementStatus)}."
            )
        self.trigger_event(
            StatusChanged,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self._person_id,
            status=status,
            reason=reason,
        )

    def exit(
        self,
        *,
        actor: Actor,
        exited_on: date,
        reason: ExitReason,
        occurred_at: datetime | None = None,
    ) -> None:
        self._check_not_exited("exit them again")
        self.trigger_event(
            ParticipantExited,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self._person_id,
            exited_on=exited_on,
            reason=reason,
        )

    def reengage(
        self,
        *,
        actor: Actor,
        reengaged_on: date,
        occurred_at: datetime | None = None,
    ) -> None:
        """The door stays open: whoever exited, for whatever reason, may come back."""
        if not self.exited:
            raise NotExitedError(
                f"The participant is {self._status.value}, not exited; only a participant "
                "who exited can re-engage."
            )
        self.trigger_event(
            ParticipantReengaged,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self._person_id,
            reengaged_on=reengaged_on,
        )

    def share_progress_summary(
        self,
        *,
        actor: Actor,
        recipient_organisation: str,
        recipient_role: Role,
        summary: str,
        consent_id: UUID | None,
        consent_covers: bool,
        summary_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> UUID:
        """The service checks the consent at this moment; the aggregate refuses without it."""
        self._check_not_exited("share a progress summary")
        recipient = f"{recipient_organisation} ({recipient_role.value})"
        if consent_id is None:
            raise DisclosureWithoutConsentError(
                f"No consent was given for sharing a progress summary with {recipient}; "
                "a summary may be shared only under a consent in force that covers it."
            )
        if not consent_covers:
            raise DisclosureWithoutConsentError(
                f"Consent {consent_id} does not cover a progress summary for {recipient} now; "
                "share it only under a consent in force that names this recipient and "
                "progress summaries."
            )
        summary_id = summary_id or uuid4()
        self.trigger_event(
            ProgressSummaryShared,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self._person_id,
            summary_id=summary_id,
            recipient_organisation=recipient_organisation,
            recipient_role=recipient_role,
            summary=summary,
            consent_id=consent_id,
        )
        return summary_id

    def _check_not_exited(self, what: str) -> None:
        if self._exit_reason is not None:
            raise ParticipantExitedError(
                f"The participant exited on {self._exited_on} "
                f"({self._exit_reason.value}), so you cannot {what} now; "
                "re-engage them first."
            )

    def _goal(self, goal_id: UUID) -> Goal:
        goal = self._goals.get(goal_id)
        if goal is None:
            raise UnknownGoalError(
                f"The participant has no goal {goal_id}; record progress or revisions "
                f"only on their goals ({len(self._goals)} set)."
            )
        return goal

    def when(self, event: DomainEvent) -> None:
        match event:
            case ParticipantEnrolled():
                self._person_id = event.person_id
                self._referral_id = event.referral_id
                self._enrolled_on = event.enrolled_on
                self._case_manager = event.case_manager
            case CaseManagerAssigned():
                self._case_manager = event.case_manager
            case GoalSet():
                self._goals[event.goal_id] = Goal(event.text, event.domain, GoalStatus.OPEN)
            case GoalProgressRecorded():
                pass  # progress notes are history, not state
            case GoalRevised():
                goal = self._goals[event.goal_id]
                self._goals[event.goal_id] = Goal(event.text, goal.domain, event.status)
            case ContactRecorded():
                self._contact_ids.add(event.contact_id)
                if self._last_contact_at is None or event.contacted_on > self._last_contact_at:
                    self._last_contact_at = event.contacted_on
            case LivingSituationRecorded():
                if self._living_situation is None or event.as_of >= self._living_situation[0]:
                    self._living_situation = (event.as_of, event.situation)
            case IncomeRecorded():
                if self._income is None or event.as_of >= self._income[0]:
                    self._income = (event.as_of, event.sources)
            case StatusChanged():
                self._status = ParticipantStatus(event.status.value)
            case ParticipantExited():
                self._status = ParticipantStatus.EXITED
                self._exited_on = event.exited_on
                self._exit_reason = event.reason
            case ParticipantReengaged():
                self._status = ParticipantStatus.ACTIVE
                self._exited_on = None
                self._exit_reason = None
            case ProgressSummaryShared():
                pass  # a disclosure changes nothing here; it is recorded for the audit
            case _:
                super().when(event)
