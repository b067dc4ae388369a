"""Stores pydantic events as JSON and reads them back through their upcasters.

The pydantic mapper in the `eventsourcing` examples builds the event straight from
the stored state and so skips `class_version` upcasting; this one keeps it.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, cast
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel

from events.base import upcast
from events.text import STORED


class JSONBytesTranscoder(Transcoder):
    """Plain JSON, UTF-8, no spaces: events arrive already reduced to JSON types by
    `model_dump`. orjson writes them (the same bytes `json.dumps` wrote for every type
    an event has; a float, which none has, would be written shortest-first), and
    `json` what orjson refuses (an integer beyond 64 bits)."""

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj)
        except TypeError:
            return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def decode(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return json.loads(data)


class Sealer(Protocol):
    def seal(self, paths: tuple[str, ...], state: dict[str, Any]) -> dict[str, Any]: ...
    def open(self, state: dict[str, Any]) -> dict[str, Any]: ...


class PydanticMapper(Mapper[UUID]):
    sealer: Sealer | None = None
    """Set by the application that holds people's keys: it seals sensitive fields before
    storing and opens them when loading. Without one, events load sealed."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        model = cast(BaseModel, domain_event)
        state = model.model_dump(mode="json")
        if self.sealer is not None:
            state = self.sealer.seal(getattr(type(domain_event), "SENSITIVE", ()), state)
        state.pop("originator_id")
        state.pop("originator_version")
        state["class_version"] = getattr(type(domain_event), "class_version", 1)
        stored = self.transcoder.encode(state)
        if self.compressor:
            stored = self.compressor.compress(stored)
        if self.cipher:
            stored = self.cipher.encrypt(stored)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=stored,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cls = resolve_topic(stored_event.topic)
        stored = stored_event.state
        try:
            if self.cipher:
                stored = self.cipher.decrypt(stored)
            if self.compressor:
                stored = self.compressor.decompress(stored)
            state: dict[str, Any] = self.transcoder.decode(stored)
        except Exception as exc:
            msg = f"cannot read stored event {stored_event.topic} {stored_event.originator_id}"
            raise MapperDeserialisationError(f"{msg}: {exc}") from exc
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        if self.sealer is not None:
            state = self.sealer.open(state)
        upcast(cls, state)
        return cast(DomainEventProtocol[UUID], cls.model_validate(state, context=STORED))
