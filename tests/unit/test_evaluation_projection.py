"""The evaluation projection, without a database.

A synthetic site (`services.tools.demo.steps.seed_site`) is fed through `handle` into an in-memory
model of the projection's tables that applies Upsert / Update / Delete exactly as
`infra.postgres.row_statements` does (version guards included) and checks every value
against its column's declared type. The query functions run against a fake
connection that answers each of their (schema-qualified) SQL statements from those
in-memory tables, so the Python half of every query is exercised end to end.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast
from uuid import UUID

import pytest
from psycopg import sql

from events.base import DomainEvent
from events.envelope import CloudEvent, decode, envelope
from events.participant import ContactRecorded, GoalProgressRecorded, GoalRevised, GoalSet
from events.referral import Pathway, ReferralReceived, ReferralWithdrawnByPerson
from projections.base import Delete, RowChange, Table, Update, Upsert
from projections.evaluation import queries, summaries, suppression
from projections.evaluation.projection import SCHEMA, EvaluationProjection
from services.application import LeadApplication
from services.tools.demo.steps import SeedReport, seed_site

IN_MEMORY = {
    "PERSISTENCE_MODULE": "eventsourcing.popo",
    "MAPPER_TOPIC": "infra.postgres.mapper:PydanticMapper",
    "TRANSCODER_TOPIC": "infra.postgres.mapper:JSONBytesTranscoder",
}
PARTICIPANTS = 40
MONTHS = 6

Row = dict[str, Any]

# -- an in-memory model of the projection store -----------------------------------------

PYTHON_TYPES: dict[str, Callable[[Any], bool]] = {
    "uuid": lambda v: isinstance(v, UUID),
    "text": lambda v: isinstance(v, str),
    "date": lambda v: isinstance(v, date) and not isinstance(v, datetime),
    "timestamptz": lambda v: isinstance(v, datetime) and v.tzinfo is not None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


class MemoryStore:
    """Tables as dicts keyed by primary key, changed the way the SQL statements change them."""

    def __init__(self, tables: Sequence[Table]) -> None:
        self.tables = {t.name: t for t in tables}
        self.rows: dict[str, dict[tuple[Any, ...], Row]] = {t.name: {} for t in tables}

    def _check(self, table: Table, values: Mapping[str, Any]) -> None:
        for column, value in values.items():
            assert column in table.columns, f"{table.name} has no column {column}"
            kind, *constraints = table.columns[column].split()
            if value is None:
                assert "NOT" not in constraints, f"{table.name}.{column} is NOT NULL"
            else:
                assert PYTHON_TYPES[kind](value), f"{table.name}.{column}: {value!r} is no {kind}"

    def _defaults(self, table: Table, given: Mapping[str, Any]) -> Row:
        row: Row = {}
        for column, definition in table.columns.items():
            if column in given:
                continue
            if "DEFAULT false" in definition:
                row[column] = False
            else:
                assert "NOT NULL" not in definition, f"{table.name}.{column} left NULL"
                row[column] = None
        return row

    def apply(self, change: RowChange) -> None:
        table = self.tables[change.table]
        assert set(change.key) == set(table.primary_key)
        key = tuple(change.key[k] for k in table.primary_key)
        rows = self.rows[table.name]
        if isinstance(change, Delete):
            rows.pop(key, None)
            return
        self._check(table, {**change.key, **change.values})
        if isinstance(change, Update):  # UPDATE ... WHERE key AND version < %s
            row = rows.get(key)
            if row is not None and row["version"] < change.version:
                row.update(change.values, version=change.version)
            return
        assert isinstance(change, Upsert)
        assert change.version is not None or not table.versioned
        new = {**change.key, **change.values}
        if change.version is not None:
            new["version"] = change.version
        existing = rows.get(key)
        if existing is None:  # INSERT
            rows[key] = {**self._defaults(table, new), **new}
        elif set(new) - set(change.key) and (  # ON CONFLICT DO UPDATE ... WHERE version <
            change.version is None or existing["version"] < change.version
        ):
            existing.update({k: v for k, v in new.items() if k not in change.key})

    def feed(self, events: Sequence[tuple[int, DomainEvent]]) -> None:
        projection = EvaluationProjection()
        for position, event in events:
            for change in projection.handle(event, position):
                self.apply(change)

    def snapshot(self) -> dict[str, dict[tuple[Any, ...], Row]]:
        return copy.deepcopy(self.rows)

    def all(self, name: str) -> list[Row]:
        return list(self.rows[name].values())


def store_of(events: Sequence[tuple[int, DomainEvent]]) -> MemoryStore:
    store = MemoryStore(EvaluationProjection.tables)
    store.feed(events)
    return store


# -- a fake connection answering the queries from the in-memory tables ----------------


class FakeCursor:
    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def fetchall(self) -> list[Row]:
        return self.rows


def _in_period(row: Row, params: Mapping[str, Any]) -> bool:
    since, before = params.get("since"), params.get("before")
    return (since is None or row["received_on"] >= since) and (
        before is None or row["received_on"] < before
    )


class FakeConnection:
    """Recognises each query by its text and computes what PostgreSQL would return.

    Each emulation is the plain reading of the statement; an unknown statement fails.
    """

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.statements: list[str] = []

    def execute(self, query: sql.Composed, params: Mapping[str, Any] | None = None) -> FakeCursor:
        text = query.as_string(None)
        self.statements.append(text)
        params = params or {}
        referrals = [r for r in self.store.all("referrals") if _in_period(r, params)]
        if "received_month AS month" in text:
            groups: defaultdict[tuple[date, str], list[Row]] = defaultdict(list)
            for r in referrals:
                groups[(r["received_month"], r["pathway"])].append(r)
            return FakeCursor(
                [
                    {
                        "month": m,
                        "pathway": p,
                        "referrals": len(rs),
                        "enrolled": sum(r["outcome"] == "enrolled" for r in rs),
                    }
                    for (m, p), rs in sorted(groups.items())
                ]
            )
        for column in ("race", "ethnicity"):
            if f'SELECT "{column}" AS value' in text:
                counts: defaultdict[Any, int] = defaultdict(int)
                for r in referrals:
                    counts[r[column]] += 1
                return FakeCursor([{"value": k, "n": n} for k, n in counts.items()])
        if "prior_criminal_legal_contact AS prior" in text:
            prior: defaultdict[tuple[str, bool | None], int] = defaultdict(int)
            for r in referrals:
                prior[(r["pathway"], r["prior_criminal_legal_contact"])] += 1
            return FakeCursor([{"pathway": p, "prior": k, "n": n} for (p, k), n in prior.items()])
        if "intake_on - received_on AS days" in text:
            return FakeCursor(
                [
                    {"pathway": r["pathway"], "days": (r["intake_on"] - r["received_on"]).days}
                    for r in referrals
                    if r["intake_on"] is not None
                ]
            )
        if "AS arrest_diversions" in text:
            arrests = [r for r in referrals if r["pathway"] == params["pathway"]]
            return FakeCursor(
                [
                    {
                        "arrest_diversions": len(arrests),
                        "approved": sum(r["approved"] for r in arrests),
                        "lapsed": sum(r["lapsed"] for r in arrests),
                    }
                ]
            )
        enrollments = self.store.all("enrollments")
        if "SELECT enrolled_on, exited_on, reengaged_on FROM" in text:
            columns = ("enrolled_on", "exited_on", "reengaged_on")
            return FakeCursor([{c: e[c] for c in columns} for e in enrollments])
        if "SELECT contacted_on, count(*)" in text:
            per_day: defaultdict[date, int] = defaultdict(int)
            for c in self.store.all("contacts"):
                if c["contacted_on"] <= params["through"]:
                    per_day[c["contacted_on"]] += 1
            return FakeCursor([{"contacted_on": d, "n": n} for d, n in per_day.items()])
        for table, column, alias in (
            ("housing", "category", "categories"),
            ("income", "has_income", "observations"),
        ):
            if f"array_agg({column} ORDER BY as_of, version)" in text:
                by_participant: defaultdict[UUID, list[Row]] = defaultdict(list)
                for o in self.store.all(table):
                    by_participant[o["participant_id"]].append(o)
                return FakeCursor(
                    [
                        {
                            alias: [
                                o[column]
                                for o in sorted(os, key=lambda o: (o["as_of"], o["version"]))
                            ]
                        }
                        for os in by_participant.values()
                    ]
                )
        if "SELECT enrolled_on FROM" in text:
            return FakeCursor([{"enrolled_on": e["enrolled_on"]} for e in enrollments])
        if "JOIN" in text and "filings" in text:
            joined = [
                {
                    "enrolled_on": e["enrolled_on"],
                    "filing_date": f["filing_date"],
                    "incident_date": f["incident_date"],
                    "felony": f["felony"],
                }
                for e in enrollments
                for f in self.store.all("filings")
                if f["person_id"] == e["person_id"] and f["filing_date"] is not None
            ]
            return FakeCursor(joined)
        raise AssertionError(f"unexpected statement: {text}")


def connection(store: MemoryStore) -> tuple[queries.Conn, FakeConnection]:
    fake = FakeConnection(store)
    return cast(queries.Conn, fake), fake


# -- the seeded site ------------------------------------------------------------------


class Site:
    def __init__(self, report: SeedReport, events: list[tuple[int, DomainEvent]]) -> None:
        self.report = report
        self.events = events


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    app = LeadApplication(env=IN_MEMORY)
    report = seed_site(app, participants=PARTICIPANTS, months=MONTHS, seed=0)
    notifications = app.recorder.select_notifications(start=1, limit=100_000)
    events = [(n.id, cast(DomainEvent, app.mapper.to_domain_event(n))) for n in notifications]
    app.close()
    yield Site(report, events)


@pytest.fixture(scope="module")
def store(site: Site) -> MemoryStore:
    return store_of(site.events)


def walk(value: object) -> Iterator[object]:
    """Every value inside nested dicts and lists, containers included."""
    yield value
    if isinstance(value, Mapping):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from walk(item)


def all_queries(conn: queries.Conn, threshold: int) -> dict[str, Any]:
    baseline = {"black": 400, "white": 450, "american_indian_alaska_native": 60, "asian": 5}
    return {
        "by_pathway_and_month": queries.referrals_by_pathway_and_month(
            conn, suppress_below=threshold
        ),
        "by_race_ethnicity": queries.referrals_by_race_ethnicity(
            conn, baseline, suppress_below=threshold
        ),
        "net_widening": queries.net_widening(conn, suppress_below=threshold),
        "time_to_intake": queries.time_to_intake(conn, suppress_below=threshold),
        "lapses": queries.lapses(conn, suppress_below=threshold),
        "dose": queries.contacts_per_participant_month(conn, suppress_below=threshold),
        "housing": queries.housing_transitions(conn, suppress_below=threshold),
        "income": queries.income_transitions(conn, suppress_below=threshold),
        "filings": queries.filings_before_after_enrollment(
            conn, months=2, full_follow_up=False, suppress_below=threshold
        ),
    }


# -- the tables -----------------------------------------------------------------------


def test_one_referral_row_per_referral_and_outcomes_as_reported(
    site: Site, store: MemoryStore
) -> None:
    referrals = store.all("referrals")
    report = site.report
    assert len(referrals) == report.referrals
    outcomes: defaultdict[str, int] = defaultdict(int)
    for row in referrals:
        outcomes[row["outcome"]] += 1
    assert outcomes == {
        "enrolled": report.enrolled,
        "excluded": report.excluded,
        "declined": report.declined,
        "withdrawn": report.withdrawn,
        "lapsed": report.lapsed,
    }
    assert sum(r["lapsed"] for r in referrals) == report.lapsed
    assert {r["pathway"] for r in referrals if r["lapsed"]} == {Pathway.ARREST_DIVERSION.value}
    for row in referrals:
        assert row["received_month"] == row["received_on"].replace(day=1)
        assert (row["intake_on"] is not None) == (row["outcome"] == "enrolled")
        if row["intake_on"] is not None:
            assert row["intake_on"] >= row["received_on"]


def test_contacts_enrollments_and_filings_match_the_report(site: Site, store: MemoryStore) -> None:
    report = site.report
    assert len(store.all("contacts")) == report.contacts
    enrollments = store.all("enrollments")
    assert len(enrollments) == report.enrolled
    assert sum(e["exited_on"] is not None for e in enrollments) == report.exits
    filings = store.all("filings")
    assert len(filings) == report.cases
    post = [f for f in filings if f["origin"] == "post_enrollment" and f["filing_date"]]
    assert len(post) == report.filings
    assert all(f["origin"] is None for f in filings if f["filing_date"] is None)
    observed = {h["participant_id"] for h in store.all("housing")}
    assert observed == {e["participant_id"] for e in enrollments}  # intake records it


def test_every_event_fed_twice_leaves_the_tables_unchanged(site: Site, store: MemoryStore) -> None:
    before = store.snapshot()
    again = store_of(site.events)
    again.feed(site.events)
    assert again.snapshot() == before


def test_an_old_event_replayed_after_newer_ones_changes_nothing(
    site: Site, store: MemoryStore
) -> None:
    before = store.snapshot()
    replay = store_of(site.events)
    old = [(p, e) for p, e in site.events if isinstance(e, ReferralReceived | ContactRecorded)]
    replay.feed(list(reversed(old)))
    assert replay.snapshot() == before


def test_events_as_published_on_the_bus_give_the_same_rows(site: Site, store: MemoryStore) -> None:
    """The projector decodes CloudEvents; what survives the wire must give the same rows."""
    wired = [
        (p, decode(CloudEvent.from_json(envelope(e, position=p, source="test").to_json())))
        for p, e in site.events
    ]
    assert store_of(wired).snapshot() == store.snapshot()


def test_no_name_birth_date_note_or_free_text_reaches_a_row(site: Site, store: MemoryStore) -> None:
    secrets: set[str] = set()
    birth_dates: set[date] = set()
    for _, event in site.events:
        match event:
            case ReferralReceived():
                person = event.person
                secrets |= {person.given_name, person.family_name, *person.aliases}
                secrets |= {event.incident.place or "", event.referrer.principal}
                if person.birth_date is not None:
                    birth_dates.add(person.birth_date)
            case ContactRecorded():
                secrets |= {event.notes or "", event.place or ""}
            case GoalSet() | GoalRevised():
                secrets.add(event.text)
            case GoalProgressRecorded():
                secrets.add(event.note)
            case ReferralWithdrawnByPerson():
                secrets.add(event.note or "")
    secrets.discard("")
    assert any(" " in s for s in secrets)  # the notes are there to be looked for
    assert birth_dates
    for table, rows in store.rows.items():
        for row in rows.values():
            for column, value in row.items():
                if isinstance(value, str):
                    leaked = [s for s in secrets if s in value]
                    assert not leaked, f"{table}.{column} holds {leaked}"
                assert value not in birth_dates, f"{table}.{column} holds a birth date"
    forbidden = ("name", "birth", "note", "alias", "place", "text", "reason", "summary")
    columns = [c for t in EvaluationProjection.tables for c in t.columns]
    assert not [c for c in columns if any(f in c for f in forbidden)]


def test_the_projection_names_its_tables_bare_and_queries_qualify_them(
    store: MemoryStore,
) -> None:
    projection = EvaluationProjection()
    assert projection.name == "evaluation"
    assert SCHEMA == "proj_evaluation"
    names = {t.name for t in projection.tables}
    assert names == {"referrals", "enrollments", "contacts", "housing", "income", "filings"}
    conn, fake = connection(store)
    all_queries(conn, 11)
    assert len(fake.statements) == 12
    for statement in fake.statements:
        assert '"proj_evaluation".' in statement
        for name in names:
            assert f" {name} " not in statement and f' "{name}" ' not in statement


def test_events_the_evaluation_ignores_give_no_changes(site: Site) -> None:
    projection = EvaluationProjection()
    ignored = [e for _, e in site.events if isinstance(e, GoalSet | GoalProgressRecorded)]
    assert ignored
    assert all(projection.handle(e, 1) == [] for e in ignored)


# -- the queries over the seeded site -------------------------------------------------


def test_unsuppressed_answers_add_up_to_the_report(site: Site, store: MemoryStore) -> None:
    conn, _ = connection(store)
    report = site.report
    answers = all_queries(conn, threshold=1)  # nothing withheld: every count is checkable
    cells = answers["by_pathway_and_month"]
    assert sum(c["referrals"]["count"] for c in cells) == report.referrals
    assert sum(c["enrolled"]["count"] for c in cells) == report.enrolled
    assert answers["by_race_ethnicity"]["referrals"]["count"] == report.referrals
    by_race = sum(r["referrals"]["count"] for r in answers["by_race_ethnicity"]["by_race"])
    assert by_race == report.referrals
    widening = answers["net_widening"]["overall"]
    assert (
        widening["unknown"]["count"]
        + widening["no_prior_contact"]["count"]
        + widening["prior_contact"]["count"]
    ) == report.referrals
    known = widening["no_prior_contact"]["count"] + widening["prior_contact"]["count"]
    assert widening["share_no_prior_contact"]["share"] == pytest.approx(
        widening["no_prior_contact"]["count"] / known, abs=1e-4
    )
    intake = answers["time_to_intake"]["overall"]
    assert intake["count"]["count"] == report.enrolled
    assert 0 <= intake["median_days"]["value"] <= intake["p90_days"]["value"]
    lapses = answers["lapses"]
    assert lapses["lapsed"]["count"] == report.lapsed
    assert lapses["approved"]["count"] >= report.lapsed
    dose = answers["dose"]["overall"]
    assert dose["contacts"]["count"] == report.contacts
    assert dose["participants"]["count"] == report.enrolled
    assert 0 < dose["contacts_per_participant_month"]["value"] < 9  # at most 8 a month
    housing = answers["housing"]
    assert housing["participants_observed"]["count"] <= report.enrolled
    assert housing["reached_goal"]["count"] >= 1
    assert answers["filings"]["filings"]["after"]["count"] >= 1


def test_race_shares_sit_beside_the_baseline(store: MemoryStore) -> None:
    conn, _ = connection(store)
    baseline = {"black": 300, "white": 600, "asian": 100}
    answer = queries.referrals_by_race_ethnicity(conn, baseline, suppress_below=1)
    rows = {r["race"]: r for r in answer["by_race"]}
    assert set(baseline) <= set(rows)
    assert rows["white"]["baseline_share"] == {"share": 0.6, "suppressed": False}
    outside = [r for race, r in rows.items() if race not in baseline]
    assert outside  # e.g. "multiracial", "prefers_not_to_answer"
    assert all(r["baseline_arrests"] is None and r["disparity_ratio"] is None for r in outside)
    comparable = answer["comparable_referrals"]["count"]
    black = rows["black"]["referrals"]["count"]
    assert rows["black"]["disparity_ratio"]["value"] == round((black / comparable) / 0.3, 2)


def test_default_suppression_leaves_no_small_count_anywhere(store: MemoryStore) -> None:
    conn, _ = connection(store)
    answers = all_queries(conn, threshold=suppression.DEFAULT_SUPPRESS_BELOW)
    cells = [v for v in walk(answers) if isinstance(v, Mapping) and "suppressed" in v]
    assert any(c["suppressed"] for c in cells)  # a 40-person site has small cells
    for cell in cells:
        if "count" in cell:
            count = cell["count"]
            assert (count is None) == cell["suppressed"]
            assert count is None or count == 0 or count >= suppression.DEFAULT_SUPPRESS_BELOW
        if cell["suppressed"]:
            assert all(v is None for k, v in cell.items() if k != "suppressed")
    assert not any(isinstance(v, UUID) for v in walk(answers))  # nothing person-level


def test_no_withheld_cell_can_be_recovered_by_subtracting_from_its_total(
    store: MemoryStore,
) -> None:
    """In each breakdown published beside its total, withheld cells come two or more."""
    conn, _ = connection(store)
    answers = all_queries(conn, threshold=suppression.DEFAULT_SUPPRESS_BELOW)
    widening = answers["net_widening"]
    races = answers["by_race_ethnicity"]
    groups: list[list[suppression.Cell]] = [
        [p["count"] for p in answers["time_to_intake"]["by_pathway"]],
        [r["referrals"] for r in races["by_race"]],
        [r["referrals"] for r in races["by_ethnicity"]],
        [m["contacts"] for m in answers["dose"]["by_month"]],
        [m["participants"] for m in answers["housing"]["first_to_latest"]],
        [m["participants"] for m in answers["income"]["first_to_latest"]],
        *(
            [w[k] for k in ("no_prior_contact", "prior_contact", "unknown")]
            for w in [widening["overall"], *widening["by_pathway"]]
        ),
    ]
    assert any(any(c["suppressed"] for c in group) for group in groups)
    for group in groups:
        hidden = [c for c in group if c["suppressed"]]
        shown = [c["count"] for c in group if not c["suppressed"]]
        # One alone is withheld only when every other cell is zero: then the total is it,
        # and withheld as well.
        assert len(hidden) != 1 or not any(shown), group


def test_time_window_of_referrals(store: MemoryStore) -> None:
    conn, fake = connection(store)
    months = sorted({r["received_month"] for r in store.all("referrals")})
    everything = queries.referrals_by_pathway_and_month(conn, suppress_below=1)
    last = queries.referrals_by_pathway_and_month(conn, suppress_below=1, since=months[-1])
    assert {c["month"] for c in last} == {months[-1]}
    assert len(last) < len(everything)
    assert "%(since)s" in fake.statements[-1]


# -- the pure pieces ------------------------------------------------------------------


@pytest.mark.parametrize("count", range(1, 11))
def test_counts_from_one_to_ten_are_withheld_by_default(count: int) -> None:
    assert suppression.suppress(count) == {"count": None, "suppressed": True}


@pytest.mark.parametrize("count", [0, 11, 12, 500])
def test_zero_and_eleven_up_are_shown(count: int) -> None:
    assert suppression.suppress(count) == {"count": count, "suppressed": False}


def test_the_threshold_is_a_setting_and_negative_counts_are_refused() -> None:
    assert suppression.suppress(4, threshold=5) == {"count": None, "suppressed": True}
    assert suppression.suppress(5, threshold=5) == {"count": 5, "suppressed": False}
    assert suppression.suppress(1, threshold=1) == {"count": 1, "suppressed": False}
    with pytest.raises(ValueError):
        suppression.suppress(-1)


def test_a_share_of_a_withheld_count_is_withheld() -> None:
    big, small, zero = suppression.suppress(40), suppression.suppress(3), suppression.suppress(0)
    assert suppression.share(small, big) == {"share": None, "suppressed": True}
    assert suppression.share(big, small) == {"share": None, "suppressed": True}
    assert suppression.share(suppression.suppress(12), big) == {"share": 0.3, "suppressed": False}
    assert suppression.share(zero, big) == {"share": 0.0, "suppressed": False}
    assert suppression.share(zero, zero) == {"share": None, "suppressed": False}


def test_a_breakdown_withholds_a_second_cell_so_subtraction_gives_nothing_back() -> None:
    cells = suppression.suppress_group({"a": 3, "b": 0, "c": 50, "d": 40})
    assert cells["a"]["suppressed"] and cells["d"]["suppressed"]  # the smallest shown one
    assert cells["b"] == {"count": 0, "suppressed": False}  # zero cells stay shown
    assert cells["c"] == {"count": 50, "suppressed": False}
    two_small = suppression.suppress_group({"a": 2, "b": 3, "c": 20, "d": 30})
    assert [k for k, c in two_small.items() if c["suppressed"]] == ["a", "b", "c"]
    enough = suppression.suppress_group({"a": 5, "b": 8, "c": 20})
    assert [k for k, c in enough.items() if c["suppressed"]] == ["a", "b"]
    assert suppression.suppress_group({"a": 12, "b": 30}) == {
        "a": {"count": 12, "suppressed": False},
        "b": {"count": 30, "suppressed": False},
    }
    told = suppression.suppress_group({"a": 12, "b": 30, "c": 40}, withheld={"a"})
    assert [k for k, c in told.items() if c["suppressed"]] == ["a", "b"]
    alone = suppression.suppress_group({"a": 4, "b": 0})
    assert alone["a"]["suppressed"] and not alone["b"]["suppressed"]


def test_a_two_way_table_withholds_along_rows_and_columns() -> None:
    counts = {
        ("arrest", "known"): 40,
        ("arrest", "unknown"): 30,
        ("community", "known"): 25,
        ("community", "unknown"): 4,
    }
    cells = suppression.suppress_table(counts)
    hidden = {k for k, c in cells.items() if c["suppressed"]}
    # 4 is small; its row and its column each need a second withheld entry, and the
    # cells those bring in need partners in their own lines in turn.
    assert ("community", "unknown") in hidden
    assert ("community", "known") in hidden and ("arrest", "unknown") in hidden
    assert ("arrest", "known") in hidden
    assert cells[(suppression.TOTAL, suppression.TOTAL)] == {"count": 99, "suppressed": False}
    for line in [
        [(r, c) for c in ("known", "unknown", suppression.TOTAL)]
        for r in ("arrest", "community", suppression.TOTAL)
    ]:
        assert sum(k in hidden for k in line) != 1
    plain = suppression.suppress_table(
        {("a", "x"): 20, ("a", "y"): 0, ("b", "x"): 15, ("b", "y"): 30}
    )
    assert not any(c["suppressed"] for c in plain.values())
    assert (
        plain[("a", suppression.TOTAL)]["count"] == 20
        and plain[(suppression.TOTAL, "x")]["count"] == 35
    )


def test_quantiles_interpolate_like_percentile_cont() -> None:
    assert suppression.quantile([], 0.5) is None
    assert suppression.quantile([3, 1, 2], 0.5) == 2
    assert suppression.quantile([1, 2, 3, 4], 0.5) == 2.5
    assert suppression.quantile(list(range(1, 11)), 0.9) == pytest.approx(9.1)
    assert suppression.quantile([7], 0.9) == 7
    with pytest.raises(ValueError):
        suppression.quantile([1], 1.5)


def test_a_duration_summary_of_few_people_is_withheld_whole() -> None:
    few = suppression.duration_summary([1, 2, 3], threshold=11)
    assert few["count"]["suppressed"] and few["median_days"]["value"] is None
    assert few["p90_days"] == {"value": None, "suppressed": True}
    many = suppression.duration_summary(list(range(11)), threshold=11)
    assert many["count"]["count"] == 11
    assert many["median_days"] == {"value": 5.0, "suppressed": False}
    assert suppression.duration_summary([], threshold=11)["median_days"] == {
        "value": None,
        "suppressed": False,
    }


def test_transition_detection_finds_homeless_to_permanent() -> None:
    assert summaries.reached(["homeless", "temporary", "permanent"], "homeless", "permanent")
    assert summaries.reached([None, "homeless", None, "permanent"], "homeless", "permanent")
    assert summaries.reached(["homeless", "permanent", "homeless"], "homeless", "permanent")
    assert not summaries.reached(["homeless"], "homeless", "permanent")
    assert not summaries.reached(["temporary", "permanent"], "homeless", "permanent")
    assert not summaries.reached(["permanent", "homeless"], "homeless", "permanent")
    assert summaries.first_and_latest(["homeless", None, "permanent", "temporary"]) == (
        "homeless",
        "temporary",
    )
    assert summaries.first_and_latest([None, "homeless", None]) is None


def test_transition_summary_counts_participants_not_observations() -> None:
    sequences: list[list[str | None]] = [
        ["homeless", "permanent"],
        ["homeless", "temporary", "permanent"],
        ["homeless"],
        [None, "temporary"],
        ["permanent", "homeless"],
        [None],
    ]
    summary = summaries.summarize_transitions(
        sequences, start="homeless", goal="permanent", threshold=1
    )
    assert summary["participants_observed"]["count"] == 5
    assert summary["observed_more_than_once"]["count"] == 3
    assert summary["unknown_observations"]["count"] == 2
    assert summary["first_at_start"]["count"] == 3
    assert summary["reached_goal"]["count"] == 2
    assert summary["share_reached_goal"]["share"] == round(2 / 3, 4)
    matrix = {
        (m["first"], m["latest"]): m["participants"]["count"] for m in summary["first_to_latest"]
    }
    assert matrix == {("homeless", "permanent"): 2, ("permanent", "homeless"): 1}
    hidden = summaries.summarize_transitions(
        sequences, start="homeless", goal="permanent", threshold=11
    )
    assert hidden["share_reached_goal"] == {"share": None, "suppressed": True}


def test_months_are_added_like_postgresql_intervals() -> None:
    assert summaries.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert summaries.add_months(date(2024, 3, 15), -3) == date(2023, 12, 15)
    assert summaries.add_months(date(2023, 12, 1), 1) == date(2024, 1, 1)
    enrolled = date(2024, 6, 10)
    assert summaries.window_of(enrolled, date(2024, 6, 9), 6) == "before"
    assert summaries.window_of(enrolled, date(2023, 12, 10), 6) == "before"
    assert summaries.window_of(enrolled, date(2023, 12, 9), 6) is None
    assert summaries.window_of(enrolled, enrolled, 6) == "after"
    assert summaries.window_of(enrolled, date(2024, 12, 9), 6) == "after"
    assert summaries.window_of(enrolled, date(2024, 12, 10), 6) is None


def filing(enrolled_on: date, filed: date, incident: date, *, felony: bool) -> Row:
    """A row as the filings query fetches it: the enrollment date beside the case's dates."""
    return {
        "enrolled_on": enrolled_on,
        "filing_date": filed,
        "incident_date": incident,
        "felony": felony,
    }


def test_filings_are_summed_per_window_and_need_full_follow_up() -> None:
    enrolled = date(2024, 1, 15)
    recent = date(2024, 11, 1)
    filings = [
        filing(enrolled, date(2023, 9, 1), date(2023, 8, 1), felony=True),
        filing(enrolled, date(2023, 12, 1), date(2023, 11, 1), felony=False),
        filing(enrolled, date(2024, 2, 1), date(2024, 1, 1), felony=False),
        filing(enrolled, date(2025, 1, 1), date(2024, 3, 1), felony=True),
        filing(recent, date(2024, 12, 1), date(2024, 12, 1), felony=True),
    ]
    summary = summaries.summarize_filings(
        [enrolled, recent],
        filings,
        months=6,
        as_of=date(2024, 12, 31),
        full_follow_up=True,
        threshold=1,
    )
    assert summary["participants"]["count"] == 1  # the recent enrollee is not followed up yet
    assert summary["filings"]["before"]["count"] == 2
    assert summary["filings"]["after"]["count"] == 1  # the 2025 filing is after as_of
    assert summary["filings"]["relative_change"]["value"] == -0.5
    assert summary["felony_filings"]["before"]["count"] == 1
    assert summary["filings_by_incident_date"]["before"]["count"] == 3
    assert summary["filings_by_incident_date"]["after"]["count"] == 0
    everyone = summaries.summarize_filings(
        [enrolled, recent], filings, months=6, as_of=date(2024, 12, 31),
        full_follow_up=False, threshold=1,
    )  # fmt: skip
    assert everyone["participants"]["count"] == 2
    assert everyone["filings"]["after"]["count"] == 2


def test_enrolled_spans_follow_exit_and_return() -> None:
    end = date(2024, 7, 1)
    assert summaries.enrolled_spans(date(2024, 1, 1), None, None, end) == [(date(2024, 1, 1), end)]
    assert summaries.enrolled_spans(date(2024, 1, 1), date(2024, 3, 1), None, end) == [
        (date(2024, 1, 1), date(2024, 3, 1))
    ]
    assert summaries.enrolled_spans(date(2024, 1, 1), date(2024, 3, 1), date(2024, 5, 1), end) == [
        (date(2024, 1, 1), date(2024, 3, 1)),
        (date(2024, 5, 1), end),
    ]
    assert summaries.enrolled_spans(date(2024, 8, 1), None, None, end) == []


def test_exposure_counts_part_months_and_each_participant_once() -> None:
    spans = [
        [(date(2024, 4, 16), date(2024, 6, 1))],  # half of April, all of May
        [(date(2024, 4, 1), date(2024, 4, 11)), (date(2024, 4, 21), date(2024, 5, 1))],
    ]
    exposure = summaries.exposure_by_month(spans)
    assert exposure[date(2024, 4, 1)][0] == 2
    assert exposure[date(2024, 4, 1)][1] == pytest.approx(15 / 30 + 20 / 30)
    assert exposure[date(2024, 5, 1)][0] == 1
    assert exposure[date(2024, 5, 1)][1] == pytest.approx(1.0)
    dose = summaries.summarize_dose(exposure, {date(2024, 5, 1): 4}, participants=2, threshold=1)
    assert dose["by_month"][1]["contacts_per_participant_month"]["value"] == 4.0
    assert dose["overall"]["participant_months"]["value"] == pytest.approx(2.17)


def test_net_widening_share_is_of_known_prior_contact() -> None:
    rows: list[Row] = [
        {"pathway": "social_contact", "prior": False, "n": 15},
        {"pathway": "social_contact", "prior": True, "n": 45},
        {"pathway": "community", "prior": None, "n": 20},
    ]
    summary = summaries.summarize_net_widening(rows, threshold=11)
    overall = summary["overall"]
    assert overall["referrals"]["count"] == 80
    assert overall["unknown"]["count"] == 20
    assert overall["share_no_prior_contact"] == {"share": 0.25, "suppressed": False}
    arrests = next(p for p in summary["by_pathway"] if p["pathway"] == "arrest_diversion")
    assert arrests["referrals"] == {"count": 0, "suppressed": False}
