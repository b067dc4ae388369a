"""The evaluation report queries: SQL that fetches grouped or de-identified rows from the
projection's tables, handed to the pure summaries; every answer is counts, suppressed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any, TypeAlias

import psycopg
from psycopg import sql

from events.referral import Pathway
from projections.evaluation.projection import (
    CONTACTS,
    ENROLLMENTS,
    FILINGS,
    HOUSING,
    INCOME,
    REFERRALS,
    SCHEMA,
)
from projections.evaluation.summaries import (
    enrolled_spans,
    exposure_by_month,
    month_of,
    summarize_dose,
    summarize_filings,
    summarize_net_widening,
    summarize_race_ethnicity,
    summarize_time_to_intake,
    summarize_transitions,
)
from projections.evaluation.suppression import (
    DEFAULT_SUPPRESS_BELOW,
    share,
    suppress,
)

Conn: TypeAlias = psycopg.Connection[dict[str, Any]]


def table(name: str) -> sql.Identifier:
    """A projection table, schema-qualified, for composing queries."""
    return sql.Identifier(SCHEMA, name)


def _received_in(
    since: date | None, before: date | None
) -> tuple[list[sql.Composable], dict[str, Any]]:
    """Conditions for referrals received on or after `since` and before `before`."""
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    if since is not None:
        conditions.append(sql.SQL("received_on >= %(since)s"))
        params["since"] = since
    if before is not None:
        conditions.append(sql.SQL("received_on < %(before)s"))
        params["before"] = before
    return conditions, params


def _where(conditions: Sequence[sql.Composable]) -> sql.Composed:
    if not conditions:
        return sql.Composed([])
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)


def _fetch(
    conn: Conn, query: sql.Composed, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    return conn.execute(query, params).fetchall()


def referrals_by_pathway_and_month(
    conn: Conn,
    *,
    suppress_below: int = DEFAULT_SUPPRESS_BELOW,
    since: date | None = None,
    before: date | None = None,
) -> list[dict[str, Any]]:
    """Referrals and enrollments among them, per month received and pathway."""
    conditions, params = _received_in(since, before)
    query = sql.SQL(
        "SELECT received_month AS month, pathway, count(*) AS referrals, "
        "count(*) FILTER (WHERE outcome = 'enrolled') AS enrolled "
        "FROM {t}{where} GROUP BY received_month, pathway ORDER BY received_month, pathway"
    ).format(t=table(REFERRALS.name), where=_where(conditions))
    return [
        {
            "month": row["month"],
            "pathway": row["pathway"],
            "referrals": suppress(row["referrals"], suppress_below),
            "enrolled": suppress(row["enrolled"], suppress_below),
        }
        for row in _fetch(conn, query, params)
    ]


def referrals_by_race_ethnicity(
    conn: Conn,
    baseline: dict[str, int],
    *,
    suppress_below: int = DEFAULT_SUPPRESS_BELOW,
    since: date | None = None,
    before: date | None = None,
) -> dict[str, Any]:
    """Referrals by race (beside `baseline` eligible arrests by race) and by ethnicity.

    The baseline is the PCG's count of eligible arrests per race category for the same
    period, with the same category names as the referrals' self-reported race.
    """
    conditions, params = _received_in(since, before)
    counts = {}
    for column in ("race", "ethnicity"):
        query = sql.SQL("SELECT {c} AS value, count(*) AS n FROM {t}{where} GROUP BY {c}").format(
            c=sql.Identifier(column), t=table(REFERRALS.name), where=_where(conditions)
        )
        counts[column] = {row["value"]: row["n"] for row in _fetch(conn, query, params)}
    return summarize_race_ethnicity(counts["race"], counts["ethnicity"], baseline, suppress_below)


def net_widening(
    conn: Conn,
    *,
    suppress_below: int = DEFAULT_SUPPRESS_BELOW,
    since: date | None = None,
    before: date | None = None,
) -> dict[str, Any]:
    """The share of referrals with no prior criminal-legal contact, and how many are unknown."""
    conditions, params = _received_in(since, before)
    query = sql.SQL(
        "SELECT pathway, prior_criminal_legal_contact AS prior, count(*) AS n "
        "FROM {t}{where} GROUP BY pathway, prior_criminal_legal_contact"
    ).format(t=table(REFERRALS.name), where=_where(conditions))
    return summarize_net_widening(_fetch(conn, query, params), suppress_below)


def time_to_intake(
    conn: Conn,
    *,
    suppress_below: int = DEFAULT_SUPPRESS_BELOW,
    since: date | None = None,
    before: date | None = None,
) -> dict[str, Any]:
    """Days from referral to completed intake (median, 90th percentile), per pathway too.

    Only enrolled referrals have an intake day; the rows fetched carry a pathway and a
    number of days, nothing that points to a person.
    """
    conditions, params = _received_in(since, before)
    conditions.append(sql.SQL("intake_on IS NOT NULL"))
    query = sql.SQL("SELECT pathway, intake_on - received_on AS days FROM {t}{where}").format(
        t=table(REFERRALS.name), where=_where(conditions)
    )
    return summarize_time_to_intake(_fetch(conn, query, params), suppress_below)


def lapses(
    conn: Conn,
    *,
    suppress_below: int = DEFAULT_SUPPRESS_BELOW,
    since: date | None = None,
    before: date | None = None,
) -> dict[str, Any]:
    """Arrest diversions whose intake deadline lapsed, as a share of those approved.

    Only an approved arrest diversion has a deadline to miss, so approved ones are the
    denominator; all arrest diversions are reported beside it.
    """
    conditions, params = _received_in(since, before)
    conditions.append(sql.SQL("pathway = %(pathway)s"))
    params["pathway"] = Pathway.ARREST_DIVERSION.value
    query = sql.SQL(
        "SELECT count(*) AS arrest_diversions, "
        "count(*) FILTER (WHERE approved) AS approved, "
        "count(*) FILTER (WHERE lapsed) AS lapsed FROM {t}{where}"
    ).format(t=table(REFERRALS.name), where=_where(conditions))
    [row] = _fetch(conn, query, params)
    approved = suppress(row["approved"], suppress_below)
    lapsed = suppress(row["lapsed"], suppress_below)
    return {
        "arrest_diversions": suppress(row["arrest_diversions"], suppress_below),
        "approved": approved,
        "lapsed": lapsed,
        "share_of_approved_lapsed": share(lapsed, approved),
    }


def contacts_per_participant_month(
    conn: Conn,
    *,
    suppress_below: int = DEFAULT_SUPPRESS_BELOW,
    through: date | None = None,
) -> dict[str, Any]:
    """The dose: contacts per participant-month enrolled, up to and including `through`.

    Enrollment rows are fetched without ids (only their dates) and contacts as counts
    per day; exposure is computed by `exposure_by_month`.
    """
    through = through or date.today()
    end = through + timedelta(days=1)
    enrollments = _fetch(
        conn,
        sql.SQL("SELECT enrolled_on, exited_on, reengaged_on FROM {t}").format(
            t=table(ENROLLMENTS.name)
        ),
    )
    spans = [
        enrolled_spans(r["enrolled_on"], r["exited_on"], r["reengaged_on"], end)
        for r in enrollments
    ]
    per_day = _fetch(
        conn,
        sql.SQL(
            "SELECT contacted_on, count(*) AS n FROM {t} "
            "WHERE contacted_on <= %(through)s GROUP BY contacted_on"
        ).format(t=table(CONTACTS.name)),
        {"through": through},
    )
    contacts: Counter[date] = Counter()
    for row in per_day:
        contacts[month_of(row["contacted_on"])] += row["n"]
    participants = sum(1 for s in spans if s)
    return summarize_dose(exposure_by_month(spans), contacts, participants, suppress_below)


def housing_transitions(
    conn: Conn, *, suppress_below: int = DEFAULT_SUPPRESS_BELOW
) -> dict[str, Any]:
    """From the first known living situation to later ones: homeless -> permanent, and the
    matrix of first against latest category. Data-quality answers count as unknown."""
    query = sql.SQL(
        "SELECT array_agg(category ORDER BY as_of, version) AS categories "
        "FROM {t} GROUP BY participant_id"
    ).format(t=table(HOUSING.name))
    sequences = [
        [None if c == "unknown" else c for c in row["categories"]] for row in _fetch(conn, query)
    ]
    return summarize_transitions(
        sequences, start="homeless", goal="permanent", threshold=suppress_below
    )


def income_transitions(
    conn: Conn, *, suppress_below: int = DEFAULT_SUPPRESS_BELOW
) -> dict[str, Any]:
    """From no income or benefits at the first known observation to some later on.

    `unknown_observations` counts the data-quality answers (doesn't know, prefers not to
    answer, not collected), which say how complete the income data is.
    """
    query = sql.SQL(
        "SELECT array_agg(has_income ORDER BY as_of, version) AS observations "
        "FROM {t} GROUP BY participant_id"
    ).format(t=table(INCOME.name))
    labels = {True: "income", False: "no_income"}
    sequences = [
        [None if o is None else labels[o] for o in row["observations"]]
        for row in _fetch(conn, query)
    ]
    return summarize_transitions(
        sequences, start="no_income", goal="income", threshold=suppress_below
    )


def filings_before_after_enrollment(
    conn: Conn,
    *,
    months: int = 12,
    as_of: date | None = None,
    full_follow_up: bool = True,
    suppress_below: int = DEFAULT_SUPPRESS_BELOW,
) -> dict[str, Any]:
    """Filings in the `months` before vs after enrollment, summed over participants.

    Counted by filing date (also felony filings) and, for the same filed cases, by
    incident date, since a filing after enrollment may concern an incident before it.
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    as_of = as_of or date.today()
    enrollments = _fetch(
        conn, sql.SQL("SELECT enrolled_on FROM {t}").format(t=table(ENROLLMENTS.name))
    )
    filings = _fetch(
        conn,
        sql.SQL(
            "SELECT e.enrolled_on, f.filing_date, f.incident_date, f.felony "
            "FROM {e} AS e JOIN {f} AS f ON f.person_id = e.person_id "
            "WHERE f.filing_date IS NOT NULL"
        ).format(e=table(ENROLLMENTS.name), f=table(FILINGS.name)),
    )
    return summarize_filings(
        [r["enrolled_on"] for r in enrollments],
        filings,
        months=months,
        as_of=as_of,
        full_follow_up=full_follow_up,
        threshold=suppress_below,
    )
