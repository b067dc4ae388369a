"""The liaison case view: the tables' rows of the given people, read and assembled into one
entry per person (the assembling is pure, so it is tested without a database).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from projections.base import Table
from projections.liaison.projection import (
    CASES,
    FORGOTTEN,
    HEARINGS,
    PROGRAM_STATUS,
    PROGRESS_SUMMARIES,
    SCHEMA,
    WARRANTS,
)

Row = Mapping[str, Any]


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


def _charges(row: Row) -> list[dict[str, Any]]:
    """Each charge with its description (kept apart, so forgetting erases only the words)."""
    descriptions = list(row.get("charge_descriptions") or ())
    return [
        {
            **charge,
            "description": charge.get("description")
            or (descriptions[i] if i < len(descriptions) else FORGOTTEN),
        }
        for i, charge in enumerate(row["charges"])
    ]


def _case(row: Row, warrants: list[Row], hearings: list[Row]) -> dict[str, Any]:
    return {
        "case_id": row["case_id"],
        "case_number": row["case_number"],
        "court": row["court"],
        "jurisdiction": row["jurisdiction"],
        "origin": row["origin"],
        "incident_date": row["incident_date"],
        "filing_date": row["filing_date"],
        "charges": _charges(row),
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
