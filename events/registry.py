"""Finds the event class for a CloudEvents `type`, for consumers decoding messages."""

from __future__ import annotations

from events import access, case, consent, participant, policy, privacy, referral
from events.base import DomainEvent

EVENT_MODULES = (policy, referral, participant, case, consent, access, privacy)


def _published(cls: type[DomainEvent]) -> list[type[DomainEvent]]:
    found = [cls] if "event_type" in vars(cls) and cls.event_type else []
    for sub in cls.__subclasses__():
        found.extend(_published(sub))
    return found


EVENT_CLASSES: tuple[type[DomainEvent], ...] = tuple(
    sorted(
        {c for c in _published(DomainEvent) if c.__module__.startswith("events.")},
        key=lambda c: c.event_type,
    )
)

BY_TYPE: dict[str, type[DomainEvent]] = {cls.event_type: cls for cls in EVENT_CLASSES}
if len(BY_TYPE) != len(EVENT_CLASSES):  # pragma: no cover - a programming error
    raise RuntimeError("two event classes share an event_type")


class UnknownEventTypeError(LookupError):
    """The CloudEvents type names no event, or a version this code does not read."""


def parse_type(cloudevent_type: str) -> tuple[type[DomainEvent], int]:
    """`org.lead.referral.received.v2` -> (ReferralReceived, 2)."""
    prefix = "org.lead."
    name, _, version = cloudevent_type.removeprefix(prefix).rpartition(".v")
    cls = BY_TYPE.get(name)
    if not cloudevent_type.startswith(prefix) or cls is None or not version.isdigit():
        raise UnknownEventTypeError(f"unknown event type {cloudevent_type!r}")
    if int(version) > cls.class_version:
        raise UnknownEventTypeError(
            f"event type {cloudevent_type!r} is newer than this code reads (v{cls.class_version})"
        )
    return cls, int(version)
