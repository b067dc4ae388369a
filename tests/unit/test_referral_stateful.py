"""Random command sequences against a Referral: the invariants hold whatever the order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from aggregates.base import DomainError
from aggregates.referral import Referral
from events.base import DomainEvent
from events.referral import (
    Incident,
    IntakeCompleted,
    Pathway,
    Person,
    Referrer,
    WithdrawalKind,
)
from tests.factories import OFFICER, POLICY, referrer_of

STATUSES = {
    "received",
    "eligible",
    "excluded",
    "approved",
    "declined",
    "intake_scheduled",
    "enrolled",
    "lapsed",
    "withdrawn",
}
TERMINAL = {"excluded", "declined", "enrolled", "lapsed", "withdrawn"}
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class ReferralMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.referral: Referral | None = None
        self.history: list[DomainEvent] = []
        self.status_before = "new"

    @initialize(
        pathway=st.sampled_from(Pathway),
        offense=st.sampled_from(["69.50.4013"] * 5 + ["9A.36.021"]),  # mostly divertible
    )
    def receive(self, pathway: Pathway, offense: str) -> None:
        self.referral = Referral.receive(
            actor=referrer_of(pathway),
            pathway=pathway,
            policy=POLICY,
            occurred_at=START,
            referrer=Referrer(principal="o", organisation="SPD"),
            incident=Incident(offense_code=offense, description="d"),
            person=Person(given_name="A", family_name="B"),
        )
        self._collect()

    def _try(self, action: str, **kwargs: object) -> None:
        if self.referral is None:
            return
        self.status_before = self.referral.status
        try:
            getattr(self.referral, action)(actor=OFFICER, **kwargs)
        except DomainError:
            assert self.referral.collect_events() == []  # a refusal records nothing
        self._collect()

    def _collect(self) -> None:
        assert self.referral is not None
        new = list(self.referral.collect_events())
        if new and self.status_before in TERMINAL:
            raise AssertionError(f"{new} recorded after the referral was {self.status_before}")
        self.history.extend(new)

    @rule(capacity=st.one_of(st.none(), st.integers(0, 2)))
    def approve(self, capacity: int | None) -> None:
        self._try("approve", intake_deadline_days=14, capacity_left=capacity)

    @rule(now=st.integers(0, 9))
    def decline(self, now: int) -> None:
        if now == 0:  # rare, so the sequences reach the later steps too
            self._try("decline", reason="no")

    @rule(minutes=st.integers(-30, 300))
    def handoff(self, minutes: int) -> None:
        self._try(
            "complete_warm_handoff",
            case_manager="cm",
            arrived_at=START + timedelta(minutes=minutes),
        )

    @rule(days=st.integers(0, 40))
    def schedule(self, days: int) -> None:
        self._try("schedule_intake", case_manager="cm", scheduled_for=START + timedelta(days=days))

    @rule(days=st.integers(0, 40), signed=st.booleans())
    def intake(self, days: int, signed: bool) -> None:
        self._try(
            "complete_intake",
            case_manager="cm",
            completed_on=START.date() + timedelta(days=days),
            consent_id=uuid4() if signed else None,
            participant_id=uuid4(),
        )

    @rule(days=st.integers(0, 40))
    def lapse(self, days: int) -> None:
        self._try("lapse", on=START.date() + timedelta(days=days))

    @rule(kind=st.sampled_from(WithdrawalKind), now=st.integers(0, 9))
    def withdraw(self, kind: WithdrawalKind, now: int) -> None:
        if now == 0:
            self._try("withdraw", kind=kind)

    @invariant()
    def status_is_always_an_allowed_one(self) -> None:
        if self.referral is not None:
            assert self.referral.status in STATUSES

    @invariant()
    def enrolled_only_through_intake_with_a_signed_release(self) -> None:
        if self.referral is not None and self.referral.status == "enrolled":
            completed = [e for e in self.history if isinstance(e, IntakeCompleted)]
            assert len(completed) == 1 and completed[0].consent_id is not None
            deadline = self.referral.intake_deadline
            assert deadline is None or completed[0].completed_on <= deadline

    @invariant()
    def replaying_the_history_gives_the_same_referral(self) -> None:
        if self.referral is None:
            return
        replayed = None
        for event in self.history:
            replayed = event.mutate(replayed)
        assert replayed == self.referral


ReferralMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None, database=None
)
TestReferralMachine = ReferralMachine.TestCase


def test_the_deadline_counts_from_the_day_of_the_referral() -> None:
    referral = Referral.receive(
        actor=OFFICER,
        pathway=Pathway.ARREST_DIVERSION,
        policy=POLICY,
        occurred_at=START,
        referrer=Referrer(principal="o", organisation="SPD"),
        incident=Incident(offense_code="69.50.4013", description="d"),
        person=Person(given_name="A", family_name="B"),
    )
    referral.approve(actor=OFFICER, intake_deadline_days=30)
    assert referral.intake_deadline == date(2026, 2, 4)
