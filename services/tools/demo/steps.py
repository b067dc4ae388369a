"""What `seed_site` drives through `LeadApplication`'s use cases: the policy, then each
referral to its planned outcome, an enrolled person's intake and consent first."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

from eventsourcing.utils import get_topic

from aggregates.base import DomainError
from aggregates.referral import Referral
from events.base import Actor, Role
from events.consent import InformationKind, Recipient, RecipientKind, SignatureMethod
from events.participant import (
    CaseloadOpened,
)
from events.policy import (
    PolicyTerms,
)
from events.referral import Pathway, WithdrawalKind
from services import commands as c
from services.application import LeadApplication
from services.tools.demo.life import ParticipantLife
from services.tools.demo.people import SyntheticPeople
from services.tools.demo.plan import Enrollment, Plan, Selection
from services.tools.demo.site import (
    CASE_MANAGEMENT,
    CASELOAD_TARGET,
    DECLINE_REASONS,
    EVERY_OUTCOME_FROM,
    OFFICERS,
    OUTCOME_SHARES,
    PATHWAY_WEIGHTS,
    PCG,
    PM,
    WITHDRAWAL_NOTES,
    Outcome,
    between,
    demo_policy,
    on_day,
    weighted,
)


@dataclass(frozen=True)
class SeedReport:
    """What one `seed_site` run recorded, counted from what the application accepted."""

    referrals: int
    enrolled: int
    excluded: int
    declined: int
    withdrawn: int
    lapsed: int
    contacts: int
    cases: int
    filings: int
    consents: int
    revocations: int
    exits: int
    events: int


def seed_site(
    app: LeadApplication,
    *,
    participants: int,
    months: int,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> SeedReport:
    """Record `months` months of a site's life, ending today, until `participants` enrolled.

    Adopts the demo policy first if the site has none; an adopted policy is kept and
    followed. `progress(done, total)` is called after each enrolled participant.
    """
    if participants < 0:
        raise ValueError("participants must not be negative")
    if months < 1:
        raise ValueError("months must be at least 1")
    rng = random.Random(seed)  # noqa: S311  # reproducible demo data, not secrecy
    return _Seeder(app, rng, participants, months, progress).run()


class _Seeder(SyntheticPeople, ParticipantLife):
    """One run of `seed_site`: the plan, then each referral and participant in turn."""

    def __init__(
        self,
        app: LeadApplication,
        rng: random.Random,
        participants: int,
        months: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self._app = app
        self._rng = rng
        self._participants = participants
        self._months = months
        self._progress = progress
        self._tally: Counter[str] = Counter()
        self._end = datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)
        self._start = self._end - timedelta(days=round(months * 365.25 / 12))
        count = math.ceil(participants / CASELOAD_TARGET)
        # New case managers for each run, so a second run never overfills the first's.
        existing = len(
            app.recorder.select_notifications(
                start=1, limit=1_000_000, topics=[get_topic(CaseloadOpened)]
            )
        )
        self._case_managers = tuple(
            Actor(principal=f"cm.{n:02d}", role=Role.CASE_MANAGER, organisation=CASE_MANAGEMENT)
            for n in range(existing + 1, existing + count + 1)
        )
        self._case_number = rng.randint(1000, 8999)
        self._deadline_days = 30
        self._selection = Selection.draw(rng, participants)

    def run(self) -> SeedReport:
        first = self._app.recorder.max_notification_id() or 0
        self._ensure_policy()
        for plan in self._plan():
            self._refer(plan)
        events = (self._app.recorder.max_notification_id() or 0) - first
        counts = {f.name: self._tally[f.name] for f in fields(SeedReport) if f.name != "events"}
        return SeedReport(**counts, events=events)

    # -- setup ------------------------------------------------------------------------
    def _ensure_policy(self) -> None:
        """Adopt the demo policy unless the site has one; the period must lie inside it."""
        try:
            self._app.get_policy()
        except DomainError:
            effective = self._start.date() - timedelta(days=365)
            terms = demo_policy(effective, capacity=max(100, self._participants))
            adopted_at = on_day(self._rng, effective - timedelta(days=30))
            self._app.adopt_policy(c.AdoptPolicy(terms=terms, occurred_at=adopted_at), PCG)
        versions = [terms for _, terms in self._app.get_policy().versions]
        first = min(terms.effective_from for terms in versions)
        self._start = max(self._start, datetime.combine(first, time(), tzinfo=UTC))
        self._deadline_days = max(terms.intake_deadline_days for terms in versions)

    def _plan(self) -> list[Plan]:
        """Every referral up front, outcomes as quotas, in the order they were made."""
        n = self._participants
        total = n / (1 - sum(OUTCOME_SHARES.values()))
        least = 1 if n >= EVERY_OUTCOME_FROM else 0
        outcomes = [Outcome.ENROLLED] * n
        for outcome, share in OUTCOME_SHARES.items():
            wanted = round(total * share * self._rng.uniform(0.7, 1.3))
            outcomes += [outcome] * (max(least, wanted) if n else 0)
        return sorted((self._plan_one(outcome) for outcome in outcomes), key=lambda p: p.at)

    def _plan_one(self, outcome: Outcome) -> Plan:
        """Referrals leave room before today: for intake, or for a deadline to pass."""
        if outcome is Outcome.LAPSED:
            pathway = Pathway.ARREST_DIVERSION
            last = self._end - timedelta(days=self._deadline_days + 4)
        else:
            pathway = weighted(self._rng, PATHWAY_WEIGHTS)
            last = self._end - timedelta(days=3)
        if last <= self._start:
            raise ValueError(
                f"{self._months} month(s) inside the site's policy leave no room for referrals "
                f"to be made and followed up (intake deadline {self._deadline_days} days)"
            )
        return Plan(at=between(self._rng, self._start, last), pathway=pathway, outcome=outcome)

    # -- referrals --------------------------------------------------------------------
    def _refer(self, plan: Plan) -> None:
        _, terms = self._app.policy_in_force(plan.at.date())
        command, actor = self._referral(plan, terms)
        receipt = self._app.receive_referral(command, actor)
        self._tally["referrals"] += 1
        person_id = receipt.person_id
        assert person_id is not None
        expected = "excluded" if plan.outcome is Outcome.EXCLUDED else "eligible"
        if self._status(receipt.id) != expected:
            raise RuntimeError(
                f"generator bug: a referral meant to be {expected} was "
                f"{self._status(receipt.id)} under policy terms {terms.effective_from}"
            )
        if plan.outcome is Outcome.DECLINED:
            self._decline(plan, receipt.id)
        elif plan.outcome is Outcome.WITHDRAWN:
            self._withdraw(plan, receipt.id)
        elif plan.outcome is Outcome.LAPSED:
            self._lapse(plan, receipt.id, terms)
        elif plan.outcome is Outcome.ENROLLED:
            self._enroll(plan, receipt.id, person_id, terms)
        self._tally[self._status(receipt.id)] += 1
        if plan.outcome is Outcome.ENROLLED and self._progress is not None:
            self._progress(self._tally["enrolled"], self._participants)

    def _status(self, referral_id: UUID) -> str:
        referral: object = self._app.repository.get(referral_id)
        assert isinstance(referral, Referral)
        return referral.status

    def _approve(self, referral_id: UUID, at: datetime) -> None:
        self._app.approve_referral(referral_id, c.ApproveReferral(occurred_at=at), PM)

    def _decline(self, plan: Plan, referral_id: UUID) -> None:
        at = plan.at + timedelta(hours=self._rng.uniform(1, 48))
        reason = self._rng.choice(DECLINE_REASONS)
        self._app.decline_referral(
            referral_id, c.DeclineReferral(reason=reason, occurred_at=at), PM
        )

    def _withdraw(self, plan: Plan, referral_id: UUID) -> None:
        """Half say no at once; the others change their mind after approval."""
        rng = self._rng
        kind = WithdrawalKind.DECLINED
        at = plan.at + timedelta(minutes=rng.uniform(5, 60))
        if rng.random() < 0.5:
            approved_at = plan.at + timedelta(minutes=rng.uniform(10, 24 * 60))
            self._approve(referral_id, approved_at)
            kind = WithdrawalKind.WITHDREW
            at = approved_at + timedelta(minutes=rng.uniform(60, 24 * 60))
        command = c.WithdrawReferral(kind=kind, note=rng.choice(WITHDRAWAL_NOTES), occurred_at=at)
        self._app.withdraw_referral(referral_id, command, PM)

    def _lapse(self, plan: Plan, referral_id: UUID, terms: PolicyTerms) -> None:
        """Approved, sometimes scheduled, never taken in: a few days after the deadline."""
        rng = self._rng
        days = terms.intake_deadline_days
        approved_at = plan.at + timedelta(minutes=rng.uniform(5, 60))
        self._approve(referral_id, approved_at)
        if rng.random() < 0.5:
            day = plan.at.date() + timedelta(days=rng.randint(1, days - 1))
            command = c.ScheduleIntake(
                scheduled_for=on_day(rng, day),
                case_manager=rng.choice(self._case_managers or (PM,)).principal,
                occurred_at=approved_at + timedelta(minutes=5),
            )
            self._app.schedule_intake(referral_id, command, PM)
        today = plan.at.date() + timedelta(days=days + rng.randint(1, 3))
        command_lapse = c.LapseReferral(occurred_at=on_day(rng, today))
        self._app.lapse_referral(referral_id, command_lapse, PM)

    # -- enrollment -------------------------------------------------------------------
    def _enroll(self, plan: Plan, referral_id: UUID, person_id: UUID, terms: PolicyTerms) -> None:
        """Approval, handoff, release of information and intake, then the person's history."""
        rng = self._rng
        index = self._tally["enrolled"]
        case_manager = self._case_managers[index % len(self._case_managers)]
        arrest = plan.pathway is Pathway.ARREST_DIVERSION
        minutes = rng.uniform(5, 20) if arrest else rng.uniform(60, 48 * 60)
        approved_at = plan.at + timedelta(minutes=minutes)
        self._approve(referral_id, approved_at)
        if arrest and rng.random() < 0.5:
            self._warm_handoff(referral_id, approved_at, case_manager)
        intake_at = self._intake_time(plan, approved_at, terms)
        if rng.random() < 0.4:
            command = c.ScheduleIntake(
                scheduled_for=intake_at,
                case_manager=case_manager.principal,
                occurred_at=approved_at + timedelta(minutes=2),
            )
            self._app.schedule_intake(referral_id, command, case_manager)
        enrollment = self._grant_consent(index, person_id, intake_at, case_manager)
        intake = c.CompleteIntake(
            completed_on=intake_at.date(),
            case_manager=case_manager.principal,
            consent_id=enrollment.consent_id,
            occurred_at=intake_at,
        )
        self._app.complete_intake(referral_id, intake, case_manager)
        self._live(enrollment, terms)

    def _warm_handoff(self, referral_id: UUID, approved_at: datetime, case_manager: Actor) -> None:
        """The officer waits with the person; the case manager arrives within the hour."""
        arrived_at = approved_at + timedelta(minutes=self._rng.uniform(5, 40))
        command = c.CompleteWarmHandoff(
            case_manager=case_manager.principal, arrived_at=arrived_at, occurred_at=arrived_at
        )
        self._app.complete_warm_handoff(referral_id, command, self._rng.choice(OFFICERS))

    def _intake_time(self, plan: Plan, approved_at: datetime, terms: PolicyTerms) -> datetime:
        """Mostly soon after approval; for an arrest diversion never after its deadline."""
        first = approved_at + timedelta(hours=1)
        if plan.pathway is Pathway.ARREST_DIVERSION:
            deadline = plan.at.date() + timedelta(days=terms.intake_deadline_days)
            last = datetime.combine(deadline, time(23), tzinfo=UTC)
        else:
            last = approved_at + timedelta(days=14)
        last = min(last, self._end - timedelta(hours=1))
        return first + (last - first) * self._rng.random() ** 2

    def _grant_consent(
        self, index: int, person_id: UUID, intake_at: datetime, case_manager: Actor
    ) -> Enrollment:
        """The release of information signed at intake, for a year; most name the prosecutor."""
        rng = self._rng
        recipients = [Recipient(kind=RecipientKind.ROLE, name=Role.PUBLIC_DEFENDER.value)]
        if index in self._selection.liaison:
            recipients.insert(0, Recipient(kind=RecipientKind.ROLE, name="liaison_prosecutor"))
        signed_at = intake_at - timedelta(minutes=rng.uniform(5, 40))
        expires_at = signed_at + timedelta(days=365)
        command = c.GrantConsent(
            person_id=person_id,
            disclosing_party=f"{CASE_MANAGEMENT} case management",
            recipients=tuple(recipients),
            purpose="coordinate legal matters and services with LEAD partners",
            information_kinds=(
                InformationKind.LEGAL_STATUS,
                InformationKind.PROGRAM_STATUS,
                InformationKind.PROGRESS_SUMMARY,
            ),
            signature_method=weighted(
                rng,
                (
                    (SignatureMethod.E_SIGNATURE, 50),
                    (SignatureMethod.PAPER, 40),
                    (SignatureMethod.VERBAL, 10),
                ),
            ),
            signed_at=signed_at,
            expires_at=expires_at,
            occurred_at=signed_at,
        )
        receipt = self._app.grant_consent(command, case_manager)
        self._tally["consents"] += 1
        return Enrollment(
            index=index,
            person_id=person_id,
            enrolled_at=intake_at,
            case_manager=case_manager,
            consent_id=receipt.id,
            signed_at=signed_at,
            expires_at=expires_at,
        )
