"""The site's policy: every version the PCG adopted, and which was in force when."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from uuid import UUID

from aggregates.base import DomainError, LeadAggregate, occurred
from events.base import Actor, DomainEvent
from events.policy import PolicyAdopted, PolicyAmended, PolicyTerms

POLICY_NAMESPACE = UUID("0b9c6a53-3f5a-4e55-8c61-3f0f0b6d2f10")


def policy_id(site_id: str) -> UUID:
    """One policy aggregate per site, found without a lookup."""
    return uuid.uuid5(POLICY_NAMESPACE, site_id)


class NoPolicyInForceError(DomainError):
    pass


class PolicyDateError(DomainError):
    pass


class SitePolicy(LeadAggregate):
    def __init__(self) -> None:
        self.versions: list[tuple[int, PolicyTerms]] = []

    @classmethod
    def adopt(
        cls, *, site_id: str, actor: Actor, terms: PolicyTerms, occurred_at: datetime | None = None
    ) -> SitePolicy:
        return cls._create(
            PolicyAdopted,
            id=policy_id(site_id),
            actor=actor,
            occurred_at=occurred(occurred_at),
            version=1,
            terms=terms,
        )

    def amend(
        self, *, actor: Actor, terms: PolicyTerms, occurred_at: datetime | None = None
    ) -> int:
        """Adopt the next version; it may not take effect before the current one."""
        latest = self.versions[-1][1]
        if terms.effective_from < latest.effective_from:
            raise PolicyDateError(
                f"a new policy version cannot take effect on {terms.effective_from}, before the "
                f"current version (effective {latest.effective_from}); past referrals keep the "
                "policy they were judged against"
            )
        version = len(self.versions) + 1
        self.trigger_event(
            PolicyAmended,
            actor=actor,
            occurred_at=occurred(occurred_at),
            version=version,
            terms=terms,
        )
        return version

    def in_force(self, on: date) -> tuple[int, PolicyTerms]:
        """The version in force on a day: the latest adopted whose date has come."""
        candidates = [(v, t) for v, t in self.versions if t.effective_from <= on]
        if not candidates:
            first = self.versions[0][1].effective_from
            raise NoPolicyInForceError(
                f"no site policy was in force on {on}; the first took effect on {first}"
            )
        return max(candidates, key=lambda vt: (vt[1].effective_from, vt[0]))

    def when(self, event: DomainEvent) -> None:
        match event:
            case PolicyAdopted() | PolicyAmended():
                self.versions.append((event.version, event.terms))
            case _:
                super().when(event)
