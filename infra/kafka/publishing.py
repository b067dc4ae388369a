"""The message published for a stored event: its partition key and CloudEvent bytes.

The relay first decoded each stored event into its pydantic model and dumped it again,
which cost more than sending it (`lead bench relay`). The stored JSON already holds the
event as its model dumps it, so when it is of its class's current version and has
exactly its fields, the CloudEvent is assembled from it directly, with pydantic's own
JSON writer (same escaping, same float digits). Anything else (an older version to
upcast, a field missing) goes through the model. Both ways give the same bytes
(`tests/unit/test_publishing.py` checks every kind of event): the audit compares
what is on the topic with what this makes from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import resolve_topic
from pydantic_core import from_json, to_json

from events.base import DomainEvent
from events.envelope import SEQUENCE_DIGITS, envelope

# Not in `data`: the store's bookkeeping, and the traceparent (a CloudEvent attribute).
_NOT_PUBLISHED = (
    "originator_topic",
    "originator_id",
    "originator_version",
    "timestamp",
    "traceparent",
)


class Stored(Protocol):
    """A row of the event store (eventsourcing's, or the chain's view of it)."""

    @property
    def originator_id(self) -> UUID | str: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def state(self) -> bytes: ...


@dataclass(frozen=True)
class _Shape:
    """What a stored event of one class must look like to be assembled directly."""

    cls: type[DomainEvent]
    version: int
    stored_keys: frozenset[str]
    published: tuple[str, ...]  # the fields in `data`, in the model's order
    unpublished: frozenset[str]  # published as null
    type: str


class Publisher:
    """(partition key, CloudEvent bytes) for a stored event at a store position."""

    def __init__(self, mapper: Mapper[UUID], source: str) -> None:
        self.mapper = mapper  # the sealed store's: it never opens sealed fields
        self.source = source
        self._shapes: dict[str, _Shape] = {}
        self.direct = 0  # how many were assembled directly (the rest through the model)

    def __call__(self, position: int, stored: Stored) -> tuple[bytes, bytes]:
        shape = self._shape(stored.topic)
        state = self._current(shape, stored)
        if state is None:
            return self._through_model(position, stored)
        aggregate_id = str(stored.originator_id)
        data = {name: state[name] for name in shape.published}
        for name in shape.unpublished:
            data[name] = None
        data["aggregate_id"] = aggregate_id
        data["aggregate_version"] = stored.originator_version
        data["recorded_at"] = datetime.fromisoformat(state["timestamp"]).isoformat()
        message: dict[str, Any] = {
            "specversion": "1.0",
            "id": shape.cls.event_id_text_of(aggregate_id, stored.originator_version),
            "source": self.source,
            "type": shape.type,
        }
        if state["person_id"] is not None:
            message["subject"] = state["person_id"]
        message["time"] = state["occurred_at"]
        message["datacontenttype"] = "application/json"
        message["sequence"] = str(position).zfill(SEQUENCE_DIGITS)
        if state["traceparent"] is not None:
            message["traceparent"] = state["traceparent"]
        message["data"] = data
        self.direct += 1
        key = state["person_id"] or aggregate_id
        return key.encode(), to_json(message)

    def _shape(self, topic: str) -> _Shape:
        shape = self._shapes.get(topic)
        if shape is None:
            cls = resolve_topic(topic)
            fields = tuple(cls.model_fields)
            shape = _Shape(
                cls=cls,
                version=cls.class_version,
                stored_keys=frozenset(fields) - {"originator_id", "originator_version"},
                published=tuple(f for f in fields if f not in _NOT_PUBLISHED),
                unpublished=frozenset(cls.UNPUBLISHED),
                type=cls.cloudevent_type(),
            )
            self._shapes[topic] = shape
        return shape

    def _current(self, shape: _Shape, stored: Stored) -> dict[str, Any] | None:
        """The stored state, when it can be published as it is; else None."""
        if self.mapper.cipher is not None or self.mapper.compressor is not None:
            return None
        state = from_json(stored.state)
        if not isinstance(state, dict) or state.pop("class_version", 1) != shape.version:
            return None
        if state.keys() != shape.stored_keys:
            return None
        return state

    def _through_model(self, position: int, stored: Stored) -> tuple[bytes, bytes]:
        event = self.mapper.to_domain_event(
            StoredEvent(
                originator_id=stored.originator_id,
                originator_version=stored.originator_version,
                topic=stored.topic,
                state=stored.state,
            )
        )
        assert isinstance(event, DomainEvent)
        message = envelope(event, position=position, source=self.source)
        return event.partition_key.encode(), message.to_json()
