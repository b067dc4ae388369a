"""A seeded participant's months in the program: goals, contacts, status changes, an exit
and re-engagement, living situation and income, consents and progress summaries, their
cases, all run in time order."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

from events.base import Role
from events.consent import InformationKind
from events.participant import (
    ContactKind,
    EngagementStatus,
    ExitReason,
    GoalStatus,
)
from events.policy import (
    PolicyTerms,
)
from services import commands as c
from services.application import LeadApplication
from services.tools.demo.cases import CourtCases
from services.tools.demo.plan import Enrollment, Ids, Pause, Selection, Step, Timeline
from services.tools.demo.site import (
    CASE_MANAGEMENT,
    CONTACT_KINDS,
    CONTACT_NOTES,
    CONTACTS_PER_MONTH,
    EXIT_REASONS,
    GOAL_NOTES,
    GOALS,
    INCOME_AT_INTAKE,
    INCOME_LATER,
    LIAISON,
    LIVING_AT_INTAKE,
    LIVING_LATER,
    MONTH,
    STREET_PLACES,
    SUMMARIES,
    between,
    weighted,
)


class ParticipantLife(CourtCases):
    """Each enrolled participant's history, as steps of a `seed_site` run."""

    _app: LeadApplication
    _rng: random.Random
    _end: datetime
    _selection: Selection
    _tally: Counter[str]

    def _live(self, who: Enrollment, terms: PolicyTerms) -> None:
        """Plan the whole history, then run it in time order, skipping what an exit forbids."""
        timeline = self._timeline(who)
        steps = [
            *self._intake_records(who),
            *self._goals(who, timeline),
            *self._contacts(who, timeline),
            *self._status_changes(who, timeline, terms),
            *self._exit(who, timeline),
            *self._circumstances(who, timeline),
            *self._consent_steps(who, timeline),
            *self._cases(who, timeline),
        ]
        for step in sorted(steps, key=lambda s: s.at):
            if step.participant and not timeline.engaged(step.at):
                continue
            step.run()
            if step.tally is not None:
                self._tally[step.tally] += 1

    def _timeline(self, who: Enrollment) -> Timeline:
        """Exits fall in the second half of enrollment; a pause ends before any exit."""
        rng, selection, end = self._rng, self._selection, self._end
        exited_at = reengaged_at = None
        if who.index in selection.exits:
            exited_at = between(rng, who.enrolled_at + (end - who.enrolled_at) * 0.5, end)
            exited_at = min(exited_at, end - timedelta(minutes=1))
            if who.index in selection.reengagements:
                reengaged_at = exited_at + (end - exited_at) * rng.uniform(0.2, 0.8)
        pause = None
        if who.index in selection.pauses:
            pause = self._pause(who.enrolled_at, exited_at)
        return Timeline(who.enrolled_at, end, exited_at, reengaged_at, pause)

    def _pause(self, enrolled_at: datetime, exited_at: datetime | None) -> Pause:
        rng = self._rng
        status = EngagementStatus.INACTIVE if rng.random() < 0.6 else EngagementStatus.IN_THE_WIND
        start = enrolled_at + timedelta(minutes=15)
        if exited_at is not None:
            room = exited_at - start
            since = start + room * rng.uniform(0.2, 0.5)
            return Pause(status, since, since + room * rng.uniform(0.1, 0.4))
        since = start + (self._end - start) * rng.uniform(0.2, 0.7)
        until = since + timedelta(days=rng.uniform(20, 90))
        return Pause(status, since, until if until < self._end else None)

    def _update(self, who: Enrollment, command: c.Command) -> Callable[[], object]:
        return partial(self._app.update_participant, who.person_id, command, who.case_manager)

    def _intake_records(self, who: Enrollment) -> list[Step]:
        """HMIS living situation and income, taken at intake."""
        rng, day = self._rng, who.enrolled_at.date()
        living_at = who.enrolled_at + timedelta(minutes=1)
        income_at = who.enrolled_at + timedelta(minutes=2)
        living = c.RecordLivingSituation(
            as_of=day, situation=weighted(rng, LIVING_AT_INTAKE), occurred_at=living_at
        )
        income = c.RecordIncome(
            as_of=day, sources=weighted(rng, INCOME_AT_INTAKE), occurred_at=income_at
        )
        return [
            Step(living_at, self._update(who, living)),
            Step(income_at, self._update(who, income)),
        ]

    def _goals(self, who: Enrollment, timeline: Timeline) -> list[Step]:
        """One to three goals set in the first days, some progress, some achieved or set aside."""
        rng = self._rng
        ids = Ids()
        first_end = timeline.intervals()[0][1]
        window = min(timedelta(days=10), (first_end - timeline.settled_at) * 0.3)
        steps = []
        for number, (domain, text) in enumerate(rng.sample(GOALS, rng.randint(1, 3))):
            set_at = timeline.settled_at + window * rng.random()
            command = c.SetGoal(text=text, domain=domain, occurred_at=set_at)
            steps.append(Step(set_at, partial(self._set_goal, who, ids, number, command)))
            for _ in range(rng.randint(0, 2)):
                at = timeline.pick(rng, after=set_at)
                if at is not None:
                    note = rng.choice(GOAL_NOTES)
                    steps.append(Step(at, partial(self._goal_progress, who, ids, number, note, at)))
            at = timeline.pick(rng, after=set_at)
            if at is not None and rng.random() < 0.55:
                status = GoalStatus.ACHIEVED if rng.random() < 0.75 else GoalStatus.SET_ASIDE
                steps.append(Step(at, partial(self._revise_goal, who, ids, number, status, at)))
        return steps

    def _set_goal(self, who: Enrollment, ids: Ids, number: int, command: c.SetGoal) -> None:
        """The application makes the goal's id; later steps find it here."""
        before = set(self._app.participant(who.person_id).goals)
        self._app.update_participant(who.person_id, command, who.case_manager)
        (ids.goals[number],) = set(self._app.participant(who.person_id).goals) - before

    def _goal_progress(
        self, who: Enrollment, ids: Ids, number: int, note: str, at: datetime
    ) -> None:
        command = c.RecordGoalProgress(goal_id=ids.goals[number], note=note, occurred_at=at)
        self._app.update_participant(who.person_id, command, who.case_manager)

    def _revise_goal(
        self, who: Enrollment, ids: Ids, number: int, status: GoalStatus, at: datetime
    ) -> None:
        command = c.ReviseGoal(goal_id=ids.goals[number], status=status, occurred_at=at)
        self._app.update_participant(who.person_id, command, who.case_manager)

    def _contacts(self, who: Enrollment, timeline: Timeline) -> list[Step]:
        """The dose: 0-8 contacts in each month enrolled, none while exited or paused."""
        rng = self._rng
        steps = []
        month = timeline.settled_at
        while month < timeline.end:
            for _ in range(weighted(rng, CONTACTS_PER_MONTH)):
                at = month + MONTH * rng.random()
                if at >= timeline.end or not timeline.reachable(at):
                    continue
                kind = weighted(rng, CONTACT_KINDS)
                command = c.RecordContact(
                    kind=kind,
                    contacted_on=at,
                    minutes=rng.randint(10, 90),
                    place=self._contact_place(kind),
                    notes=rng.choice(CONTACT_NOTES),
                    occurred_at=at,
                )
                steps.append(Step(at, self._update(who, command), tally="contacts"))
            month += MONTH
        return steps

    def _contact_place(self, kind: ContactKind) -> str | None:
        if kind is ContactKind.OFFICE:
            return f"{CASE_MANAGEMENT} office"
        if kind is ContactKind.CASE_CONFERENCE:
            return "OWG case conference"
        if kind is ContactKind.PHONE:
            return None
        return self._rng.choice(STREET_PLACES)

    def _status_changes(
        self, who: Enrollment, timeline: Timeline, terms: PolicyTerms
    ) -> list[Step]:
        """Into the pause and, unless it lasts to today, back to active before any exit."""
        pause = timeline.pause
        if pause is None:
            return []
        reason = (
            f"no contact for {terms.in_the_wind_days} days"
            if pause.status is EngagementStatus.IN_THE_WIND
            else "not engaging for now; outreach continues"
        )
        start = c.ChangeStatus(status=pause.status, reason=reason, occurred_at=pause.since)
        steps = [Step(pause.since, self._update(who, start))]
        if pause.until is not None:
            back = c.ChangeStatus(
                status=EngagementStatus.ACTIVE,
                reason="reconnected through street outreach",
                occurred_at=pause.until,
            )
            steps.append(Step(pause.until, self._update(who, back)))
        return steps

    def _exit(self, who: Enrollment, timeline: Timeline) -> list[Step]:
        """An exit is a fact of the person's life; whoever comes back is re-engaged."""
        if timeline.exited_at is None:
            return []
        exited_at = timeline.exited_at
        reasons: Sequence[tuple[ExitReason, int]] = EXIT_REASONS
        if timeline.reengaged_at is None:
            reasons = (*EXIT_REASONS, (ExitReason.DECEASED, 5))
        exit_command = c.ExitParticipant(
            exited_on=exited_at.date(), reason=weighted(self._rng, reasons), occurred_at=exited_at
        )
        steps = [
            Step(
                exited_at,
                partial(self._app.exit_participant, who.person_id, exit_command, who.case_manager),
                tally="exits",
                participant=False,
            )
        ]
        if timeline.reengaged_at is not None:
            back = c.ReengageParticipant(
                reengaged_on=timeline.reengaged_at.date(), occurred_at=timeline.reengaged_at
            )
            run = partial(self._app.reengage_participant, who.person_id, back, who.case_manager)
            steps.append(Step(timeline.reengaged_at, run, participant=False))
        return steps

    def _circumstances(self, who: Enrollment, timeline: Timeline) -> list[Step]:
        """Later housing and income, where case management got somewhere."""
        rng = self._rng
        steps = []
        span = timeline.end - timeline.settled_at
        housed_at = timeline.pick(rng, after=timeline.settled_at + span * 0.3)
        if housed_at is not None and rng.random() < 0.3:
            command: c.Command = c.RecordLivingSituation(
                as_of=housed_at.date(),
                situation=weighted(rng, LIVING_LATER),
                occurred_at=housed_at,
            )
            steps.append(Step(housed_at, self._update(who, command)))
        income_at = timeline.pick(rng, after=timeline.settled_at + span * 0.2)
        if income_at is not None and rng.random() < 0.3:
            command = c.RecordIncome(
                as_of=income_at.date(), sources=weighted(rng, INCOME_LATER), occurred_at=income_at
            )
            steps.append(Step(income_at, self._update(who, command)))
        return steps

    # -- consents -----------------------------------------------------------------------
    def _consent_steps(self, who: Enrollment, timeline: Timeline) -> list[Step]:
        """A summary for the prosecutor before any revocation, so the consent still covers it."""
        rng = self._rng
        steps = []
        revoked_at = None
        if who.index in self._selection.revocations:
            revoked_at = between(rng, who.signed_at, min(self._end, who.expires_at))
            revoked_at = max(revoked_at, who.signed_at + timedelta(seconds=1))
            revoke = c.RevokeConsent(
                effective_at=revoked_at, reason="participant's wish", occurred_at=revoked_at
            )
            run = partial(self._app.revoke_consent, who.consent_id, revoke, who.case_manager)
            steps.append(Step(revoked_at, run, tally="revocations", participant=False))
        # The application judges a disclosure now, so the consent must outlive today.
        lasts = who.expires_at > self._end + timedelta(days=2)
        if who.index in self._selection.summaries and lasts:
            after = timeline.settled_at + (timeline.end - timeline.settled_at) * 0.2
            at = timeline.pick(rng, after=after, before=revoked_at)
            if at is not None:
                summary = rng.choice(SUMMARIES)
                steps.append(Step(at, partial(self._share_summary, who, summary, at)))
        return steps

    def _share_summary(self, who: Enrollment, summary: str, at: datetime) -> None:
        """Shared only under a consent covering the liaison prosecutor; otherwise not at all."""
        organisation = LIAISON.organisation
        question = c.DisclosureQuestion(
            person_id=who.person_id,
            recipient_organisation=organisation,
            recipient_role=Role.LIAISON_PROSECUTOR,
            kind=InformationKind.PROGRESS_SUMMARY,
        )
        if self._app.consent_for_disclosure(question) is None:
            return
        command = c.ShareProgressSummary(
            recipient_organisation=organisation,
            recipient_role=Role.LIAISON_PROSECUTOR,
            summary=summary,
            occurred_at=at,
        )
        self._app.share_progress_summary(who.person_id, command, who.case_manager)
