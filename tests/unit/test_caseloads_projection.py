"""The caseloads projection, fed the events of a realistic site, without a database.

The row changes are applied to a tiny in-memory model of the tables that honours
the version guard exactly as `infra.postgres.row_statements` does, and checks every change
against the table definitions, so a misspelt column or a missing NOT NULL value
fails here instead of in PostgreSQL.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from psycopg import sql

from events.base import DomainEvent
from events.participant import ContactKind, ContactRecorded, ParticipantExited
from projections import caseloads
from projections.base import Delete, RowChange, Table, Update, Upsert
from projections.caseloads import (
    CaseloadsProjection,
    PolicyLimits,
    caseload_entry,
    caseload_summary,
    days_since,
    in_the_wind,
)
from services.application import LeadApplication
from tests import scenario
from tests.factories import POLICY_TERMS
from tests.unit.test_api_validation import IN_MEMORY

Row = dict[str, Any]
PLAIN = (str, int, float, bool, date, datetime, UUID, type(None))


class Tables:
    """Projection tables in memory, keyed by primary key, changed as the store changes them."""

    def __init__(self, tables: Sequence[Table]) -> None:
        self.definitions = {t.name: t for t in tables}
        self.rows: dict[str, dict[tuple[Any, ...], Row]] = {t.name: {} for t in tables}

    def apply(self, change: RowChange) -> None:
        table = self.definitions[change.table]
        assert tuple(change.key) == table.primary_key, change
        key = tuple(change.key.values())
        rows = self.rows[table.name]
        if isinstance(change, Delete):
            rows.pop(key, None)
            return
        self._check_columns(table, change.values)
        if isinstance(change, Update):
            assert table.versioned, f"{table.name} has no version column to guard an Update"
            row = rows.get(key)
            if row is not None and row["version"] < change.version:
                row.update(change.values, version=change.version)
            return
        assert (change.version is not None) == table.versioned, change
        new = {**change.key, **change.values}
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
    def _check_columns(table: Table, values: Row) -> None:
        assert set(values) <= set(table.columns), set(values) - set(table.columns)
        for value in values.values():
            # psycopg dumps an Enum by its name, not its value: pass plain values.
            assert isinstance(value, PLAIN) and not isinstance(value, enum.Enum), value

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
    tables = Tables(caseloads.TABLES)
    projection = CaseloadsProjection()
    for position, event in events:
        for _ in range(times):
            for change in projection.handle(event, position):
                tables.apply(change)
    return tables


def size_of(tables: Tables, case_manager: str) -> int:
    """The caseload size as `list_caseloads` counts it: participants not exited."""
    return sum(
        1
        for p in tables["participants"]
        if p["case_manager"] == case_manager and p["status"] != "exited"
    )


def entries(tables: Tables, case_manager: str, now: datetime) -> list[Row]:
    """`list_caseload`'s rows, built from the in-memory tables as its query builds them."""
    limits = PolicyLimits(
        **max(
            (p for p in tables["policy_limits"] if p["effective_from"] <= now.date()),
            key=lambda p: (p["effective_from"], p["policy_version"]),
        )
    )
    result = []
    for p in tables["participants"]:
        if p["case_manager"] != case_manager or p["status"] == "exited":
            continue
        contacts = [
            c["contacted_on"]
            for c in tables["contacts"]
            if c["participant_id"] == p["participant_id"] and c["contacted_on"] <= now
        ]
        row = {
            **p,
            "last_contact_at": max(contacts, default=None),
            "contacts_last_30_days": sum(1 for c in contacts if c > now - timedelta(days=30)),
            "open_goals": sum(
                1
                for g in tables["goals"]
                if g["participant_id"] == p["participant_id"] and g["status"] == "open"
            ),
        }
        result.append(caseload_entry(row, now=now, limits=limits))
    return result


# -- the site's events through the projection -----------------------------------------


def test_the_projection_follows_the_schema_convention() -> None:
    assert CaseloadsProjection.name == "caseloads"
    assert f"proj_{CaseloadsProjection.name}" == caseloads.SCHEMA
    assert {t.name for t in CaseloadsProjection.tables} == {
        "participants",
        "contacts",
        "goals",
        "policy_limits",
        "caseloads",
    }


def test_the_reassigned_participant_is_on_the_new_caseload_only(app: LeadApplication) -> None:
    site = scenario.run(app)
    tables = project(recorded(app))
    [participant] = tables["participants"]
    assert participant["person_id"] == site.enrolled_person
    assert participant["case_manager"] == "cm.baker"
    assert size_of(tables, "cm.baker") == 1
    assert size_of(tables, "cm.ortiz") == 0
    # The old caseload still shows, empty: room the project manager can use.
    assert {c["case_manager"] for c in tables["caseloads"]} == {"cm.ortiz", "cm.baker"}


def test_contacts_are_counted_once_each_and_stay_with_the_case_manager_of_the_time(
    app: LeadApplication,
) -> None:
    site = scenario.run(app)
    tables = project(recorded(app))
    contacts = tables["contacts"]
    assert len(contacts) == 2
    assert {c["person_id"] for c in contacts} == {site.enrolled_person}
    assert {c["case_manager"] for c in contacts} == {"cm.ortiz"}  # not moved to cm.baker
    assert {(c["kind"], c["minutes"]) for c in contacts} == {("street_outreach", 40)}

    now = datetime.now(UTC)
    [entry] = entries(tables, "cm.baker", now)
    assert entry["contacts_last_30_days"] == 2
    assert entry["days_since_contact"] == 1
    assert entry["open_goals"] == 0  # the one goal was achieved
    assert entry["in_the_wind"] is False
    assert entries(tables, "cm.ortiz", now) == []


def test_the_exited_participant_is_exited_and_off_the_caseload_until_they_reengage(
    app: LeadApplication,
) -> None:
    scenario.run(app)
    events = recorded(app)
    exit_at = next(i for i, (_, e) in enumerate(events) if isinstance(e, ParticipantExited))
    exited = project(events[: exit_at + 1])
    [participant] = exited["participants"]
    assert participant["status"] == "exited"
    assert participant["exited_on"] == datetime.now(UTC).date()
    assert size_of(exited, "cm.baker") == 0
    assert entries(exited, "cm.baker", datetime.now(UTC)) == []

    back = project(events)  # the scenario re-engages them the same day
    [participant] = back["participants"]
    assert participant["status"] == "active"
    assert participant["exited_on"] is None
    assert participant["reengaged_on"] == datetime.now(UTC).date()
    assert size_of(back, "cm.baker") == 1


def test_goals_and_policy_limits(app: LeadApplication) -> None:
    scenario.run(app)
    tables = project(recorded(app))
    assert [g["status"] for g in tables["goals"]] == ["achieved"]
    limits = sorted(tables["policy_limits"], key=lambda p: p["policy_version"])
    assert [(p["policy_version"], p["effective_from"]) for p in limits] == [
        (1, date(2020, 1, 1)),
        (2, date(2021, 1, 1)),
    ]
    assert {(p["target"], p["warning"], p["hard_cap"], p["in_the_wind_days"]) for p in limits} == {
        (15, 20, 25, POLICY_TERMS.in_the_wind_days)
    }


def test_every_event_delivered_twice_gives_identical_tables(app: LeadApplication) -> None:
    scenario.run(app)
    events = recorded(app)
    once = project(events).snapshot()
    assert project(events, times=2).snapshot() == once
    assert project([*events, *events]).snapshot() == once  # a replay from the start


def test_no_notes_or_wording_reach_any_row(app: LeadApplication) -> None:
    scenario.run(app)
    text = repr(project(recorded(app)).snapshot())
    for sensitive in (
        "talked about shelter options",  # contact notes
        "Belltown",  # contact place
        "get an ID card",  # the participant's goal, in their words
        "birth certificate ordered",  # progress note
        "Engaged weekly",  # progress summary shared with the prosecutor
        "caseload balance",  # reassignment reason
        "no contact for two weeks",  # status change reason
    ):
        assert sensitive not in text


def test_a_contact_recorded_by_someone_else_names_no_case_manager() -> None:
    event = ContactRecorded(
        originator_id=uuid4(),
        originator_version=5,
        timestamp=datetime(2024, 3, 1, 12, tzinfo=UTC),
        actor=scenario.PM,
        occurred_at=datetime(2024, 3, 1, 10, tzinfo=UTC),
        person_id=uuid4(),
        contact_id=uuid4(),
        kind=ContactKind.PHONE,
        contacted_on=datetime(2024, 3, 1, 10, tzinfo=UTC),
        minutes=10,
        notes="secret",
    )
    [change] = CaseloadsProjection().handle(event, position=7)
    assert isinstance(change, Upsert) and change.version == 5
    assert change.values["case_manager"] is None
    assert "secret" not in repr(change)


# -- time arithmetic ---------------------------------------------------------------------


def test_days_since_counts_calendar_days_on_nows_clock() -> None:
    now = datetime(2024, 3, 2, 1, 0, tzinfo=UTC)
    assert days_since(datetime(2024, 3, 1, 23, 0, tzinfo=UTC), now) == 1  # last night
    assert days_since(datetime(2024, 3, 2, 0, 30, tzinfo=UTC), now) == 0
    assert days_since(date(2024, 2, 1), now) == 30
    pacific = timezone(timedelta(hours=-8))
    # 01:00 UTC on 2 March is still 1 March in Seattle: the contact was "today" there.
    assert days_since(datetime(2024, 3, 1, 18, 0, tzinfo=UTC), now.astimezone(pacific)) == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        days_since(date(2024, 2, 1), datetime(2024, 3, 2))


def test_in_the_wind_after_the_policys_days_not_before() -> None:
    enrolled = date(2024, 1, 1)

    def day(n: int) -> datetime:
        return datetime(2024, 1, 1, 12, tzinfo=UTC) + timedelta(days=n)

    def wind(last: datetime | None, now: datetime, engaged: date = enrolled) -> bool:
        return in_the_wind(last_contact_at=last, engaged_on=engaged, now=now, days=30)

    # Never contacted: counted from enrollment.
    assert not wind(None, day(30))
    assert wind(None, day(31))
    # Contacted on day 10: counted from that contact.
    assert not wind(day(10), day(40))
    assert wind(day(10), day(41))
    # Re-engaged on day 50 after a contact on day 10: counted from re-engagement.
    assert not wind(day(10), day(60), engaged=date(2024, 2, 20))
    assert wind(day(10), day(81), engaged=date(2024, 2, 20))


def test_caseload_flags_follow_the_policy_limits() -> None:
    limits = PolicyLimits(1, date(2020, 1, 1), 15, 20, 25, 30)
    assert caseload_summary("cm.a", 20, limits)["over_warning"] is False
    assert caseload_summary("cm.a", 21, limits)["over_warning"] is True
    assert caseload_summary("cm.a", 24, limits)["at_cap"] is False
    full = caseload_summary("cm.a", 25, limits)
    assert full == {
        "case_manager": "cm.a",
        "size": 25,
        "policy_version": 1,
        "target": 15,
        "warning": 20,
        "hard_cap": 25,
        "over_warning": True,
        "at_cap": True,
    }
    unknown = caseload_summary("cm.a", 3, None)
    assert unknown["over_warning"] is None and unknown["at_cap"] is None


def test_an_entry_never_contacted_has_no_days_since_contact() -> None:
    now = datetime(2024, 3, 1, 12, tzinfo=UTC)
    row = {
        "participant_id": uuid4(),
        "person_id": uuid4(),
        "status": "active",
        "enrolled_on": date(2024, 1, 1),
        "reengaged_on": None,
        "last_contact_at": None,
        "contacts_last_30_days": 0,
        "open_goals": 2,
    }
    limits = PolicyLimits(1, date(2020, 1, 1), 15, 20, 25, 30)
    entry = caseload_entry(row, now=now, limits=limits)
    assert entry["days_since_contact"] is None
    assert entry["in_the_wind"] is True  # 60 days since enrollment
    assert entry["open_goals"] == 2
    assert caseload_entry(row, now=now, limits=None)["in_the_wind"] is None


# -- the queries, as far as they go without a database --------------------------------


class RecordingConnection:
    """Stands in for a psycopg connection: records each query, answers with given rows."""

    def __init__(self, *answers: list[Row]) -> None:
        self.answers = list(answers)
        self.queries: list[tuple[str, dict[str, Any]]] = []
        self._rows: list[Row] = []

    def execute(self, query: sql.Composable, params: dict[str, Any]) -> RecordingConnection:
        text = query.as_string(None)
        self.queries.append((text, params))
        for name in params:
            assert f"%({name})s" in text, name
        self._rows = self.answers.pop(0)
        return self

    def fetchone(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Row]:
        return self._rows


POLICY_ROW = {
    "policy_version": 2,
    "effective_from": date(2021, 1, 1),
    "target": 15,
    "warning": 20,
    "hard_cap": 25,
    "in_the_wind_days": 30,
}


def only_our_tables(text: str) -> None:
    assert '"proj_caseloads".' in text
    assert " FROM referrals" not in text and "proj_referrals" not in text


def test_list_caseloads_reads_only_its_tables_and_applies_the_limits() -> None:
    conn = RecordingConnection([POLICY_ROW], [{"case_manager": "cm.baker", "size": 21}])
    now = datetime(2024, 3, 1, 12, tzinfo=UTC)
    [row] = caseloads.list_caseloads(conn, now=now, case_manager="cm.baker")  # type: ignore[arg-type]
    assert row["over_warning"] is True and row["at_cap"] is False and row["policy_version"] == 2
    (policy_sql, policy_params), (sizes_sql, sizes_params) = conn.queries
    assert policy_params == {"on": date(2024, 3, 1)}
    assert sizes_params["case_manager"] == "cm.baker"
    for text in (policy_sql, sizes_sql):
        only_our_tables(text)

    everyone = RecordingConnection([], [])
    assert caseloads.list_caseloads(everyone, now=now) == []  # type: ignore[arg-type]
    assert "case_manager" not in everyone.queries[1][1]


def test_list_caseload_reads_only_its_tables_and_computes_the_clock_columns() -> None:
    now = datetime(2024, 3, 1, 12, tzinfo=UTC)
    participant = {
        "participant_id": uuid4(),
        "person_id": uuid4(),
        "status": "active",
        "enrolled_on": date(2024, 1, 1),
        "reengaged_on": None,
        "last_contact_at": now - timedelta(days=3),
        "contacts_last_30_days": 4,
        "open_goals": 1,
    }
    conn = RecordingConnection([POLICY_ROW], [participant])
    [entry] = caseloads.list_caseload(conn, "cm.baker", now=now)  # type: ignore[arg-type]
    assert entry["days_since_contact"] == 3 and entry["in_the_wind"] is False
    text, params = conn.queries[1]
    only_our_tables(text)
    assert params["now"] == now and params["since"] == now - timedelta(days=30)
