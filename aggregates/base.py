"""The aggregate base: events are pydantic models from `events`, state changes in `when`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self
from uuid import UUID

from eventsourcing.domain import BaseAggregate

from events import tracing
from events.base import Actor, DomainEvent, Role, utcnow

SYSTEM_ACTOR = Actor(principal="lead-backend", role=Role.SYSTEM, organisation="LEAD")
"""Who acts when the backend itself decides (e.g. screening against the policy)."""


class DomainError(Exception):
    """A broken domain rule; the message is meant for the person who asked."""


class ConcurrencyError(Exception):
    """Someone else changed the record first: reload and retry."""


class ChangedSinceError(Exception):
    """A save was to find an aggregate unchanged since a version (the site policy a
    command was judged under) and it had changed: nothing was saved."""


class LeadAggregate(BaseAggregate[UUID]):
    """Base for every LEAD aggregate. Each event it records carries the traceparent of
    the command being handled (events/tracing.py), if there is one."""

    def __init__(self) -> None:
        """State is set by `when`, one event at a time, so replay and live use agree."""

    @classmethod
    def _create(cls, event_class: Any, *, id: UUID | None = None, **kwargs: Any) -> Self:
        kwargs.setdefault("traceparent", tracing.current())
        return super()._create(event_class, id=id, **kwargs)

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        kwargs.setdefault("traceparent", tracing.current())
        super().trigger_event(event_class, **kwargs)

    def when(self, event: DomainEvent) -> None:
        """Apply one event to the state; each aggregate matches on its own event types."""
        raise NotImplementedError(f"{type(self).__name__} cannot apply {type(event).__name__}")


def occurred(at: datetime | None) -> datetime:
    return at if at is not None else utcnow()


__all__ = [
    "SYSTEM_ACTOR",
    "Actor",
    "ChangedSinceError",
    "ConcurrencyError",
    "DomainError",
    "LeadAggregate",
    "occurred",
]
