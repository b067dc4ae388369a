"""Caseloads and evaluation on the real PostgreSQL, checked against the store itself."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg.rows import dict_row

from aggregates.caseload import Caseload
from events.base import DomainEvent
from events.case import CaseOpened, CaseOrigin, ChargingDecisionRecorded
from events.participant import CaseloadOpened, ContactRecorded
from events.referral import IntakeCompleted, IntakeDeadlineLapsed, ReferralReceived
from projections import caseloads as cq
from projections import queue as qq
from projections.agenda import queries as aq
from projections.evaluation import queries as ev
from projections.liaison import queries as lq
from services.bootstrap import Container
from services.tools.demo.steps import seed_site
from tests.integration.test_relay import drain

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def seeded(container: Container) -> list[DomainEvent]:
    seed_site(container.application, participants=30, months=6, seed=11)
    drain(container)
    for projection in container.projections:
        if projection.name != "referrals":
            container.rebuilder(projection).run()
    app = container.application
    return [
        app.mapper.to_domain_event(n)  # type: ignore[misc]
        for n in app.recorder.select_notifications(start=1, limit=1_000_000)
    ]


def query(container: Container, fn: Any, *args: Any, **kwargs: Any) -> Any:
    with psycopg.connect(container.settings.dsn, row_factory=dict_row) as conn:
        return fn(conn, *args, **kwargs)


def test_caseload_sizes_match_the_write_sides_caseloads(
    container: Container, seeded: list[DomainEvent]
) -> None:
    app = container.application
    expected = {}
    for event in seeded:
        if isinstance(event, CaseloadOpened):
            caseload = app.repository.get(event.originator_id)
            assert isinstance(caseload, Caseload)
            expected[caseload.case_manager] = caseload.size
    shown = {
        row["case_manager"]: row["size"]
        for row in query(container, cq.list_caseloads, now=datetime.now(UTC))
    }
    assert shown == expected
    assert all(
        row["hard_cap"] == 25 for row in query(container, cq.list_caseloads, now=datetime.now(UTC))
    )


def test_contacts_in_the_last_30_days_match_the_events(
    container: Container, seeded: list[DomainEvent]
) -> None:
    now = datetime.now(UTC)
    recent = Counter(
        e.originator_id
        for e in seeded
        if isinstance(e, ContactRecorded) and now - timedelta(days=30) < e.contacted_on <= now
    )
    rows = [
        row
        for cm in ("cm.01", "cm.02", "cm.03")
        for row in query(container, cq.list_caseload, cm, now=now)
    ]
    assert rows, "the seeded site has participants on cm.01..cm.03"
    for row in rows:
        assert row["contacts_last_30_days"] == recent.get(row["participant_id"], 0)
        assert row["in_the_wind"] is not None


def test_evaluation_counts_match_the_events_and_hide_small_cells(
    container: Container, seeded: list[DomainEvent]
) -> None:
    kinds = Counter(type(e) for e in seeded)
    by_month = query(container, ev.referrals_by_pathway_and_month, suppress_below=1)
    assert sum(r["referrals"]["count"] for r in by_month) == kinds[ReferralReceived]
    lapses = query(container, ev.lapses, suppress_below=1)
    assert lapses["lapsed"]["count"] == kinds[IntakeDeadlineLapsed]
    intake = query(container, ev.time_to_intake, suppress_below=1)
    assert intake["overall"]["count"]["count"] == kinds[IntakeCompleted]
    dose = query(container, ev.contacts_per_participant_month, suppress_below=1)
    assert dose["overall"]["contacts"]["count"] == kinds[ContactRecorded]
    hidden = query(container, ev.referrals_by_pathway_and_month)
    assert all(
        r["referrals"]["count"] is None
        or r["referrals"]["count"] == 0
        or r["referrals"]["count"] >= 11
        for r in hidden
    )


@pytest.mark.parametrize(
    "name",
    [
        "net_widening",
        "housing_transitions",
        "income_transitions",
        "filings_before_after_enrollment",
    ],
)
def test_every_metric_runs_on_postgresql(
    container: Container, seeded: list[DomainEvent], name: str
) -> None:
    assert query(container, getattr(ev, name)) is not None


def test_race_and_ethnicity_beside_the_baseline(
    container: Container, seeded: list[DomainEvent]
) -> None:
    result = query(
        container, ev.referrals_by_race_ethnicity, {"black": 400, "white": 500}, suppress_below=1
    )
    assert result is not None


def test_the_queue_holds_exactly_the_open_referrals_in_priority_order(
    container: Container, seeded: list[DomainEvent]
) -> None:
    app = container.application
    open_ids = set()
    for event in seeded:
        if isinstance(event, ReferralReceived):
            referral = app.repository.get(event.originator_id)
            if referral.status in ("received", "eligible", "approved", "intake_scheduled"):
                open_ids.add(event.originator_id)
    entries = query(container, qq.list_queue, today=date.today())
    assert {e["referral_id"] for e in entries} == open_ids
    ranks = [
        {"arrest_diversion": 0, "social_contact": 1, "community": 2}[e["pathway"]] for e in entries
    ]
    assert ranks == sorted(ranks)


def test_the_agenda_and_the_liaison_view_read_from_postgresql(
    container: Container, seeded: list[DomainEvent]
) -> None:
    now = datetime.now(UTC)
    agenda = query(container, aq.agenda, since=now - timedelta(days=400), until=now)
    filed = [
        e
        for e in seeded
        if isinstance(e, ChargingDecisionRecorded) and e.origin is CaseOrigin.POST_ENROLLMENT
    ]
    assert len(agenda["post_enrollment_filings"]) >= len(filed) > 0
    assert all(f["incident_date"] for f in agenda["post_enrollment_filings"])
    with_cases = {e.person_id for e in seeded if isinstance(e, CaseOpened)}
    view = query(container, lq.case_view, None)
    assert {v["person_id"] for v in view} >= with_cases
    text = json.dumps(view, default=str)
    notes = [e.notes for e in seeded if isinstance(e, ContactRecorded) and e.notes]
    assert notes and not any(note in text for note in notes)


def walk(fetch_page: Any) -> tuple[list[Any], int]:
    """Every item of a list, page by page, following next_cursor; and how many pages."""
    items: list[Any] = []
    cursor, pages = None, 0
    while True:
        result = fetch_page(cursor)
        items += result["items"]
        pages += 1
        cursor = result["next_cursor"]
        if cursor is None:
            return items, pages


def test_lists_are_paged_in_sql_with_the_same_pages_as_cutting_the_whole_list(
    container: Container, seeded: list[DomainEvent]
) -> None:
    """Keyset pages (`WHERE key > cursor ORDER BY key LIMIT n+1`) walk the same items,
    in the same order, with the same cursors, as cutting the whole list in Python did."""
    from projections import referrals as rq
    from services.commands import ReceiveReferral
    from services.http.pagination import keyset_page, page
    from tests.factories import OFFICER, referral_body

    for i, pathway in enumerate(["arrest_diversion", "social_contact"] * 3):  # open ones
        body = referral_body(pathway=pathway, n=900 + i)
        container.application.receive_referral(ReceiveReferral.model_validate(body), OFFICER)
    drain(container)
    for name in ("referrals", "queue"):  # the fixture builds the others
        container.rebuilder(next(p for p in container.projections if p.name == name)).run()
    now = datetime.now(UTC)
    cm = max(query(container, cq.list_caseloads, now=now), key=lambda r: r["size"])
    open_rows = query(
        container,
        lambda conn: conn.execute(
            "SELECT * FROM proj_queue.queue WHERE NOT closed"  # every open row, unordered
        ).fetchall(),
    )

    def seen(r: dict[str, Any]) -> tuple[Any, ...]:
        last = r["last_contact_at"]
        return (last is not None, last, r["enrolled_on"], r["person_id"])

    lists: list[tuple[Any, Any, int, list[Any], dict[str, Any]]] = [
        (
            rq.list_referrals,
            lambda r: (r["received_at"], r["referral_id"]),
            2,
            query(container, rq.list_referrals),
            {},
        ),
        (
            cq.list_caseloads,
            lambda r: (r["case_manager"],),
            1,
            query(container, cq.list_caseloads, now=now),
            {"now": now},
        ),
        (
            lambda conn, **kw: cq.list_caseload(conn, cm["case_manager"], **kw),
            seen,
            4,
            query(container, cq.list_caseload, cm["case_manager"], now=now),
            {"now": now},
        ),
        (
            qq.list_queue,
            qq.priority,
            5,
            qq.order_queue(open_rows, today=now.date()),
            {"today": now.date()},
        ),
    ]
    for fn, key, width, whole, kwargs in lists:
        assert len(whole) >= 2, fn
        size = min(3, len(whole) - 1)  # more than one page
        before, before_pages = walk(
            lambda c, whole=whole, key=key, size=size: page(whole, key, c, size)
        )

        def fetch(after: Any, n: int, fn: Any = fn, kwargs: Any = kwargs) -> Any:
            return query(container, fn, after=after, limit=n, **kwargs)

        now_paged, pages = walk(
            lambda c, fetch=fetch, key=key, width=width, size=size: keyset_page(
                fetch, key, c, size, width
            )
        )
        assert now_paged == before == whole
        assert pages == before_pages == -(-len(whole) // size)
        first = page(whole, key, None, size)["next_cursor"]
        assert keyset_page(fetch, key, None, size, width)["next_cursor"] == first


@pytest.mark.parametrize(
    "after",
    [
        ["x", "0", "0001-01-01", "2026-01-01T00:00:00+00:00", "not-a-uuid"],
        ["1.5", "0", "0001-01-01", "2026-01-01T00:00:00+00:00", str(uuid4())],
        ["0", "0", "True", "5", str(uuid4())],
    ],
)
def test_a_cursor_whose_values_its_list_cannot_hold_is_a_data_error(
    container: Container, after: list[str]
) -> None:
    """What the API answers 422 for (ApiContext.keyset), never a 500."""
    with pytest.raises(psycopg.DataError):
        query(container, qq.list_queue, today=date.today(), after=after, limit=3)
