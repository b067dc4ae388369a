"""The site generator, in memory: it enrolls what was asked, by the rules, reproducibly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from aggregates.caseload import Caseload, caseload_id
from aggregates.referral import Referral
from events.base import DomainEvent
from events.case import CaseOrigin, ChargingDecisionRecorded
from events.participant import CaseloadOpened, ParticipantEnrolled
from events.policy import PolicyAdopted, PolicyAmended
from services import commands as c
from services.application import LeadApplication
from services.tools.demo.steps import SeedReport, seed_site
from tests.factories import POLICY_TERMS
from tests.scenario import ADMIN
from tests.unit.test_api_validation import IN_MEMORY

PARTICIPANTS = 12
MONTHS = 6


def all_events(app: LeadApplication) -> list[DomainEvent]:
    notifications = app.recorder.select_notifications(start=1, limit=100_000)
    return [app.mapper.to_domain_event(n) for n in notifications]  # type: ignore[misc]


def seeded(seed: int) -> tuple[LeadApplication, SeedReport, list[tuple[int, int]]]:
    app = LeadApplication(env=IN_MEMORY)
    calls: list[tuple[int, int]] = []
    report = seed_site(
        app,
        participants=PARTICIPANTS,
        months=MONTHS,
        seed=seed,
        progress=lambda done, total: calls.append((done, total)),
    )
    return app, report, calls


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[LeadApplication, SeedReport, list[tuple[int, int]]]]:
    app, report, calls = seeded(0)
    yield app, report, calls
    app.close()


def test_a_small_site_enrolls_exactly_the_participants_asked_for(
    site: tuple[LeadApplication, SeedReport, list[tuple[int, int]]],
) -> None:
    _, report, _ = site
    assert report.enrolled == PARTICIPANTS
    assert report.consents == PARTICIPANTS  # one release of information per intake
    outcomes = (report.enrolled, report.excluded, report.declined)
    assert report.referrals == sum(outcomes) + report.withdrawn + report.lapsed


def test_every_outcome_appears(
    site: tuple[LeadApplication, SeedReport, list[tuple[int, int]]],
) -> None:
    _, report, _ = site
    assert report.lapsed > 0
    assert report.excluded > 0
    assert report.declined + report.withdrawn > 0
    assert report.contacts > 0
    assert report.cases > 0
    assert report.filings > 0
    assert report.exits > 0
    assert report.revocations > 0


def test_the_adopted_policy_starts_a_year_before_the_period(
    site: tuple[LeadApplication, SeedReport, list[tuple[int, int]]],
) -> None:
    app, _, _ = site
    adopted = [e for e in all_events(app) if isinstance(e, PolicyAdopted)]
    assert len(adopted) == 1
    terms = adopted[0].terms
    assert (date.today() - terms.effective_from).days >= 365 + 30 * MONTHS
    assert terms.caseload.hard_cap == 25


def test_every_enrolled_persons_referral_is_enrolled(
    site: tuple[LeadApplication, SeedReport, list[tuple[int, int]]],
) -> None:
    app, _, _ = site
    enrolled = [e for e in all_events(app) if isinstance(e, ParticipantEnrolled)]
    assert len(enrolled) == PARTICIPANTS
    for event in enrolled:
        referral: object = app.repository.get(event.referral_id)
        assert isinstance(referral, Referral)
        assert referral.status == "enrolled"
        assert referral.person_id == event.person_id


def test_no_caseload_is_over_the_hard_cap(
    site: tuple[LeadApplication, SeedReport, list[tuple[int, int]]],
) -> None:
    app, _, _ = site
    _, terms = app.policy_in_force(date.today())
    managers = [e.case_manager for e in all_events(app) if isinstance(e, CaseloadOpened)]
    assert managers == ["cm.01"]  # ceil(12 / 15) case managers
    for manager in managers:
        caseload: object = app.repository.get(caseload_id(manager))
        assert isinstance(caseload, Caseload)
        assert 0 < caseload.size <= terms.caseload.hard_cap


def test_everything_happened_in_the_past_with_a_time_zone(
    site: tuple[LeadApplication, SeedReport, list[tuple[int, int]]],
) -> None:
    app, _, _ = site
    now = datetime.now(UTC)
    for event in all_events(app):
        assert event.occurred_at.tzinfo is not None
        assert event.occurred_at <= now


def test_filings_after_enrollment_are_post_enrollment(
    site: tuple[LeadApplication, SeedReport, list[tuple[int, int]]],
) -> None:
    app, report, _ = site
    filed = [
        e
        for e in all_events(app)
        if isinstance(e, ChargingDecisionRecorded) and e.filing_date is not None
    ]
    assert len(filed) == report.filings
    assert {e.origin for e in filed} == {CaseOrigin.POST_ENROLLMENT}


def test_events_counts_what_the_run_recorded(
    site: tuple[LeadApplication, SeedReport, list[tuple[int, int]]],
) -> None:
    app, report, _ = site
    assert report.events == app.recorder.max_notification_id()


def test_progress_is_reported_after_each_participant(
    site: tuple[LeadApplication, SeedReport, list[tuple[int, int]]],
) -> None:
    _, _, calls = site
    assert calls == [(done, PARTICIPANTS) for done in range(1, PARTICIPANTS + 1)]


def test_the_same_seed_gives_the_same_report_and_another_seed_another(
    site: tuple[LeadApplication, SeedReport, list[tuple[int, int]]],
) -> None:
    _, report, _ = site
    again, same, _ = seeded(0)
    other, different, _ = seeded(1)
    again.close()
    other.close()
    assert same == report
    assert different != report
    assert different.enrolled == PARTICIPANTS


def test_a_site_that_has_a_policy_keeps_it() -> None:
    app = LeadApplication(env=IN_MEMORY)
    app.adopt_policy(c.AdoptPolicy(terms=POLICY_TERMS), ADMIN)
    report = seed_site(app, participants=PARTICIPANTS, months=2, seed=3)
    events = all_events(app)
    app.close()
    assert report.enrolled == PARTICIPANTS
    assert sum(isinstance(e, PolicyAdopted | PolicyAmended) for e in events) == 1
    assert report.events == len(events) - 1


def test_an_empty_site_records_nothing_but_the_policy() -> None:
    app = LeadApplication(env=IN_MEMORY)
    report = seed_site(app, participants=0, months=3)
    app.close()
    nothing = SeedReport(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, events=1)  # the adopted policy
    assert report == nothing


@pytest.mark.parametrize(("participants", "months"), [(-1, 6), (5, 0)])
def test_nonsense_sizes_are_refused(participants: int, months: int) -> None:
    app = LeadApplication(env=IN_MEMORY)
    with pytest.raises(ValueError):
        seed_site(app, participants=participants, months=months)
    app.close()
