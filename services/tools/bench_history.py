"""A long history for the `rebuild` and `scale` benchmarks, made in minutes.

A demo site (services/tools/demo/) is recorded once in memory; the history is then that
site copied again and again with fresh identities (every UUID mapped to a new one,
case managers renamed per copy, so caseloads stay the size a site has; an id the
application derives, such as a person's consent index, derived again), written
straight into the event store with COPY (the hash chain's trigger still runs) and
sent onto `lead.events.v1` as the relay would have sent it. The relay's position is
moved past it, so nothing is published twice.

It runs in a stack of its own (`<data_dir>/history`, ports next to the bench
stack's), destroyed afterwards: a million synthetic events never reach the stack the
other benchmarks use.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from kafka import KafkaProducer

from events.envelope import SEQUENCE_DIGITS, envelope, structured_headers
from events.topics import EVENTS
from infra.kafka.security import client_kwargs

UUID_BYTES = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CASE_MANAGER = re.compile(rb'"cm\.(\d+)"')
SEQUENCE = re.compile(rb'"sequence":"\d+"')
COPIES_NAMESPACE = uuid.UUID("6f1c8a52-3d0e-4b7a-9c55-2f8e1d7b4a10")


@dataclass(frozen=True)
class Recorded:
    """One event of the template site: as stored, and as published."""

    originator_id: bytes
    originator_version: int
    topic: str
    state: bytes
    key: bytes
    message: bytes
    once: bool  # site-wide (the policy): not copied


@dataclass(frozen=True)
class Template:
    events: list[Recorded]
    participants: int
    # Ids the application derives from another value (a person's consent index, a case
    # manager's caseload, an event's id): (how, from what, version). A copy derives
    # them again from its own values, or it could not find them (`consents_of`).
    derived: dict[bytes, tuple[str, bytes, int]] = field(default_factory=dict)


def _derivations() -> dict[str, Callable[..., uuid.UUID]]:
    from aggregates.caseload import caseload_id
    from aggregates.consent_index import consent_index_id
    from aggregates.principal import principal_id
    from aggregates.privacy import erasure_id
    from events.base import DomainEvent
    from services.application import participant_id_for

    return {
        "consent index": lambda person, _: consent_index_id(uuid.UUID(person.decode())),
        "participant": lambda person, _: participant_id_for(uuid.UUID(person.decode())),
        "erasure": lambda person, _: erasure_id(uuid.UUID(person.decode())),
        "caseload": lambda name, _: caseload_id(name.decode()),
        "principal": lambda name, _: principal_id(name.decode()),
        "event": lambda aggregate, version: DomainEvent.event_id_of(aggregate.decode(), version),
    }


def _derived(events: list[Recorded]) -> dict[bytes, tuple[str, bytes, int]]:
    """Every derived id the template's values give (most name nothing stored: harmless)."""
    people = {p for e in events for p in re.findall(rb'"person_id":"([0-9a-f-]{36})"', e.state)}
    names = {b"cm." + n for e in events for n in CASE_MANAGER.findall(e.state)}
    how = _derivations()
    found: dict[bytes, tuple[str, bytes, int]] = {}
    for kind, values in (
        ("consent index", people),
        ("participant", people),
        ("erasure", people),
        ("caseload", names),
        ("principal", names),
    ):
        for value in values:
            found[str(how[kind](value, 0)).encode()] = (kind, value, 0)
    for e in events:
        event_id = how["event"](e.originator_id, e.originator_version)
        found[str(event_id).encode()] = ("event", e.originator_id, e.originator_version)
    return found


def template(site_id: str, *, participants: int = 100, months: int = 12) -> Template:
    """A demo site recorded in memory with the production mapper and envelope."""
    from events.base import DomainEvent
    from events.policy import PolicyAdopted
    from services.application import LeadApplication
    from services.tools.demo.steps import seed_site

    app = LeadApplication(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.popo",
            "MAPPER_TOPIC": "infra.postgres.mapper:PydanticMapper",
            "TRANSCODER_TOPIC": "infra.postgres.mapper:JSONBytesTranscoder",
            "LEAD_SITE_ID": site_id,
        }
    )
    seed_site(app, participants=participants, months=months, seed=7)
    recorded = []
    for note in app.recorder.select_notifications(start=1, limit=10**9):
        event = app.mapper.to_domain_event(note)
        assert isinstance(event, DomainEvent)
        message = envelope(event, position=note.id, source=f"/lead/{site_id}")
        recorded.append(
            Recorded(
                originator_id=str(note.originator_id).encode(),
                originator_version=note.originator_version,
                topic=note.topic,
                state=note.state,
                key=event.partition_key.encode(),
                message=message.to_json(),
                once=isinstance(event, PolicyAdopted),
            )
        )
    return Template(recorded, participants, _derived(recorded))


def remapper(
    copy: int, derived: dict[bytes, tuple[str, bytes, int]] | None = None
) -> Callable[[bytes], bytes]:
    """Copy `copy` of the site: other people, other cases, other case managers; an id
    derived from another value is derived again from the copy's value."""
    if copy == 0:
        return lambda data: data
    derived = derived or {}
    how = _derivations()
    seen: dict[bytes, bytes] = {}

    def renamed(name: bytes) -> bytes:
        return b"cm.c%d-" % copy + name.removeprefix(b"cm.")

    def new_uuid(old: bytes) -> bytes:
        if old not in seen:
            if old in derived:
                kind, value, version = derived[old]
                mapped = renamed(value) if kind in ("caseload", "principal") else new_uuid(value)
                seen[old] = str(how[kind](mapped, version)).encode()
            else:
                seen[old] = str(uuid.uuid5(COPIES_NAMESPACE, f"{copy}:{old.decode()}")).encode()
        return seen[old]

    def remap(data: bytes) -> bytes:
        data = UUID_BYTES.sub(lambda match: new_uuid(match.group()), data)
        return CASE_MANAGER.sub(rb'"cm.c%d-\1"' % copy, data)

    return remap


def copies(site: Template, start: int) -> Iterator[tuple[int, Recorded]]:
    """(position, event) after position `start`, copy after copy, without end."""
    position, copy = start, 0
    while True:
        remap = remapper(copy, site.derived)
        for event in site.events:
            if event.once and copy:
                continue
            position += 1
            message = SEQUENCE.sub(
                b'"sequence":"%s"' % str(position).zfill(SEQUENCE_DIGITS).encode(),
                remap(event.message),
            )
            yield (
                position,
                Recorded(
                    remap(event.originator_id),
                    event.originator_version,
                    event.topic,
                    remap(event.state),
                    remap(event.key),
                    message,
                    event.once,
                ),
            )
        copy += 1


class BenchHistory:
    """Appends copied history to a store and its topic, continuing where it left off."""

    def __init__(self, settings: Any, site: Template) -> None:
        self.settings = settings
        with psycopg.connect(settings.dsn) as conn:
            row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM lead_events")
            self.position = int(row.fetchone()[0])  # type: ignore[index]
        self.stream = copies(site, self.position)

    def append(self, events: int, chunk: int = 20_000) -> float:
        """`events` more events in the store and on the topic; the seconds it took."""
        started = time.perf_counter()
        producer = KafkaProducer(
            **client_kwargs(),
            bootstrap_servers=self.settings.bootstrap_servers,
            acks="all",
            linger_ms=20,
            batch_size=512 * 1024,
        )
        try:
            with psycopg.connect(self.settings.dsn) as conn:
                left = events
                while left > 0:
                    items = list(itertools.islice(self.stream, min(chunk, left)))
                    _write(conn, producer, items)
                    left -= len(items)
                    self.position = items[-1][0]
                conn.execute(
                    "SELECT setval(pg_get_serial_sequence('lead_events', 'notification_id'), %s)",
                    (self.position,),
                )
                conn.execute(
                    "INSERT INTO relay_positions (relay, position) VALUES (%s, %s) "
                    "ON CONFLICT (relay) DO UPDATE SET position = EXCLUDED.position",
                    (EVENTS, self.position),
                )
                conn.commit()
            producer.flush()
        finally:
            producer.close()
        return time.perf_counter() - started


def _write(conn: psycopg.Connection[Any], producer: KafkaProducer, items: list[Any]) -> None:
    with conn.cursor().copy(
        "COPY lead_events (notification_id, originator_id, originator_version, topic, state) "
        "FROM STDIN"
    ) as copy:
        for position, event in items:
            copy.write_row(
                (
                    position,
                    event.originator_id.decode(),
                    event.originator_version,
                    event.topic,
                    event.state,
                )
            )
    conn.commit()
    header = structured_headers()
    for _, event in items:
        producer.send(EVENTS, key=event.key, value=event.message, headers=header)
