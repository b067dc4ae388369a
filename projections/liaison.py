"""The liaison view: the liaison prosecutor's picture of each participant's cases.

The liaison prosecutor coordinates a participant's non-diverted cases: pre-existing
cases and warrants, and filings made after enrollment. This view holds exactly what
that work needs and what a consent to the liaison prosecutor can cover: legal status
(cases, charges, warrants, charging decisions, recommendations, hearings,
dispositions), program status (active, inactive, in the wind, exited) and the
progress summaries a case manager chose to share with the liaison prosecutor or a
public defender (the two readers of this view; each reads only those shared with them).

It never holds contact notes, goals, living situation, income or anything about
health: those events imply no rows here at all, so no query, bug or later change to
a query can disclose them from this schema (Golden Rule #1: no one may be worse off
for what they told their case manager). Nor does it hold a charging decision's
free-text note, nor the typed reasons of a status change or an exit, which the
prosecution feed withholds too.

Consent is not checked here: rows are written whatever the consent, because consent
is decided at the moment of reading, not when an event was recorded (a revocation
must hide the person at once, and a new consent must show their history). The
caller of `case_view` passes only the people whose consent covers the liaison
prosecutor now.

Every row is keyed by the identity of what it describes (a case, a warrant in a
case, a hearing as the case event that set it, a person, a summary) and guarded by
its aggregate's version, so a redelivered or replayed event changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from events.base import DomainEvent, Role
from events.case import (
    CaseOpened,
    ChargingDecisionRecorded,
    DispositionRecorded,
    HearingScheduled,
    LiaisonRecommendationRecorded,
    WarrantIssued,
    WarrantQuashed,
)
from events.participant import (
    ParticipantEnrolled,
    ParticipantExited,
    ParticipantReengaged,
    ParticipantStatus,
    ProgressSummaryShared,
    StatusChanged,
)
from events.privacy import PersonForgotten
from projections.base import Delete, RowChange, Table, Update, Upsert, schema_of

NAME = "liaison"
SCHEMA = schema_of(NAME)

LEGAL_READERS = frozenset({Role.LIAISON_PROSECUTOR, Role.PUBLIC_DEFENDER})
"""Who reads this view (each under a consent naming them)."""

Row = Mapping[str, Any]

CASES = Table(
    name="cases",
    columns={
        "case_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "case_number": "text NOT NULL",
        "court": "text NOT NULL",
        "jurisdiction": "text NOT NULL",
        "origin": "text NOT NULL",
        "incident_date": "date NOT NULL",
        "filing_date": "date",
        "charges": "jsonb NOT NULL",
        "charging_decision": "text",
        "decided_on": "date",
        "recommendation": "text",
        "recommended_on": "date",
        "disposition": "text",
        "disposed_on": "date",
        "closed": "boolean NOT NULL",
        "position": "bigint NOT NULL",
    },
    primary_key=("case_id",),
    indexes=(("person_id",),),
)

# Keyed by the case and the warrant's own id: the id names one warrant within its case.
WARRANTS = Table(
    name="warrants",
    columns={
        "case_id": "uuid NOT NULL",
        "warrant_id": "text NOT NULL",
        "person_id": "uuid NOT NULL",
        "issued_on": "date NOT NULL",
        "court": "text NOT NULL",
        "quashed_on": "date",
        "position": "bigint NOT NULL",
    },
    primary_key=("case_id", "warrant_id"),
    indexes=(("person_id",),),
)

# A hearing has no id of its own, so it is keyed by the case event that set it (the
# case and that event's version): a redelivered event rewrites its own row instead of
# adding a second hearing.
HEARINGS = Table(
    name="hearings",
    columns={
        "case_id": "uuid NOT NULL",
        "case_version": "integer NOT NULL",
        "person_id": "uuid NOT NULL",
        "hearing_at": "timestamptz NOT NULL",
        "kind": "text NOT NULL",
        "court": "text NOT NULL",
        "position": "bigint NOT NULL",
    },
    primary_key=("case_id", "case_version"),
    indexes=(("person_id",),),
)

# One participant per person (the participant id is derived from the person id), so the
# person is the key and the participant aggregate's version guards it.
PROGRAM_STATUS = Table(
    name="program_status",
    columns={
        "person_id": "uuid NOT NULL",
        "participant_id": "uuid NOT NULL",
        "status": "text NOT NULL",
        "enrolled_on": "date NOT NULL",
        "exited_on": "date",
        "reengaged_on": "date",
        "position": "bigint NOT NULL",
    },
    primary_key=("person_id",),
)

PROGRESS_SUMMARIES = Table(
    name="progress_summaries",
    columns={
        "summary_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "recipient_organisation": "text NOT NULL",
        "recipient_role": "text NOT NULL",
        "summary": "text NOT NULL",
        "shared_at": "timestamptz NOT NULL",
        "consent_id": "uuid NOT NULL",
        "position": "bigint NOT NULL",
    },
    primary_key=("summary_id",),
    indexes=(("person_id",),),
)

TABLES: tuple[Table, ...] = (CASES, WARRANTS, HEARINGS, PROGRAM_STATUS, PROGRESS_SUMMARIES)


# -- the projection ------------------------------------------------------------------


def _update(
    table: Table, key: dict[str, Any], event: DomainEvent, position: int, **values: Any
) -> list[RowChange]:
    """A change to an existing row, guarded by its aggregate's version."""
    return [
        Update(
            table.name,
            key=key,
            values={**values, "position": position},
            version=event.originator_version,
        )
    ]


class LiaisonProjection:
    """Cases, warrants, hearings, program status and shared summaries, per person."""

    name = NAME
    tables: Sequence[Table] = TABLES
    # The only sealed text a view holds: the rest is decoded without the key look-up.
    reads_sealed: tuple[type[DomainEvent], ...] = (ProgressSummaryShared,)

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        """The row changes the event implies; every event this view must not show implies none."""
        match event:
            case PersonForgotten():
                return [Delete(PROGRESS_SUMMARIES.name, {"person_id": event.person_id})]
            case CaseOpened():
                return [
                    Upsert(
                        CASES.name,
                        key={"case_id": event.originator_id},
                        values={
                            "person_id": event.person_id,
                            "case_number": event.case_number,
                            "court": event.court,
                            "jurisdiction": event.jurisdiction,
                            "origin": event.origin.value,
                            "incident_date": event.incident_date,
                            "filing_date": event.filing_date,
                            "charges": Jsonb([c.model_dump(mode="json") for c in event.charges]),
                            "charging_decision": None,
                            "decided_on": None,
                            "recommendation": None,
                            "recommended_on": None,
                            "disposition": None,
                            "disposed_on": None,
                            "closed": False,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
            case WarrantIssued():
                return [
                    Upsert(
                        WARRANTS.name,
                        key={"case_id": event.originator_id, "warrant_id": event.warrant_id},
                        values={
                            "person_id": event.person_id,
                            "issued_on": event.issued_on,
                            "court": event.court,
                            "quashed_on": None,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
            case WarrantQuashed():
                key = {"case_id": event.originator_id, "warrant_id": event.warrant_id}
                return _update(WARRANTS, key, event, position, quashed_on=event.quashed_on)
            case ChargingDecisionRecorded():
                # As the case aggregate does: only a filing brings a filing date and an
                # origin. The decision's free-text note is left out, as the feed leaves it.
                values: dict[str, Any] = {
                    "charging_decision": event.decision.value,
                    "decided_on": event.decided_on,
                }
                if event.filing_date is not None:
                    values["filing_date"] = event.filing_date
                if event.origin is not None:
                    values["origin"] = event.origin.value
                return _update(CASES, {"case_id": event.originator_id}, event, position, **values)
            case LiaisonRecommendationRecorded():
                return _update(
                    CASES,
                    {"case_id": event.originator_id},
                    event,
                    position,
                    recommendation=event.recommendation,
                    recommended_on=event.recommended_on,
                )
            case HearingScheduled():
                return [
                    Upsert(
                        HEARINGS.name,
                        key={
                            "case_id": event.originator_id,
                            "case_version": event.originator_version,
                        },
                        values={
                            "person_id": event.person_id,
                            "hearing_at": event.hearing_at,
                            "kind": event.kind,
                            "court": event.court,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
            case DispositionRecorded():
                return _update(
                    CASES,
                    {"case_id": event.originator_id},
                    event,
                    position,
                    disposition=event.disposition.value,
                    disposed_on=event.disposed_on,
                    closed=True,
                )
            case ParticipantEnrolled():
                return [
                    Upsert(
                        PROGRAM_STATUS.name,
                        key={"person_id": event.person_id},
                        values={
                            "participant_id": event.originator_id,
                            "status": ParticipantStatus.ACTIVE.value,
                            "enrolled_on": event.enrolled_on,
                            "exited_on": None,
                            "reengaged_on": None,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
            case StatusChanged():
                # The status only: a typed reason may say more than program status.
                return _update(
                    PROGRAM_STATUS,
                    {"person_id": event.person_id},
                    event,
                    position,
                    status=event.status.value,
                )
            case ParticipantExited():
                # Not the exit reason: "incarcerated" or "deceased" is not program status.
                return _update(
                    PROGRAM_STATUS,
                    {"person_id": event.person_id},
                    event,
                    position,
                    status=ParticipantStatus.EXITED.value,
                    exited_on=event.exited_on,
                )
            case ParticipantReengaged():
                return _update(
                    PROGRAM_STATUS,
                    {"person_id": event.person_id},
                    event,
                    position,
                    status=ParticipantStatus.ACTIVE.value,
                    exited_on=None,
                    reengaged_on=event.reengaged_on,
                )
            case ProgressSummaryShared() if event.recipient_role in LEGAL_READERS:
                # A summary written for someone else (a court, a provider) was shared under
                # a consent naming them, not a reader of this view: it has no place here.
                return [
                    Upsert(
                        PROGRESS_SUMMARIES.name,
                        key={"summary_id": event.summary_id},
                        values={
                            "person_id": event.person_id,
                            "recipient_organisation": event.recipient_organisation,
                            "recipient_role": event.recipient_role.value,
                            "summary": event.summary,
                            "shared_at": event.occurred_at,
                            "consent_id": event.consent_id,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
        return []


# -- assembling the view (pure, so it is tested without a database) --------------------


def _program(row: Row) -> dict[str, Any]:
    return {
        "participant_id": row["participant_id"],
        "status": row["status"],
        "enrolled_on": row["enrolled_on"],
        "exited_on": row["exited_on"],
        "reengaged_on": row["reengaged_on"],
    }


def _warrant(row: Row) -> dict[str, Any]:
    return {
        "warrant_id": row["warrant_id"],
        "issued_on": row["issued_on"],
        "court": row["court"],
        "quashed_on": row["quashed_on"],
        "outstanding": row["quashed_on"] is None,
    }


def _hearing(row: Row) -> dict[str, Any]:
    return {"hearing_at": row["hearing_at"], "kind": row["kind"], "court": row["court"]}


def _summary(row: Row) -> dict[str, Any]:
    return {
        "summary_id": row["summary_id"],
        "recipient_organisation": row["recipient_organisation"],
        "recipient_role": row["recipient_role"],
        "summary": row["summary"],
        "shared_at": row["shared_at"],
        "consent_id": row["consent_id"],
    }


def _case(row: Row, warrants: list[Row], hearings: list[Row]) -> dict[str, Any]:
    return {
        "case_id": row["case_id"],
        "case_number": row["case_number"],
        "court": row["court"],
        "jurisdiction": row["jurisdiction"],
        "origin": row["origin"],
        "incident_date": row["incident_date"],
        "filing_date": row["filing_date"],
        "charges": list(row["charges"]),
        "charging_decision": row["charging_decision"],
        "decided_on": row["decided_on"],
        "recommendation": row["recommendation"],
        "recommended_on": row["recommended_on"],
        "disposition": row["disposition"],
        "disposed_on": row["disposed_on"],
        "closed": row["closed"],
        "warrants": [
            _warrant(w) for w in sorted(warrants, key=lambda w: (w["issued_on"], w["warrant_id"]))
        ],
        "hearings": [
            _hearing(h)
            for h in sorted(hearings, key=lambda h: (h["hearing_at"], h["case_version"]))
        ],
    }


def assemble_case_view(
    *,
    program_status: Iterable[Row],
    cases: Iterable[Row],
    warrants: Iterable[Row],
    hearings: Iterable[Row],
    summaries: Iterable[Row],
) -> list[dict[str, Any]]:
    """Group the tables' rows into one entry per person, as `case_view` returns them.

    Everyone with any row is included, ordered by person id so the answer does not
    depend on the order rows come back in; `program` is None for someone with a case
    recorded before enrollment. Cases are ordered by incident date, then case number;
    warrants by issue date, hearings by time, summaries by when they were shared. A
    warrant or hearing whose case row is missing (not possible when events of one
    person arrive in order) is left out rather than shown without its case.
    """
    statuses = {r["person_id"]: r for r in program_status}
    warrants_of: dict[UUID, list[Row]] = {}
    for w in warrants:
        warrants_of.setdefault(w["case_id"], []).append(w)
    hearings_of: dict[UUID, list[Row]] = {}
    for h in hearings:
        hearings_of.setdefault(h["case_id"], []).append(h)
    cases_of: dict[UUID, list[Row]] = {}
    for c in cases:
        cases_of.setdefault(c["person_id"], []).append(c)
    summaries_of: dict[UUID, list[Row]] = {}
    for s in summaries:
        summaries_of.setdefault(s["person_id"], []).append(s)

    people = sorted({*statuses, *cases_of, *summaries_of})
    view = []
    for person_id in people:
        status = statuses.get(person_id)
        person_cases = sorted(
            cases_of.get(person_id, []), key=lambda c: (c["incident_date"], c["case_number"])
        )
        person_summaries = sorted(
            summaries_of.get(person_id, []), key=lambda s: (s["shared_at"], str(s["summary_id"]))
        )
        view.append(
            {
                "person_id": person_id,
                "program": _program(status) if status is not None else None,
                "cases": [
                    _case(c, warrants_of.get(c["case_id"], []), hearings_of.get(c["case_id"], []))
                    for c in person_cases
                ],
                "progress_summaries": [_summary(s) for s in person_summaries],
            }
        )
    return view


# -- queries ----------------------------------------------------------------------------


def _columns(table: Table) -> sql.Composable:
    """The table's own columns, never the store's `version`: it means nothing to a reader."""
    return sql.SQL(", ").join(sql.Identifier(name) for name in table.columns)


def _rows(
    conn: psycopg.Connection[dict[str, Any]],
    table: Table,
    person_ids: list[UUID] | None,
    schema: str = SCHEMA,
) -> list[dict[str, Any]]:
    where = sql.SQL("WHERE person_id = ANY(%(person_ids)s)" if person_ids is not None else "")
    query = sql.SQL("SELECT {columns} FROM {table} {where}").format(
        columns=_columns(table), table=sql.Identifier(schema, table.name), where=where
    )
    params: dict[str, Any] = {} if person_ids is None else {"person_ids": person_ids}
    return conn.execute(query, params).fetchall()


def case_view(
    conn: psycopg.Connection[dict[str, Any]],
    person_ids: Sequence[UUID] | None = None,
    *,
    schema: str = SCHEMA,
) -> list[dict[str, Any]]:
    """The liaison prosecutor's view of the given people, one entry per person.

    Each entry has `person_id`, `program` (participant id, status, enrolled, exited and
    re-engaged dates, or None), `cases` (each with its origin, incident and filing
    dates, charges, charging decision, recommendation, disposition, `closed`, its
    warrants and its hearings) and `progress_summaries` shared with the liaison
    prosecutor, each with the consent it was shared under.

    This view does not check consent: the caller must, at read time, pass only the
    person ids whose consent in force *now* covers the liaison prosecutor (and the
    kinds of information shown), and record the disclosure. The tables are written
    regardless of consent, so a revocation hides a person at once and a new consent
    shows their history. `person_ids=None` returns everyone, and is meant only for
    rebuild checks and tests, never for answering the liaison prosecutor. People
    without any row are absent from the answer; an empty `person_ids` returns [].
    """
    ids = None if person_ids is None else list(person_ids)
    if ids is not None and not ids:
        return []
    return assemble_case_view(
        program_status=_rows(conn, PROGRAM_STATUS, ids, schema),
        cases=_rows(conn, CASES, ids, schema),
        warrants=_rows(conn, WARRANTS, ids, schema),
        hearings=_rows(conn, HEARINGS, ids, schema),
        summaries=_rows(conn, PROGRESS_SUMMARIES, ids, schema),
    )


def person_ids_in_view(
    conn: psycopg.Connection[dict[str, Any]], *, schema: str = SCHEMA
) -> list[UUID]:
    """Everyone the view holds anything about (a program status, a case, a warrant, a
    hearing, a summary), ordered: whose consent the caller checks. The same people a
    read of one person answers, so the list and the single read agree.

    Only ids leave this function, so the caller can ask about each person's consent
    before reading anything about them with `case_view`.
    """
    found: set[UUID] = set()
    for table in (PROGRAM_STATUS, CASES, WARRANTS, HEARINGS, PROGRESS_SUMMARIES):
        query = sql.SQL("SELECT DISTINCT person_id FROM {}").format(
            sql.Identifier(schema, table.name)
        )
        found.update(row["person_id"] for row in conn.execute(query).fetchall())
    return sorted(found)
