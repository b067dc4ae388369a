"""The referral queue projection, fed a realistic site's events, without a database.

The row changes are applied to a small in-memory model of the tables that honours
the version guards exactly as `infra.postgres.row_statements` does, and checks each change
against the table definitions, so a misspelt column or a missing NOT NULL value
fails here instead of in PostgreSQL. The queue is then read from those rows the way
`list_queue` reads it (rows not closed, ordered by `order_queue`) and compared with
what the application's own repository says about every referral.
"""

from __future__ import annotations

import copy
import enum
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from psycopg import sql

from aggregates.referral import Referral
from events.base import DomainEvent
from events.policy import VerificationSource
from events.referral import Pathway, ReferralReceived, ScreeningFacts
from projections import queue
from projections.base import Delete, Projection, RowChange, Table, Update
from projections.queue import (
    AWAITING_APPROVAL,
    AWAITING_HANDOFF_OR_INTAKE,
    INTAKE_SCHEDULED,
    OPEN_STATUSES,
    QueueProjection,
    order_queue,
    priority,
    queue_entry,
)
from services import commands as c
from services.application import LeadApplication
from services.tools.demo.steps import seed_site
from tests import scenario
from tests.unit.test_api_validation import IN_MEMORY

Row = dict[str, Any]
Event = tuple[int, DomainEvent]
PLAIN = (str, int, float, bool, date, datetime, UUID, type(None))


# -- an in-memory projection store ------------------------------------------------------


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
        self._check_columns(table, {**change.key, **change.values})
        if isinstance(change, Update):
            # UPDATE ... WHERE version < %s: no row, or a newer row, is left alone.
            assert table.versioned, f"{table.name} has no version column to guard an Update"
            row = rows.get(key)
            if row is not None and row["version"] < change.version:
                row.update(change.values, version=change.version)
            return
        # INSERT ... ON CONFLICT DO UPDATE ... WHERE t.version < EXCLUDED.version
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


def recorded(app: LeadApplication) -> list[Event]:
    """Every event in the store, with its position, in order."""
    notifications = app.recorder.select_notifications(start=1, limit=100_000)
    return [(n.id, app.mapper.to_domain_event(n)) for n in notifications]  # type: ignore[misc]


def project(projection: Projection, events: Sequence[Event], times: int = 1) -> Tables:
    """Each event handled and applied `times` times in a row (a redelivery)."""
    tables = Tables(projection.tables)
    for position, event in events:
        for _ in range(times):
            for change in projection.handle(event, position):
                tables.apply(change)
    return tables


# -- open referrals, on top of what a scenario or a seeded site leaves ------------------


@dataclass(frozen=True)
class Opened:
    """The open referrals `open_referrals` made, by name, in the queue's expected order."""

    ids: dict[str, UUID]

    ORDER = (
        "ad_waiting",  # arrest diversion not approved yet: the officer may be waiting
        "ad_overdue",  # deadline passed two days ago, not lapsed yet
        "ad_due",  # deadline in two days
        "ad_scheduled",  # deadline in nine days, intake scheduled
        "sc_old",
        "sc_new",
        "cm_old",
        "cm_new",
    )


def open_referrals(app: LeadApplication) -> Opened:
    """Referrals left open at every stage and on every pathway, received in the last weeks."""
    now = datetime.now(UTC)
    social = ScreeningFacts(
        prior_contact_verified_by=VerificationSource.OFFICER_OBSERVATION,
        prior_contact_on=now.date() - timedelta(days=60),
        program_area="Belltown",
    )
    made = {
        "ad_waiting": (Pathway.ARREST_DIVERSION, 0, None),
        "ad_overdue": (Pathway.ARREST_DIVERSION, 16, None),
        "ad_due": (Pathway.ARREST_DIVERSION, 12, None),
        "ad_scheduled": (Pathway.ARREST_DIVERSION, 5, None),
        "sc_old": (Pathway.SOCIAL_CONTACT, 6, social),
        "sc_new": (Pathway.SOCIAL_CONTACT, 2, social),
        "cm_old": (Pathway.COMMUNITY, 4, None),
        "cm_new": (Pathway.COMMUNITY, 1, None),
    }
    ids: dict[str, UUID] = {}
    for n, (name, (pathway, days_ago, facts)) in enumerate(made.items(), start=40):
        actor = scenario.OUTREACH if pathway is Pathway.COMMUNITY else scenario.OFFICER
        org = actor.organisation
        command = scenario.referral(pathway, n, days_ago=days_ago, facts=facts, org=org)
        ids[name] = app.receive_referral(command, actor).id
    for name in ("ad_overdue", "ad_due", "ad_scheduled", "sc_new", "cm_old"):
        app.approve_referral(ids[name], c.ApproveReferral(), scenario.PM)
    received = status_of(app, ids["ad_due"]).received_at
    assert received is not None
    handoff = c.CompleteWarmHandoff(
        case_manager="cm.ortiz", arrived_at=received + timedelta(minutes=25)
    )
    app.complete_warm_handoff(ids["ad_due"], handoff, scenario.OFFICER)
    for name in ("ad_scheduled", "cm_old"):
        schedule = c.ScheduleIntake(scheduled_for=now + timedelta(days=1), case_manager="cm.ortiz")
        app.schedule_intake(ids[name], schedule, scenario.CM)
    for name in Opened.ORDER:
        assert status_of(app, ids[name]).status in OPEN_STATUSES, name
    return Opened(ids)


def status_of(app: LeadApplication, referral_id: UUID) -> Referral:
    referral: object = app.repository.get(referral_id)
    assert isinstance(referral, Referral)
    return referral


def referrals_in(app: LeadApplication) -> dict[UUID, Referral]:
    """Every referral the application holds, from the repository."""
    return {
        e.originator_id: status_of(app, e.originator_id)
        for _, e in recorded(app)
        if isinstance(e, ReferralReceived)
    }


def read_queue(tables: Tables, today: date, pathway: str | None = None) -> list[Row]:
    """`list_queue`'s answer, built from the in-memory rows as its query selects them."""
    rows = [
        {column: r.get(column) for column in queue.COLUMNS}  # a column never set is NULL
        for r in tables["queue"]
        if not r["closed"] and (pathway is None or r["pathway"] == pathway)
    ]
    return order_queue(rows, today=today)


def assert_in_priority_order(entries: Sequence[Row]) -> None:
    """The protocol's order, checked pair by pair without `priority`'s own key."""
    rank = {"arrest_diversion": 0, "social_contact": 1, "community": 2}
    for a, b in itertools.pairwise(entries):
        assert rank[a["pathway"]] <= rank[b["pathway"]], (a, b)
        if a["pathway"] != b["pathway"]:
            continue
        if a["pathway"] == "arrest_diversion":
            a_waits, b_waits = a["intake_deadline"] is None, b["intake_deadline"] is None
            assert a_waits or not b_waits, (a, b)  # awaiting approval leads
            if not a_waits and not b_waits:
                assert a["intake_deadline"] <= b["intake_deadline"], (a, b)
                if a["intake_deadline"] < b["intake_deadline"]:
                    continue
            elif a_waits != b_waits:
                continue
        assert a["received_at"] <= b["received_at"], (a, b)


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def app() -> Iterator[LeadApplication]:
    application = LeadApplication(env=IN_MEMORY)
    yield application
    application.close()


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[LeadApplication, Opened]]:
    application = LeadApplication(env=IN_MEMORY)
    seed_site(application, participants=20, months=3)
    opened = open_referrals(application)
    yield application, opened
    application.close()


# -- the site's events through the projection -----------------------------------------


def test_the_projection_follows_the_schema_convention() -> None:
    assert QueueProjection.name == "queue"
    assert queue.SCHEMA == "proj_queue"
    assert [t.name for t in QueueProjection.tables] == ["queue"]


def test_the_scenario_leaves_an_empty_queue_and_every_referral_closed(
    app: LeadApplication,
) -> None:
    site = scenario.run(app)
    tables = project(QueueProjection(), recorded(app))
    assert read_queue(tables, datetime.now(UTC).date()) == []
    by_id = {r["referral_id"]: r for r in tables["queue"]}
    for outcome, referral_id in site.referrals.items():
        assert by_id[referral_id]["status"] == outcome
        assert by_id[referral_id]["closed"] is True
        assert by_id[referral_id]["closed_at"] is not None


def test_the_queue_holds_the_open_referrals_in_the_protocols_order(app: LeadApplication) -> None:
    scenario.run(app)
    opened = open_referrals(app)
    today = datetime.now(UTC).date()
    entries = read_queue(project(QueueProjection(), recorded(app)), today)
    names = {v: k for k, v in opened.ids.items()}
    assert [names[e["referral_id"]] for e in entries] == list(Opened.ORDER)
    assert_in_priority_order(entries)

    by_name = {names[e["referral_id"]]: e for e in entries}
    assert [by_name[n]["days_to_deadline"] for n in ("ad_overdue", "ad_due", "ad_scheduled")] == [
        -2,
        2,
        9,
    ]
    assert by_name["ad_waiting"]["days_to_deadline"] is None
    assert by_name["sc_new"]["days_to_deadline"] is None  # only arrest diversions have one
    assert {n: e["stage"] for n, e in by_name.items()} == {
        "ad_waiting": AWAITING_APPROVAL,
        "ad_overdue": AWAITING_HANDOFF_OR_INTAKE,
        "ad_due": AWAITING_HANDOFF_OR_INTAKE,
        "ad_scheduled": INTAKE_SCHEDULED,
        "sc_old": AWAITING_APPROVAL,
        "sc_new": AWAITING_HANDOFF_OR_INTAKE,
        "cm_old": INTAKE_SCHEDULED,
        "cm_new": AWAITING_APPROVAL,
    }
    assert by_name["ad_due"]["minutes_to_handoff"] == 25
    assert by_name["ad_due"]["case_manager"] == "cm.ortiz"
    assert by_name["cm_old"]["intake_scheduled_for"] is not None
    assert by_name["ad_waiting"]["minutes_to_handoff"] is None

    social = read_queue(project(QueueProjection(), recorded(app)), today, "social_contact")
    assert [names[e["referral_id"]] for e in social] == ["sc_old", "sc_new"]


def test_a_seeded_site_queues_exactly_the_referrals_whose_final_status_is_open(
    seeded: tuple[LeadApplication, Opened],
) -> None:
    app, opened = seeded
    tables = project(QueueProjection(), recorded(app))
    referrals = referrals_in(app)
    assert len(referrals) > 20 + len(Opened.ORDER)  # the seeded ones are all there too
    entries = read_queue(tables, datetime.now(UTC).date())
    open_ids = {i for i, r in referrals.items() if r.status in OPEN_STATUSES}
    assert open_ids == set(opened.ids.values())  # the seeder closes every referral it makes
    assert [e["referral_id"] for e in entries] == [opened.ids[n] for n in Opened.ORDER]
    assert_in_priority_order(entries)
    for entry in entries:
        referral = referrals[entry["referral_id"]]
        assert entry["status"] == referral.status
        assert entry["intake_deadline"] == referral.intake_deadline
        assert entry["received_at"] == referral.received_at
        assert entry["pathway"] == referral.pathway
    # Every row, open or closed, has the referral's final status.
    assert {r["referral_id"]: r["status"] for r in tables["queue"]} == {
        i: r.status for i, r in referrals.items()
    }
    closed = {r["referral_id"] for r in tables["queue"] if r["closed"]}
    assert closed == set(referrals) - open_ids


def test_every_event_delivered_twice_or_replayed_gives_identical_rows(
    seeded: tuple[LeadApplication, Opened],
) -> None:
    app, _ = seeded
    events = recorded(app)
    once = project(QueueProjection(), events).snapshot()
    assert project(QueueProjection(), events, times=2).snapshot() == once
    assert project(QueueProjection(), [*events, *events]).snapshot() == once


def _events_of(app: LeadApplication, referral_id: UUID) -> list[Event]:
    return [(p, e) for p, e in recorded(app) if e.originator_id == referral_id]


@pytest.mark.parametrize("outcome", ["lapsed", "enrolled", "withdrawn", "declined", "excluded"])
def test_a_closed_referral_stays_out_of_the_queue_when_its_events_come_again(
    app: LeadApplication, outcome: str
) -> None:
    site = scenario.run(app)
    events = _events_of(app, site.referrals[outcome])
    received = [(p, e) for p, e in events if isinstance(e, ReferralReceived)]
    assert len(received) == 1 and received[0] == events[0]
    today = datetime.now(UTC).date()
    for delivered in (
        events,  # in order
        [*events, *received],  # then the receipt redelivered
        [*events, *events, *received],  # everything twice, then the receipt again
        [*events, *reversed(events)],  # everything again, newest first
    ):
        tables = project(QueueProjection(), delivered, times=2)
        [row] = tables["queue"]
        assert row["status"] == outcome and row["closed"] is True
        assert read_queue(tables, today) == []


def test_closing_flags_the_row_instead_of_deleting_it(app: LeadApplication) -> None:
    """A Delete would let a redelivered `ReferralReceived` Upsert put the referral back."""
    site = scenario.run(app)
    for outcome, referral_id in site.referrals.items():
        position, last = _events_of(app, referral_id)[-1]
        [change] = QueueProjection().handle(last, position)
        assert isinstance(change, Update), change
        assert change.version == last.originator_version
        assert change.values["closed"] is True and change.values["status"] == outcome
        assert change.values["closed_at"] == last.occurred_at


def test_no_names_or_incident_details_reach_any_row(app: LeadApplication) -> None:
    scenario.run(app)
    open_referrals(app)
    tables = project(QueueProjection(), recorded(app))
    text = repr(tables.snapshot())
    for sensitive in ("Person1", "Person40", "Example", "2nd & Bell", "the incident"):
        assert sensitive not in text
    assert "officer.reyes" not in text  # nor who referred them


# -- the order, as a pure function -------------------------------------------------------


def _row(
    pathway: str,
    received_days_ago: int,
    *,
    deadline: date | None = None,
    status: str | None = None,
    referral_id: UUID | None = None,
) -> Row:
    received_at = datetime(2024, 3, 20, 12, tzinfo=UTC) - timedelta(days=received_days_ago)
    return {
        "referral_id": referral_id or uuid4(),
        "person_id": uuid4(),
        "pathway": pathway,
        "status": status or ("approved" if deadline else "eligible"),
        "received_at": received_at,
        "intake_deadline": deadline,
        "intake_scheduled_for": None,
        "case_manager": None,
        "minutes_to_handoff": None,
    }


def test_arrest_diversions_lead_awaiting_approval_first_then_by_deadline() -> None:
    # Deadlines need not follow receipt: a policy amendment can shorten the days.
    late_deadline_old = _row("arrest_diversion", 10, deadline=date(2024, 4, 3))
    soon_deadline_new = _row("arrest_diversion", 2, deadline=date(2024, 3, 25))
    waiting_new = _row("arrest_diversion", 0)
    waiting_old = _row("arrest_diversion", 1)
    social_new = _row("social_contact", 1)
    social_old = _row("social_contact", 30, status="approved")
    community_old = _row("community", 40)
    community_new = _row("community", 3, status="intake_scheduled")
    rows = [
        community_new,
        social_new,
        late_deadline_old,
        waiting_new,
        community_old,
        soon_deadline_new,
        social_old,
        waiting_old,
    ]
    ordered = order_queue(rows, today=date(2024, 3, 20))
    expected = [
        waiting_old,
        waiting_new,
        soon_deadline_new,
        late_deadline_old,
        social_old,
        social_new,
        community_old,
        community_new,
    ]
    assert [e["referral_id"] for e in ordered] == [r["referral_id"] for r in expected]
    assert [e["days_to_deadline"] for e in ordered[:4]] == [None, None, 5, 14]
    assert_in_priority_order(ordered)


def test_ties_go_to_the_older_referral_then_the_referral_id() -> None:
    a = _row("community", 3, referral_id=UUID(int=2))
    b = _row("community", 3, referral_id=UUID(int=1))
    c_ = _row("arrest_diversion", 1, deadline=date(2024, 4, 1), referral_id=UUID(int=9))
    d = _row("arrest_diversion", 5, deadline=date(2024, 4, 1), referral_id=UUID(int=8))
    ordered = order_queue([a, b, c_, d], today=date(2024, 3, 20))
    assert [e["referral_id"] for e in ordered] == [
        UUID(int=8),
        UUID(int=9),
        UUID(int=1),
        UUID(int=2),
    ]
    assert priority(d) < priority(c_) < priority(b) < priority(a)


def test_an_entry_carries_its_stage_and_days_to_deadline_on_the_day_given() -> None:
    row = _row("arrest_diversion", 20, deadline=date(2024, 3, 18))
    assert queue_entry(row, today=date(2024, 3, 18))["days_to_deadline"] == 0
    overdue = queue_entry(row, today=date(2024, 3, 20))
    assert overdue["days_to_deadline"] == -2  # due to lapse back to the prosecutor
    assert overdue["stage"] == AWAITING_HANDOFF_OR_INTAKE
    assert queue_entry(_row("community", 1, status="received"), today=date(2024, 3, 20))[
        "stage"
    ] == (AWAITING_APPROVAL)
    assert set(overdue) == {
        "referral_id",
        "person_id",
        "pathway",
        "status",
        "stage",
        "received_at",
        "intake_deadline",
        "days_to_deadline",
        "intake_scheduled_for",
        "case_manager",
        "minutes_to_handoff",
    }


# -- the query, as far as it goes without a database -----------------------------------


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


def test_list_queue_reads_only_open_rows_of_its_own_table_in_priority_order() -> None:
    """PostgreSQL orders the rows (by `priority` in SQL; tests/integration/
    test_read_models.py checks it orders them as `order_queue` does); the entries keep
    its order, and a cursor's key is sought past in SQL."""
    rows = [_row("arrest_diversion", 1, deadline=date(2024, 3, 30)), _row("community", 3)]
    conn = RecordingConnection(rows)
    entries = queue.list_queue(conn, today=date(2024, 3, 20))  # type: ignore[arg-type]
    assert [e["pathway"] for e in entries] == ["arrest_diversion", "community"]
    assert entries[0]["days_to_deadline"] == 10
    [(text, params)] = conn.queries
    assert '"proj_queue"."queue"' in text and "WHERE NOT closed" in text
    assert "ORDER BY CASE pathway WHEN 'arrest_diversion' THEN 0" in text
    assert params == {}

    after = queue.priority(entries[0])
    paged = RecordingConnection([])
    queue.list_queue(paged, today=date(2024, 3, 20), after=after, limit=11)  # type: ignore[arg-type]
    [(text, params)] = paged.queries
    assert "ROW(" in text and "> ROW(" in text and text.endswith("LIMIT 11")
    assert list(params.values()) == list(after)

    one = RecordingConnection([])
    assert queue.list_queue(one, today=date(2024, 3, 20), pathway="community") == []  # type: ignore[arg-type]
    [(text, params)] = one.queries
    assert params == {"pathway": "community"} and "pathway = %(pathway)s" in text

    with pytest.raises(ValueError):
        queue.list_queue(RecordingConnection(), today=date(2024, 3, 20), pathway="walk_in")  # type: ignore[arg-type]
