"""The OWG agenda projection, fed a realistic site's events, without a database.

The facts are applied to the in-memory table model of the queue tests (it honours
the store's guards and checks every column), and the agenda is assembled from all
of them by `assemble_agenda`, the pure function `agenda` hands its rows to; its
answers are compared with what the application's repository and event log say.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from aggregates.participant import Participant
from events.base import DomainEvent
from events.case import CaseOpened, CaseOrigin, ChargingDecision, ChargingDecisionRecorded
from events.participant import (
    EngagementStatus,
    ParticipantEnrolled,
    ParticipantExited,
    ParticipantReengaged,
    StatusChanged,
)
from events.referral import IntakeCompleted, ReferralApproved
from projections.agenda import queries as agenda
from projections.agenda.projection import (
    CASE_FACTS,
    PARTICIPANT_FACTS,
    REFERRAL_FACTS,
    SCHEMA,
    AgendaProjection,
)
from projections.agenda.queries import SECTIONS, assemble_agenda, check_period
from projections.base import Table, Upsert
from services.application import LeadApplication
from services.tools.demo.steps import seed_site
from tests import scenario
from tests.unit.test_api_validation import IN_MEMORY
from tests.unit.test_queue_projection import (
    Event,
    Opened,
    RecordingConnection,
    Tables,
    open_referrals,
    project,
    recorded,
    referrals_in,
)

Row = dict[str, Any]
Agenda = dict[str, list[dict[str, Any]]]
SECOND = timedelta(seconds=1)


def rows(tables: Tables, table: Table) -> list[Row]:
    """A table's rows as `SELECT *` returns them: a column never set is NULL."""
    return [{c: r.get(c) for c in table.columns} for r in tables[table.name]]


def read_agenda(tables: Tables, since: datetime, until: datetime) -> Agenda:
    """The agenda from every fact: a superset of what `agenda`'s queries select."""
    return assemble_agenda(
        referral_facts=rows(tables, REFERRAL_FACTS),
        participant_facts=rows(tables, PARTICIPANT_FACTS),
        case_facts=rows(tables, CASE_FACTS),
        since=since,
        until=until,
    )


def facts(app: LeadApplication) -> Tables:
    return project(AgendaProjection(), recorded(app))


def ids(items: Sequence[Row], key: str = "referral_id") -> list[UUID]:
    return [item[key] for item in items]


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def app() -> Iterator[LeadApplication]:
    application = LeadApplication(env=IN_MEMORY)
    yield application
    application.close()


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[LeadApplication, Opened, list[Event]]]:
    application = LeadApplication(env=IN_MEMORY)
    seed_site(application, participants=20, months=3)
    opened = open_referrals(application)
    yield application, opened, recorded(application)
    application.close()


# -- the scenario ----------------------------------------------------------------------


def test_the_projection_follows_the_schema_convention() -> None:
    assert AgendaProjection.name == "agenda"
    assert SCHEMA == "proj_agenda"
    assert [t.name for t in AgendaProjection.tables] == [
        "referral_facts",
        "participant_facts",
        "case_facts",
    ]


def test_the_scenarios_last_two_days_on_the_agenda(app: LeadApplication) -> None:
    site = scenario.run(app)
    until = datetime.now(UTC) + SECOND
    today = until.date()
    result = read_agenda(facts(app), until - timedelta(days=2), until)
    assert tuple(result) == SECTIONS

    new = {r["referral_id"]: (r["pathway"], r["status"]) for r in result["new_referrals"]}
    assert new == {
        site.referrals["declined"]: ("social_contact", "declined"),
        site.referrals["excluded"]: ("community", "excluded"),
        site.referrals["withdrawn"]: ("arrest_diversion", "withdrawn"),
    }
    assert result["awaiting_intake"] == []
    [lapsed] = result["lapsed"]
    assert lapsed["referral_id"] == site.referrals["lapsed"]
    assert lapsed["pathway"] == "arrest_diversion"
    assert lapsed["intake_deadline"] == today - timedelta(days=20 - 14)
    assert result["in_the_wind"] == []  # the scenario's participant was inactive, not gone

    pre, post = site.cases["pre_existing"], site.cases["post_enrollment"]
    news = {(r["kind"], r["case_id"]) for r in result["new_filings_and_warrants"]}
    assert news == {
        ("case_opened", pre),
        ("warrant_issued", pre),
        ("case_opened", post),
        ("filed", post),
    }
    incident = {r["case_id"]: r["incident_date"] for r in result["new_filings_and_warrants"]}
    assert incident == {pre: today - timedelta(days=200), post: today - timedelta(days=30)}
    [warrant] = [r for r in result["new_filings_and_warrants"] if r["kind"] == "warrant_issued"]
    assert warrant["issued_on"] == today - timedelta(days=100)

    [filing] = result["post_enrollment_filings"]
    assert filing["case_id"] == post and filing["person_id"] == site.enrolled_person
    assert filing["incident_date"] == today - timedelta(days=30)  # before enrollment
    assert site.enrolled_on is not None and filing["incident_date"] < site.enrolled_on
    assert filing["filing_date"] == today
    assert filing["court"] == "King County Superior Court"
    assert filing["severity"] == "gross_misdemeanor"

    [exit_] = result["exits"]
    assert exit_["person_id"] == site.enrolled_person
    assert (exit_["exited_on"], exit_["reason"]) == (today, "moved_away")


def test_an_earlier_period_shows_each_referral_as_it_stood_then(app: LeadApplication) -> None:
    site = scenario.run(app)
    now = datetime.now(UTC)
    # The scenario approves, enrolls and lapses "now": 2.5 days ago both were only eligible.
    result = read_agenda(facts(app), now - timedelta(days=30), now - timedelta(days=2, hours=12))
    new = {r["referral_id"]: r["status"] for r in result["new_referrals"]}
    assert new == {site.referrals["enrolled"]: "eligible", site.referrals["lapsed"]: "eligible"}
    for section in SECTIONS[1:]:
        assert result[section] == [], section


# -- a seeded site ----------------------------------------------------------------------


def test_awaiting_intake_is_every_approved_referral_not_yet_closed(
    seeded: tuple[LeadApplication, Opened, list[Event]],
) -> None:
    app, opened, events = seeded
    until = datetime.now(UTC) + SECOND
    result = read_agenda(project(AgendaProjection(), events), until - timedelta(days=14), until)
    waiting = {
        i for i, r in referrals_in(app).items() if r.status in ("approved", "intake_scheduled")
    }
    assert set(ids(result["awaiting_intake"])) == waiting
    names = {v: k for k, v in opened.ids.items()}
    assert [names[i] for i in ids(result["awaiting_intake"])] == [
        "ad_overdue",
        "ad_due",
        "ad_scheduled",
        "sc_new",  # no deadline: approved before cm_old
        "cm_old",
    ]
    by_name = {names[r["referral_id"]]: r for r in result["awaiting_intake"]}
    assert by_name["ad_overdue"]["days_to_deadline"] == -2
    assert by_name["ad_scheduled"]["intake_scheduled_for"] is not None
    assert by_name["sc_new"]["intake_deadline"] is None


def test_the_whole_period_agrees_with_the_repository_and_the_log(
    seeded: tuple[LeadApplication, Opened, list[Event]],
) -> None:
    app, _, events = seeded
    until = datetime.now(UTC) + SECOND
    result = read_agenda(project(AgendaProjection(), events), until - timedelta(days=400), until)
    referrals = referrals_in(app)
    assert {r["referral_id"]: r["status"] for r in result["new_referrals"]} == {
        i: r.status for i, r in referrals.items()
    }
    assert set(ids(result["lapsed"])) == {i for i, r in referrals.items() if r.status == "lapsed"}
    assert result["lapsed"], "the seeded site lapses some referrals"
    exits = [e for _, e in events if isinstance(e, ParticipantExited)]
    assert sorted(ids(result["exits"], "participant_id")) == sorted(e.originator_id for e in exits)

    participants = [e.originator_id for _, e in events if isinstance(e, ParticipantEnrolled)]
    gone = set()
    for participant_id in participants:
        participant: object = app.repository.get(participant_id)
        assert isinstance(participant, Participant)
        if participant.status.value == "in_the_wind":
            gone.add(participant_id)
    assert set(ids(result["in_the_wind"], "participant_id")) == gone


def test_post_enrollment_filings_carry_their_cases_incident_date(
    seeded: tuple[LeadApplication, Opened, list[Event]],
) -> None:
    _, _, events = seeded
    until = datetime.now(UTC) + SECOND
    result = read_agenda(project(AgendaProjection(), events), until - timedelta(days=400), until)
    incident = {e.originator_id: e.incident_date for _, e in events if isinstance(e, CaseOpened)}
    filed = {
        e.originator_id: e.filing_date
        for _, e in events
        if isinstance(e, ChargingDecisionRecorded)
        and e.decision is ChargingDecision.FILED
        and e.origin is CaseOrigin.POST_ENROLLMENT
    }
    assert filed, "the seeded site has post-enrollment filings"
    post = result["post_enrollment_filings"]
    assert {r["case_id"]: r["filing_date"] for r in post} == filed
    for row in post:
        assert row["incident_date"] == incident[row["case_id"]]
        assert row["incident_date"] <= row["filing_date"]
    # Each is also among the new filings, with the same incident date.
    news = {(r["case_id"], r["incident_date"]) for r in result["new_filings_and_warrants"]}
    assert {(r["case_id"], r["incident_date"]) for r in post} <= news


def test_a_referral_awaits_intake_between_approval_and_intake_only(
    seeded: tuple[LeadApplication, Opened, list[Event]],
) -> None:
    _, _, events = seeded
    tables = project(AgendaProjection(), events)
    approved = {
        e.originator_id: e.occurred_at for _, e in events if isinstance(e, ReferralApproved)
    }
    [(referral_id, intake_at)] = [
        (e.originator_id, e.occurred_at) for _, e in events if isinstance(e, IntakeCompleted)
    ][:1]
    approved_at = approved[referral_id]
    assert approved_at + SECOND < intake_at

    def waiting(until: datetime) -> list[UUID]:
        return ids(read_agenda(tables, until - timedelta(days=1), until)["awaiting_intake"])

    assert referral_id not in waiting(approved_at)  # approval not yet happened (half-open)
    assert referral_id in waiting(approved_at + SECOND)
    assert referral_id in waiting(intake_at)
    assert referral_id not in waiting(intake_at + SECOND)


def test_in_the_wind_as_of_the_end_of_the_period(
    seeded: tuple[LeadApplication, Opened, list[Event]],
) -> None:
    _, _, events = seeded
    tables = project(AgendaProjection(), events)
    last: dict[UUID, DomainEvent] = {}
    for _, e in events:
        if isinstance(e, StatusChanged | ParticipantExited | ParticipantReengaged):
            last[e.originator_id] = e
    went = [
        (i, e.occurred_at)
        for i, e in last.items()
        if isinstance(e, StatusChanged) and e.status is EngagementStatus.IN_THE_WIND
    ]
    assert went, "the seeded site has someone still in the wind"
    participant_id, went_at = went[0]

    def wind(since: datetime, until: datetime) -> dict[UUID, Row]:
        result = read_agenda(tables, since, until)
        return {r["participant_id"]: r for r in result["in_the_wind"]}

    assert participant_id not in wind(went_at - timedelta(days=7), went_at)
    during = wind(went_at - timedelta(days=7), went_at + SECOND)
    assert during[participant_id]["in_the_wind_since"] == went_at
    assert during[participant_id]["new"] is True
    # A later meeting: still to look out for, no longer news.
    later = wind(went_at + SECOND, datetime.now(UTC))
    assert later[participant_id]["new"] is False
    assert later[participant_id]["in_the_wind_since"] == went_at


def test_every_event_delivered_twice_replayed_or_shuffled_gives_identical_facts(
    seeded: tuple[LeadApplication, Opened, list[Event]],
) -> None:
    _, _, events = seeded
    once = project(AgendaProjection(), events).snapshot()
    assert project(AgendaProjection(), events, times=2).snapshot() == once
    assert project(AgendaProjection(), [*events, *events]).snapshot() == once
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)
    assert project(AgendaProjection(), shuffled).snapshot() == once
    assert project(AgendaProjection(), events[::-1]).snapshot() == once


def test_no_names_notes_or_case_details_reach_any_row(app: LeadApplication) -> None:
    scenario.run(app)
    text = repr(facts(app).snapshot())
    for sensitive in (
        "Person1",  # the person's name
        "Example",
        "2nd & Bell",  # the incident's place
        "24-1-00001-1",  # case numbers
        "26-1-00002-2",
        "theft 3",  # charge description
        "W-1",  # warrant number
        "dismiss on LEAD engagement",  # the liaison's recommendation
        "already in another program",  # the decline reason
        "no contact for two weeks",  # status change reason
        "talked about shelter options",  # contact notes
        "officer.reyes",  # who referred or acted
        "cm.ortiz",
    ):
        assert sensitive not in text, sensitive


def test_every_fact_is_keyed_by_its_events_identity(app: LeadApplication) -> None:
    scenario.run(app)
    projection = AgendaProjection()
    for position, event in recorded(app):
        for change in projection.handle(event, position):
            assert isinstance(change, Upsert) and change.version is None
            assert list(change.key.values()) == [event.originator_id, event.originator_version]
            assert change.values["happened_at"] == event.occurred_at


# -- assembling, as a pure function -----------------------------------------------------

T0 = datetime(2024, 3, 1, 9, tzinfo=UTC)


def _day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def _fact(
    table: Table, key: str, subject: UUID, seq: int, kind: str, at: datetime, **v: Any
) -> Row:
    row: Row = dict.fromkeys(table.columns)
    row.update({key: subject, "seq": seq, "kind": kind, "happened_at": at, "person_id": PERSON})
    row.update(v)
    return row


PERSON = uuid4()


def referral_fact(subject: UUID, seq: int, kind: str, at: datetime, **v: Any) -> Row:
    return _fact(REFERRAL_FACTS, "referral_id", subject, seq, kind, at, **v)


def participant_fact(subject: UUID, seq: int, status: str, at: datetime, **v: Any) -> Row:
    kind = v.pop("kind", "status_changed")
    return _fact(PARTICIPANT_FACTS, "participant_id", subject, seq, kind, at, status=status, **v)


def case_fact(subject: UUID, seq: int, kind: str, at: datetime, **v: Any) -> Row:
    return _fact(CASE_FACTS, "case_id", subject, seq, kind, at, **v)


def assemble(
    since: datetime,
    until: datetime,
    referrals: Sequence[Row] = (),
    participants: Sequence[Row] = (),
    cases: Sequence[Row] = (),
) -> Agenda:
    return assemble_agenda(
        referral_facts=referrals,
        participant_facts=participants,
        case_facts=cases,
        since=since,
        until=until,
    )


def test_filings_take_the_incident_date_from_their_cases_opening() -> None:
    unfiled_long_ago, opened_filed, pre_existing, unfiled_new = (uuid4() for _ in range(4))
    cases = [
        # Opened unfiled 90 days before the period, filed after enrollment in it.
        case_fact(
            unfiled_long_ago,
            1,
            "case_opened",
            _day(-90),
            incident_date=date(2023, 11, 1),
            court="KCSC",
            severity="felony",
        ),
        case_fact(
            unfiled_long_ago,
            2,
            "filed",
            _day(2),
            filing_date=date(2024, 3, 3),
            origin="post_enrollment",
        ),
        # Opened already filed after enrollment, in the period.
        case_fact(
            opened_filed,
            1,
            "case_opened",
            _day(1),
            incident_date=date(2024, 2, 20),
            filing_date=date(2024, 3, 2),
            origin="post_enrollment",
            court="SMC",
        ),
        # A pre-existing filing and an unfiled case, both new: news, not post-enrollment.
        case_fact(
            pre_existing,
            1,
            "case_opened",
            _day(3),
            incident_date=date(2023, 6, 1),
            filing_date=date(2023, 6, 9),
            origin="pre_existing",
        ),
        case_fact(
            pre_existing, 2, "warrant_issued", _day(4), court="KCDC", issued_on=date(2023, 8, 1)
        ),
        case_fact(unfiled_new, 1, "case_opened", _day(5), incident_date=date(2024, 3, 4)),
    ]
    result = assemble(_day(0), _day(7), cases=cases)
    post = result["post_enrollment_filings"]
    assert [(r["case_id"], r["incident_date"], r["filing_date"]) for r in post] == [
        (opened_filed, date(2024, 2, 20), date(2024, 3, 2)),
        (unfiled_long_ago, date(2023, 11, 1), date(2024, 3, 3)),
    ]
    assert post[1]["court"] == "KCSC" and post[1]["severity"] == "felony"
    news = [(r["kind"], r["case_id"]) for r in result["new_filings_and_warrants"]]
    assert news == [
        ("case_opened", opened_filed),
        ("filed", unfiled_long_ago),
        ("case_opened", pre_existing),
        ("warrant_issued", pre_existing),
        ("case_opened", unfiled_new),
    ]
    warrant = result["new_filings_and_warrants"][3]
    assert warrant["court"] == "KCDC" and warrant["incident_date"] == date(2023, 6, 1)
    assert "seq" not in warrant


def test_the_period_is_half_open() -> None:
    at_since, at_until = uuid4(), uuid4()
    referrals = [
        referral_fact(at_since, 1, "received", _day(0), pathway="community"),
        referral_fact(at_until, 1, "received", _day(7), pathway="community"),
    ]
    result = assemble(_day(0), _day(7), referrals=referrals)
    assert ids(result["new_referrals"]) == [at_since]
    assert result["new_referrals"][0]["status"] == "received"
    # The next meeting's period starts where this one ended.
    assert ids(assemble(_day(7), _day(14), referrals=referrals)["new_referrals"]) == [at_until]


def test_awaiting_intake_as_it_stood_at_the_end_of_the_period() -> None:
    r = uuid4()
    history = [
        referral_fact(r, 1, "received", _day(0), pathway="arrest_diversion"),
        referral_fact(r, 2, "eligible", _day(0)),
        referral_fact(r, 3, "approved", _day(0.1), intake_deadline=date(2024, 3, 15)),
        referral_fact(r, 4, "intake_scheduled", _day(1), intake_scheduled_for=_day(3)),
        referral_fact(r, 5, "intake_scheduled", _day(4), intake_scheduled_for=_day(6)),
        referral_fact(r, 6, "enrolled", _day(6)),
    ]
    before = assemble(_day(-1), _day(0.05), referrals=history)
    assert before["awaiting_intake"] == []  # not approved yet
    assert before["new_referrals"][0]["status"] == "eligible"
    [first] = assemble(_day(0), _day(2), referrals=history)["awaiting_intake"]
    assert first == {
        "referral_id": r,
        "person_id": PERSON,
        "pathway": "arrest_diversion",
        "approved_at": _day(0.1),
        "intake_deadline": date(2024, 3, 15),
        "days_to_deadline": 12,  # from 3 March, the end of the period
        "intake_scheduled_for": _day(3),
    }
    [later] = assemble(_day(2), _day(5), referrals=history)["awaiting_intake"]
    assert later["intake_scheduled_for"] == _day(6)  # rescheduled
    assert assemble(_day(5), _day(7), referrals=history)["awaiting_intake"] == []
    lapsed = [
        *history[:4],
        referral_fact(r, 5, "lapsed", _day(16), intake_deadline=date(2024, 3, 15)),
    ]
    result = assemble(_day(14), _day(21), referrals=lapsed)
    assert result["awaiting_intake"] == []
    assert [(x["referral_id"], x["intake_deadline"]) for x in result["lapsed"]] == [
        (r, date(2024, 3, 15))
    ]


def test_in_the_wind_is_the_latest_status_by_the_participants_own_order() -> None:
    p, q, x = uuid4(), uuid4(), uuid4()
    facts_ = [
        participant_fact(p, 1, "active", _day(-60), kind="enrolled", on_date=date(2024, 1, 1)),
        participant_fact(p, 5, "in_the_wind", _day(-30)),
        participant_fact(p, 7, "in_the_wind", _day(-10)),  # still gone: counted from the first
        participant_fact(q, 1, "active", _day(-60), kind="enrolled"),
        participant_fact(q, 2, "in_the_wind", _day(-20)),
        participant_fact(q, 3, "active", _day(2)),  # found again during the period
        participant_fact(x, 1, "active", _day(-60), kind="enrolled"),
        participant_fact(x, 2, "in_the_wind", _day(1)),
        participant_fact(
            x,
            3,
            "exited",
            _day(3),
            kind="exited",
            on_date=date(2024, 3, 4),
            exit_reason="incarcerated",
        ),
    ]
    result = assemble(_day(0), _day(7), participants=facts_)
    assert [
        (r["participant_id"], r["in_the_wind_since"], r["new"]) for r in result["in_the_wind"]
    ] == [(p, _day(-30), False)]
    assert [(r["participant_id"], r["exited_on"], r["reason"]) for r in result["exits"]] == [
        (x, date(2024, 3, 4), "incarcerated")
    ]
    mid = assemble(_day(0), _day(1.5), participants=facts_)["in_the_wind"]
    assert [(r["participant_id"], r["new"]) for r in mid] == [(p, False), (q, False), (x, True)]


def test_a_period_needs_aware_ends_in_order() -> None:
    check_period(_day(0), _day(1))
    check_period(_day(0), _day(1).astimezone(timezone(timedelta(hours=-8))))
    for since, until in (
        (_day(1), _day(1)),
        (_day(2), _day(1)),
        (datetime(2024, 3, 1), _day(1)),
        (_day(0), datetime(2024, 3, 9)),
    ):
        with pytest.raises(ValueError):
            check_period(since, until)
        with pytest.raises(ValueError):
            agenda.agenda(RecordingConnection(), since=since, until=until)  # type: ignore[arg-type]


# -- the query, as far as it goes without a database -----------------------------------


def test_agenda_reads_its_own_three_tables_and_assembles_the_sections() -> None:
    r, c_ = uuid4(), uuid4()
    conn = RecordingConnection(
        [referral_fact(r, 1, "received", _day(1), pathway="social_contact")],
        [],
        [case_fact(c_, 1, "case_opened", _day(2), incident_date=date(2024, 2, 1))],
    )
    result = agenda.agenda(conn, since=_day(0), until=_day(7))  # type: ignore[arg-type]
    assert tuple(result) == SECTIONS
    assert ids(result["new_referrals"]) == [r]
    assert ids(result["new_filings_and_warrants"], "case_id") == [c_]
    (
        (referral_sql, referral_params),
        (participant_sql, participant_params),
        (case_sql, case_params),
    ) = conn.queries
    assert '"proj_agenda"."referral_facts"' in referral_sql
    assert '"proj_agenda"."participant_facts"' in participant_sql
    assert '"proj_agenda"."case_facts"' in case_sql
    for params in (referral_params, participant_params, case_params):
        assert params["since"] == _day(0) and params["until"] == _day(7)
    assert referral_params["closed"] == ["enrolled", "lapsed", "withdrawn"]
    assert participant_params["in_the_wind"] == "in_the_wind"
    for text in (referral_sql, participant_sql, case_sql):
        assert "proj_queue" not in text and "proj_referrals" not in text
