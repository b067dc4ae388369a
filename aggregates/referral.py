"""A referral to LEAD, from receipt to enrollment, lapse or withdrawal.

Participation is voluntary: the only requirements are completing the psychosocial
intake and signing the release of information. A referral that lapses goes back
to the prosecutor, whose charging decision stays theirs; nothing is filed here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

from aggregates.base import SYSTEM_ACTOR, DomainError, LeadAggregate, occurred
from aggregates.eligibility import screen
from events.base import Actor, DomainEvent, Role, a_role
from events.policy import PolicyTerms
from events.referral import (
    EligibilityDecided,
    Incident,
    IntakeCompleted,
    IntakeDeadlineLapsed,
    IntakeScheduled,
    Pathway,
    Person,
    ReferralApproved,
    ReferralDeclined,
    ReferralReceived,
    ReferralWithdrawnByPerson,
    Referrer,
    ScreeningFacts,
    WarmHandoffCompleted,
    WithdrawalKind,
)

OPEN = ("eligible", "approved", "intake_scheduled")
TERMINAL = ("excluded", "declined", "enrolled", "lapsed", "withdrawn")


class ReferralStateError(DomainError):
    """The referral is not at a step where that can happen."""


class IntakeAfterDeadlineError(DomainError):
    pass


class IntakeDeadlineNotPassedError(DomainError):
    pass


class ReleaseOfInformationMissingError(DomainError):
    pass


class CapacityExhaustedError(DomainError):
    pass


class PathwayNotOpenError(DomainError):
    """A referrer used a door that is not theirs (arrest diversion belongs to officers)."""


PATHWAYS_OF: dict[Role, frozenset[Pathway]] = {
    Role.OFFICER: frozenset({Pathway.ARREST_DIVERSION, Pathway.SOCIAL_CONTACT}),
    Role.COMMUNITY_PARTNER: frozenset({Pathway.COMMUNITY}),
}
"""The pathways a referrer of each role may use: officers divert at arrest or refer from
a social contact; community partners refer with no police involved. The program's own
staff record referrals of every pathway on a referrer's behalf."""


class Referral(LeadAggregate):
    def __init__(self) -> None:
        self.person_id: UUID | None = None
        self.pathway: Pathway | None = None
        self.status = "new"
        self.received_at: datetime | None = None
        self.policy_version: int | None = None
        self.reasons: tuple[str, ...] = ()
        self.intake_deadline: date | None = None
        self.deadline_policy_version: int | None = None
        self.incident: Incident | None = None
        self.participant_id: UUID | None = None

    @classmethod
    def receive(
        cls,
        *,
        actor: Actor,
        pathway: Pathway,
        referrer: Referrer,
        incident: Incident,
        person: Person,
        policy: tuple[int, PolicyTerms],
        facts: ScreeningFacts | None = None,
        person_id: UUID | None = None,
        occurred_at: datetime | None = None,
        referral_id: UUID | None = None,
    ) -> Referral:
        """Record the referral and screen it at once against the policy in force then."""
        open_to = PATHWAYS_OF.get(actor.role)
        if open_to is not None and pathway not in open_to:
            accepted = " or ".join(sorted(p.value for p in open_to))
            raise PathwayNotOpenError(
                f"{a_role(actor.role)} refers through {accepted} only; "
                f"{pathway.value} referrals are made by "
                + ("officers" if pathway is not Pathway.COMMUNITY else "community partners")
            )
        at = occurred(occurred_at)
        facts = facts or ScreeningFacts()
        referral = cls._create(
            ReferralReceived,
            id=referral_id or uuid4(),
            actor=actor,
            occurred_at=at,
            person_id=person_id or uuid4(),
            pathway=pathway,
            referrer=referrer,
            incident=incident,
            person=person,
            facts=facts,
        )
        version, terms = policy
        reasons = screen(
            pathway=pathway,
            offense_code=incident.offense_code,
            person=person,
            facts=facts,
            terms=terms,
            on=at.date(),
        )
        referral.trigger_event(
            EligibilityDecided,
            actor=SYSTEM_ACTOR,
            occurred_at=at,
            person_id=referral.person_id,
            eligible=not reasons,
            reasons=tuple(reasons),
            policy_version=version,
        )
        return referral

    # -- approval --------------------------------------------------------------
    def approve(
        self,
        *,
        actor: Actor,
        intake_deadline_days: int,
        policy_version: int | None = None,
        capacity_left: int | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """Approve; social contact and community referrals wait while capacity is exhausted."""
        self._require("approve", "eligible")
        if (
            self.pathway is not Pathway.ARREST_DIVERSION
            and capacity_left is not None
            and capacity_left <= 0
        ):
            raise CapacityExhaustedError(
                "the program is at capacity: social contact and community referrals wait in "
                "the queue behind arrest diversions until a place opens"
            )
        deadline = None
        if self.pathway is Pathway.ARREST_DIVERSION:
            assert self.received_at is not None
            deadline = self.received_at.date() + timedelta(days=intake_deadline_days)
        self._trigger(
            ReferralApproved,
            actor,
            occurred_at,
            intake_deadline=deadline,
            policy_version=policy_version if deadline is not None else None,
        )

    def decline(self, *, actor: Actor, reason: str, occurred_at: datetime | None = None) -> None:
        self._require("decline", "eligible")
        self._trigger(ReferralDeclined, actor, occurred_at, reason=reason)

    # -- handoff and intake ---------------------------------------------------------
    def complete_warm_handoff(
        self,
        *,
        actor: Actor,
        case_manager: str,
        arrived_at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        if self.pathway is not Pathway.ARREST_DIVERSION:
            raise ReferralStateError("a warm handoff is part of an arrest diversion only")
        self._require("record a warm handoff", "approved", "intake_scheduled")
        assert self.received_at is not None
        if arrived_at < self.received_at:
            raise ReferralStateError(
                f"the case manager cannot arrive ({arrived_at:%Y-%m-%d %H:%M}) before the "
                f"referral was made ({self.received_at:%Y-%m-%d %H:%M})"
            )
        minutes = int((arrived_at - self.received_at).total_seconds() // 60)
        self._trigger(
            WarmHandoffCompleted,
            actor,
            occurred_at,
            case_manager=case_manager,
            case_manager_arrived_at=arrived_at,
            minutes_to_arrival=minutes,
        )

    def schedule_intake(
        self,
        *,
        actor: Actor,
        scheduled_for: datetime,
        case_manager: str,
        occurred_at: datetime | None = None,
    ) -> None:
        self._require("schedule intake", "approved", "intake_scheduled")
        self._within_deadline(scheduled_for.date(), "schedule intake")
        self._trigger(
            IntakeScheduled,
            actor,
            occurred_at,
            scheduled_for=scheduled_for,
            case_manager=case_manager,
        )

    def complete_intake(
        self,
        *,
        actor: Actor,
        completed_on: date,
        case_manager: str,
        consent_id: UUID | None,
        participant_id: UUID,
        occurred_at: datetime | None = None,
    ) -> None:
        """Intake plus a signed release of information enrolls the person."""
        self._require("complete intake", "approved", "intake_scheduled")
        self._within_deadline(completed_on, "complete intake")
        if consent_id is None:
            raise ReleaseOfInformationMissingError(
                "intake enrolls the person only with a signed release of information: "
                "record the consent first and give its id"
            )
        self._trigger(
            IntakeCompleted,
            actor,
            occurred_at,
            completed_on=completed_on,
            case_manager=case_manager,
            consent_id=consent_id,
            participant_id=participant_id,
        )

    def lapse(self, *, actor: Actor, on: date, occurred_at: datetime | None = None) -> None:
        """Intake missed its deadline: back to the prosecutor, whose decision it is.

        `on`: the site's date of the lapse (of `occurred_at`, or of now) by the server's
        clock, never a client's; it must be after the deadline."""
        self._require("lapse", "approved", "intake_scheduled")
        if self.intake_deadline is None:
            raise ReferralStateError("only arrest diversions have an intake deadline to lapse")
        if on <= self.intake_deadline:
            raise IntakeDeadlineNotPassedError(
                f"the intake deadline {self.intake_deadline} had not passed on {on} (the "
                "site's date by the server's clock): until it has, intake can still be "
                "completed, and once it has the referral lapses by itself"
            )
        self._trigger(
            IntakeDeadlineLapsed,
            actor,
            occurred_at,
            deadline=self.intake_deadline,
            policy_version=self.deadline_policy_version,
            offense_code=self.incident.offense_code if self.incident else None,
            report_number=self.incident.report_number if self.incident else None,
        )

    def withdraw(
        self,
        *,
        actor: Actor,
        kind: WithdrawalKind,
        note: str | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """The person declines or withdraws, at any point before enrollment."""
        if self.status == "enrolled":
            raise ReferralStateError(
                "the person is already enrolled: record their exit as a participant instead"
            )
        self._require("withdraw", "received", *OPEN)
        self._trigger(ReferralWithdrawnByPerson, actor, occurred_at, kind=kind, note=note)

    # -- helpers ---------------------------------------------------------------------
    def _require(self, what: str, *statuses: str) -> None:
        if self.status not in statuses:
            allowed = " or ".join(statuses)
            raise ReferralStateError(
                f"cannot {what}: the referral is {self.status}, and that needs it to be {allowed}"
            )

    def _within_deadline(self, day: date, what: str) -> None:
        if self.intake_deadline is not None and day > self.intake_deadline:
            raise IntakeAfterDeadlineError(
                f"cannot {what} on {day}: the intake deadline was {self.intake_deadline}; "
                "the referral has lapsed and returns to the prosecutor"
            )

    def _trigger(
        self, event: type[DomainEvent], actor: Actor, at: datetime | None, **fields: object
    ) -> None:
        self.trigger_event(
            event, actor=actor, occurred_at=occurred(at), person_id=self.person_id, **fields
        )

    def when(self, event: DomainEvent) -> None:
        match event:
            case ReferralReceived():
                self.person_id = event.person_id
                self.pathway = event.pathway
                self.received_at = event.occurred_at
                self.incident = event.incident
                self.status = "received"
            case EligibilityDecided():
                self.policy_version = event.policy_version
                self.reasons = event.reasons
                self.status = "eligible" if event.eligible else "excluded"
            case ReferralApproved():
                self.intake_deadline = event.intake_deadline
                self.deadline_policy_version = event.policy_version
                self.status = "approved"
            case ReferralDeclined():
                self.status = "declined"
            case WarmHandoffCompleted():
                pass
            case IntakeScheduled():
                self.status = "intake_scheduled"
            case IntakeCompleted():
                self.participant_id = event.participant_id
                self.status = "enrolled"
            case IntakeDeadlineLapsed():
                self.status = "lapsed"
            case ReferralWithdrawnByPerson():
                self.status = "withdrawn"
            case _:
                super().when(event)
