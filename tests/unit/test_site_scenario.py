"""The application service end to end, in memory: every use case, every event type."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aggregates.base import DomainError
from aggregates.caseload import CaseloadCapReachedError
from aggregates.participant import DisclosureWithoutConsentError
from events.base import DomainEvent, Role
from events.case import CaseOrigin
from events.consent import InformationKind
from events.registry import EVENT_CLASSES
from services import commands as c
from services.application import LeadApplication
from services.errors import ConcurrencyError
from tests import scenario
from tests.unit.test_api_validation import IN_MEMORY


@pytest.fixture
def app() -> Iterator[LeadApplication]:
    application = LeadApplication(env=IN_MEMORY)
    yield application
    application.close()


def all_events(app: LeadApplication) -> list[DomainEvent]:
    notifications = app.recorder.select_notifications(start=1, limit=10_000)
    return [app.mapper.to_domain_event(n) for n in notifications]  # type: ignore[misc]


def test_the_scenario_records_every_event_type(app: LeadApplication) -> None:
    scenario.run(app)
    recorded = {type(e) for e in all_events(app)}
    assert set(EVENT_CLASSES) - recorded == set()


def test_every_event_names_its_actor_and_both_times(app: LeadApplication) -> None:
    scenario.run(app)
    for event in all_events(app):
        assert event.actor.principal and event.actor.organisation
        assert event.occurred_at.tzinfo is not None and event.timestamp.tzinfo is not None


def test_post_enrollment_filing_keeps_its_earlier_incident_date(app: LeadApplication) -> None:
    site = scenario.run(app)
    new = app.repository.get(site.cases["post_enrollment"])
    old = app.repository.get(site.cases["pre_existing"])
    assert new.origin is CaseOrigin.POST_ENROLLMENT  # filed after enrollment
    assert new.incident_date < site.enrolled_on
    assert old.origin is CaseOrigin.PRE_EXISTING


def test_disclosure_is_answered_by_the_consent_in_force(app: LeadApplication) -> None:
    site = scenario.run(app)
    assert site.enrolled_person is not None
    question = c.DisclosureQuestion(
        person_id=site.enrolled_person,
        recipient_organisation="King County Prosecutor",
        recipient_role=Role.LIAISON_PROSECUTOR,
        kind=InformationKind.LEGAL_STATUS,
    )
    consent = app.consent_for_disclosure(question)
    assert consent is not None and consent.id == site.prosecutor_consent
    health = question.model_copy(update={"kind": InformationKind.HEALTH})
    assert app.consent_for_disclosure(health) is None  # never granted to prosecutors
    police = question.model_copy(
        update={"recipient_role": Role.OFFICER, "recipient_organisation": "Seattle PD"}
    )
    assert app.consent_for_disclosure(police) is None


def test_a_progress_summary_without_consent_is_refused_and_nothing_recorded(
    app: LeadApplication,
) -> None:
    site = scenario.run(app)
    assert site.enrolled_person is not None
    before = app.recorder.max_notification_id()
    with pytest.raises(DisclosureWithoutConsentError):
        app.share_progress_summary(
            site.enrolled_person,
            c.ShareProgressSummary(
                recipient_organisation="Seattle PD",
                recipient_role=Role.OFFICER,
                summary="doing well",
            ),
            scenario.CM,
        )
    assert app.recorder.max_notification_id() == before


def test_the_caseload_hard_cap_is_enforced_across_participants(app: LeadApplication) -> None:
    small = scenario.POLICY_TERMS.model_copy(
        update={
            "caseload": scenario.POLICY_TERMS.caseload.model_copy(
                update={"target": 1, "warning": 1, "hard_cap": 2}
            )
        }
    )
    app.adopt_policy(c.AdoptPolicy(terms=small), scenario.ADMIN)
    receipts = []
    for n in range(3):
        r = app.receive_referral(
            scenario.referral(scenario.Pathway.ARREST_DIVERSION, n, days_ago=1), scenario.OFFICER
        )
        app.approve_referral(r.id, c.ApproveReferral(), scenario.PM)
        assert r.person_id is not None
        consent = app.grant_consent(
            c.GrantConsent(
                person_id=r.person_id,
                disclosing_party="REACH",
                recipients=(
                    scenario.Recipient(kind=scenario.RecipientKind.ROLE, name="case_manager"),
                ),
                purpose="case management",
                information_kinds=(InformationKind.PROGRAM_STATUS,),
                signature_method=scenario.SignatureMethod.VERBAL,
                signed_at=scenario.datetime.now(scenario.UTC),
                expiration_event="exit from LEAD",
            ),
            scenario.CM,
        )
        intake = c.CompleteIntake(
            completed_on=scenario.date.today(), case_manager="cm.full", consent_id=consent.id
        )
        receipts.append((r, intake))
    first = app.complete_intake(receipts[0][0].id, receipts[0][1], scenario.CM)
    assert first.warnings == ()
    second = app.complete_intake(receipts[1][0].id, receipts[1][1], scenario.CM)
    assert second.warnings and "above the warning level of 1" in second.warnings[0]
    before = app.recorder.max_notification_id()
    with pytest.raises(CaseloadCapReachedError, match="the cap is 2"):
        app.complete_intake(receipts[2][0].id, receipts[2][1], scenario.CM)
    assert app.recorder.max_notification_id() == before  # the referral is not enrolled either
    assert app.repository.get(receipts[2][0].id).status == "approved"


def test_a_referral_before_any_policy_is_refused(app: LeadApplication) -> None:
    with pytest.raises(DomainError, match="no site policy has been adopted yet"):
        app.receive_referral(
            scenario.referral(scenario.Pathway.COMMUNITY, 1, days_ago=0), scenario.OUTREACH
        )


def test_a_concurrent_edit_is_refused_with_reload_and_retry(app: LeadApplication) -> None:
    site = scenario.run(app)
    assert site.enrolled_person is not None
    first = app.participant(site.enrolled_person)
    second = app.participant(site.enrolled_person)  # a stale copy, loaded at the same time
    first.set_goal(actor=scenario.CM, text="see a dentist", domain=scenario.GoalDomain.HEALTH)
    app._save(first)
    second.set_goal(
        actor=scenario.CM, text="open a bank account", domain=scenario.GoalDomain.INCOME
    )
    with pytest.raises(ConcurrencyError, match="reload it and retry"):
        app._save(second)
    texts = [g.text for g in app.participant(site.enrolled_person).goals.values()]
    assert "see a dentist" in texts and "open a bank account" not in texts


def test_community_referrals_wait_when_the_program_is_full(app: LeadApplication) -> None:
    full = scenario.POLICY_TERMS.model_copy(update={"program_capacity": 1})
    app.adopt_policy(c.AdoptPolicy(terms=full), scenario.ADMIN)
    first = app.receive_referral(
        scenario.referral(scenario.Pathway.ARREST_DIVERSION, 1, days_ago=1), scenario.OFFICER
    )
    app.approve_referral(first.id, c.ApproveReferral(), scenario.PM)
    assert app.capacity_left() == 1
    assert first.person_id is not None
    consent = app.grant_consent(
        c.GrantConsent(
            person_id=first.person_id,
            disclosing_party="REACH",
            recipients=(scenario.Recipient(kind=scenario.RecipientKind.ROLE, name="case_manager"),),
            purpose="case management",
            information_kinds=(InformationKind.PROGRAM_STATUS,),
            signature_method=scenario.SignatureMethod.VERBAL,
            signed_at=scenario.datetime.now(scenario.UTC),
            expiration_event="exit",
        ),
        scenario.CM,
    )
    app.complete_intake(
        first.id,
        c.CompleteIntake(
            completed_on=scenario.date.today(), case_manager="cm.ortiz", consent_id=consent.id
        ),
        scenario.CM,
    )
    assert app.capacity_left() == 0

    community = app.receive_referral(
        scenario.referral(scenario.Pathway.COMMUNITY, 2, days_ago=0), scenario.OUTREACH
    )
    with pytest.raises(DomainError, match="wait in the queue behind arrest diversions"):
        app.approve_referral(community.id, c.ApproveReferral(), scenario.PM)
    arrest = app.receive_referral(
        scenario.referral(scenario.Pathway.ARREST_DIVERSION, 3, days_ago=0), scenario.OFFICER
    )
    app.approve_referral(arrest.id, c.ApproveReferral(), scenario.PM)  # arrests go first
    app.exit_participant(
        first.person_id,
        c.ExitParticipant(exited_on=scenario.date.today(), reason=scenario.ExitReason.GRADUATED),
        scenario.CM,
    )
    assert app.capacity_left() == 1
    app.approve_referral(community.id, c.ApproveReferral(), scenario.PM)  # a place opened
