"""CloudEvents 1.0 structured-mode JSON: the form every message on the bus takes.

Every message is sent with the Kafka header `content-type: application/cloudevents+json`
(`STRUCTURED`): the CloudEvents Kafka binding (every SDK's, the Java SDK's
`CloudEventDeserializer` among them) tells a structured-mode message by that header.
The one exception is a compacted topic's tombstone, which has no value to hold the
event: it is a binary-mode CloudEvent, its attributes in `ce_` headers (`binary_headers`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from events.base import DomainEvent

CONTENT_TYPE = "application/cloudevents+json"
CONTENT_TYPE_HEADER = "content-type"
BINARY_PREFIX = "ce_"
Headers = list[tuple[str, bytes]]
SEQUENCE_DIGITS = 20  # zero-padded so that string order is store order


class EnvelopeError(ValueError):
    """A message is not a CloudEvent this backend understands."""


class CloudEvent(BaseModel):
    """A CloudEvent as published: `id`, `source`, `type`, `subject`, `time`, `sequence`."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: str = Field("1.0", pattern=r"^1\.0$")
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str | None = None
    time: AwareDatetime | None = None
    datacontenttype: str = "application/json"
    sequence: str | None = Field(None, pattern=r"^\d+$")
    # The distributed-tracing extension: the W3C traceparent of the command behind it.
    traceparent: str | None = Field(None, max_length=55)
    data: dict[str, Any]

    @property
    def position(self) -> int:
        if self.sequence is None:
            raise EnvelopeError("the CloudEvent has no 'sequence' extension")
        return int(self.sequence)

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> CloudEvent:
        try:
            return cls.model_validate_json(raw)
        except ValueError as exc:
            raise EnvelopeError(f"not a CloudEvent: {exc}") from None


def envelope(event: DomainEvent, *, position: int, source: str) -> CloudEvent:
    """Wrap a stored domain event for the bus; `position` is the store's global position."""
    return CloudEvent(
        id=str(event.event_id),
        source=source,
        type=event.cloudevent_type(),
        subject=str(event.person_id) if event.person_id else None,
        time=event.occurred_at,
        sequence=str(position).zfill(SEQUENCE_DIGITS),
        traceparent=event.traceparent,
        data=event.payload(),
    )


def structured_headers() -> Headers:
    """The Kafka headers of a structured-mode CloudEvent: its content type."""
    return [(CONTENT_TYPE_HEADER, CONTENT_TYPE.encode())]


STRUCTURED: Headers = structured_headers()
"""Shared by the producers that send many messages (do not change it in place)."""


def binary_headers(message: CloudEvent) -> Headers:
    """A binary-mode CloudEvent's Kafka headers (`ce_<attribute>`, and `content-type`
    for its `datacontenttype`); its data, if any, is the message's value."""
    attributes = message.model_dump(mode="json", exclude_none=True, exclude={"data"})
    content_type = attributes.pop("datacontenttype")
    headers = [(f"{BINARY_PREFIX}{k}", str(v).encode()) for k, v in sorted(attributes.items())]
    return [*headers, (CONTENT_TYPE_HEADER, content_type.encode())]


def with_content_type(headers: Headers) -> Headers:
    """`headers` with a `content-type`: its own if it has one, else a structured-mode
    CloudEvent's (a message published before every producer set it)."""
    if any(name.lower() == CONTENT_TYPE_HEADER for name, _ in headers):
        return list(headers)
    return [*headers, *structured_headers()]


Opener = Callable[[dict[str, Any]], dict[str, Any]]
"""Opens an event's sealed fields (`infra.crypto.sealing.PersonSealer.open`), given the key."""


def opened(message: CloudEvent, opener: Opener | None) -> CloudEvent:
    """The message with its sealed fields opened, when there is a key for its person."""
    if opener is None or not message.data.get("sealed"):
        return message
    return message.model_copy(update={"data": opener(copy.deepcopy(message.data))})


def decode_opening(
    message: CloudEvent, opener: Opener | None, opens: tuple[type[DomainEvent], ...]
) -> DomainEvent:
    """The domain event, with its sealed fields opened only if it is one of `opens`."""
    event = decode(message)
    if opener is not None and isinstance(event, opens) and message.data.get("sealed"):
        event = decode(opened(message, opener))
    return event


def decode(message: CloudEvent) -> DomainEvent:
    """The domain event inside a CloudEvent, upcast to the version this code reads."""
    from events.registry import parse_type

    cls, version = parse_type(message.type)
    try:
        return cls.from_payload(message.data, version)
    except (KeyError, ValueError) as exc:
        raise EnvelopeError(f"{message.type} {message.id}: bad data: {exc}") from None


def subject_uuid(message: CloudEvent) -> UUID | None:
    return UUID(message.subject) if message.subject else None


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
