from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from aggregates.base import DomainError
from aggregates.referral import (
    CapacityExhaustedError,
    IntakeAfterDeadlineError,
    IntakeDeadlineNotPassedError,
    Referral,
    ReferralStateError,
    ReleaseOfInformationMissingError,
)
from events.policy import VerificationSource
from events.referral import (
    EligibilityDecided,
    Incident,
    IntakeCompleted,
    IntakeDeadlineLapsed,
    Pathway,
    Person,
    ReferralReceived,
    Referrer,
    ScreeningFacts,
    WithdrawalKind,
)
from tests.factories import OFFICER, POLICY, referrer_of

REFERRED_AT = datetime(2026, 3, 2, 22, 15, tzinfo=UTC)


def receive(
    pathway: Pathway = Pathway.ARREST_DIVERSION,
    offense: str = "69.50.4013",
    facts: ScreeningFacts | None = None,
    **kwargs: object,
) -> Referral:
    return Referral.receive(
        actor=referrer_of(pathway),
        pathway=pathway,
        policy=POLICY,
        referrer=Referrer(principal="officer.reyes", organisation="Seattle PD"),
        incident=Incident(offense_code=offense, description="the incident"),
        person=Person(given_name="Ann", family_name="Doe", birth_date=date(1980, 5, 1)),
        facts=facts,
        occurred_at=REFERRED_AT,
        **kwargs,  # type: ignore[arg-type]
    )


def approved(pathway: Pathway = Pathway.ARREST_DIVERSION, **kwargs: object) -> Referral:
    referral = receive(pathway, **kwargs)  # type: ignore[arg-type]
    referral.approve(actor=OFFICER, intake_deadline_days=14)
    referral.collect_events()
    return referral


def test_a_referral_is_recorded_and_screened_against_the_policy_in_force() -> None:
    referral = receive()
    received, decided = referral.collect_events()
    assert isinstance(received, ReferralReceived)
    assert received.actor == OFFICER
    assert isinstance(decided, EligibilityDecided)
    assert decided.eligible and decided.reasons == () and decided.policy_version == 1
    assert referral.status == "eligible"


def test_a_new_person_gets_a_new_id_and_a_known_person_keeps_theirs() -> None:
    known = uuid4()
    assert receive(person_id=known).person_id == known
    assert receive().person_id != receive().person_id


def test_an_excluded_referral_lists_every_reason() -> None:
    referral = receive(
        offense="9A.36.021",
        facts=ScreeningFacts(
            drug_grams=7.5, delivery_beyond_subsistence=True, pending_specialty_court=True
        ),
    )
    decided = referral.collect_events()[1]
    assert isinstance(decided, EligibilityDecided)
    assert not decided.eligible
    assert decided.reasons == (
        "offense 9A.36.021 is not a divertible offense under the policy",
        "drug quantity 7.5 g is above the 3 g threshold",
        "delivery or possession with intent beyond subsistence",
        "pending drug-court or mental-health-court case",
    )
    assert referral.status == "excluded"
    with pytest.raises(ReferralStateError, match="the referral is excluded"):
        referral.approve(actor=OFFICER, intake_deadline_days=14)


def test_social_contact_needs_verified_recent_involvement_in_the_program_area() -> None:
    ok = receive(
        Pathway.SOCIAL_CONTACT,
        facts=ScreeningFacts(
            prior_contact_verified_by=VerificationSource.OFFICER_OBSERVATION,
            prior_contact_on=date(2025, 6, 1),
            program_area="Belltown",
        ),
    )
    assert ok.status == "eligible"
    stale = receive(
        Pathway.SOCIAL_CONTACT,
        facts=ScreeningFacts(
            prior_contact_verified_by=VerificationSource.CRIMINAL_HISTORY,
            prior_contact_on=date(2023, 1, 1),
            program_area="Ballard",
        ),
    )
    assert stale.reasons == (
        "prior involvement on 2023-01-01 is outside the 24-month look-back",
        "outside the program area (accepted: Belltown, Downtown)",
    )


def test_arrest_diversion_approval_sets_the_intake_deadline_from_the_policy() -> None:
    referral = approved()
    assert referral.intake_deadline == date(2026, 3, 16)
    assert approved(Pathway.COMMUNITY).intake_deadline is None


def test_community_referrals_wait_while_capacity_is_exhausted() -> None:
    referral = receive(Pathway.COMMUNITY)
    referral.collect_events()
    with pytest.raises(CapacityExhaustedError, match="behind arrest diversions"):
        referral.approve(actor=OFFICER, intake_deadline_days=14, capacity_left=0)
    assert referral.collect_events() == []
    arrest = receive()
    arrest.approve(actor=OFFICER, intake_deadline_days=14, capacity_left=0)
    assert arrest.status == "approved"


def test_warm_handoff_records_minutes_to_the_case_managers_arrival() -> None:
    referral = approved()
    referral.complete_warm_handoff(
        actor=OFFICER, case_manager="cm.ortiz", arrived_at=REFERRED_AT + timedelta(minutes=25)
    )
    [handoff] = referral.collect_events()
    assert handoff.minutes_to_arrival == 25  # type: ignore[attr-defined]
    with pytest.raises(ReferralStateError, match="arrest diversion only"):
        approved(Pathway.COMMUNITY).complete_warm_handoff(
            actor=OFFICER, case_manager="cm", arrived_at=REFERRED_AT
        )


def test_intake_with_a_signed_release_enrolls_and_needs_the_release() -> None:
    referral = approved()
    with pytest.raises(ReleaseOfInformationMissingError):
        referral.complete_intake(
            actor=OFFICER,
            completed_on=date(2026, 3, 10),
            case_manager="cm.ortiz",
            consent_id=None,
            participant_id=uuid4(),
        )
    assert referral.collect_events() == []
    referral.complete_intake(
        actor=OFFICER,
        completed_on=date(2026, 3, 10),
        case_manager="cm.ortiz",
        consent_id=uuid4(),
        participant_id=uuid4(),
    )
    [completed] = referral.collect_events()
    assert isinstance(completed, IntakeCompleted)
    assert referral.status == "enrolled"


def test_intake_after_the_deadline_is_refused_and_the_referral_lapses_to_the_prosecutor() -> None:
    referral = approved()
    with pytest.raises(IntakeAfterDeadlineError, match="returns to the prosecutor"):
        referral.complete_intake(
            actor=OFFICER,
            completed_on=date(2026, 3, 17),
            case_manager="cm",
            consent_id=uuid4(),
            participant_id=uuid4(),
        )
    with pytest.raises(IntakeDeadlineNotPassedError):
        referral.lapse(actor=OFFICER, on=date(2026, 3, 16))
    referral.lapse(actor=OFFICER, on=date(2026, 3, 17))
    [lapsed] = referral.collect_events()
    assert isinstance(lapsed, IntakeDeadlineLapsed)
    assert lapsed.returned_to_prosecutor and lapsed.deadline == date(2026, 3, 16)
    assert referral.status == "lapsed"


def test_the_person_may_decline_before_enrollment_but_an_enrolled_person_exits_instead() -> None:
    referral = approved()
    referral.withdraw(actor=OFFICER, kind=WithdrawalKind.DECLINED)
    assert referral.status == "withdrawn"
    enrolled = approved()
    enrolled.complete_intake(
        actor=OFFICER,
        completed_on=date(2026, 3, 10),
        case_manager="cm",
        consent_id=uuid4(),
        participant_id=uuid4(),
    )
    with pytest.raises(DomainError, match="record their exit as a participant"):
        enrolled.withdraw(actor=OFFICER, kind=WithdrawalKind.WITHDREW)


def test_replaying_the_events_gives_the_same_referral() -> None:
    referral = receive()
    referral.approve(actor=OFFICER, intake_deadline_days=14)
    events = referral.collect_events()
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed == referral
