"""The OWG meeting agenda: what happened to referrals, participants and cases in a period.

The project manager prepares each Operational Work Group meeting from it: new
referrals, referrals approved and still waiting for intake, referrals that lapsed
back to the prosecutor, participants in the wind, new cases, filings and warrants,
post-enrollment filings with the date of the incident they concern, and exits.

The tables hold facts, one row per event, keyed by the event's identity (its
aggregate and that aggregate's version), with the time it happened. A fact never
changes once written, so a redelivered or replayed event rewrites the same row
and the order of delivery does not matter; a period's agenda is then a question
about those facts ("what happened between `since` and `until`, and where did each
referral and participant stand at `until`?") answered when read, for any period,
past ones included.

"When it happened" is the event's `occurred_at`, the world time every event
carries, so a fact recorded late still falls in the period it belongs to; the
dates the facts are about (filing, incident, exit, deadline) are kept beside it.
A period is half-open, `since <= t < until`, so consecutive meetings neither
miss nor repeat a fact.

No names, notes, reasons in anyone's words, case numbers or charges: people are
named by `person_id`, referrals by `referral_id`, cases by `case_id`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

import psycopg
from psycopg import sql

from events.base import DomainEvent
from events.case import (
    CaseOpened,
    CaseOrigin,
    ChargingDecision,
    ChargingDecisionRecorded,
    Severity,
    WarrantIssued,
)
from events.participant import (
    ParticipantEnrolled,
    ParticipantExited,
    ParticipantReengaged,
    ParticipantStatus,
    StatusChanged,
)
from events.referral import (
    EligibilityDecided,
    IntakeCompleted,
    IntakeDeadlineLapsed,
    IntakeScheduled,
    ReferralApproved,
    ReferralDeclined,
    ReferralReceived,
    ReferralWithdrawnByPerson,
)
from projections.base import RowChange, Table, Upsert, schema_of

NAME: Final = "agenda"
SCHEMA: Final = schema_of(NAME)

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

# Referral facts are named by the status the event moved the referral to.
RECEIVED: Final = "received"
APPROVED: Final = "approved"
INTAKE_SCHEDULED: Final = "intake_scheduled"
LAPSED: Final = "lapsed"
AWAITING_INTAKE: Final = (APPROVED, INTAKE_SCHEDULED)
CLOSED_AFTER_APPROVAL: Final = ("enrolled", LAPSED, "withdrawn")

# Participant facts.
ENROLLED: Final = "enrolled"
STATUS_CHANGED: Final = "status_changed"
EXITED: Final = "exited"
REENGAGED: Final = "reengaged"

# Case facts.
CASE_OPENED: Final = "case_opened"
WARRANT_ISSUED: Final = "warrant_issued"
FILED: Final = "filed"

REFERRAL_FACTS = Table(
    name="referral_facts",
    columns={
        "referral_id": "uuid NOT NULL",
        "seq": "integer NOT NULL",
        "kind": "text NOT NULL",
        "person_id": "uuid NOT NULL",
        "happened_at": "timestamptz NOT NULL",
        "pathway": "text",
        "intake_deadline": "date",
        "intake_scheduled_for": "timestamptz",
        "participant_id": "uuid",
        "position": "bigint NOT NULL",
    },
    primary_key=("referral_id", "seq"),
    indexes=(("happened_at",), ("kind", "happened_at")),
    versioned=False,
)
"""One row per referral event that moved its status; `kind` is that status."""

PARTICIPANT_FACTS = Table(
    name="participant_facts",
    columns={
        "participant_id": "uuid NOT NULL",
        "seq": "integer NOT NULL",
        "kind": "text NOT NULL",
        "person_id": "uuid NOT NULL",
        "status": "text NOT NULL",
        "happened_at": "timestamptz NOT NULL",
        "on_date": "date",
        "exit_reason": "text",
        "position": "bigint NOT NULL",
    },
    primary_key=("participant_id", "seq"),
    indexes=(("happened_at",), ("status", "happened_at")),
    versioned=False,
)
"""One row per participant event that set their status (enrollment, changes, exit,
re-engagement), with the status it set; `on_date` is the day the event names."""

CASE_FACTS = Table(
    name="case_facts",
    columns={
        "case_id": "uuid NOT NULL",
        "seq": "integer NOT NULL",
        "kind": "text NOT NULL",
        "person_id": "uuid NOT NULL",
        "happened_at": "timestamptz NOT NULL",
        "court": "text",
        "severity": "text",
        "incident_date": "date",
        "filing_date": "date",
        "origin": "text",
        "issued_on": "date",
        "position": "bigint NOT NULL",
    },
    primary_key=("case_id", "seq"),
    indexes=(("happened_at",),),
    versioned=False,
)
"""One row per case opened, warrant issued and decision to file. Only the opening
knows the incident date, so a filing is joined to its case's opening when read."""

TABLES: Final[tuple[Table, ...]] = (REFERRAL_FACTS, PARTICIPANT_FACTS, CASE_FACTS)

_SEVERITY_RANK: Final[Mapping[Severity, int]] = {
    Severity.MISDEMEANOR: 0,
    Severity.GROSS_MISDEMEANOR: 1,
    Severity.FELONY: 2,
}


# -- the projection ------------------------------------------------------------------


def _fact(table: Table, key: str, event: DomainEvent, position: int, **values: Any) -> RowChange:
    """A fact keyed by the event's identity: written once, rewritten identically on replay."""
    return Upsert(
        table.name,
        key={key: event.originator_id, "seq": event.originator_version},
        values={
            **values,
            "person_id": event.person_id,
            "happened_at": event.occurred_at,
            "position": position,
        },
    )


def _referral(event: DomainEvent, position: int, kind: str, **values: Any) -> list[RowChange]:
    return [_fact(REFERRAL_FACTS, "referral_id", event, position, kind=kind, **values)]


def _participant(
    event: DomainEvent, position: int, kind: str, status: ParticipantStatus, **values: Any
) -> list[RowChange]:
    return [
        _fact(
            PARTICIPANT_FACTS,
            "participant_id",
            event,
            position,
            kind=kind,
            status=status.value,
            **values,
        )
    ]


def _case(event: DomainEvent, position: int, kind: str, **values: Any) -> list[RowChange]:
    return [_fact(CASE_FACTS, "case_id", event, position, kind=kind, **values)]


class AgendaProjection:
    """Referral, participant and case events -> the facts an OWG agenda is made of."""

    name = NAME
    tables: Sequence[Table] = TABLES

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        """The facts the event adds; events the agenda does not show add none."""
        match event:
            case ReferralReceived():
                return _referral(event, position, RECEIVED, pathway=event.pathway.value)
            case EligibilityDecided():
                return _referral(event, position, "eligible" if event.eligible else "excluded")
            case ReferralApproved():
                return _referral(event, position, APPROVED, intake_deadline=event.intake_deadline)
            case ReferralDeclined():
                return _referral(event, position, "declined")
            case IntakeScheduled():
                return _referral(
                    event, position, INTAKE_SCHEDULED, intake_scheduled_for=event.scheduled_for
                )
            case IntakeCompleted():
                return _referral(event, position, "enrolled", participant_id=event.participant_id)
            case IntakeDeadlineLapsed():
                return _referral(event, position, LAPSED, intake_deadline=event.deadline)
            case ReferralWithdrawnByPerson():
                return _referral(event, position, "withdrawn")
            case ParticipantEnrolled():
                return _participant(
                    event, position, ENROLLED, ParticipantStatus.ACTIVE, on_date=event.enrolled_on
                )
            case StatusChanged():
                return _participant(
                    event, position, STATUS_CHANGED, ParticipantStatus(event.status.value)
                )
            case ParticipantExited():
                return _participant(
                    event,
                    position,
                    EXITED,
                    ParticipantStatus.EXITED,
                    on_date=event.exited_on,
                    exit_reason=event.reason.value,
                )
            case ParticipantReengaged():
                return _participant(
                    event,
                    position,
                    REENGAGED,
                    ParticipantStatus.ACTIVE,
                    on_date=event.reengaged_on,
                )
            case CaseOpened():
                filed = event.filing_date is not None
                severity = max((c.severity for c in event.charges), key=_SEVERITY_RANK.__getitem__)
                return _case(
                    event,
                    position,
                    CASE_OPENED,
                    court=event.court,
                    severity=severity.value,
                    incident_date=event.incident_date,
                    filing_date=event.filing_date,
                    # An unfiled case's origin says nothing yet; its filing decides it.
                    origin=event.origin.value if filed else None,
                )
            case WarrantIssued():
                return _case(
                    event, position, WARRANT_ISSUED, court=event.court, issued_on=event.issued_on
                )
            case ChargingDecisionRecorded() if event.decision is ChargingDecision.FILED:
                return _case(
                    event,
                    position,
                    FILED,
                    filing_date=event.filing_date,
                    origin=event.origin.value if event.origin is not None else None,
                )
        return []


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
