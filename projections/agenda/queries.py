"""The OWG agenda for a period: the facts read and assembled into its sections (the
assembling is pure, so it is tested without a clock or a database).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

import psycopg
from psycopg import sql

from events.case import CaseOrigin
from events.participant import ParticipantStatus
from projections.agenda.projection import (
    APPROVED,
    AWAITING_INTAKE,
    CASE_FACTS,
    CASE_OPENED,
    CLOSED_AFTER_APPROVAL,
    EXITED,
    FILED,
    INTAKE_SCHEDULED,
    LAPSED,
    PARTICIPANT_FACTS,
    RECEIVED,
    REFERRAL_FACTS,
    SCHEMA,
)
from projections.base import Table

Row = Mapping[str, Any]

SECTIONS: Final = (
    "new_referrals",
    "awaiting_intake",
    "lapsed",
    "in_the_wind",
    "new_filings_and_warrants",
    "post_enrollment_filings",
    "exits",
)
"""The agenda's sections, in the order the meeting takes them."""


# -- assembling the agenda (pure, so it is tested without a clock or a database) ------


def check_period(since: datetime, until: datetime) -> None:
    """A period needs time-zone-aware ends, in order, or "which day" would be ambiguous."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware, e.g. datetime.now(UTC)")
    if since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")


def _histories(rows: Iterable[Row], key: str) -> dict[UUID, list[Row]]:
    """Each aggregate's facts, in the order the aggregate recorded them."""
    grouped: defaultdict[UUID, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(row)
    return {k: sorted(v, key=lambda r: r["seq"]) for k, v in grouped.items()}


def _last(history: Sequence[Row], *kinds: str) -> Row | None:
    return next((r for r in reversed(history) if r["kind"] in kinds), None)


def _referral_sections(
    rows: Iterable[Row], since: datetime, until: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """New referrals and lapses in the period; approved referrals still waiting at `until`.

    A referral's status at `until` is the kind of its latest fact (by the referral's
    own order) that happened before `until`.
    """
    new: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []
    lapsed: list[dict[str, Any]] = []
    for referral_id, history in _histories(rows, "referral_id").items():
        received = _last(history, RECEIVED)
        pathway = received["pathway"] if received else None
        known = [r for r in history if r["happened_at"] < until]
        status = known[-1]["kind"] if known else None
        if received is not None and since <= received["happened_at"] < until:
            new.append(
                {
                    "referral_id": referral_id,
                    "person_id": received["person_id"],
                    "pathway": pathway,
                    "received_at": received["happened_at"],
                    "status": status,
                }
            )
        if status in AWAITING_INTAKE:
            approved = _last(known, APPROVED)
            scheduled = _last(known, INTAKE_SCHEDULED)
            deadline: date | None = approved["intake_deadline"] if approved else None
            waiting.append(
                {
                    "referral_id": referral_id,
                    "person_id": known[-1]["person_id"],
                    "pathway": pathway,
                    "approved_at": approved["happened_at"] if approved else None,
                    "intake_deadline": deadline,
                    "days_to_deadline": (
                        (deadline - until.date()).days if deadline is not None else None
                    ),
                    "intake_scheduled_for": scheduled["intake_scheduled_for"]
                    if scheduled
                    else None,
                }
            )
        for fact in history:
            if fact["kind"] == LAPSED and since <= fact["happened_at"] < until:
                lapsed.append(
                    {
                        "referral_id": referral_id,
                        "person_id": fact["person_id"],
                        "pathway": pathway,
                        "lapsed_at": fact["happened_at"],
                        "intake_deadline": fact["intake_deadline"],
                    }
                )
    new.sort(key=lambda r: (r["received_at"], r["referral_id"]))
    # The meeting takes the deadlines first, soonest first, then the longest waiting.
    waiting.sort(
        key=lambda r: (
            r["intake_deadline"] is None,
            r["intake_deadline"] or date.min,
            r["approved_at"] is None,
            r["approved_at"] or until,
            r["referral_id"],
        )
    )
    lapsed.sort(key=lambda r: (r["lapsed_at"], r["referral_id"]))
    return new, waiting, lapsed


def _participant_sections(
    rows: Iterable[Row], since: datetime, until: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Who is in the wind at `until` (and since when), and who exited in the period.

    The OWG looks for everyone in the wind, not only those who went in the wind
    since the last meeting: someone unseen for months is still the one to look
    out for. `new` marks those who went in the wind during the period.
    """
    wind: list[dict[str, Any]] = []
    exits: list[dict[str, Any]] = []
    in_the_wind = ParticipantStatus.IN_THE_WIND.value
    for participant_id, history in _histories(rows, "participant_id").items():
        known = [r for r in history if r["happened_at"] < until]
        if known and known[-1]["status"] == in_the_wind:
            went_at = known[-1]["happened_at"]
            for fact in reversed(known):
                if fact["status"] != in_the_wind:
                    break
                went_at = fact["happened_at"]
            wind.append(
                {
                    "participant_id": participant_id,
                    "person_id": known[-1]["person_id"],
                    "in_the_wind_since": went_at,
                    "new": went_at >= since,
                }
            )
        for fact in history:
            if fact["kind"] == EXITED and since <= fact["happened_at"] < until:
                exits.append(
                    {
                        "participant_id": participant_id,
                        "person_id": fact["person_id"],
                        "exited_at": fact["happened_at"],
                        "exited_on": fact["on_date"],
                        "reason": fact["exit_reason"],
                    }
                )
    wind.sort(key=lambda r: (r["in_the_wind_since"], r["participant_id"]))
    exits.sort(key=lambda r: (r["exited_at"], r["participant_id"]))
    return wind, exits


def is_post_enrollment_filing(fact: Row) -> bool:
    """A decision to file after enrollment, or a case opened already filed after enrollment."""
    if fact["origin"] != CaseOrigin.POST_ENROLLMENT.value:
        return False
    return fact["kind"] == FILED or (
        fact["kind"] == CASE_OPENED and fact["filing_date"] is not None
    )


def _case_sections(
    rows: Iterable[Row], since: datetime, until: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Cases opened, warrants issued and filings in the period; the post-enrollment filings.

    Each carries its case's incident date, from the case's opening, since a filing
    after enrollment often concerns an incident from before it.
    """
    news: list[dict[str, Any]] = []
    post: list[dict[str, Any]] = []
    for case_id, history in _histories(rows, "case_id").items():
        opening = _last(history, CASE_OPENED)
        incident_date: date | None = opening["incident_date"] if opening else None
        court: str | None = opening["court"] if opening else None
        severity: str | None = opening["severity"] if opening else None
        for fact in history:
            if not since <= fact["happened_at"] < until:
                continue
            news.append(
                {
                    "kind": fact["kind"],
                    "case_id": case_id,
                    "person_id": fact["person_id"],
                    "happened_at": fact["happened_at"],
                    "court": fact["court"] or court,
                    "severity": severity,
                    "incident_date": incident_date,
                    "filing_date": fact["filing_date"],
                    "origin": fact["origin"],
                    "issued_on": fact["issued_on"],
                    "seq": fact["seq"],
                }
            )
            if is_post_enrollment_filing(fact):
                post.append(
                    {
                        "case_id": case_id,
                        "person_id": fact["person_id"],
                        "filed_at": fact["happened_at"],
                        "filing_date": fact["filing_date"],
                        "incident_date": incident_date,
                        "court": court,
                        "severity": severity,
                    }
                )
    news.sort(key=lambda r: (r["happened_at"], r["case_id"], r["seq"]))
    for item in news:
        del item["seq"]
    post.sort(key=lambda r: (r["filed_at"], r["case_id"]))
    return news, post


def assemble_agenda(
    *,
    referral_facts: Iterable[Row],
    participant_facts: Iterable[Row],
    case_facts: Iterable[Row],
    since: datetime,
    until: datetime,
) -> dict[str, list[dict[str, Any]]]:
    """The agenda for `since <= t < until`, from any set of facts that holds every fact
    of each referral, participant and case concerned (more does no harm)."""
    check_period(since, until)
    new, waiting, lapsed = _referral_sections(referral_facts, since, until)
    wind, exits = _participant_sections(participant_facts, since, until)
    news, post = _case_sections(case_facts, since, until)
    return {
        "new_referrals": new,
        "awaiting_intake": waiting,
        "lapsed": lapsed,
        "in_the_wind": wind,
        "new_filings_and_warrants": news,
        "post_enrollment_filings": post,
        "exits": exits,
    }


# -- the query ------------------------------------------------------------------------


def _table(table: Table) -> sql.Identifier:
    return sql.Identifier(SCHEMA, table.name)


def agenda(
    conn: psycopg.Connection[dict[str, Any]], *, since: datetime, until: datetime
) -> dict[str, list[dict[str, Any]]]:
    """The OWG agenda for the period `since <= t < until`, with each section's items.

    Each query reads every fact of the referrals, participants and cases that can
    appear: those with a fact in the period, approved referrals not closed before
    `until`, and participants ever in the wind before `until`. The sections are
    then assembled by `assemble_agenda`.
    """
    check_period(since, until)
    period = sql.SQL("happened_at >= %(since)s AND happened_at < %(until)s")
    referrals = sql.SQL(
        "SELECT * FROM {facts} WHERE referral_id IN ("
        " SELECT referral_id FROM {facts} WHERE {period}"
        " UNION SELECT a.referral_id FROM {facts} AS a"
        "  WHERE a.kind = %(approved)s AND a.happened_at < %(until)s"
        "  AND NOT EXISTS (SELECT 1 FROM {facts} AS c WHERE c.referral_id = a.referral_id"
        "   AND c.kind = ANY(%(closed)s) AND c.happened_at < %(until)s))"
    ).format(facts=_table(REFERRAL_FACTS), period=period)
    participants = sql.SQL(
        "SELECT * FROM {facts} WHERE participant_id IN ("
        " SELECT participant_id FROM {facts}"
        "  WHERE ({period}) OR (status = %(in_the_wind)s AND happened_at < %(until)s))"
    ).format(facts=_table(PARTICIPANT_FACTS), period=period)
    cases = sql.SQL(
        "SELECT * FROM {facts} WHERE case_id IN (SELECT case_id FROM {facts} WHERE {period})"
    ).format(facts=_table(CASE_FACTS), period=period)
    window = {"since": since, "until": until}
    referral_rows = conn.execute(
        referrals, {**window, "approved": APPROVED, "closed": list(CLOSED_AFTER_APPROVAL)}
    ).fetchall()
    participant_rows = conn.execute(
        participants, {**window, "in_the_wind": ParticipantStatus.IN_THE_WIND.value}
    ).fetchall()
    case_rows = conn.execute(cases, window).fetchall()
    return assemble_agenda(
        referral_facts=referral_rows,
        participant_facts=participant_rows,
        case_facts=case_rows,
        since=since,
        until=until,
    )
