"""The caseload view: who is on each case manager's caseload, and how each person is doing.

Case managers work from it ("whom have I not seen lately?") and so does the project
manager ("who has room for the next participant?"). It holds no names, no contact
notes, no goal wording and no progress notes: those stay in the event store, read
from the case file by the people entitled to them, never from a list.

Every row is keyed by the identity of what it describes (a participant, a contact,
a goal, a policy version, a caseload), never a running counter, so a redelivered
or replayed event rewrites the same row instead of counting twice. Counts, "last
contact" and "in the wind" are computed when read, as of a `now` the caller passes
in, because they change with the clock and not only with events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from events.base import DomainEvent, Role
from events.participant import (
    CaseloadOpened,
    CaseManagerAssigned,
    ContactRecorded,
    GoalRevised,
    GoalSet,
    GoalStatus,
    ParticipantEnrolled,
    ParticipantExited,
    ParticipantReengaged,
    ParticipantStatus,
    StatusChanged,
)
from events.policy import PolicyAdopted, PolicyAmended
from projections.base import RowChange, Table, Update, Upsert, keyset_after, limit_clause

NAME = "caseloads"
SCHEMA = "proj_caseloads"

# "Contacts in the last 30 days": the recent dose a case manager and the OWG look at.
CONTACT_WINDOW = timedelta(days=30)

PARTICIPANTS = Table(
    name="participants",
    columns={
        "participant_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "case_manager": "text NOT NULL",
        "status": "text NOT NULL",
        "enrolled_on": "date NOT NULL",
        "exited_on": "date",
        "reengaged_on": "date",
        "position": "bigint NOT NULL",
    },
    primary_key=("participant_id",),
    indexes=(("case_manager", "status"), ("person_id",)),
)

CONTACTS = Table(
    name="contacts",
    columns={
        "contact_id": "uuid NOT NULL",
        "participant_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "case_manager": "text",
        "contacted_on": "timestamptz NOT NULL",
        "minutes": "integer NOT NULL",
        "kind": "text NOT NULL",
        "position": "bigint NOT NULL",
    },
    primary_key=("contact_id",),
    indexes=(("participant_id", "contacted_on"), ("case_manager", "contacted_on")),
)

GOALS = Table(
    name="goals",
    columns={
        "goal_id": "uuid NOT NULL",
        "participant_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "status": "text NOT NULL",
        "position": "bigint NOT NULL",
    },
    primary_key=("goal_id",),
    indexes=(("participant_id", "status"),),
)

# A policy version never changes once adopted, and each row is written by exactly
# one event, so there is nothing for a version guard to protect: a replay rewrites
# the same values. Its key is the policy's own version number.
POLICY_LIMITS = Table(
    name="policy_limits",
    columns={
        "policy_version": "integer NOT NULL",
        "effective_from": "date NOT NULL",
        "target": "integer NOT NULL",
        "warning": "integer NOT NULL",
        "hard_cap": "integer NOT NULL",
        "in_the_wind_days": "integer NOT NULL",
    },
    primary_key=("policy_version",),
    versioned=False,
)

# Opened caseloads, so a case manager whose every participant moved on still shows,
# with room to take someone: that is exactly whom the project manager looks for.
CASELOADS = Table(
    name="caseloads",
    columns={
        "case_manager": "text NOT NULL",
        "caseload_id": "uuid NOT NULL",
        "opened_at": "timestamptz NOT NULL",
    },
    primary_key=("case_manager",),
)

TABLES: tuple[Table, ...] = (PARTICIPANTS, CONTACTS, GOALS, POLICY_LIMITS, CASELOADS)


# -- the projection ------------------------------------------------------------------


def _participant(event: DomainEvent, position: int, **values: Any) -> list[RowChange]:
    """A change to the participant's row, guarded by the participant aggregate's version."""
    return [
        Update(
            PARTICIPANTS.name,
            key={"participant_id": event.originator_id},
            values={**values, "position": position},
            version=event.originator_version,
        )
    ]


def _contact_case_manager(event: ContactRecorded) -> str | None:
    """Whose dose the contact is: the case manager who recorded it, fixed at that moment.

    The event does not name the participant's case manager and `handle` reads
    nothing, so the recording case manager stands for "the case manager at the
    time": a later reassignment does not move past contacts to the new case
    manager. A contact recorded by anyone else (a project manager, say) names none.
    """
    return event.actor.principal if event.actor.role is Role.CASE_MANAGER else None


class CaseloadsProjection:
    """Participants on caseloads, their contacts and goals, and the caseload limits."""

    name = NAME
    tables: Sequence[Table] = TABLES

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        """The row changes the event implies; events this view does not show imply none."""
        match event:
            case PolicyAdopted() | PolicyAmended():
                limits = event.terms.caseload
                return [
                    Upsert(
                        POLICY_LIMITS.name,
                        key={"policy_version": event.version},
                        values={
                            "effective_from": event.terms.effective_from,
                            "target": limits.target,
                            "warning": limits.warning,
                            "hard_cap": limits.hard_cap,
                            "in_the_wind_days": event.terms.in_the_wind_days,
                        },
                    )
                ]
            case CaseloadOpened():
                return [
                    Upsert(
                        CASELOADS.name,
                        key={"case_manager": event.case_manager},
                        values={"caseload_id": event.originator_id, "opened_at": event.occurred_at},
                        version=event.originator_version,
                    )
                ]
            case ParticipantEnrolled():
                return [
                    Upsert(
                        PARTICIPANTS.name,
                        key={"participant_id": event.originator_id},
                        values={
                            "person_id": event.person_id,
                            "case_manager": event.case_manager,
                            "status": ParticipantStatus.ACTIVE.value,
                            "enrolled_on": event.enrolled_on,
                            "exited_on": None,
                            "reengaged_on": None,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
            case CaseManagerAssigned():
                return _participant(event, position, case_manager=event.case_manager)
            case StatusChanged():
                return _participant(event, position, status=event.status.value)
            case ParticipantExited():
                return _participant(
                    event,
                    position,
                    status=ParticipantStatus.EXITED.value,
                    exited_on=event.exited_on,
                )
            case ParticipantReengaged():
                return _participant(
                    event,
                    position,
                    status=ParticipantStatus.ACTIVE.value,
                    exited_on=None,
                    reengaged_on=event.reengaged_on,
                )
            case GoalSet():
                return [
                    Upsert(
                        GOALS.name,
                        key={"goal_id": event.goal_id},
                        values={
                            "participant_id": event.originator_id,
                            "person_id": event.person_id,
                            "status": GoalStatus.OPEN.value,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
            case GoalRevised():
                return [
                    Update(
                        GOALS.name,
                        key={"goal_id": event.goal_id},
                        values={"status": event.status.value, "position": position},
                        version=event.originator_version,
                    )
                ]
            case ContactRecorded():
                # Deliberately not `notes` nor `place`: they stay in the event store.
                return [
                    Upsert(
                        CONTACTS.name,
                        key={"contact_id": event.contact_id},
                        values={
                            "participant_id": event.originator_id,
                            "person_id": event.person_id,
                            "case_manager": _contact_case_manager(event),
                            "contacted_on": event.contacted_on,
                            "minutes": event.minutes,
                            "kind": event.kind.value,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
        return []


# -- time arithmetic (pure, so it is tested without a clock or a database) ------------


def days_since(then: date | datetime, now: datetime) -> int:
    """Calendar days from `then` to `now`, on `now`'s clock: yesterday evening is 1 day ago.

    Case managers count days on the calendar ("seen three days ago"), so a time is
    first moved to `now`'s time zone and only its date counts. `now` must be
    timezone-aware, or "which day" would depend on the server's zone.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware, e.g. datetime.now(UTC)")
    if isinstance(then, datetime):
        then = then.astimezone(now.tzinfo).date()
    return (now.date() - then).days


def in_the_wind(
    *, last_contact_at: datetime | None, engaged_on: date, now: datetime, days: int
) -> bool:
    """No contact for more than the policy's `days`.

    Counted from the last contact, or from when the person (re-)engaged if there
    has been no contact since: someone enrolled or re-engaged today has just been
    seen, and someone never contacted is counted from that day, not ignored.
    """
    quiet = days_since(engaged_on, now)
    if last_contact_at is not None:
        quiet = min(quiet, days_since(last_contact_at, now))
    return quiet > days


@dataclass(frozen=True)
class PolicyLimits:
    """The caseload limits and in-the-wind days of one policy version."""

    policy_version: int
    effective_from: date
    target: int
    warning: int
    hard_cap: int
    in_the_wind_days: int


def caseload_summary(case_manager: str, size: int, limits: PolicyLimits | None) -> dict[str, Any]:
    """One case manager's caseload against the limits in force.

    "Over warning" is strictly above the warning level and "at cap" is at or above
    the hard cap, as the caseload aggregate refuses a join at the cap. Without a
    policy in force the limits and flags are None: unknown, not fine.
    """
    return {
        "case_manager": case_manager,
        "size": size,
        "policy_version": limits.policy_version if limits else None,
        "target": limits.target if limits else None,
        "warning": limits.warning if limits else None,
        "hard_cap": limits.hard_cap if limits else None,
        "over_warning": size > limits.warning if limits else None,
        "at_cap": size >= limits.hard_cap if limits else None,
    }


def caseload_entry(
    row: dict[str, Any], *, now: datetime, limits: PolicyLimits | None
) -> dict[str, Any]:
    """One participant as their case manager sees them, from a row of `list_caseload`'s query."""
    last_contact_at: datetime | None = row["last_contact_at"]
    engaged_on: date = row["reengaged_on"] or row["enrolled_on"]
    return {
        "participant_id": row["participant_id"],
        "person_id": row["person_id"],
        "status": row["status"],
        "enrolled_on": row["enrolled_on"],
        "last_contact_at": last_contact_at,
        "days_since_contact": days_since(last_contact_at, now) if last_contact_at else None,
        "contacts_last_30_days": row["contacts_last_30_days"],
        "open_goals": row["open_goals"],
        "in_the_wind": (
            in_the_wind(
                last_contact_at=last_contact_at,
                engaged_on=engaged_on,
                now=now,
                days=limits.in_the_wind_days,
            )
            if limits
            else None
        ),
    }


# -- queries ----------------------------------------------------------------------------


def _table(table: Table) -> sql.Identifier:
    return sql.Identifier(SCHEMA, table.name)


def policy_in_force(conn: psycopg.Connection[dict[str, Any]], on: date) -> PolicyLimits | None:
    """The limits of the policy in force on a day: the latest version whose date has come.

    The same rule as `SitePolicy.in_force`: latest effective date, then latest version.
    """
    query = sql.SQL(
        "SELECT policy_version, effective_from, target, warning, hard_cap, in_the_wind_days"
        " FROM {policy} WHERE effective_from <= %(on)s"
        " ORDER BY effective_from DESC, policy_version DESC LIMIT 1"
    ).format(policy=_table(POLICY_LIMITS))
    row = conn.execute(query, {"on": on}).fetchone()
    return PolicyLimits(**row) if row else None


def list_caseloads(
    conn: psycopg.Connection[dict[str, Any]],
    *,
    now: datetime,
    case_manager: str | None = None,
    after: Sequence[Any] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Each case manager's caseload size (participants not exited) against the limits at `now`.

    Case managers come from the opened caseloads and from participants' current case
    managers, so an empty caseload shows with size 0. Ordered by case manager;
    filtered to one when `case_manager` is given (empty if that one has no caseload);
    only those after `after` (`(case_manager,)`) and at most `limit`.
    """
    limits = policy_in_force(conn, now.date())
    seek, params = keyset_after([sql.SQL("m.case_manager")], ["text"], after)
    where = sql.SQL(
        "WHERE m.case_manager = %(case_manager)s AND {}" if case_manager else "WHERE {}"
    )
    query = sql.SQL(
        "SELECT m.case_manager, count(p.participant_id) AS size"
        " FROM (SELECT case_manager FROM {caseloads}"
        "       UNION SELECT case_manager FROM {participants}) AS m"
        " LEFT JOIN {participants} AS p"
        "   ON p.case_manager = m.case_manager AND p.status <> %(exited)s"
        " {where}"
        " GROUP BY m.case_manager ORDER BY m.case_manager{limit}"
    ).format(
        caseloads=_table(CASELOADS),
        participants=_table(PARTICIPANTS),
        where=where.format(seek),
        limit=limit_clause(limit),
    )
    params["exited"] = ParticipantStatus.EXITED.value
    if case_manager:
        params["case_manager"] = case_manager
    rows = conn.execute(query, params).fetchall()
    return [caseload_summary(row["case_manager"], row["size"], limits) for row in rows]


def list_caseload(
    conn: psycopg.Connection[dict[str, Any]],
    case_manager: str,
    *,
    now: datetime,
    after: Sequence[Any] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The participants (not exited) on one case manager's caseload, as of `now`.

    Only contacts up to `now` count, so a fixed `now` gives a fixed answer. Ordered
    by last contact, never-contacted first and then the longest unseen, so whoever
    most needs finding is at the top. Only those after `after` (`(contacted yet,
    last contact or "", enrolled_on, person_id)`) and at most `limit`.
    """
    limits = policy_in_force(conn, now.date())
    seek, params = keyset_after(
        [
            sql.SQL("last_contact_at IS NOT NULL"),
            sql.SQL("coalesce(last_contact_at, '-infinity')"),
            sql.SQL("enrolled_on"),
            sql.SQL("person_id"),
        ],
        # Never contacted is "" in a cursor, as the page's key writes it.
        ["boolean", "coalesce(nullif({}::text, '')::timestamptz, '-infinity')", "date", "uuid"],
        after,
    )
    query = sql.SQL(
        "SELECT * FROM (SELECT p.participant_id, p.person_id, p.status, p.enrolled_on,"
        " p.reengaged_on,"
        " (SELECT max(c.contacted_on) FROM {contacts} AS c"
        "   WHERE c.participant_id = p.participant_id AND c.contacted_on <= %(now)s)"
        "   AS last_contact_at,"
        " (SELECT count(*) FROM {contacts} AS c"
        "   WHERE c.participant_id = p.participant_id"
        "   AND c.contacted_on > %(since)s AND c.contacted_on <= %(now)s)"
        "   AS contacts_last_30_days,"
        " (SELECT count(*) FROM {goals} AS g"
        "   WHERE g.participant_id = p.participant_id AND g.status = %(open)s) AS open_goals"
        " FROM {participants} AS p"
        " WHERE p.case_manager = %(case_manager)s AND p.status <> %(exited)s) AS members"
        " WHERE {seek}"
        " ORDER BY last_contact_at ASC NULLS FIRST, enrolled_on, person_id{limit}"
    ).format(
        contacts=_table(CONTACTS),
        goals=_table(GOALS),
        participants=_table(PARTICIPANTS),
        seek=seek,
        limit=limit_clause(limit),
    )
    params |= {
        "now": now,
        "since": now - CONTACT_WINDOW,
        "open": GoalStatus.OPEN.value,
        "case_manager": case_manager,
        "exited": ParticipantStatus.EXITED.value,
    }
    rows = conn.execute(query, params).fetchall()
    return [caseload_entry(row, now=now, limits=limits) for row in rows]
