"""The plan of a seeded history: each referral to make, which participants get the rarer
events, each participant's timeline, and the steps and ids their history is made of."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from events.base import Actor
from events.participant import (
    EngagementStatus,
)
from events.referral import Pathway
from services.tools.demo.site import EVERY_OUTCOME_FROM, Outcome, some


@dataclass(frozen=True)
class Plan:
    """One referral to make: when, on which pathway, and how it is meant to end."""

    at: datetime
    pathway: Pathway
    outcome: Outcome


@dataclass(frozen=True)
class Selection:
    """Which participants, by order of enrollment, get the less common parts of a history."""

    liaison: frozenset[int]
    exits: frozenset[int]
    reengagements: frozenset[int]
    revocations: frozenset[int]
    pre_existing: frozenset[int]
    filings: frozenset[int]
    pauses: frozenset[int]
    summaries: frozenset[int]

    @classmethod
    def draw(cls, rng: random.Random, n: int) -> Selection:
        everyone = range(n)
        least = 1 if n >= EVERY_OUTCOME_FROM else 0
        liaison = some(rng, everyone, 0.70, least)
        exits = some(rng, everyone, 0.10, least)
        return cls(
            liaison=liaison,
            exits=exits,
            reengagements=some(rng, sorted(exits), 0.30, least),
            revocations=some(rng, everyone, 0.05, least),
            pre_existing=some(rng, everyone, 0.35, least),
            filings=some(rng, everyone, 0.25, least),
            pauses=some(rng, everyone, 0.25, least),
            summaries=some(rng, sorted(liaison), 0.30, least),
        )


@dataclass(frozen=True)
class Pause:
    """A spell of being inactive or in the wind; `until` None means it lasts to today."""

    status: EngagementStatus
    since: datetime
    until: datetime | None


@dataclass(frozen=True)
class Timeline:
    """When a participant can be worked with: from intake to today, except while exited."""

    enrolled_at: datetime
    end: datetime
    exited_at: datetime | None = None
    reengaged_at: datetime | None = None
    pause: Pause | None = None

    @property
    def settled_at(self) -> datetime:
        """Intake's own records come first; everything later starts from here."""
        return self.enrolled_at + timedelta(minutes=10)

    def intervals(self) -> list[tuple[datetime, datetime]]:
        if self.exited_at is None:
            return [(self.enrolled_at, self.end)]
        spans = [(self.enrolled_at, self.exited_at)]
        if self.reengaged_at is not None:
            spans.append((self.reengaged_at, self.end))
        return spans

    def engaged(self, at: datetime) -> bool:
        return any(start <= at < end for start, end in self.intervals())

    def reachable(self, at: datetime) -> bool:
        """Engaged and not on a pause: when outreach finds the person."""
        pause = self.pause
        paused = pause is not None and pause.since <= at < (pause.until or self.end)
        return self.engaged(at) and not paused

    def later(self, rng: random.Random, low: float, high: float) -> datetime:
        """A time after intake, as a share of the time left until today."""
        return self.settled_at + (self.end - self.settled_at) * rng.uniform(low, high)

    def pick(
        self, rng: random.Random, after: datetime, before: datetime | None = None
    ) -> datetime | None:
        """A time while engaged, uniformly, between two bounds; None if there is none."""
        spans = [
            (max(start, after), min(end, before or end))
            for start, end in self.intervals()
            if max(start, after) < min(end, before or end)
        ]
        if not spans:
            return None
        total = sum((end - start for start, end in spans), timedelta())
        offset = total * rng.random()
        for start, end in spans:
            if offset < end - start:
                return start + offset
            offset -= end - start
        return spans[-1][1] - timedelta(seconds=1)


@dataclass(frozen=True)
class Step:
    """One thing in a participant's history, run in order of `at` with the others.

    `participant` steps change the participant and so are dropped while they are
    exited; cases, consents and the exit and re-engagement themselves are not.
    """

    at: datetime
    run: Callable[[], object]
    tally: str | None = None
    participant: bool = True


@dataclass
class Ids:
    """Ids the application makes while the steps run, for the steps after them."""

    case: UUID | None = None
    goals: dict[int, UUID] = field(default_factory=dict)


@dataclass(frozen=True)
class Enrollment:
    """Who was enrolled, when, by whom and under which consent: what their history needs."""

    index: int
    person_id: UUID
    enrolled_at: datetime
    case_manager: Actor
    consent_id: UUID
    signed_at: datetime
    expires_at: datetime
