"""The evaluation view: de-identified facts for the PCG and evaluators, and their aggregates.

LEAD sites are judged on equity and outcomes (referrals against a baseline of eligible
arrests, net widening, time to intake, lapses, the dose of case management, housing,
income, and filings before and after enrollment), so this projection keeps exactly the
facts those questions need and nothing that names a person: no names, aliases, birth
dates, contact notes, goal texts or free-text reasons ever reach its tables.

Each row is one fact keyed by the identity of what it records (a referral, a
participant, a contact, an observation event, a case), written with the aggregate
version as guard, so a redelivered or replayed event changes nothing. There are no
running counters: every number is counted at query time.

Person and participant ids stay in these internal tables because joining needs them
(filings to enrollment dates, observations to the participant they follow), but no
query returns anything person-level: every query answers with counts and figures
derived from counts, and every count from 1 up to the suppression threshold (11 by
default, a PCG setting) is withheld as ``{"count": None, "suppressed": True}``, as is
every share, rate or quantile derived from a withheld count.

The SQL only fetches grouped or de-identified rows; the arithmetic (quantiles,
transitions, exposure months, before/after windows, suppression) is done by the pure
functions below, which the unit tests exercise without a database.
"""

from __future__ import annotations

import calendar
import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Final, TypeAlias, TypedDict, TypeVar

import psycopg
from psycopg import sql

from events.base import DomainEvent
from events.case import CaseOpened, ChargingDecision, ChargingDecisionRecorded, Severity
from events.participant import (
    ContactRecorded,
    DataQuality,
    IncomeRecorded,
    LivingSituationRecorded,
    ParticipantEnrolled,
    ParticipantExited,
    ParticipantReengaged,
    housing_category,
)
from events.referral import (
    EligibilityDecided,
    IntakeCompleted,
    IntakeDeadlineLapsed,
    Pathway,
    ReferralApproved,
    ReferralDeclined,
    ReferralReceived,
    ReferralWithdrawnByPerson,
)
from projections.base import RowChange, Table, Update, Upsert

SCHEMA: Final = "proj_evaluation"
"""The PostgreSQL schema the projection's tables live in; row changes name tables bare."""

DEFAULT_SUPPRESS_BELOW: Final = 11
"""Small-cell threshold: counts from 1 to 10 are withheld unless the PCG sets otherwise."""

Conn: TypeAlias = psycopg.Connection[dict[str, Any]]
T = TypeVar("T")
K = TypeVar("K")

# -- tables ---------------------------------------------------------------------------

REFERRALS = Table(
    name="referrals",
    columns={
        "referral_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "pathway": "text NOT NULL",
        "received_at": "timestamptz NOT NULL",
        "received_on": "date NOT NULL",
        "received_month": "date NOT NULL",
        "race": "text NOT NULL",
        "ethnicity": "text NOT NULL",
        "prior_criminal_legal_contact": "boolean",
        "outcome": "text NOT NULL",
        "approved": "boolean NOT NULL DEFAULT false",
        "intake_on": "date",
        "enrolled_at": "timestamptz",
        "lapsed": "boolean NOT NULL DEFAULT false",
    },
    primary_key=("referral_id",),
    indexes=(("received_month", "pathway"), ("received_on",)),
)
"""One row per referral: pathway, self-reported race and ethnicity, the net-widening fact
and how the referral ended ("open", "excluded", "declined", "withdrawn", "lapsed",
"enrolled")."""

ENROLLMENTS = Table(
    name="enrollments",
    columns={
        "participant_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "referral_id": "uuid NOT NULL",
        "enrolled_on": "date NOT NULL",
        "exited_on": "date",
        "reengaged_on": "date",
    },
    primary_key=("participant_id",),
    indexes=(("person_id",),),
)
"""One row per participant (a person has one participant record): enrollment and the
latest exit and re-engagement, for exposure months and before/after windows."""

CONTACTS = Table(
    name="contacts",
    columns={
        "contact_id": "uuid NOT NULL",
        "participant_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "contacted_on": "date NOT NULL",
        "kind": "text NOT NULL",
        "minutes": "integer NOT NULL",
    },
    primary_key=("contact_id",),
    indexes=(("contacted_on",),),
)
"""One row per contact, the dose of case management; never its place or notes."""

HOUSING = Table(
    name="housing",
    columns={
        "event_id": "uuid NOT NULL",
        "participant_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "as_of": "date NOT NULL",
        "situation": "text NOT NULL",
        "category": "text NOT NULL",
    },
    primary_key=("event_id",),
    indexes=(("participant_id",),),
)
"""One row per living-situation observation: the HMIS code (or data-quality answer) and
its group (homeless, institutional, temporary, permanent, unknown)."""

INCOME = Table(
    name="income",
    columns={
        "event_id": "uuid NOT NULL",
        "participant_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "as_of": "date NOT NULL",
        "has_income": "boolean",
    },
    primary_key=("event_id",),
    indexes=(("participant_id",),),
)
"""One row per income observation; `has_income` is NULL for a data-quality answer."""

FILINGS = Table(
    name="filings",
    columns={
        "case_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "incident_date": "date NOT NULL",
        "filing_date": "date",
        "origin": "text",
        "felony": "boolean NOT NULL",
    },
    primary_key=("case_id",),
    indexes=(("person_id",),),
)
"""One row per case; a filing is a row with a filing date (a case referred for charging
and not filed has none). Incident and filing dates both, since they differ."""

OPEN: Final = "open"


def _referral_update(event: DomainEvent, **values: Any) -> list[RowChange]:
    return [
        Update(
            REFERRALS.name,
            key={"referral_id": event.originator_id},
            values=values,
            version=event.originator_version,
        )
    ]


def _situation(situation: int | DataQuality) -> str:
    return situation.value if isinstance(situation, DataQuality) else str(situation)


class EvaluationProjection:
    """Event -> de-identified fact rows. Pure: the same event always gives the same rows."""

    name = "evaluation"
    tables: Sequence[Table] = (REFERRALS, ENROLLMENTS, CONTACTS, HOUSING, INCOME, FILINGS)

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        version = event.originator_version
        match event:
            case ReferralReceived():
                received_on = event.occurred_at.date()
                return [
                    Upsert(
                        REFERRALS.name,
                        key={"referral_id": event.originator_id},
                        values={
                            "person_id": event.person_id,
                            "pathway": event.pathway.value,
                            "received_at": event.occurred_at,
                            "received_on": received_on,
                            "received_month": received_on.replace(day=1),
                            "race": event.person.race,
                            "ethnicity": event.person.ethnicity,
                            "prior_criminal_legal_contact": (
                                event.facts.prior_criminal_legal_contact
                            ),
                            "outcome": OPEN,
                            "approved": False,
                            "lapsed": False,
                        },
                        version=version,
                    )
                ]
            case EligibilityDecided():
                return _referral_update(event, outcome=OPEN if event.eligible else "excluded")
            case ReferralApproved():
                return _referral_update(event, approved=True)
            case ReferralDeclined():
                return _referral_update(event, outcome="declined")
            case IntakeCompleted():
                return _referral_update(
                    event,
                    outcome="enrolled",
                    intake_on=event.completed_on,
                    enrolled_at=event.occurred_at,
                )
            case IntakeDeadlineLapsed():
                return _referral_update(event, outcome="lapsed", lapsed=True)
            case ReferralWithdrawnByPerson():
                return _referral_update(event, outcome="withdrawn")
            case ParticipantEnrolled():
                return [
                    Upsert(
                        ENROLLMENTS.name,
                        key={"participant_id": event.originator_id},
                        values={
                            "person_id": event.person_id,
                            "referral_id": event.referral_id,
                            "enrolled_on": event.enrolled_on,
                        },
                        version=version,
                    )
                ]
            case ParticipantExited():
                return [
                    Update(
                        ENROLLMENTS.name,
                        key={"participant_id": event.originator_id},
                        values={"exited_on": event.exited_on},
                        version=version,
                    )
                ]
            case ParticipantReengaged():
                return [
                    Update(
                        ENROLLMENTS.name,
                        key={"participant_id": event.originator_id},
                        values={"reengaged_on": event.reengaged_on},
                        version=version,
                    )
                ]
            case ContactRecorded():
                return [
                    Upsert(
                        CONTACTS.name,
                        key={"contact_id": event.contact_id},
                        values={
                            "participant_id": event.originator_id,
                            "person_id": event.person_id,
                            "contacted_on": event.contacted_on.date(),
                            "kind": event.kind.value,
                            "minutes": event.minutes,
                        },
                        version=version,
                    )
                ]
            case LivingSituationRecorded():
                return [
                    Upsert(
                        HOUSING.name,
                        key={"event_id": event.event_id},
                        values={
                            "participant_id": event.originator_id,
                            "person_id": event.person_id,
                            "as_of": event.as_of,
                            "situation": _situation(event.situation),
                            "category": housing_category(event.situation),
                        },
                        version=version,
                    )
                ]
            case IncomeRecorded():
                sources = event.sources
                return [
                    Upsert(
                        INCOME.name,
                        key={"event_id": event.event_id},
                        values={
                            "participant_id": event.originator_id,
                            "person_id": event.person_id,
                            "as_of": event.as_of,
                            "has_income": (
                                None if isinstance(sources, DataQuality) else bool(sources)
                            ),
                        },
                        version=version,
                    )
                ]
            case CaseOpened():
                filed = event.filing_date is not None
                return [
                    Upsert(
                        FILINGS.name,
                        key={"case_id": event.originator_id},
                        values={
                            "person_id": event.person_id,
                            "incident_date": event.incident_date,
                            "filing_date": event.filing_date,
                            # An unfiled case's origin says nothing yet; its filing decides it.
                            "origin": event.origin.value if filed else None,
                            "felony": any(c.severity is Severity.FELONY for c in event.charges),
                        },
                        version=version,
                    )
                ]
            case ChargingDecisionRecorded() if event.decision is ChargingDecision.FILED:
                values: dict[str, Any] = {"filing_date": event.filing_date}
                if event.origin is not None:
                    values["origin"] = event.origin.value
                return [
                    Update(
                        FILINGS.name,
                        key={"case_id": event.originator_id},
                        values=values,
                        version=version,
                    )
                ]
        return []


# -- suppression ----------------------------------------------------------------------


class Cell(TypedDict):
    """A published count: `count` is None exactly when it is `suppressed`."""

    count: int | None
    suppressed: bool


class Share(TypedDict):
    """A proportion of two published counts, withheld when either count is."""

    share: float | None
    suppressed: bool


class Figure(TypedDict):
    """Any other derived number (a rate, a quantile, a ratio), withheld like its counts."""

    value: float | None
    suppressed: bool


def suppress(count: int, threshold: int = DEFAULT_SUPPRESS_BELOW) -> Cell:
    """The count as it may be published: 1 to threshold-1 could single people out.

    Zero is shown: that nobody is in a cell identifies no one.
    """
    if count < 0:
        raise ValueError(f"a count cannot be negative: {count}")
    hidden = 0 < count < threshold
    return {"count": None if hidden else count, "suppressed": hidden}


def share(part: Cell, whole: Cell) -> Share:
    """part / whole, withheld if either is withheld (else it would give the count back)."""
    if part["suppressed"] or whole["suppressed"]:
        return {"share": None, "suppressed": True}
    numerator, denominator = part["count"], whole["count"]
    if numerator is None or not denominator:
        return {"share": None, "suppressed": False}
    return {"share": round(numerator / denominator, 4), "suppressed": False}


def suppress_group(
    counts: Mapping[K, int],
    threshold: int = DEFAULT_SUPPRESS_BELOW,
    withheld: Collection[K] = (),
) -> dict[K, Cell]:
    """The cells of one breakdown published beside its total, with complementary suppression.

    Withholding one small cell is not enough when the total and the other cells are
    shown: subtraction gives it back. So while the withheld cells are fewer than two or
    add up to less than the threshold, the smallest shown non-zero cell is withheld too.
    `withheld` names cells already withheld for another reason (another breakdown).
    """
    cells = {key: suppress(n, threshold) for key, n in counts.items()}
    for key in withheld:
        if key in cells:
            cells[key] = {"count": None, "suppressed": True}
    while True:
        hidden = [key for key, cell in cells.items() if cell["suppressed"]]
        if not hidden or (len(hidden) >= 2 and sum(counts[k] for k in hidden) >= threshold):
            return cells
        shown = [k for k, cell in cells.items() if not cell["suppressed"] and counts[k] > 0]
        if not shown:
            return cells
        smallest = min(shown, key=lambda k: (counts[k], str(k)))
        cells[smallest] = {"count": None, "suppressed": True}


TOTAL: Final = "total"
"""The key of a margin in `suppress_table`: a row's, a column's, or (both) the grand total."""


def suppress_table(
    counts: Mapping[tuple[str, str], int], threshold: int = DEFAULT_SUPPRESS_BELOW
) -> dict[tuple[str, str], Cell]:
    """A two-way table with its margins, withheld so no line gives a withheld cell back.

    Every row and every column, margin included, is a sum: a line with exactly one
    withheld entry, or withheld cells adding up below the threshold while its margin is
    shown, lets subtraction recover them. So the smallest shown non-zero entry of such a
    line is withheld too, line after line, until no line needs more. The result has the
    cells, `(row, TOTAL)` row totals, `(TOTAL, column)` column totals and `(TOTAL, TOTAL)`.
    """
    if any(TOTAL in key for key in counts):
        raise ValueError(f"{TOTAL!r} names the margins; no row or column may be called that")
    rows = sorted({r for r, _ in counts} | {TOTAL}, key=lambda r: (r == TOTAL, r))
    columns = sorted({c for _, c in counts} | {TOTAL}, key=lambda c: (c == TOTAL, c))
    full: dict[tuple[str, str], int] = {}
    for r in rows:
        for c in columns:
            full[(r, c)] = sum(
                n
                for (row, column), n in counts.items()
                if r in (row, TOTAL) and c in (column, TOTAL)
            )
    lines = [[(r, c) for c in columns] for r in rows] + [[(r, c) for r in rows] for c in columns]
    withheld = {key for key, n in full.items() if 0 < n < threshold}
    changed = True
    while changed:
        changed = False
        for line in lines:
            margin = line[-1]
            hidden = [key for key in line if key in withheld]
            if not hidden or (
                len(hidden) >= 2
                and (margin in withheld or sum(full[k] for k in hidden) >= threshold)
            ):
                continue
            shown = [key for key in line if key not in withheld and full[key] > 0]
            if shown:
                withheld.add(min(shown, key=lambda k: (k == margin, full[k], k)))
                changed = True
    return {
        key: {"count": None, "suppressed": True} if key in withheld else suppress(n, threshold)
        for key, n in full.items()
    }


def figure(value: float | None, suppressed: bool, digits: int = 2) -> Figure:
    """A derived number, or None with the marker when a count it came from is withheld."""
    if suppressed:
        return {"value": None, "suppressed": True}
    return {"value": None if value is None else round(value, digits), "suppressed": False}


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile with linear interpolation, as PostgreSQL's percentile_cont gives it."""
    if not 0 <= q <= 1:
        raise ValueError(f"a quantile lies between 0 and 1, not {q}")
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def duration_summary(
    days: Sequence[float], threshold: int, count: Cell | None = None
) -> dict[str, Any]:
    """Count, median and 90th percentile of durations, withheld together for a small group.

    A median of three people is close to one person's own wait, so it goes with the count
    (`count`, when given, is the count's cell as its breakdown withheld it).
    """
    count = count or suppress(len(days), threshold)
    hidden = count["suppressed"]
    return {
        "count": count,
        "median_days": figure(quantile(days, 0.5), hidden, 1),
        "p90_days": figure(quantile(days, 0.9), hidden, 1),
    }


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


# -- queries --------------------------------------------------------------------------


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
