"""The application service: loads aggregates, calls them, saves their events atomically.

Every method is one use case; `eventsourcing`'s Application is the unit of work, so
all aggregates one call changes are saved in one transaction with optimistic
concurrency, or not at all.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import get_topic

from aggregates.base import DomainError, LeadAggregate
from aggregates.case import Case
from aggregates.caseload import Caseload, caseload_id
from aggregates.consent import Consent, first_covering
from aggregates.consent_index import ConsentIndex, consent_index_id
from aggregates.participant import Participant
from aggregates.policy import NoPolicyInForceError, SitePolicy, policy_id
from aggregates.referral import Referral
from events.base import Actor, DomainEvent
from events.consent import InformationKind
from events.participant import CaseloadOpened
from events.policy import PolicyTerms
from infra.clock import Clock
from services import commands as c
from services.errors import ChangedSinceError, ConcurrencyError, NotFoundError

A = TypeVar("A", bound=LeadAggregate)

PARTICIPANT_NAMESPACE = UUID("c3a6f1de-55a4-4a8e-9b5e-27f8a1f6d0c4")


class ConsentMismatchError(DomainError):
    pass


class AlreadyParticipantError(DomainError):
    pass


def participant_id_for(person_id: UUID) -> UUID:
    """A person has one participant record, whatever number of enrollments."""
    return uuid.uuid5(PARTICIPANT_NAMESPACE, str(person_id))


@dataclass(frozen=True)
class Receipt:
    """What a write returns: the ids it touched and the store position it reached."""

    id: UUID
    person_id: UUID | None
    position: int
    version: int = 1
    warnings: tuple[str, ...] = ()


class LeadApplication(Application[UUID]):
    """All LEAD use cases."""

    name = "lead"

    def __init__(self, env: Any = None, *, sealer: Any = None, clock: Clock | None = None) -> None:
        # Read by construct_mapper, which the base class calls while it initialises.
        self._sealer = sealer
        self.clock = clock or Clock()  # the server's: what "past the deadline" is judged by
        self._policy: SitePolicy | None = None  # see get_policy
        super().__init__(env=env)

    def construct_mapper(self) -> Any:
        mapper = super().construct_mapper()
        if self._sealer is not None:
            mapper.sealer = self._sealer  # type: ignore[attr-defined]
        return mapper

    @property
    def site_id(self) -> str:
        return self.env.get("LEAD_SITE_ID") or "lead-site"

    # -- plumbing ---------------------------------------------------------------------
    @property
    def _guarded(self) -> bool:
        """Whether the store takes `unchanged=`: it checks, under its lock, that an
        aggregate has no event after a version before it appends (the in-memory one
        of unit tests does not)."""
        return bool(getattr(self.recorder, "guards_appends", False))

    def _save(self, *aggregates: LeadAggregate, unchanged: LeadAggregate | None = None) -> int:
        """Save, and the position of the last event. `unchanged`: only if that aggregate
        is still at its version (else `ChangedSinceError`, nothing saved)."""
        guard: dict[str, Any] = {}
        if unchanged is not None and self._guarded:
            guard["unchanged"] = (unchanged.id, unchanged.version)
        sent = [
            (e.originator_id, e.originator_version, e.timestamp)
            for a in aggregates
            for e in a.pending_events
            if isinstance(e, DomainEvent)
        ]
        try:
            recordings: list[Recording[UUID]] = self.save(*aggregates, **guard)
        except IntegrityError:
            if sent and self._stored_as_sent(sent):
                # eventsourcing retries an insert whose connection failed; when the first
                # try had committed, the retry collides with our own events: it is done.
                return int(self.recorder.max_notification_id() or 0)
            raise ConcurrencyError(
                "the record was changed by someone else at the same time; reload it and retry"
            ) from None
        return max(r.notification.id for r in recordings) if recordings else 0

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """eventsourcing's save; one about several people fetches their keys in one
        round trip, not one each (a batch of referrals, say)."""
        people = {
            e.person_id
            for a in objs
            for e in getattr(a, "pending_events", ())
            if getattr(type(e), "SENSITIVE", ()) and getattr(e, "person_id", None) is not None
        }
        ready: AbstractContextManager[None] = nullcontext()
        if self._sealer is not None and len(people) > 1:
            ready = self._sealer.ready(people)
        with ready:
            return super().save(*objs, **kwargs)

    def _stored_as_sent(self, sent: list[tuple[UUID, int, datetime]]) -> bool:
        """Whether every event is in the store as this save made it (by its `timestamp`,
        taken when the event was made: another writer's event would not share it)."""
        for originator_id, version, timestamp in sent:
            stored = list(
                self.repository.event_store.get(originator_id, gt=version - 1, lte=version)
            )
            if len(stored) != 1 or getattr(stored[0], "timestamp", None) != timestamp:
                return False
        return True

    def _get(self, cls: type[A], aggregate_id: UUID, what: str) -> A:
        try:
            aggregate: LeadAggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(f"no {what} with id {aggregate_id}") from None
        if not isinstance(aggregate, cls):
            raise NotFoundError(f"no {what} with id {aggregate_id}")
        return aggregate

    def _find(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def _receipt(self, aggregate: LeadAggregate, position: int, *warnings: str) -> Receipt:
        return Receipt(
            id=aggregate.id,
            person_id=getattr(aggregate, "person_id", None),
            position=position,
            version=aggregate.version,
            warnings=warnings,
        )

    def _update(
        self,
        cls: type[A],
        aggregate_id: UUID,
        what: str,
        method: str,
        actor: Actor,
        command: c.Command,
    ) -> Receipt:
        aggregate = self._get(cls, aggregate_id, what)
        getattr(aggregate, method)(actor=actor, **command.arguments())
        return self._receipt(aggregate, self._save(aggregate))

    # -- policy -----------------------------------------------------------------------
    def adopt_policy(self, command: c.AdoptPolicy, actor: Actor) -> Receipt:
        policy = self._find(policy_id(self.site_id))
        if policy is None:
            policy = SitePolicy.adopt(
                site_id=self.site_id,
                actor=actor,
                terms=command.terms,
                occurred_at=command.occurred_at,
            )
        else:
            policy.amend(actor=actor, terms=command.terms, occurred_at=command.occurred_at)
        return self._receipt(policy, self._save(policy))

    def get_policy(self) -> SitePolicy:
        """The site's policy, for reading. Kept between calls: each call only asks the
        store whether an event came after the kept version (every referral needs it)."""
        kept = self._policy
        if kept is not None and not any(
            self.repository.event_store.get(kept.id, gt=kept.version, limit=1)
        ):
            return kept
        policy = self._find(policy_id(self.site_id))
        if not isinstance(policy, SitePolicy):
            raise NoPolicyInForceError(
                "no site policy has been adopted yet: the PCG's policy must be adopted "
                "(POST /v1/policy or `lead policy adopt FILE`) before referrals are judged"
            )
        self._policy = policy
        return policy

    def _new_person_id(self) -> UUID:
        """An id for someone recorded for the first time (the sealer's, whose key is
        made ahead, when there is one)."""
        new_person = getattr(self._sealer, "new_person", None)
        return new_person() if new_person is not None else uuid.uuid4()

    def _policy_to_judge_by(self) -> SitePolicy:
        """The policy a command is judged by. When the store can refuse a save if the
        policy changed after it (`unchanged=` in `_save`), the kept one, unasked: the
        refusal is exact, and one round trip fewer per referral."""
        if self._policy is not None and self._guarded:
            return self._policy
        return self.get_policy()

    def policy_in_force(self, on: date) -> tuple[int, PolicyTerms]:
        return self.get_policy().in_force(on)

    # -- referrals ------------------------------------------------------------------
    def receive_referral(self, command: c.ReceiveReferral, actor: Actor) -> Receipt:
        occurred_at = command.occurred_at or datetime.now(UTC)
        person_id = command.person_id or self._new_person_id()
        for _ in range(3):
            policy = self._policy_to_judge_by()
            referral = Referral.receive(
                actor=actor,
                pathway=command.pathway,
                referrer=command.referrer,
                incident=command.incident,
                person=command.person,
                facts=command.facts,
                person_id=person_id,
                occurred_at=occurred_at,
                policy=policy.in_force(occurred_at.date()),
            )
            try:
                return self._receipt(referral, self._save(referral, unchanged=policy))
            except ChangedSinceError:
                self._policy = None  # amended meanwhile: judge it again under the new terms
        raise ConcurrencyError(
            "the site policy was amended three times while this referral was screened; retry"
        )

    def approve_referral(
        self, referral_id: UUID, command: c.ApproveReferral, actor: Actor
    ) -> Receipt:
        referral = self._get(Referral, referral_id, "referral")
        assert referral.received_at is not None
        version, terms = self.policy_in_force(referral.received_at.date())
        referral.approve(
            actor=actor,
            intake_deadline_days=terms.intake_deadline_days,
            policy_version=version,
            capacity_left=self.capacity_left(),
            occurred_at=command.occurred_at,
        )
        return self._receipt(referral, self._save(referral))

    def decline_referral(
        self, referral_id: UUID, command: c.DeclineReferral, actor: Actor
    ) -> Receipt:
        return self._update(Referral, referral_id, "referral", "decline", actor, command)

    def complete_warm_handoff(
        self, referral_id: UUID, command: c.CompleteWarmHandoff, actor: Actor
    ) -> Receipt:
        return self._update(
            Referral, referral_id, "referral", "complete_warm_handoff", actor, command
        )

    def schedule_intake(
        self, referral_id: UUID, command: c.ScheduleIntake, actor: Actor
    ) -> Receipt:
        return self._update(Referral, referral_id, "referral", "schedule_intake", actor, command)

    def lapse_referral(self, referral_id: UUID, command: c.LapseReferral, actor: Actor) -> Receipt:
        """A lapse recorded by hand (one the clock would record anyway, or earlier than
        it would, with `occurred_at`): judged on the site's date by the server's clock."""
        referral = self._get(Referral, referral_id, "referral")
        at = command.occurred_at or self.clock.now()
        referral.lapse(actor=actor, on=self.clock.day_of(at), occurred_at=at)
        return self._receipt(referral, self._save(referral))

    def lapse_when_due(self, referral_id: UUID, actor: Actor) -> Receipt | None:
        """The clock's lapse: recorded if the referral is still waiting for intake and its
        deadline has passed by the site's date now; else nothing (None). Optimistic
        concurrency makes it once only, whichever replica or retry gets there first."""
        referral = self._get(Referral, referral_id, "referral")
        now = self.clock.now()
        today = self.clock.day_of(now)
        deadline = referral.intake_deadline
        if referral.status not in ("approved", "intake_scheduled"):
            return None
        if deadline is None or today <= deadline:
            return None
        referral.lapse(actor=actor, on=today, occurred_at=now)
        return self._receipt(referral, self._save(referral))

    def withdraw_referral(
        self, referral_id: UUID, command: c.WithdrawReferral, actor: Actor
    ) -> Receipt:
        return self._update(Referral, referral_id, "referral", "withdraw", actor, command)

    # -- intake and participants ---------------------------------------------------------
    def complete_intake(
        self, referral_id: UUID, command: c.CompleteIntake, actor: Actor
    ) -> Receipt:
        """Intake + signed release of information: the person is enrolled and assigned."""
        referral = self._get(Referral, referral_id, "referral")
        assert referral.person_id is not None
        person_id = referral.person_id
        if command.consent_id is not None:
            consent = self._get(Consent, command.consent_id, "consent")
            if consent.person_id != person_id:
                raise ConsentMismatchError(
                    f"consent {command.consent_id} was signed by someone else, not by the "
                    "person this referral is about"
                )
        participant_id = participant_id_for(person_id)
        if self._find(participant_id) is not None:
            raise AlreadyParticipantError(
                "this person is already a participant: re-engage them instead of enrolling again"
            )
        referral.complete_intake(actor=actor, participant_id=participant_id, **command.arguments())
        participant = Participant.enroll(
            actor=actor,
            person_id=person_id,
            referral_id=referral.id,
            enrolled_on=command.completed_on,
            case_manager=command.case_manager,
            occurred_at=command.occurred_at,
            participant_id=participant_id,
        )
        caseload, warnings = self._join_caseload(
            actor, command.case_manager, participant, command.occurred_at
        )
        position = self._save(referral, participant, caseload)
        return self._receipt(participant, position, *warnings)

    def _caseload(self, actor: Actor, case_manager: str, occurred_at: datetime | None) -> Caseload:
        caseload = self._find(caseload_id(case_manager))
        if isinstance(caseload, Caseload):
            return caseload
        return Caseload.open(actor=actor, case_manager=case_manager, occurred_at=occurred_at)

    def _join_caseload(
        self,
        actor: Actor,
        case_manager: str,
        participant: Participant,
        occurred_at: datetime | None,
    ) -> tuple[Caseload, tuple[str, ...]]:
        _, terms = self.policy_in_force(date.today())
        caseload = self._caseload(actor, case_manager, occurred_at)
        assert participant.person_id is not None
        above_warning = caseload.join(
            actor=actor,
            participant_id=participant.id,
            person_id=participant.person_id,
            hard_cap=terms.caseload.hard_cap,
            warning=terms.caseload.warning,
            occurred_at=occurred_at,
        )
        warnings: tuple[str, ...] = ()
        if above_warning:
            warnings = (
                f"{case_manager}'s caseload is now {caseload.size}, above the warning "
                f"level of {terms.caseload.warning} (target {terms.caseload.target})",
            )
        return caseload, warnings

    def capacity_left(self) -> int:
        """Places left under the policy in force: its capacity less everyone on a caseload."""
        _, terms = self.policy_in_force(date.today())
        opened = self.recorder.select_notifications(
            start=1, limit=100_000, topics=[get_topic(CaseloadOpened)]
        )
        active = 0
        for notification in opened:
            caseload = self._find(UUID(str(notification.originator_id)))
            if isinstance(caseload, Caseload):
                active += caseload.size
        return terms.program_capacity - active

    def participant(self, person_id: UUID) -> Participant:
        return self._get(Participant, participant_id_for(person_id), "participant for person")

    def assign_case_manager(
        self, person_id: UUID, command: c.AssignCaseManager, actor: Actor
    ) -> Receipt:
        """Reassignment moves the participant between caseloads in one transaction."""
        participant = self.participant(person_id)
        previous = self._caseload(actor, participant.case_manager, command.occurred_at)
        participant.assign_case_manager(actor=actor, **command.arguments())
        previous.leave(actor=actor, participant_id=participant.id, occurred_at=command.occurred_at)
        caseload, warnings = self._join_caseload(
            actor, command.case_manager, participant, command.occurred_at
        )
        position = self._save(participant, previous, caseload)
        return self._receipt(participant, position, *warnings)

    def update_participant(self, person_id: UUID, command: c.Command, actor: Actor) -> Receipt:
        method = {
            c.SetGoal: "set_goal",
            c.RecordGoalProgress: "record_goal_progress",
            c.ReviseGoal: "revise_goal",
            c.RecordContact: "record_contact",
            c.RecordLivingSituation: "record_living_situation",
            c.RecordIncome: "record_income",
            c.ChangeStatus: "change_status",
        }[type(command)]
        return self._update(
            Participant,
            participant_id_for(person_id),
            "participant for person",
            method,
            actor,
            command,
        )

    def exit_participant(
        self, person_id: UUID, command: c.ExitParticipant, actor: Actor
    ) -> Receipt:
        """Exiting frees the place on the case manager's caseload."""
        participant = self.participant(person_id)
        participant.exit(actor=actor, **command.arguments())
        caseload = self._caseload(actor, participant.case_manager, command.occurred_at)
        caseload.leave(actor=actor, participant_id=participant.id, occurred_at=command.occurred_at)
        return self._receipt(participant, self._save(participant, caseload))

    def reengage_participant(
        self, person_id: UUID, command: c.ReengageParticipant, actor: Actor
    ) -> Receipt:
        participant = self.participant(person_id)
        participant.reengage(actor=actor, **command.arguments())
        caseload, warnings = self._join_caseload(
            actor, participant.case_manager, participant, command.occurred_at
        )
        return self._receipt(participant, self._save(participant, caseload), *warnings)

    def share_progress_summary(
        self, person_id: UUID, command: c.ShareProgressSummary, actor: Actor
    ) -> Receipt:
        """Checked against the consent in force now; the summary says under which one."""
        participant = self.participant(person_id)
        consent = self.consent_for_disclosure(
            c.DisclosureQuestion(
                person_id=person_id,
                recipient_organisation=command.recipient_organisation,
                recipient_role=command.recipient_role,
                kind=InformationKind.PROGRESS_SUMMARY,
            )
        )
        participant.share_progress_summary(
            actor=actor,
            consent_id=consent.id if consent else None,
            consent_covers=consent is not None,
            **command.arguments(),
        )
        return self._receipt(participant, self._save(participant))

    # -- cases ----------------------------------------------------------------------------
    def open_case(self, command: c.OpenCase, actor: Actor) -> Receipt:
        args = command.arguments()
        case = Case.open(actor=actor, enrolled_on=self.enrolled_on(command.person_id), **args)
        return self._receipt(case, self._save(case))

    def enrolled_on(self, person_id: UUID) -> date | None:
        participant = self._find(participant_id_for(person_id))
        return getattr(participant, "enrolled_on", None)

    def update_case(self, case_id: UUID, command: c.Command, actor: Actor) -> Receipt:
        if isinstance(command, c.RecordChargingDecision):
            case = self._get(Case, case_id, "case")
            assert case.person_id is not None
            case.record_charging_decision(
                actor=actor, enrolled_on=self.enrolled_on(case.person_id), **command.arguments()
            )
            return self._receipt(case, self._save(case))
        method = {
            c.IssueWarrant: "issue_warrant",
            c.QuashWarrant: "quash_warrant",
            c.RecordLiaisonRecommendation: "record_liaison_recommendation",
            c.ScheduleHearing: "schedule_hearing",
            c.RecordDisposition: "record_disposition",
        }[type(command)]
        return self._update(Case, case_id, "case", method, actor, command)

    # -- consent --------------------------------------------------------------------------
    def grant_consent(self, command: c.GrantConsent, actor: Actor) -> Receipt:
        consent = Consent.grant(actor=actor, **command.arguments())
        index = self._find(consent_index_id(command.person_id))
        if index is None:
            index = ConsentIndex.start(
                actor=actor,
                person_id=command.person_id,
                consent_id=consent.id,
                occurred_at=command.occurred_at,
            )
        else:
            index.file(actor=actor, consent_id=consent.id, occurred_at=command.occurred_at)
        position = self._save(consent, index)
        return self._receipt(consent, position)

    def revoke_consent(self, consent_id: UUID, command: c.RevokeConsent, actor: Actor) -> Receipt:
        return self._update(Consent, consent_id, "consent", "revoke", actor, command)

    def expire_consent(self, consent_id: UUID, command: c.ExpireConsent, actor: Actor) -> Receipt:
        return self._update(Consent, consent_id, "consent", "expire", actor, command)

    def expire_when_due(self, consent_id: UUID, actor: Actor) -> Receipt | None:
        """The clock's expiry: recorded as of the consent's end date once the server's
        clock has reached it, if it has not expired or been revoked before; else nothing."""
        consent = self._get(Consent, consent_id, "consent")
        now = self.clock.now()
        ends = consent.expires_at
        if ends is None or consent.expired_at is not None or now < ends:
            return None
        if consent.revoked_at is not None and consent.revoked_at <= ends:
            return None
        consent.expire(actor=actor, expired_at=ends, occurred_at=now)
        return self._receipt(consent, self._save(consent))

    def consents_of(self, person_id: UUID) -> list[Consent]:
        index = self._find(consent_index_id(person_id))
        if not isinstance(index, ConsentIndex):
            return []
        return [self._get(Consent, cid, "consent") for cid in index.consent_ids]

    def consent_for_disclosure(self, question: c.DisclosureQuestion) -> Consent | None:
        """The consent under which the disclosure may be made now, or None: do not disclose."""
        return first_covering(
            self.consents_of(question.person_id),
            question.recipient_organisation,
            question.recipient_role,
            question.kind,
            question.at or self.clock.now(),
        )
