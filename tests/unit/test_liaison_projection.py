"""The liaison projection, fed the events of a realistic site, without a database.

Row changes are applied to a small in-memory model of the tables that honours the
version guards as `infra.postgres.row_statements` does and checks every change against the
table definitions, so a misspelt column or a missing NOT NULL value fails here
instead of in PostgreSQL. The query's grouping is a pure function, tested on the rows
of that model; the SQL around it is checked with a connection that records queries.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from events.base import DomainEvent, Role
from events.case import (
    CaseOpened,
    CaseOrigin,
    Charge,
    ChargingDecisionRecorded,
    HearingScheduled,
    Severity,
)
from events.participant import (
    ContactRecorded,
    GoalProgressRecorded,
    GoalRevised,
    GoalSet,
    IncomeRecorded,
    LivingSituationRecorded,
    ParticipantExited,
    ProgressSummaryShared,
)
from projections.base import Delete, Erase, RowChange, Table, Update
from projections.liaison import queries as liaison
from projections.liaison.projection import SCHEMA, TABLES, LiaisonProjection
from projections.liaison.queries import assemble_case_view
from services.application import LeadApplication
from tests import scenario
from tests.unit.test_api_validation import IN_MEMORY

Row = dict[str, Any]
PLAIN = (str, int, float, bool, date, datetime, UUID, type(None))


class Tables:
    """Projection tables in memory, keyed by primary key, changed as the store changes them.

    A `Jsonb` value is stored as the plain value it wraps, as PostgreSQL gives it back.
    """

    def __init__(self, tables: Sequence[Table]) -> None:
        self.definitions = {t.name: t for t in tables}
        self.rows: dict[str, dict[tuple[Any, ...], Row]] = {t.name: {} for t in tables}

    def apply(self, change: RowChange) -> None:
        table = self.definitions[change.table]
        if isinstance(change, Delete) and tuple(change.key) != table.primary_key:
            rows = self.rows[table.name]  # every row matching (a forgotten person's)
            for k in [k for k, r in rows.items() if all(r[c] == v for c, v in change.key.items())]:
                del rows[k]
            return
        if isinstance(change, Erase):  # overwrites columns of every row matching
            values = self._checked(table, change.values)
            for r in self.rows[table.name].values():
                if all(r[c] == v for c, v in change.where.items()):
                    r.update(values)
            return
        assert tuple(change.key) == table.primary_key, change
        key = tuple(change.key.values())
        rows = self.rows[table.name]
        if isinstance(change, Delete):
            rows.pop(key, None)
            return
        values = self._checked(table, change.values)
        if isinstance(change, Update):
            assert table.versioned, f"{table.name} has no version column to guard an Update"
            row = rows.get(key)
            if row is not None and row["version"] < change.version:
                row.update(values, version=change.version)
            return
        assert (change.version is not None) == table.versioned, change
        new = {**change.key, **values}
        if change.version is not None:
            new["version"] = change.version
        row = rows.get(key)
        if row is None:
            missing = {
                name
                for name, kind in table.columns.items()
                if "NOT NULL" in kind and "DEFAULT" not in kind and new.get(name) is None
            }
            assert not missing, f"{table.name} needs {missing}"
            rows[key] = new
        elif change.version is None or row["version"] < change.version:
            row.update(new)

    @staticmethod
    def _checked(table: Table, values: Row) -> Row:
        assert set(values) <= set(table.columns), set(values) - set(table.columns)
        out = {}
        for name, value in values.items():
            if isinstance(value, Jsonb):
                assert table.columns[name].startswith("jsonb"), name
                value = copy.deepcopy(value.obj)
            else:
                # psycopg dumps an Enum by its name, not its value: pass plain values.
                assert isinstance(value, PLAIN) and not isinstance(value, enum.Enum), value
                assert not table.columns[name].startswith("jsonb"), f"wrap {name} in Jsonb"
            out[name] = value
        return out

    def __getitem__(self, table: str) -> list[Row]:
        return list(self.rows[table].values())

    def snapshot(self) -> dict[str, dict[tuple[Any, ...], Row]]:
        return copy.deepcopy(self.rows)


@pytest.fixture
def app() -> Iterator[LeadApplication]:
    application = LeadApplication(env=IN_MEMORY)
    yield application
    application.close()


def recorded(app: LeadApplication) -> list[tuple[int, DomainEvent]]:
    """Every event in the store, with its position, in order."""
    notifications = app.recorder.select_notifications(start=1, limit=10_000)
    return [(n.id, app.mapper.to_domain_event(n)) for n in notifications]  # type: ignore[misc]


def project(events: Sequence[tuple[int, DomainEvent]], times: int = 1) -> Tables:
    """Each event handled and applied `times` times in a row (a redelivery)."""
    tables = Tables(TABLES)
    projection = LiaisonProjection()
    for position, event in events:
        for _ in range(times):
            for change in projection.handle(event, position):
                tables.apply(change)
    return tables


def view_of(tables: Tables) -> list[dict[str, Any]]:
    """`case_view`'s answer, grouped from the in-memory tables as from the query's rows."""
    return assemble_case_view(
        program_status=tables["program_status"],
        cases=tables["cases"],
        warrants=tables["warrants"],
        hearings=tables["hearings"],
        summaries=tables["progress_summaries"],
    )


Scenario = tuple[scenario.Site, list[tuple[int, DomainEvent]]]


@pytest.fixture
def site(app: LeadApplication) -> Scenario:
    """The scenario run once, and every event it recorded."""
    return scenario.run(app), recorded(app)


# -- the site's events through the projection -----------------------------------------


def test_the_projection_follows_the_schema_convention() -> None:
    assert LiaisonProjection.name == "liaison"
    assert SCHEMA == "proj_liaison"
    assert {t.name for t in LiaisonProjection.tables} == {
        "cases",
        "warrants",
        "hearings",
        "program_status",
        "progress_summaries",
    }
    assert all(t.versioned for t in LiaisonProjection.tables)


def test_the_pre_existing_case_with_its_warrant_hearing_and_disposition(site: Scenario) -> None:
    s, events = site
    tables = project(events)
    today = datetime.now(UTC).date()
    old = tables.rows["cases"][(s.cases["pre_existing"],)]
    assert old["person_id"] == s.enrolled_person
    assert old["case_number"] == "24-1-00001-1"
    assert old["origin"] == "pre_existing"
    assert old["filing_date"] == today - timedelta(days=190)
    assert old["charges"] == [
        {"statute_code": "9A.56.050", "severity": "gross_misdemeanor", "nibrs_code": None}
    ]
    assert old["charge_descriptions"] == ["theft 3"]  # apart: forgetting erases only these
    assert old["recommendation"] == "dismiss on LEAD engagement"
    # The disposition closes the case.
    assert (old["disposition"], old["disposed_on"], old["closed"]) == ("dismissed", today, True)

    [warrant] = tables["warrants"]
    assert (warrant["case_id"], warrant["warrant_id"]) == (s.cases["pre_existing"], "W-1")
    assert warrant["issued_on"] == today - timedelta(days=100)
    assert warrant["quashed_on"] == today

    [hearing] = tables["hearings"]
    assert hearing["case_id"] == s.cases["pre_existing"]
    assert (hearing["kind"], hearing["court"]) == ("review", "KCDC")


def test_the_post_enrollment_filing_for_an_incident_before_enrollment(site: Scenario) -> None:
    s, events = site
    today = datetime.now(UTC).date()
    assert s.enrolled_on is not None
    decision = next(i for i, (_, e) in enumerate(events) if isinstance(e, ChargingDecisionRecorded))

    before = project(events[:decision]).rows["cases"][(s.cases["post_enrollment"],)]
    assert before["origin"] == "pre_existing"  # not filed yet: nothing says otherwise
    assert before["filing_date"] is None and before["charging_decision"] is None

    new = project(events).rows["cases"][(s.cases["post_enrollment"],)]
    assert new["origin"] == "post_enrollment"
    assert (new["charging_decision"], new["decided_on"], new["filing_date"]) == (
        "filed",
        today,
        today,
    )
    assert new["incident_date"] == today - timedelta(days=30) < s.enrolled_on
    assert new["closed"] is False and new["disposition"] is None


def test_program_status_follows_exit_and_reengagement(site: Scenario) -> None:
    s, events = site
    today = datetime.now(UTC).date()
    [status] = project(events)["program_status"]
    assert status["person_id"] == s.enrolled_person
    assert (status["status"], status["enrolled_on"]) == ("active", s.enrolled_on)
    assert (status["exited_on"], status["reengaged_on"]) == (None, today)

    exited_at = next(i for i, (_, e) in enumerate(events) if isinstance(e, ParticipantExited))
    [exited] = project(events[: exited_at + 1])["program_status"]
    assert (exited["status"], exited["exited_on"]) == ("exited", today)


def test_the_shared_progress_summary_carries_its_consent(site: Scenario) -> None:
    s, events = site
    [summary] = project(events)["progress_summaries"]
    assert summary["person_id"] == s.enrolled_person
    assert summary["summary"] == "Engaged weekly; housing secured."
    assert summary["recipient_role"] == "liaison_prosecutor"
    assert summary["recipient_organisation"] == "King County Prosecutor"
    assert summary["consent_id"] == s.prosecutor_consent


def test_no_case_management_detail_reaches_any_row(site: Scenario) -> None:
    _, events = site
    tables = project(events)
    text = repr(tables.snapshot())
    for sensitive in (
        "talked about shelter options",  # contact notes
        "uses at night",  # contact notes
        "Belltown",  # contact place
        "get an ID card",  # the participant's goal, in their words
        "birth certificate ordered",  # goal progress note
        "caseload balance",  # reassignment reason
        "no contact for two weeks",  # status change reason
        "moved_away",  # exit reason
        "ssi",  # income source
    ):
        assert sensitive not in text, sensitive
    # Living situation is a bare HMIS code: the events that carry it imply no rows at
    # all, nor do contacts, goals or income.
    silent = (
        ContactRecorded,
        GoalSet,
        GoalProgressRecorded,
        GoalRevised,
        LivingSituationRecorded,
        IncomeRecorded,
    )
    handled = [e for _, e in events if isinstance(e, silent)]
    assert {type(e) for e in handled} == set(silent)
    assert all(LiaisonProjection().handle(e, 1) == [] for e in handled)
    columns = {c for t in TABLES for c in t.columns}
    assert not {c for c in columns if any(w in c for w in ("note", "goal", "situation", "income"))}


def test_every_event_delivered_twice_gives_identical_tables(site: Scenario) -> None:
    _, events = site
    once = project(events).snapshot()
    assert project(events, times=2).snapshot() == once
    assert project([*events, *events]).snapshot() == once  # a replay from the start
    assert len(once["hearings"]) == 1


def _summary_for(role: Role, organisation: str) -> ProgressSummaryShared:
    return ProgressSummaryShared(
        originator_id=uuid4(),
        originator_version=9,
        timestamp=datetime(2024, 3, 1, 12, tzinfo=UTC),
        actor=scenario.CM,
        occurred_at=datetime(2024, 3, 1, 12, tzinfo=UTC),
        person_id=uuid4(),
        summary_id=uuid4(),
        recipient_organisation=organisation,
        recipient_role=role,
        summary=f"for the {role.value} only",
        consent_id=uuid4(),
    )


def test_a_summary_shared_with_someone_outside_the_legal_system_is_not_the_liaisons() -> None:
    event = _summary_for(Role.COMMUNITY_PARTNER, "Housing Partner")
    assert LiaisonProjection().handle(event, 3) == []


def test_a_summary_keeps_its_recipient_so_only_they_read_it() -> None:
    # The liaison view serves both legal readers; each row names its recipient,
    # and the read path answers a summary only to the role it was shared with.
    for role in (Role.PUBLIC_DEFENDER, Role.LIAISON_PROSECUTOR):
        [row] = LiaisonProjection().handle(_summary_for(role, "Office"), 3)
        assert row.table == "progress_summaries"
        assert row.values["recipient_role"] == role.value


def test_two_hearings_in_one_case_are_two_rows() -> None:
    case_id, person_id = uuid4(), uuid4()

    def hearing(version: int, days: int) -> HearingScheduled:
        at = datetime(2024, 3, 1, 9, tzinfo=UTC) + timedelta(days=days)
        return HearingScheduled(
            originator_id=case_id,
            originator_version=version,
            timestamp=at,
            actor=scenario.LIAISON,
            occurred_at=at,
            person_id=person_id,
            hearing_at=at,
            kind="review",
            court="KCDC",
        )

    opened = CaseOpened(
        originator_id=case_id,
        originator_version=1,
        timestamp=datetime(2024, 2, 1, tzinfo=UTC),
        actor=scenario.LIAISON,
        occurred_at=datetime(2024, 2, 1, tzinfo=UTC),
        person_id=person_id,
        case_number="24-1-1",
        court="KCDC",
        jurisdiction="King County",
        origin=CaseOrigin.PRE_EXISTING,
        incident_date=date(2024, 1, 5),
        charges=(Charge(statute_code="1", description="d", severity=Severity.MISDEMEANOR),),
    )
    tables = project([(1, opened), (2, hearing(2, 14)), (3, hearing(3, 7)), (2, hearing(2, 14))])
    [entry] = view_of(tables)
    assert [h["hearing_at"].day for h in entry["cases"][0]["hearings"]] == [8, 15]


# -- the view, grouped from the rows -------------------------------------------------------


def test_the_view_groups_everything_under_the_person(site: Scenario) -> None:
    s, events = site
    today = datetime.now(UTC).date()
    [entry] = view_of(project(events))
    assert entry["person_id"] == s.enrolled_person
    assert entry["program"]["status"] == "active"
    assert entry["program"]["enrolled_on"] == s.enrolled_on

    old, new = entry["cases"]  # ordered by incident date: the old case first
    assert old["case_id"] == s.cases["pre_existing"]
    assert old["closed"] is True and old["disposition"] == "dismissed"
    assert old["warrants"] == [
        {
            "warrant_id": "W-1",
            "issued_on": today - timedelta(days=100),
            "court": "King County District Court",
            "quashed_on": today,
            "outstanding": False,
        }
    ]
    assert [h["kind"] for h in old["hearings"]] == ["review"]
    assert new["case_id"] == s.cases["post_enrollment"]
    assert (new["origin"], new["incident_date"], new["filing_date"]) == (
        "post_enrollment",
        today - timedelta(days=30),
        today,
    )
    assert new["warrants"] == [] and new["hearings"] == []

    [summary] = entry["progress_summaries"]
    assert summary["consent_id"] == s.prosecutor_consent
    # The store's bookkeeping is no part of the answer.
    for part in [entry, *entry["cases"], *old["warrants"], *old["hearings"], summary]:
        assert not {"version", "position", "case_version"} & set(part), part


def test_the_view_includes_people_known_only_by_a_case_and_leaves_orphans_out() -> None:
    person, case_id = uuid4(), uuid4()
    case = {
        "case_id": case_id,
        "person_id": person,
        "case_number": "1",
        "court": "c",
        "jurisdiction": "j",
        "origin": "pre_existing",
        "incident_date": date(2024, 1, 1),
        "filing_date": None,
        "charges": [],
        "charging_decision": None,
        "decided_on": None,
        "recommendation": None,
        "recommended_on": None,
        "disposition": None,
        "disposed_on": None,
        "closed": False,
    }
    orphan = {
        "case_id": uuid4(),
        "warrant_id": "W-9",
        "person_id": person,
        "issued_on": date(2024, 1, 2),
        "court": "c",
        "quashed_on": None,
    }
    [entry] = assemble_case_view(
        program_status=[], cases=[case], warrants=[orphan], hearings=[], summaries=[]
    )
    assert entry["program"] is None
    assert [c["case_id"] for c in entry["cases"]] == [case_id]
    assert entry["cases"][0]["warrants"] == []
    assert (
        assemble_case_view(program_status=[], cases=[], warrants=[], hearings=[], summaries=[])
        == []
    )


# -- the queries, as far as they go without a database --------------------------------


class RecordingConnection:
    """Stands in for a psycopg connection: records each query, answers from `Tables`.

    It answers a query on one of our tables with that table's rows, filtered by the
    `person_ids` parameter as `= ANY(...)` filters them.
    """

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.queries: list[tuple[str, dict[str, Any]]] = []
        self._rows: list[Row] = []

    def execute(
        self, query: sql.Composable, params: dict[str, Any] | None = None
    ) -> RecordingConnection:
        text = query.as_string(None)
        params = params or {}
        self.queries.append((text, params))
        for name in params:
            assert f"%({name})s" in text, name
        [table] = [t for t in TABLES if f'"proj_liaison"."{t.name}"' in text]
        rows = self.tables[table.name]
        if "person_ids" in params:
            rows = [r for r in rows if r["person_id"] in params["person_ids"]]
        if "DISTINCT person_id" in text:
            rows = [{"person_id": p} for p in sorted({r["person_id"] for r in rows})]
        self._rows = rows
        return self

    def fetchall(self) -> list[Row]:
        return self._rows


def test_case_view_reads_only_its_tables_and_only_the_people_asked_for(site: Scenario) -> None:
    s, events = site
    tables = project(events)
    assert s.enrolled_person is not None

    conn = RecordingConnection(tables)
    view = liaison.case_view(conn, [s.enrolled_person])  # type: ignore[arg-type]
    assert view == view_of(tables)
    assert len(conn.queries) == 5
    for text, params in conn.queries:
        assert '"proj_liaison".' in text
        assert "proj_caseloads" not in text and "proj_referrals" not in text
        assert '"version"' not in text
        assert params == {"person_ids": [s.enrolled_person]}

    someone_else = RecordingConnection(tables)
    assert liaison.case_view(someone_else, [uuid4()]) == []  # type: ignore[arg-type]

    nobody = RecordingConnection(tables)
    assert liaison.case_view(nobody, []) == []  # type: ignore[arg-type]
    assert nobody.queries == []  # no consent for anyone: nothing is read

    everyone = RecordingConnection(tables)
    assert liaison.case_view(everyone) == view_of(tables)  # type: ignore[arg-type]
    assert all(params == {} and "ANY" not in text for text, params in everyone.queries)


def test_person_ids_in_view_are_everyone_a_single_read_answers(site: Scenario) -> None:
    s, events = site
    tables = project(events)
    conn = RecordingConnection(tables)
    assert liaison.person_ids_in_view(conn) == [s.enrolled_person]  # type: ignore[arg-type]
    assert {text.split("FROM ")[1] for text, _ in conn.queries} == {
        f'"proj_liaison"."{t.name}"' for t in TABLES
    }
    # Someone with a program status and no case is listed too.
    someone = uuid4()
    tables.rows["program_status"][(someone,)] = {"person_id": someone}
    listed = liaison.person_ids_in_view(RecordingConnection(tables))  # type: ignore[arg-type]
    assert listed == sorted([s.enrolled_person, someone])
