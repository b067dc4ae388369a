"""The arithmetic of the evaluation reports, pure: dates and exposure months, transitions,
and the summaries of fetched de-identified rows, every count suppressed.
"""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Final, TypeVar

from events.referral import Pathway
from projections.evaluation.suppression import (
    TOTAL,
    Cell,
    duration_summary,
    figure,
    share,
    suppress,
    suppress_group,
    suppress_table,
)

T = TypeVar("T")


# -- dates ----------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), clamped to the month's end like PostgreSQL."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def month_of(day: date) -> date:
    return day.replace(day=1)


def window_of(enrolled_on: date, day: date, months: int) -> str | None:
    """'before' for [enrolled - months, enrolled), 'after' for [enrolled, enrolled + months)."""
    if add_months(enrolled_on, -months) <= day < enrolled_on:
        return "before"
    if enrolled_on <= day < add_months(enrolled_on, months):
        return "after"
    return None


def enrolled_spans(
    enrolled_on: date, exited_on: date | None, reengaged_on: date | None, end: date
) -> list[tuple[date, date]]:
    """The half-open day ranges [start, stop) a participant was enrolled, up to `end`.

    Built from the enrollment row (the latest exit and re-engagement): exact for one exit
    and one return, which is what evaluation periods see; a gap between earlier exits and
    returns of someone exited again is counted as enrolled.
    """
    if exited_on is None:
        spans = [(enrolled_on, end)]
    else:
        spans = [(enrolled_on, exited_on)]
        if reengaged_on is not None and reengaged_on >= exited_on:
            spans.append((reengaged_on, end))
    return [(start, min(stop, end)) for start, stop in spans if start < min(stop, end)]


def exposure_by_month(
    spans_per_participant: Iterable[Sequence[tuple[date, date]]],
) -> dict[date, tuple[int, float]]:
    """Per calendar month: participants enrolled any day of it, and participant-months.

    A participant enrolled for 15 days of a 30-day month adds half a participant-month,
    so the dose is not inflated by people who joined at the month's end.
    """
    participants: Counter[date] = Counter()
    months: defaultdict[date, float] = defaultdict(float)
    for spans in spans_per_participant:
        seen: set[date] = set()
        for start, stop in spans:
            day = start
            while day < stop:
                month = month_of(day)
                following = add_months(month, 1)
                upto = min(stop, following)
                months[month] += (upto - day).days / (following - month).days
                seen.add(month)
                day = upto
        participants.update(seen)
    return {month: (participants[month], months[month]) for month in sorted(months)}


# -- transitions ----------------------------------------------------------------------


def known(observations: Sequence[T | None]) -> list[T]:
    """Observations with a value: a data-quality answer says nothing about a transition."""
    return [o for o in observations if o is not None]


def first_and_latest(observations: Sequence[T | None]) -> tuple[T, T] | None:
    """The first and latest known observations, or None without two of them."""
    values = known(observations)
    return (values[0], values[-1]) if len(values) >= 2 else None


def reached(observations: Sequence[T | None], start: T, goal: T) -> bool:
    """First known observation is `start` and a later one is `goal` (e.g. homeless -> housed).

    "A later one", not "the latest": the UW evaluation counts obtaining permanent housing
    during follow-up, even if it was later lost.
    """
    values = known(observations)
    return bool(values) and values[0] == start and goal in values[1:]


def summarize_transitions(
    sequences: Iterable[Sequence[str | None]], *, start: str, goal: str, threshold: int
) -> dict[str, Any]:
    """Counts over participants' observation sequences (each in time order).

    `first_to_latest` is the matrix of first against latest known value for those
    observed at least twice; `reached_goal` counts those who started at `start` and
    later were at `goal`, as a share of all who started at `start`.
    """
    observed = repeated = at_start = got_there = unknown = 0
    matrix: Counter[tuple[str, str]] = Counter()
    for sequence in sequences:
        unknown += sum(o is None for o in sequence)
        values = known(sequence)
        if not values:
            continue
        observed += 1
        at_start += values[0] == start
        got_there += reached(values, start, goal)
        pair = first_and_latest(values)
        if pair is not None:
            repeated += 1
            matrix[pair] += 1
    first = suppress(at_start, threshold)
    goal_cell = suppress(got_there, threshold)
    return {
        "start": start,
        "goal": goal,
        "participants_observed": suppress(observed, threshold),
        "observed_more_than_once": suppress(repeated, threshold),
        "unknown_observations": suppress(unknown, threshold),
        "first_at_start": first,
        "reached_goal": goal_cell,
        "share_reached_goal": share(goal_cell, first),
        "first_to_latest": [
            {"first": a, "latest": b, "participants": cell}
            for (a, b), cell in sorted(suppress_group(matrix, threshold).items())
        ],
    }


# -- pure summaries of fetched rows ---------------------------------------------------


PRIOR_CONTACT: Final = {False: "no_prior_contact", True: "prior_contact", None: "unknown"}


def _prior_contact_summary(
    cells: Mapping[tuple[str, str], Cell], counts: Mapping[tuple[str, str], int], row: str
) -> dict[str, Any]:
    answers = {label: cells[(row, label)] for label in PRIOR_CONTACT.values()}
    no_prior, prior = (
        counts.get((row, "no_prior_contact"), 0),
        counts.get((row, "prior_contact"), 0),
    )
    known_total: Cell = {"count": no_prior + prior, "suppressed": False}
    if any(cell["suppressed"] for cell in answers.values()) or cells[(row, TOTAL)]["suppressed"]:
        # The share and a shown count give the known total back, and with it the rest.
        known_total = {"count": None, "suppressed": True}
    return {
        "referrals": cells[(row, TOTAL)],
        **answers,
        "share_no_prior_contact": share(answers["no_prior_contact"], known_total),
    }


def summarize_net_widening(rows: Iterable[Mapping[str, Any]], threshold: int) -> dict[str, Any]:
    """Rows of (pathway, prior_criminal_legal_contact, n) -> overall and per pathway.

    The share is of referrals whose prior contact is known, so unknowns neither pass for
    nor hide net widening; how many are unknown is reported beside it.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for p in Pathway:  # every pathway and answer has a line, zero or not
        for label in PRIOR_CONTACT.values():
            counts[(p.value, label)] = 0
    for row in rows:
        counts[(row["pathway"], PRIOR_CONTACT[row["prior"]])] += row["n"]
    cells = suppress_table(counts, threshold)
    totals = {
        label: sum(n for (_, c), n in counts.items() if c == label)
        for label in PRIOR_CONTACT.values()
    }
    return {
        "overall": _prior_contact_summary(cells, {(TOTAL, c): n for c, n in totals.items()}, TOTAL),
        "by_pathway": [
            {"pathway": p.value, **_prior_contact_summary(cells, counts, p.value)} for p in Pathway
        ],
    }


def summarize_race_ethnicity(
    by_race: Mapping[str, int],
    by_ethnicity: Mapping[str, int],
    baseline: Mapping[str, int],
    threshold: int,
) -> dict[str, Any]:
    """Referral counts and shares by race beside the baseline of eligible arrests.

    Two referral shares: of all referrals, and of the "comparable" ones whose race is a
    baseline category; the disparity ratio compares the comparable share with the
    baseline share, so "not collected" answers do not make every group look
    under-referred.
    """
    for race, count in baseline.items():
        if count < 0:
            raise ValueError(f"baseline arrests for {race!r} cannot be negative")
    total = suppress(sum(by_race.values()), threshold)
    comparable_n = sum(n for race, n in by_race.items() if race in baseline)
    comparable = suppress(comparable_n, threshold)
    baseline_total = suppress(sum(baseline.values()), threshold)
    counts = {race: by_race.get(race, 0) for race in set(by_race) | set(baseline)}
    # Three totals are published or derivable (all, comparable, the rest): withhold until
    # no one of them gives a withheld cell back.
    parts = [
        counts,
        {r: n for r, n in counts.items() if r in baseline},
        {r: n for r, n in counts.items() if r not in baseline},
    ]
    withheld: set[str] = set()
    while True:
        before = len(withheld)
        for part in parts:
            cells = suppress_group(part, threshold, withheld)
            withheld |= {r for r, cell in cells.items() if cell["suppressed"]}
        if len(withheld) == before:
            break
    race_cells = suppress_group(counts, threshold, withheld)
    races = []
    for race in sorted(counts):
        referrals = race_cells[race]
        row: dict[str, Any] = {
            "race": race,
            "referrals": referrals,
            "share_of_referrals": share(referrals, total),
            "share_of_comparable": None,
            "baseline_arrests": None,
            "baseline_share": None,
            "disparity_ratio": None,
        }
        if race in baseline:
            arrests = suppress(baseline[race], threshold)  # the PCG's data, withheld alike
            ours = share(referrals, comparable)
            theirs = share(arrests, baseline_total)
            hidden = ours["suppressed"] or theirs["suppressed"]
            ratio = None
            if comparable_n and baseline[race] and not hidden:
                ratio = (by_race.get(race, 0) / comparable_n) / (
                    baseline[race] / sum(baseline.values())
                )
            row |= {
                "share_of_comparable": ours,
                "baseline_arrests": arrests,
                "baseline_share": theirs,
                "disparity_ratio": figure(ratio, hidden),
            }
        races.append(row)
    ethnicity_total = suppress(sum(by_ethnicity.values()), threshold)
    ethnicity_cells = suppress_group(by_ethnicity, threshold)
    ethnicities = []
    for ethnicity in sorted(by_ethnicity):
        referrals = ethnicity_cells[ethnicity]
        ethnicities.append(
            {
                "ethnicity": ethnicity,
                "referrals": referrals,
                "share_of_referrals": share(referrals, ethnicity_total),
            }
        )
    return {
        "referrals": total,
        "comparable_referrals": comparable,
        "baseline_arrests": baseline_total,
        "by_race": races,
        "by_ethnicity": ethnicities,
    }


def summarize_time_to_intake(rows: Iterable[Mapping[str, Any]], threshold: int) -> dict[str, Any]:
    """Rows of (pathway, days) -> duration summaries overall and per pathway."""
    everyone: list[float] = []
    by_pathway: defaultdict[str, list[float]] = defaultdict(list)
    for row in rows:
        everyone.append(row["days"])
        by_pathway[row["pathway"]].append(row["days"])
    counts = suppress_group({p.value: len(by_pathway[p.value]) for p in Pathway}, threshold)
    return {
        "overall": duration_summary(everyone, threshold),
        "by_pathway": [
            {
                "pathway": p.value,
                **duration_summary(by_pathway[p.value], threshold, counts[p.value]),
            }
            for p in Pathway
        ],
    }


def summarize_dose(
    exposure: Mapping[date, tuple[int, float]],
    contacts: Mapping[date, int],
    participants: int,
    threshold: int,
) -> dict[str, Any]:
    """Contacts per participant-month, overall and per calendar month."""

    # Monthly contacts add up to the overall count, so they are withheld as a group.
    monthly = suppress_group(contacts, threshold)

    def row(people: int, n: int, months: float, contacts_cell: Cell) -> dict[str, Any]:
        people_cell = suppress(people, threshold)
        return {
            "participants": people_cell,
            "contacts": contacts_cell,
            "participant_months": figure(months, people_cell["suppressed"]),
            "contacts_per_participant_month": figure(
                n / months if months else None,
                people_cell["suppressed"] or contacts_cell["suppressed"],
            ),
        }

    by_month = []
    for month in sorted(set(exposure) | set(contacts)):
        people, months = exposure.get(month, (0, 0.0))
        n = contacts.get(month, 0)
        cell = monthly.get(month, suppress(n, threshold))
        by_month.append({"month": month, **row(people, n, months, cell)})
    total_months = sum(months for _, months in exposure.values())
    total = sum(contacts.values())
    return {
        "overall": row(participants, total, total_months, suppress(total, threshold)),
        "by_month": by_month,
    }


def _before_after(before: int, after: int, threshold: int) -> dict[str, Any]:
    before_cell, after_cell = suppress(before, threshold), suppress(after, threshold)
    hidden = before_cell["suppressed"] or after_cell["suppressed"]
    return {
        "before": before_cell,
        "after": after_cell,
        "relative_change": figure((after - before) / before if before else None, hidden, 4),
    }


def summarize_filings(
    enrollments: Iterable[date],
    filings: Iterable[Mapping[str, Any]],
    *,
    months: int,
    as_of: date,
    full_follow_up: bool,
    threshold: int,
) -> dict[str, Any]:
    """Filings in the `months` before vs after each participant's enrollment, summed.

    `enrollments` are enrollment dates, one per participant; `filings` rows carry the
    participant's `enrolled_on` with the case's `filing_date`, `incident_date` and
    `felony`. With `full_follow_up` only participants whose after-window has ended by
    `as_of` count, so recent enrollees do not make "after" look better than it is.
    Filings after `as_of` are not known yet and are left out.
    """

    def included(enrolled_on: date) -> bool:
        if enrolled_on > as_of:
            return False
        return not full_follow_up or add_months(enrolled_on, months) <= as_of

    participants = sum(1 for enrolled_on in enrollments if included(enrolled_on))
    by_filing: Counter[str] = Counter()
    felonies: Counter[str] = Counter()
    by_incident: Counter[str] = Counter()
    for row in filings:
        enrolled_on, filed = row["enrolled_on"], row["filing_date"]
        if filed is None or filed > as_of or not included(enrolled_on):
            continue
        window = window_of(enrolled_on, filed, months)
        if window is not None:
            by_filing[window] += 1
            felonies[window] += bool(row["felony"])
        incident_window = window_of(enrolled_on, row["incident_date"], months)
        if incident_window is not None:
            by_incident[incident_window] += 1
    return {
        "months": months,
        "as_of": as_of,
        "participants": suppress(participants, threshold),
        "filings": _before_after(by_filing["before"], by_filing["after"], threshold),
        "felony_filings": _before_after(felonies["before"], felonies["after"], threshold),
        "filings_by_incident_date": _before_after(
            by_incident["before"], by_incident["after"], threshold
        ),
    }
