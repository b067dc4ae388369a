"""The ground truth after a run: the store, the topic, the projections against a rebuild.

`LagMonitor` samples once a second how far the relay is behind the store and each
projection behind the topic, and keeps, for every store position and topic offset,
how long it waited to be relayed and applied.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql

from events.base import EVENT_ID_NAMESPACE
from events.topics import EVENTS
from infra.kafka.security import client_kwargs
from infra.readside.status import projection_status
from infra.settings import Settings
from projections.base import schema_of
from services.bootstrap import Container
from tests.chaos.faults import Fault
from tests.chaos.load import Command
from tests.kafka_reader import read_all


# -- lag -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Wait:
    what: str  # "relay" or a projection's name
    seconds: float
    seen: float  # time.monotonic() of the sample that first saw it behind
    done: float


@dataclass
class LagMonitor:
    settings: Settings
    projections: list[str]
    events_table: str
    interval: float = 1.0
    waits: list[Wait] = field(default_factory=list)
    samples: int = 0
    failed_samples: int = 0  # a server was down: nothing can move then either
    pending: dict[tuple[str, int], deque[tuple[int, float]]] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.partitions = [TopicPartition(EVENTS, p) for p in range(self.settings.topic_partitions)]
        self.consumer: KafkaConsumer | None = None
        self.thread = threading.Thread(target=self._run, name="lag-monitor", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.ident is not None:
            self.thread.join(timeout=30)
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.sample()
                self.samples += 1
            except Exception:
                self.failed_samples += 1
                if self.consumer is not None:
                    with contextlib.suppress(Exception):
                        self.consumer.close()
                    self.consumer = None

    def sample(self) -> None:
        now = time.monotonic()
        with psycopg.connect(self.settings.dsn, connect_timeout=2) as conn:
            stored, relayed = store_and_relay(conn, self.events_table)
            applied = conn.execute(
                'SELECT projection, partition, "offset" FROM projection_positions '
                "WHERE topic = %s AND projection = ANY(%s)",
                (EVENTS, self.projections),
            ).fetchall()
        self._track(("relay", 0), stored, relayed, now)
        if self.consumer is None:
            self.consumer = KafkaConsumer(
                **client_kwargs(), bootstrap_servers=self.settings.bootstrap_servers, group_id=None
            )
        ends = self.consumer.end_offsets(self.partitions, timeout_ms=3000)
        offsets = {(str(name), int(p)): int(o) + 1 for name, p, o in applied}
        for name in self.projections:
            for tp in self.partitions:
                self._track(
                    (name, tp.partition), ends[tp], offsets.get((name, tp.partition), 0), now
                )

    def _track(self, key: tuple[str, int], target: int, reached: int, now: float) -> None:
        queue = self.pending.setdefault(key, deque())
        if target > max(reached, queue[-1][0] if queue else 0):
            queue.append((target, now))
        while queue and queue[0][0] <= reached:
            _, seen = queue.popleft()
            self.waits.append(Wait(key[0], now - seen, seen, now))

    def longest(self, faults: Sequence[Fault]) -> dict[str, Any]:
        """The longest waits, for the relay, per projection, and per kind of fault overlapped."""
        by_what: dict[str, float] = {}
        by_fault: dict[str, float] = {}
        for wait in self.waits:
            by_what[wait.what] = max(by_what.get(wait.what, 0.0), wait.seconds)
            if wait.what == "relay":
                continue
            for fault in faults:
                if wait.seen <= (fault.ended or wait.done) and wait.done >= fault.started:
                    by_fault[fault.kind] = max(by_fault.get(fault.kind, 0.0), wait.seconds)
        projections = {k: round(v, 1) for k, v in sorted(by_what.items()) if k != "relay"}
        return {
            "max_projection_lag_seconds": max(projections.values(), default=0.0),
            "max_relay_lag_seconds": round(by_what.get("relay", 0.0), 1),
            "max_lag_by_projection": projections,
            "max_projection_lag_by_fault": {k: round(v, 1) for k, v in sorted(by_fault.items())},
            "samples": self.samples,
            "samples_failed": self.failed_samples,
        }


def store_and_relay(conn: psycopg.Connection[Any], events_table: str) -> tuple[int, int]:
    """The store's last position, and the last the relay has published (0 when none)."""
    stored = conn.execute(
        sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
            sql.Identifier(events_table)
        )
    ).fetchone()
    relayed = conn.execute(
        "SELECT position FROM relay_positions WHERE relay = %s", (EVENTS,)
    ).fetchone()
    return (int(stored[0]) if stored else 0, int(relayed[0]) if relayed else 0)


def caught_up(settings: Settings, container: Container) -> bool:
    """Everything stored is on the topic, and every projection has applied all of it."""
    try:
        with psycopg.connect(settings.dsn, connect_timeout=2) as conn:
            stored, relayed = store_and_relay(conn, container.events_table)
        if relayed < stored:
            return False
        statuses = projection_status(
            settings.dsn, settings.bootstrap_servers, container.projections
        )
    except Exception:  # a server still coming back
        return False
    return all(s.lag == 0 for s in statuses)


# -- the store -------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredEvent:
    position: int
    aggregate: str
    version: int
    topic: str
    occurred_at: datetime | None
    person: str | None

    @property
    def event_id(self) -> str:
        """As the relay publishes it (`DomainEvent.event_id`)."""
        return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{self.aggregate}:{self.version}"))


def stored_events(dsn: str, table: str, after: int) -> list[StoredEvent]:
    events = []
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {} WHERE notification_id > %s ORDER BY notification_id"
            ).format(sql.Identifier(table)),
            (after,),
        )
        for position, aggregate, version, topic, state in rows:
            data = json.loads(bytes(state))
            occurred = data.get("occurred_at")
            events.append(
                StoredEvent(
                    int(position),
                    str(aggregate),
                    int(version),
                    str(topic),
                    datetime.fromisoformat(occurred) if occurred else None,
                    data.get("person_id"),
                )
            )
    return events


def max_position(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
                sql.Identifier(table)
            )
        ).fetchone()
    return int(row[0]) if row else 0


@dataclass
class CommandFindings:
    accepted_missing: list[str] = field(default_factory=list)  # 2xx, events not stored
    refused_with_effects: list[str] = field(default_factory=list)  # 4xx, yet stored
    recorded_twice: list[str] = field(default_factory=list)  # one command's events, twice
    unknown_stored: int = 0
    unknown_not_stored: int = 0
    outage_attempts: int = 0  # attempts made entirely while PostgreSQL was down
    outage_accepted: list[str] = field(default_factory=list)  # ... and answered 2xx
    outage_stored: list[str] = field(default_factory=list)  # only tried then, yet stored


def check_commands(
    commands: Sequence[Command],
    events: Sequence[StoredEvent],
    pg_outages: Sequence[tuple[float, float]],
) -> CommandFindings:
    by_marker: dict[datetime, list[StoredEvent]] = {}
    for event in events:
        if event.occurred_at is not None:
            by_marker.setdefault(event.occurred_at, []).append(event)
    found = CommandFindings()

    def in_outage(began: float, ended: float) -> bool:
        return any(down <= began and ended <= up for down, up in pg_outages)

    for command in commands:
        mine = by_marker.get(command.marker, [])
        name = f"{command.kind} {command.path} key={command.key}"
        if command.outcome == "accepted":
            receipt = (command.answer["id"], command.answer["version"])
            if receipt not in {(e.aggregate, e.version) for e in mine}:
                found.accepted_missing.append(f"{name} answered {receipt}")
        elif command.outcome == "refused" and mine:
            found.refused_with_effects.append(f"{name}: {command.answer.get('detail')}")
        elif command.outcome == "unknown":
            if mine:
                found.unknown_stored += 1
            else:
                found.unknown_not_stored += 1
        if max(Counter(e.topic for e in mine).values(), default=0) > 1:
            found.recorded_twice.append(f"{name}: {[(e.topic, e.aggregate) for e in mine]}")
        during = [a for a in command.attempts if in_outage(a.started, a.ended)]
        found.outage_attempts += len(during)
        if any(a.status is not None and a.status < 300 for a in during):
            found.outage_accepted.append(name)
        if command.attempts and len(during) == len(command.attempts) and mine:
            found.outage_stored.append(name)
    return found


# -- the topic -------------------------------------------------------------------------------
@dataclass
class TopicFindings:
    records: int  # of this run's events, before deduplication
    distinct: int
    lost: list[int]  # store positions not on the topic
    phantoms: int  # ids on the topic the store does not have

    @property
    def duplicates(self) -> int:
        return self.records - self.distinct


def check_topic(bootstrap: str, events: Sequence[StoredEvent], after: int) -> TopicFindings:
    ids: Counter[str] = Counter()
    for record in read_all(bootstrap, EVENTS):
        try:
            value = json.loads(record.value)
            event_id, sequence = str(value["id"]), int(value["sequence"])
        except (ValueError, TypeError, KeyError):  # junk other tests put there (dead letters)
            continue
        if sequence > after:
            ids[event_id] += 1
    expected = {e.event_id: e.position for e in events}
    lost = sorted(position for event_id, position in expected.items() if event_id not in ids)
    return TopicFindings(sum(ids.values()), len(ids), lost, len(set(ids) - set(expected)))


# -- the projections against a rebuild ------------------------------------------------------
@dataclass
class RebuildFindings:
    rows_compared: int = 0
    rows_differing: int = 0
    differences: list[str] = field(default_factory=list)
    seconds: float = 0.0


def compare_with_rebuild(
    container: Container, keep: Callable[[tuple[Any, ...]], bool] | None = None
) -> RebuildFindings:
    """Rebuild every projection from offset 0 into side schemas (`lead projections rebuild
    --as-of`, with a time after every event) and compare each table with the live one.

    `keep` narrows the comparison to some rows (the run's, on a shared stack)."""
    projections = container.projections
    rebuilder = container.rebuilder(*projections, as_of=datetime.now(UTC) + timedelta(days=1))
    found = RebuildFindings()
    try:
        result = rebuilder.run()
        found.seconds = round(result.seconds, 1)
        with psycopg.connect(container.settings.dsn) as conn:
            for projection in projections:
                for table in projection.tables:
                    live = _rows(conn, schema_of(projection.name), table.name, keep)
                    rebuilt = _rows(conn, result.schemas[projection.name], table.name, keep)
                    found.rows_compared += sum(live.values())
                    only_live, only_rebuilt = live - rebuilt, rebuilt - live
                    if only_live or only_rebuilt:
                        found.rows_differing += sum((only_live + only_rebuilt).values())
                        found.differences.append(
                            f"{projection.name}.{table.name}: live only "
                            f"{sorted(only_live)[:3]}, rebuilt only {sorted(only_rebuilt)[:3]}"
                        )
    finally:
        with psycopg.connect(container.settings.dsn, autocommit=True) as conn:
            for projection in projections:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        sql.Identifier(rebuilder.schemas[projection.name])
                    )
                )
                conn.execute(
                    "DELETE FROM projection_positions WHERE projection = %s",
                    (rebuilder.positions_key(projection.name),),
                )
    return found


def _rows(
    conn: psycopg.Connection[Any],
    schema: str,
    table: str,
    keep: Callable[[tuple[Any, ...]], bool] | None,
) -> Counter[str]:
    rows = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table)))
    return Counter(repr(row) for row in rows if keep is None or keep(row))
