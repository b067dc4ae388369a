"""The referral queue the project manager runs: open referrals, most urgent first.

A referral is in the queue from receipt until it is excluded, declined, enrolled,
lapsed or withdrawn. Closing a referral marks its row `closed` instead of deleting
it: with a Delete, a redelivered `ReferralReceived` (an Upsert) would find no row
and insert it again, bringing a lapsed or enrolled referral back to the queue. A
closed row keeps its newer aggregate version, so the Upsert's version guard stops
the redelivered event, and the query shows only rows that are not closed.

The priority order and the clock columns (`days_to_deadline`, `stage`) are worked
out in Python by `order_queue`, a pure function, when read, because "days to the
deadline" changes with the day and not only with events. Capacity left is not
shown here: it is computed by the write side, which enforces it at approval.

No names, birth dates or incident details: the queue lists people by `person_id`,
and those entitled to more read the case file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

import psycopg
from psycopg import sql

from events.base import DomainEvent
from events.referral import (
    EligibilityDecided,
    IntakeCompleted,
    IntakeDeadlineLapsed,
    IntakeScheduled,
    Pathway,
    ReferralApproved,
    ReferralDeclined,
    ReferralReceived,
    ReferralWithdrawnByPerson,
    WarmHandoffCompleted,
)
from projections.base import (
    RowChange,
    Table,
    Update,
    Upsert,
    keyset_after,
    limit_clause,
    schema_of,
)

NAME: Final = "queue"
SCHEMA: Final = schema_of(NAME)

OPEN_STATUSES: Final = ("received", "eligible", "approved", "intake_scheduled")
"""The statuses a queued referral can have; every other status closes it."""
AWAITING_INTAKE: Final = ("approved", "intake_scheduled")
"""The statuses an intake deadline runs in (it lapses from either)."""

AWAITING_APPROVAL: Final = "awaiting approval"
AWAITING_HANDOFF_OR_INTAKE: Final = "awaiting warm handoff or intake"
INTAKE_SCHEDULED: Final = "intake scheduled"

STAGES: Final[Mapping[str, str]] = {
    "received": AWAITING_APPROVAL,
    "eligible": AWAITING_APPROVAL,
    "approved": AWAITING_HANDOFF_OR_INTAKE,
    "intake_scheduled": INTAKE_SCHEDULED,
}
"""What the project manager waits for at each open status."""

QUEUE = Table(
    name="queue",
    columns={
        "referral_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "pathway": "text NOT NULL",
        "status": "text NOT NULL",
        "received_at": "timestamptz NOT NULL",
        "intake_deadline": "date",
        "intake_scheduled_for": "timestamptz",
        "case_manager": "text",
        "minutes_to_handoff": "integer",
        "closed": "boolean NOT NULL DEFAULT false",
        "closed_at": "timestamptz",
        "position": "bigint NOT NULL",
    },
    primary_key=("referral_id",),
    indexes=(("closed", "pathway"),),
)
"""One row per referral ever received; the queue is the rows not `closed`."""

TABLES: Final[tuple[Table, ...]] = (QUEUE,)

COLUMNS: Final = (
    "referral_id",
    "person_id",
    "pathway",
    "status",
    "received_at",
    "intake_deadline",
    "intake_scheduled_for",
    "case_manager",
    "minutes_to_handoff",
)
"""What `list_queue` reads: everything `order_queue` needs, nothing more."""


# -- the projection ------------------------------------------------------------------


def _update(event: DomainEvent, position: int, **values: Any) -> list[RowChange]:
    """A change to the referral's row, guarded by the referral aggregate's version."""
    return [
        Update(
            QUEUE.name,
            key={"referral_id": event.originator_id},
            values={**values, "position": position},
            version=event.originator_version,
        )
    ]


def _close(event: DomainEvent, position: int, status: str) -> list[RowChange]:
    """Out of the queue for good: flagged, not deleted, so a redelivery cannot bring it back."""
    return _update(event, position, status=status, closed=True, closed_at=event.occurred_at)


class QueueProjection:
    """Referral events -> one queue row per referral, closed when the referral ends."""

    name = NAME
    tables: Sequence[Table] = TABLES

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        """The row changes the event implies; events the queue does not show imply none."""
        match event:
            case ReferralReceived():
                return [
                    Upsert(
                        QUEUE.name,
                        key={"referral_id": event.originator_id},
                        values={
                            "person_id": event.person_id,
                            "pathway": event.pathway.value,
                            "status": "received",
                            "received_at": event.occurred_at,
                            "closed": False,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
            case EligibilityDecided() if event.eligible:
                return _update(event, position, status="eligible")
            case EligibilityDecided():
                return _close(event, position, "excluded")
            case ReferralApproved():
                return _update(
                    event, position, status="approved", intake_deadline=event.intake_deadline
                )
            case WarmHandoffCompleted():
                return _update(
                    event,
                    position,
                    case_manager=event.case_manager,
                    minutes_to_handoff=event.minutes_to_arrival,
                )
            case IntakeScheduled():
                return _update(
                    event,
                    position,
                    status="intake_scheduled",
                    intake_scheduled_for=event.scheduled_for,
                    case_manager=event.case_manager,
                )
            case ReferralDeclined():
                return _close(event, position, "declined")
            case IntakeCompleted():
                return _close(event, position, "enrolled")
            case IntakeDeadlineLapsed():
                return _close(event, position, "lapsed")
            case ReferralWithdrawnByPerson():
                return _close(event, position, "withdrawn")
        return []


# -- priority (pure, so it is tested without a clock or a database) -----------------

_PATHWAY_RANK: Final[Mapping[str, int]] = {
    Pathway.ARREST_DIVERSION.value: 0,
    Pathway.SOCIAL_CONTACT.value: 1,
    Pathway.COMMUNITY.value: 2,
}


def priority(row: Mapping[str, Any]) -> tuple[int, int, date, datetime, str]:
    """Where a referral stands in the protocol's order; smaller comes first.

    Arrest diversions come first, because a person diverted from arrest has an
    intake deadline and the prosecutor is waiting on it. Among them, those not yet
    approved lead (an officer may be waiting with the person for the warm handoff,
    and no deadline is set until approval), oldest first; then the approved ones by
    deadline, soonest first. Social contact and community referrals follow, in that
    order, oldest first: they are taken only while capacity remains after arrest
    diversions. Ties go to the older referral, then to the referral id, so the
    order never depends on how the database returned the rows.
    """
    pathway_rank = _PATHWAY_RANK.get(row["pathway"], len(_PATHWAY_RANK))
    deadline: date | None = row["intake_deadline"]
    received_at: datetime = row["received_at"]
    if pathway_rank == 0:
        awaiting = 0 if deadline is None else 1
        return (pathway_rank, awaiting, deadline or date.min, received_at, str(row["referral_id"]))
    return (pathway_rank, 0, date.min, received_at, str(row["referral_id"]))


def queue_entry(row: Mapping[str, Any], *, today: date) -> dict[str, Any]:
    """One queued referral as the project manager sees it on `today`.

    `days_to_deadline` is negative once the deadline has passed: the referral is
    due to lapse and go back to the prosecutor, which is exactly when it must not
    be missed. It is None while there is no deadline (not yet approved, or not an
    arrest diversion).
    """
    deadline: date | None = row["intake_deadline"]
    return {
        "referral_id": row["referral_id"],
        "person_id": row["person_id"],
        "pathway": row["pathway"],
        "status": row["status"],
        "stage": STAGES.get(row["status"], row["status"]),
        "received_at": row["received_at"],
        "intake_deadline": deadline,
        "days_to_deadline": (deadline - today).days if deadline is not None else None,
        "intake_scheduled_for": row["intake_scheduled_for"],
        "case_manager": row["case_manager"],
        "minutes_to_handoff": row["minutes_to_handoff"],
    }


def order_queue(rows: Iterable[Mapping[str, Any]], *, today: date) -> list[dict[str, Any]]:
    """The open rows in priority order, each with its stage and days to the deadline."""
    return [queue_entry(row, today=today) for row in sorted(rows, key=priority)]


# -- the query ------------------------------------------------------------------------


def _priority_sql() -> list[sql.Composable]:
    """`priority` as SQL expressions over a queue row, part by part."""
    rank = sql.SQL("CASE pathway {} ELSE {} END").format(
        sql.SQL(" ").join(
            sql.SQL("WHEN {} THEN {}").format(sql.Literal(p), sql.Literal(r))
            for p, r in _PATHWAY_RANK.items()
        ),
        sql.Literal(len(_PATHWAY_RANK)),
    )
    arrest = sql.SQL("pathway = {}").format(sql.Literal(Pathway.ARREST_DIVERSION.value))
    return [
        rank,
        sql.SQL("CASE WHEN {} AND intake_deadline IS NOT NULL THEN 1 ELSE 0 END").format(arrest),
        sql.SQL("CASE WHEN {} THEN coalesce(intake_deadline, {}) ELSE {} END").format(
            arrest, sql.Literal(date.min), sql.Literal(date.min)
        ),
        sql.Identifier("received_at"),
        sql.Identifier("referral_id"),
    ]


def list_queue(
    conn: psycopg.Connection[dict[str, Any]],
    *,
    today: date,
    pathway: str | None = None,
    after: Sequence[Any] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The referral queue on `today`, optionally one pathway's, most urgent first
    (`priority`, in SQL); only the referrals after `after` (a `priority` of the previous
    page, as text) and at most `limit`.

    An unknown pathway is refused (ValueError) rather than answered with an empty
    queue, which would look like "nothing waiting".
    """
    key = _priority_sql()
    seek, params = keyset_after(key, ["integer", "integer", "date", "timestamptz", "uuid"], after)
    where = sql.SQL("WHERE NOT closed AND {}").format(seek)
    if pathway is not None:
        params["pathway"] = Pathway(pathway).value
        where = sql.SQL("WHERE NOT closed AND pathway = %(pathway)s AND {}").format(seek)
    query = sql.SQL("SELECT {columns} FROM {queue} {where} ORDER BY {key}{limit}").format(
        columns=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
        queue=sql.Identifier(SCHEMA, QUEUE.name),
        where=where,
        key=sql.SQL(", ").join(key),
        limit=limit_clause(limit),
    )
    rows = conn.execute(query, params).fetchall()
    return [queue_entry(row, today=today) for row in rows]


def due_lapses(conn: psycopg.Connection[Any], *, today: date, limit: int = 500) -> list[UUID]:
    """Referrals still waiting for intake whose deadline is before `today` (the site's
    date): the lapses the clock has made due, oldest deadline first. The view may lag
    the store; the referral itself decides (`LeadApplication.lapse_when_due`)."""
    query = sql.SQL(
        "SELECT referral_id FROM {queue} WHERE NOT closed AND status = ANY(%s) "
        "AND intake_deadline < %s ORDER BY intake_deadline, referral_id LIMIT %s"
    ).format(queue=sql.Identifier(SCHEMA, QUEUE.name))
    rows = conn.execute(query, (list(AWAITING_INTAKE), today, limit)).fetchall()
    return [row[0] for row in rows]
