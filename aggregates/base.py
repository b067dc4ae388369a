"""The aggregate base: events are pydantic models from `events`, state changes in `when`."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import BaseAggregate

from events.base import Actor, DomainEvent, Role, utcnow

SYSTEM_ACTOR = Actor(principal="lead-backend", role=Role.SYSTEM, organisation="LEAD")
"""Who acts when the backend itself decides (e.g. screening against the policy)."""


class DomainError(Exception):
    """A broken domain rule; the message is meant for the person who asked."""


class LeadAggregate(BaseAggregate[UUID]):
    """Base for every LEAD aggregate."""

    def __init__(self) -> None:
        """State is set by `when`, one event at a time, so replay and live use agree."""

    def when(self, event: DomainEvent) -> None:
        """Apply one event to the state; each aggregate matches on its own event types."""
        raise NotImplementedError(f"{type(self).__name__} cannot apply {type(event).__name__}")


def occurred(at: datetime | None) -> datetime:
    return at if at is not None else utcnow()


__all__ = ["SYSTEM_ACTOR", "Actor", "DomainError", "LeadAggregate", "occurred"]
