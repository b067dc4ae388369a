from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest

from aggregates.case import (
    Case,
    CaseClosedError,
    DuplicateWarrantError,
    FilingDateError,
    IncidentAfterFilingError,
    NoChargesError,
    UnknownWarrantError,
    WarrantAlreadyQuashedError,
)
from events.base import Actor, Role
from events.case import (
    CaseOpened,
    CaseOrigin,
    Charge,
    ChargingDecision,
    ChargingDecisionRecorded,
    Disposition,
    DispositionRecorded,
    HearingScheduled,
    LiaisonRecommendationRecorded,
    Severity,
    WarrantIssued,
    WarrantQuashed,
)
from infra.postgres.mapper import JSONBytesTranscoder, PydanticMapper
from tests.factories import OFFICER

LIAISON = Actor(
    principal="dpa.nguyen",
    role=Role.LIAISON_PROSECUTOR,
    organisation="King County Prosecuting Attorney's Office",
)
PERSON = uuid4()
ENROLLED_ON = date(2024, 3, 1)
POSSESSION = Charge(
    statute_code="69.50.4013",
    description="possession of a controlled substance",
    severity=Severity.FELONY,
    nibrs_code="35A",
)
TRESPASS = Charge(
    statute_code="9A.52.080",
    description="criminal trespass in the second degree",
    severity=Severity.MISDEMEANOR,
    nibrs_code="90J",
)
HEARING_AT = datetime(2024, 5, 6, 16, 30, tzinfo=UTC)


def open_case(**overrides: Any) -> Case:
    kwargs: dict[str, Any] = {
        "actor": LIAISON,
        "person_id": PERSON,
        "case_number": "24-1-01234-5 SEA",
        "court": "King County Superior Court",
        "jurisdiction": "King County, WA",
        "incident_date": date(2024, 1, 10),
        "filing_date": date(2024, 4, 2),
        "charges": (POSSESSION, TRESPASS),
        "enrolled_on": ENROLLED_ON,
        **overrides,
    }
    case = Case.open(**kwargs)
    case.collect_events()
    return case


def disposed_case() -> Case:
    case = open_case()
    case.issue_warrant(
        actor=LIAISON, warrant_id="W-1", issued_on=date(2024, 4, 20), court=case.court
    )
    case.record_disposition(
        actor=LIAISON, disposition=Disposition.DISMISSED, disposed_on=date(2024, 6, 1)
    )
    case.collect_events()
    return case


# Opening: the origin comes from the dates, and both dates are kept.


def test_a_filing_after_enrollment_about_an_earlier_incident_is_post_enrollment() -> None:
    case = Case.open(
        actor=LIAISON,
        person_id=PERSON,
        case_number="24-1-01234-5 SEA",
        court="King County Superior Court",
        jurisdiction="King County, WA",
        incident_date=date(2024, 1, 10),
        filing_date=date(2024, 4, 2),
        charges=[POSSESSION],
        enrolled_on=ENROLLED_ON,
    )
    [event] = case.collect_events()
    assert isinstance(event, CaseOpened)
    assert event.origin is CaseOrigin.POST_ENROLLMENT
    assert event.incident_date == date(2024, 1, 10)
    assert event.filing_date == date(2024, 4, 2)
    assert event.person_id == PERSON
    assert event.actor == LIAISON
    assert event.charges == (POSSESSION,)
    assert case.origin is CaseOrigin.POST_ENROLLMENT
    assert case.incident_date == date(2024, 1, 10)


@pytest.mark.parametrize(
    ("filing_date", "enrolled_on", "origin"),
    [
        (date(2024, 2, 28), ENROLLED_ON, CaseOrigin.PRE_EXISTING),
        (ENROLLED_ON, ENROLLED_ON, CaseOrigin.POST_ENROLLMENT),
        (date(2024, 4, 2), None, CaseOrigin.PRE_EXISTING),
        (None, ENROLLED_ON, CaseOrigin.PRE_EXISTING),
    ],
    ids=["filed-before-enrollment", "filed-on-enrollment-day", "not-enrolled", "not-filed"],
)
def test_the_origin_follows_the_filing_and_enrollment_dates(
    filing_date: date | None, enrolled_on: date | None, origin: CaseOrigin
) -> None:
    case = open_case(filing_date=filing_date, enrolled_on=enrolled_on)
    assert case.origin is origin
    assert case.filing_date == filing_date


def test_a_case_cannot_be_filed_before_its_incident() -> None:
    with pytest.raises(IncidentAfterFilingError, match="on or after the incident date"):
        open_case(incident_date=date(2024, 4, 3), filing_date=date(2024, 4, 2))


def test_a_case_needs_at_least_one_charge() -> None:
    with pytest.raises(NoChargesError, match="at least one charge"):
        open_case(charges=())


# Warrants.


def test_a_warrant_is_outstanding_until_quashed() -> None:
    case = open_case()
    case.issue_warrant(
        actor=LIAISON, warrant_id="W-1", issued_on=date(2024, 4, 20), court=case.court
    )
    assert case.outstanding_warrants == ("W-1",)
    case.quash_warrant(actor=LIAISON, warrant_id="W-1", quashed_on=date(2024, 4, 25))
    assert not case.outstanding_warrants
    issued, quashed = case.collect_events()
    assert isinstance(issued, WarrantIssued)
    assert isinstance(quashed, WarrantQuashed)
    assert issued.person_id == quashed.person_id == PERSON
    assert quashed.quashed_on == date(2024, 4, 25)


def test_a_warrant_cannot_be_quashed_twice() -> None:
    case = open_case()
    case.issue_warrant(
        actor=LIAISON, warrant_id="W-1", issued_on=date(2024, 4, 20), court=case.court
    )
    case.quash_warrant(actor=LIAISON, warrant_id="W-1", quashed_on=date(2024, 4, 25))
    case.collect_events()
    with pytest.raises(WarrantAlreadyQuashedError, match="already quashed on 2024-04-25"):
        case.quash_warrant(actor=LIAISON, warrant_id="W-1", quashed_on=date(2024, 4, 26))
    assert case.collect_events() == []


def test_an_unknown_warrant_cannot_be_quashed() -> None:
    case = open_case()
    with pytest.raises(UnknownWarrantError, match="no warrant W-9"):
        case.quash_warrant(actor=LIAISON, warrant_id="W-9", quashed_on=date(2024, 4, 25))
    assert case.collect_events() == []


def test_a_warrant_id_is_issued_once() -> None:
    case = open_case()
    case.issue_warrant(
        actor=LIAISON, warrant_id="W-1", issued_on=date(2024, 4, 20), court=case.court
    )
    with pytest.raises(DuplicateWarrantError, match="already issued"):
        case.issue_warrant(
            actor=LIAISON, warrant_id="W-1", issued_on=date(2024, 4, 21), court=case.court
        )


# Charging decisions.


def test_a_decision_to_file_sets_the_filing_date() -> None:
    case = open_case(filing_date=None)
    case.record_charging_decision(
        actor=LIAISON,
        decision=ChargingDecision.FILED,
        decided_on=date(2024, 4, 1),
        filing_date=date(2024, 4, 2),
        note="Filed after the referral was returned.",
    )
    assert case.filing_date == date(2024, 4, 2)
    assert case.charging_decision is ChargingDecision.FILED
    [event] = case.collect_events()
    assert isinstance(event, ChargingDecisionRecorded)
    assert event.filing_date == date(2024, 4, 2)


def test_a_decision_other_than_filing_leaves_the_case_unfiled() -> None:
    case = open_case(filing_date=None)
    case.record_charging_decision(
        actor=LIAISON, decision=ChargingDecision.DECLINED, decided_on=date(2024, 4, 1)
    )
    assert case.charging_decision is ChargingDecision.DECLINED
    assert case.filing_date is None


def test_a_decision_to_file_needs_a_filing_date() -> None:
    case = open_case(filing_date=None)
    with pytest.raises(FilingDateError, match="needs the date"):
        case.record_charging_decision(
            actor=LIAISON, decision=ChargingDecision.FILED, decided_on=date(2024, 4, 1)
        )
    assert case.collect_events() == []


def test_only_a_decision_to_file_has_a_filing_date() -> None:
    case = open_case(filing_date=None)
    with pytest.raises(FilingDateError, match="'more_evidence_needed' decision"):
        case.record_charging_decision(
            actor=LIAISON,
            decision=ChargingDecision.MORE_EVIDENCE_NEEDED,
            decided_on=date(2024, 4, 1),
            filing_date=date(2024, 4, 2),
        )


def test_a_decision_cannot_file_before_the_incident() -> None:
    case = open_case(incident_date=date(2024, 1, 10), filing_date=None)
    with pytest.raises(IncidentAfterFilingError):
        case.record_charging_decision(
            actor=LIAISON,
            decision=ChargingDecision.FILED,
            decided_on=date(2024, 1, 9),
            filing_date=date(2024, 1, 9),
        )
    assert case.filing_date is None


# Recommendation, hearing, disposition.


def test_recommendation_hearing_and_disposition_are_recorded() -> None:
    case = open_case()
    case.record_liaison_recommendation(
        actor=LIAISON,
        recommendation="Engaged with case management; recommend dismissal.",
        recommended_on=date(2024, 5, 1),
    )
    case.schedule_hearing(actor=LIAISON, hearing_at=HEARING_AT, kind="pretrial", court=case.court)
    case.record_disposition(
        actor=LIAISON, disposition=Disposition.DISMISSED, disposed_on=date(2024, 5, 6)
    )
    recommended, hearing, disposed = case.collect_events()
    assert isinstance(recommended, LiaisonRecommendationRecorded)
    assert isinstance(hearing, HearingScheduled)
    assert isinstance(disposed, DispositionRecorded)
    assert case.recommendation == "Engaged with case management; recommend dismissal."
    assert [h.at for h in case.hearings] == [HEARING_AT]
    assert case.disposition is Disposition.DISMISSED
    assert case.closed


CLOSED_CASE_COMMANDS: dict[str, Callable[[Case], None]] = {
    "warrant": lambda case: case.issue_warrant(
        actor=LIAISON, warrant_id="W-2", issued_on=date(2024, 6, 2), court=case.court
    ),
    "decision": lambda case: case.record_charging_decision(
        actor=LIAISON, decision=ChargingDecision.DECLINED, decided_on=date(2024, 6, 2)
    ),
    "hearing": lambda case: case.schedule_hearing(
        actor=LIAISON, hearing_at=HEARING_AT, kind="review", court=case.court
    ),
    "second disposition": lambda case: case.record_disposition(
        actor=LIAISON, disposition=Disposition.CONVICTED, disposed_on=date(2024, 6, 2)
    ),
    "recommendation": lambda case: case.record_liaison_recommendation(
        actor=LIAISON, recommendation="Reopen.", recommended_on=date(2024, 6, 2)
    ),
}


@pytest.mark.parametrize("command", CLOSED_CASE_COMMANDS.values(), ids=CLOSED_CASE_COMMANDS)
def test_a_closed_case_refuses_changes_and_records_nothing(
    command: Callable[[Case], None],
) -> None:
    case = disposed_case()
    with pytest.raises(CaseClosedError, match=r"closed by a disposition \(dismissed\)"):
        command(case)
    assert case.collect_events() == []
    assert case.disposition is Disposition.DISMISSED


def test_a_warrant_left_outstanding_can_still_be_quashed_after_the_disposition() -> None:
    case = disposed_case()
    case.quash_warrant(actor=OFFICER, warrant_id="W-1", quashed_on=date(2024, 6, 3))
    assert case.outstanding_warrants == ()


# Replay and storage.


def full_history() -> list[Any]:
    case = Case.open(
        actor=LIAISON,
        person_id=PERSON,
        case_number="24-1-01234-5 SEA",
        court="King County Superior Court",
        jurisdiction="King County, WA",
        incident_date=date(2024, 1, 10),
        charges=[POSSESSION],
        enrolled_on=ENROLLED_ON,
    )
    case.issue_warrant(
        actor=LIAISON, warrant_id="W-1", issued_on=date(2024, 2, 1), court=case.court
    )
    case.quash_warrant(actor=LIAISON, warrant_id="W-1", quashed_on=date(2024, 2, 5))
    case.record_charging_decision(
        actor=LIAISON,
        decision=ChargingDecision.FILED,
        decided_on=date(2024, 4, 1),
        filing_date=date(2024, 4, 2),
    )
    case.record_liaison_recommendation(
        actor=LIAISON, recommendation="Recommend diversion.", recommended_on=date(2024, 4, 9)
    )
    case.schedule_hearing(
        actor=LIAISON, hearing_at=HEARING_AT, kind="arraignment", court=case.court
    )
    case.record_disposition(
        actor=LIAISON, disposition=Disposition.DIVERTED, disposed_on=date(2024, 5, 6)
    )
    return [case, *case.collect_events()]


def test_replaying_the_events_gives_the_same_case() -> None:
    case, *events = full_history()
    assert len(events) == 7
    assert all(event.person_id == PERSON for event in events)
    replayed = events[0].mutate(None)
    for event in events[1:]:
        replayed = event.mutate(replayed)
    assert replayed == case
    assert replayed.filing_date == date(2024, 4, 2)


def test_every_case_event_survives_the_store_round_trip() -> None:
    mapper = PydanticMapper(transcoder=JSONBytesTranscoder())
    _, *events = full_history()
    for event in events:
        assert mapper.to_domain_event(mapper.to_stored_event(event)) == event
