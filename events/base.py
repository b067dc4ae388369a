"""What every domain event carries, and how it plugs into `eventsourcing` aggregates.

Events are frozen pydantic models. They are also the stored events: the mapper in
``infra.postgres.mapper`` writes ``model_dump`` and reads back through ``model_validate``
after running the ``upcast_vN_vN+1`` class methods, so old stored versions keep
loading. The aggregate supplies the state change through its ``when`` method.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol
from uuid import UUID

from eventsourcing.domain import CanInitAggregate, CanMutateAggregate
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from events.text import Text
from events.tracing import TRACEPARENT

# Namespace for event ids: the id of an event is a function of its aggregate and
# version, so a republished event keeps its id and consumers can deduplicate.
EVENT_ID_NAMESPACE = UUID("5f0e7c7e-2f4e-4a43-9a53-6d1c1c7a0e11")
_EVENT_ID_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes


class Role(StrEnum):
    OFFICER = "officer"
    COMMUNITY_PARTNER = "community_partner"
    CASE_MANAGER = "case_manager"
    PROJECT_MANAGER = "project_manager"
    LIAISON_PROSECUTOR = "liaison_prosecutor"
    PUBLIC_DEFENDER = "public_defender"
    EVALUATOR = "evaluator"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"
    SYSTEM = "system"


def a_role(role: Role) -> str:
    """ "an officer", "a case manager": a role as a sentence names it."""
    name = role.value.replace("_", " ")
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


class Actor(BaseModel):
    """Who did it: accountability needs the person, their role and their organisation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    principal: Text = Field(min_length=1, max_length=200)
    role: Role
    organisation: Text = Field(min_length=1, max_length=200)


class Mutable(Protocol):
    def when(self, event: DomainEvent) -> None: ...


def upcast(cls: type[Any], state: dict[str, Any]) -> None:
    """Bring an event's stored state up to its class's current version, in place."""
    class_version = getattr(cls, "class_version", 1)
    from_version = state.pop("class_version", 1)
    while from_version < class_version:
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
        from_version += 1


def utcnow() -> datetime:
    return datetime.now(UTC)


SEALED = "[sealed]"
"""What a sensitive text field holds in the store and on the bus (the value is in `sealed`)."""


class DomainEvent(BaseModel, CanMutateAggregate[UUID]):
    """Base of every event: aggregate bookkeeping, actor and the two times."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The contract's name for the event (CloudEvents `type` is built from it).
    event_type: ClassVar[str] = ""
    class_version: ClassVar[int] = 1

    originator_id: UUID
    originator_version: int
    timestamp: AwareDatetime  # when it was recorded
    actor: Actor
    occurred_at: AwareDatetime  # when it happened in the world
    person_id: UUID | None = None
    # The event's SENSITIVE fields, encrypted with the person's key (see infra/crypto/sealing.py);
    # where they were, the stored and published event holds SEALED placeholders.
    sealed: str | None = None
    # The W3C traceparent of the command that recorded it (events/tracing.py): on the
    # CloudEvent as the distributed-tracing extension attribute, not in its data.
    traceparent: str | None = Field(None, pattern=TRACEPARENT)

    # Dotted paths of fields holding what identifies or exposes the person (names,
    # birth date, contact notes, goal wording, every free-text field written about them;
    # `*` stands for each item of a list): stored and published only encrypted. Every
    # text field is either here or in `events.free_text.NOT_SEALED`, with the reason
    # (docs/sealed-fields.md lists both).
    SENSITIVE: ClassVar[tuple[str, ...]] = ()
    # Fields kept in the store and published as null (a token's hash): no reader needs them.
    UNPUBLISHED: ClassVar[tuple[str, ...]] = ()

    @staticmethod
    def create_timestamp() -> datetime:
        return utcnow()

    def apply(self, aggregate: Any) -> None:
        aggregate.when(self)

    @property
    def event_id(self) -> UUID:
        return self.event_id_of(self.originator_id, self.originator_version)

    @staticmethod
    def event_id_of(originator_id: UUID | str, originator_version: int) -> UUID:
        """An event's id: the same wherever and however often it is published."""
        return uuid.uuid5(EVENT_ID_NAMESPACE, f"{originator_id}:{originator_version}")

    @staticmethod
    def event_id_text_of(originator_id: str, originator_version: int) -> str:
        """`str(event_id_of(...))` without the UUID objects (the relay makes one per event):
        the same name-based (version 5) UUID of RFC 4122, from the SHA-1 directly."""
        digest = bytearray(
            hashlib.sha1(
                _EVENT_ID_NAMESPACE_BYTES + f"{originator_id}:{originator_version}".encode(),
                usedforsecurity=False,
            ).digest()[:16]
        )
        digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
        digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
        h = digest.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    @property
    def recorded_at(self) -> datetime:
        return self.timestamp

    @property
    def partition_key(self) -> str:
        """Everything about a person shares their key, so it stays in order."""
        return str(self.person_id or self.originator_id)

    @classmethod
    def cloudevent_type(cls) -> str:
        return f"org.lead.{cls.event_type}.v{cls.class_version}"

    def payload(self) -> dict[str, Any]:
        """The event's data as published: its fields less the store's bookkeeping."""
        data = self.model_dump(
            mode="json",
            exclude={
                "originator_topic",
                "originator_id",
                "originator_version",
                "timestamp",
                "traceparent",
            },
        )
        for name in self.UNPUBLISHED:
            data[name] = None
        data["aggregate_id"] = str(self.originator_id)
        data["aggregate_version"] = self.originator_version
        data["recorded_at"] = self.timestamp.isoformat()
        return data

    @classmethod
    def from_payload(cls, data: dict[str, Any], version: int) -> DomainEvent:
        """Rebuild the event from published data of the given version (upcasting it)."""
        state = dict(data)
        state["originator_id"] = state.pop("aggregate_id")
        state["originator_version"] = state.pop("aggregate_version")
        state["timestamp"] = state.pop("recorded_at")
        state["class_version"] = version
        upcast(cls, state)
        return cls.model_validate(state)


class CreationEvent(DomainEvent, CanInitAggregate[UUID]):
    """The first event of an aggregate: also names the aggregate's class."""

    # Names the aggregate's class in the store; not published, so blank when an
    # event is rebuilt from a CloudEvent (consumers never re-create aggregates).
    originator_topic: str = ""
