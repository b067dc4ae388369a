"""The court cases of a seeded participant's history: a case open before enrollment or
filed after it, and the prosecutor's and the court's work on it."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from functools import partial

from events.case import Charge, ChargingDecision, Severity
from services import commands as c
from services.application import LeadApplication
from services.tools.demo.plan import Enrollment, Ids, Selection, Step, Timeline
from services.tools.demo.site import (
    CASE_CHARGES,
    DISPOSITIONS,
    LIAISON,
    RECOMMENDATIONS,
    on_day,
    weighted,
)


class CourtCases:
    """The cases in a participant's history, as steps of a `seed_site` run."""

    _app: LeadApplication
    _rng: random.Random
    _end: datetime
    _selection: Selection
    _case_number: int

    def _cases(self, who: Enrollment, timeline: Timeline) -> list[Step]:
        steps = []
        if who.index in self._selection.pre_existing:
            steps += self._pre_existing_case(who, timeline)
        if who.index in self._selection.filings:
            steps += self._post_enrollment_case(who, timeline, ChargingDecision.FILED)
        elif self._rng.random() < 0.08:
            decision = self._rng.choice(
                (ChargingDecision.DECLINED, ChargingDecision.MORE_EVIDENCE_NEEDED)
            )
            steps += self._post_enrollment_case(who, timeline, decision)
        return steps

    def _next_case_number(self, filed: date) -> str:
        self._case_number += 1
        return f"{filed.year % 100:02d}-1-{self._case_number:05d}-{self._case_number % 9 + 1}"

    def _court(self, charge: Charge) -> tuple[str, str]:
        if charge.severity is Severity.FELONY:
            return "King County Superior Court", "King County"
        if self._rng.random() < 0.6:
            return "Seattle Municipal Court", "City of Seattle"
        return "King County District Court", "King County"

    def _pre_existing_case(self, who: Enrollment, timeline: Timeline) -> list[Step]:
        """Filed before enrollment, entered at intake; warrants, then the liaison's work."""
        rng = self._rng
        ids = Ids()
        charge = rng.choice(CASE_CHARGES)
        court, jurisdiction = self._court(charge)
        enrolled_on = who.enrolled_at.date()
        incident = enrolled_on - timedelta(days=rng.randint(30, 540))
        filed = incident + timedelta(days=rng.randint(0, 20))
        number = self._next_case_number(filed)
        opening = c.OpenCase(
            person_id=who.person_id,
            case_number=number,
            court=court,
            jurisdiction=jurisdiction,
            incident_date=incident,
            filing_date=filed,
            charges=(charge,),
            occurred_at=on_day(rng, filed),
        )
        entered_at = who.enrolled_at + timedelta(minutes=3)
        steps = [Step(entered_at, partial(self._open_case, ids, opening), "cases", False)]
        gap = (enrolled_on - filed).days
        if gap >= 2 and rng.random() < 0.35:
            issued_on = filed + timedelta(days=rng.randint(1, gap - 1))
            warrant = f"W-{number}"
            issue = c.IssueWarrant(
                warrant_id=warrant, issued_on=issued_on, court=court,
                occurred_at=on_day(rng, issued_on),
            )  # fmt: skip
            steps.append(Step(entered_at, partial(self._update_case, ids, issue), None, False))
            if rng.random() < 0.7:
                quashed_at = timeline.later(rng, 0.02, 0.5)
                quash = c.QuashWarrant(
                    warrant_id=warrant, quashed_on=quashed_at.date(), occurred_at=quashed_at
                )
                steps.append(Step(quashed_at, partial(self._update_case, ids, quash), None, False))
        return steps + self._court_work(ids, timeline, court, timeline.settled_at, recommend=True)

    def _post_enrollment_case(
        self, who: Enrollment, timeline: Timeline, decision: ChargingDecision
    ) -> list[Step]:
        """Referred for charging after enrollment, often for an incident from before it."""
        rng = self._rng
        ids = Ids()
        charge = rng.choice(CASE_CHARGES)
        court, jurisdiction = self._court(charge)
        opened_at = timeline.later(rng, 0.05, 0.7)
        opening = c.OpenCase(
            person_id=who.person_id,
            case_number=self._next_case_number(opened_at.date()),
            court=court,
            jurisdiction=jurisdiction,
            incident_date=opened_at.date() - timedelta(days=rng.randint(0, 120)),
            charges=(charge,),
            occurred_at=opened_at,
        )
        steps = [Step(opened_at, partial(self._open_case, ids, opening), "cases", False)]
        decided_at = opened_at + (self._end - opened_at) * rng.uniform(0.05, 0.6)
        filed = decision is ChargingDecision.FILED
        command = c.RecordChargingDecision(
            decision=decision,
            decided_on=decided_at.date(),
            filing_date=decided_at.date() if filed else None,
            occurred_at=decided_at,
        )
        tally = "filings" if filed else None
        steps.append(Step(decided_at, partial(self._update_case, ids, command), tally, False))
        if filed:
            steps += self._court_work(ids, timeline, court, decided_at, recommend=False)
        return steps

    def _court_work(
        self, ids: Ids, timeline: Timeline, court: str, after: datetime, *, recommend: bool
    ) -> list[Step]:
        """Recommendation, hearing, disposition, in that order, since a disposition closes it."""
        rng, end = self._rng, self._end
        steps = []
        at = after + (end - after) * rng.uniform(0.02, 0.4)
        if recommend and rng.random() < 0.6:
            command: c.Command = c.RecordLiaisonRecommendation(
                recommendation=rng.choice(RECOMMENDATIONS),
                recommended_on=at.date(),
                occurred_at=at,
            )
            steps.append(Step(at, partial(self._update_case, ids, command), None, False))
            at = at + (end - at) * rng.uniform(0.05, 0.5)
        if rng.random() < 0.6:
            hearing_at = on_day(rng, at.date() + timedelta(days=rng.randint(7, 45)))
            kind = rng.choice(("review", "pretrial", "status")) if recommend else "arraignment"
            command = c.ScheduleHearing(
                hearing_at=hearing_at, kind=kind, court=court, occurred_at=at
            )
            steps.append(Step(at, partial(self._update_case, ids, command), None, False))
            disposed_at = hearing_at + timedelta(hours=2)
            if disposed_at <= end and rng.random() < 0.7:
                command = c.RecordDisposition(
                    disposition=weighted(rng, DISPOSITIONS),
                    disposed_on=disposed_at.date(),
                    occurred_at=disposed_at,
                )
                run = partial(self._update_case, ids, command)
                steps.append(Step(disposed_at, run, None, False))
        return steps

    def _open_case(self, ids: Ids, command: c.OpenCase) -> None:
        ids.case = self._app.open_case(command, LIAISON).id

    def _update_case(self, ids: Ids, command: c.Command) -> None:
        assert ids.case is not None
        self._app.update_case(ids.case, command, LIAISON)
