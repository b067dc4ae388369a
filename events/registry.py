"""Finds the event class for a CloudEvents `type`, for consumers decoding messages."""

from __future__ import annotations

from events.base import DomainEvent
from events.referral import ReferralReceived

EVENT_CLASSES: tuple[type[DomainEvent], ...] = (ReferralReceived,)

BY_TYPE: dict[str, type[DomainEvent]] = {cls.event_type: cls for cls in EVENT_CLASSES}


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
