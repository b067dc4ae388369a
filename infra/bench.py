"""Benchmarks against the raw limits of PostgreSQL and Kafka, measured in the same run.

Each benchmark runs the backend's path and a raw baseline doing the same work with the
bare client, for several rounds, and reports both rates, their ratio, and the spread
over rounds. Absolute figures depend on the machine; ratios are what is compared.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from aggregates.referral import Referral
from events.base import Actor, DomainEvent, Role
from events.envelope import envelope
from events.referral import Incident, Pathway, Person, Referrer
from events.topics import EVENTS
from infra.relay import OutboxRelay, RelayPosition, make_producer

OFFICER = Actor(principal="bench.officer", role=Role.OFFICER, organisation="Bench PD")


@dataclass
class Figure:
    name: str
    unit: str
    backend: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    goal: float | None = None  # minimum ratio backend / baseline

    @property
    def ratios(self) -> list[float]:
        return [b / r for b, r in zip(self.backend, self.baseline, strict=True) if r]

    def summary(self) -> dict[str, Any]:
        def spread(values: list[float]) -> dict[str, float]:
            return {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
            }

        return {
            "name": self.name,
            "unit": self.unit,
            "backend": spread(self.backend),
            "baseline": spread(self.baseline),
            "ratio": spread(self.ratios),
            "goal": self.goal,
            "rounds": len(self.backend),
        }


def rate(count: int, work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return count / max(time.perf_counter() - started, 1e-9)


def referrals(policy: Any, n: int) -> list[Referral]:
    return [
        Referral.receive(
            actor=OFFICER,
            pathway=Pathway.ARREST_DIVERSION,
            policy=policy,
            referrer=Referrer(principal="bench.officer", organisation="Bench PD"),
            incident=Incident(offense_code="69.50.4013", description="possession"),
            person=Person(given_name="Bench", family_name=f"Person{i}"),
        )
        for i in range(n)
    ]


def save(app: Any, aggregates: list[Referral], per_call: int) -> None:
    for i in range(0, len(aggregates), per_call):
        app.save(*aggregates[i : i + per_call])


def insert_rows(conn: psycopg.Connection[Any], insert: str, rows: list[Any], per_tx: int) -> None:
    for i in range(0, len(rows), per_tx):
        with conn.transaction():
            conn.cursor().executemany(insert, rows[i : i + per_tx])


def send_all(producer: KafkaProducer, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    futures = [producer.send(topic, key=k, value=v) for k, v in messages]
    producer.flush()
    for future in futures:
        future.get(timeout=60)


def bench_append(container: Any, events: int, rounds: int) -> list[Figure]:
    """Commands through the application service into the event store, against psycopg
    inserting the same serialized rows into a table of the same shape."""
    app = container.application
    policy = app.policy_in_force(datetime.now(UTC).date())
    n = max(events // 2, 1)  # a referral is two events (received, screened)
    single = Figure("append, one command per call", "events/s", goal=0.5)
    batched = Figure("append, 100 commands per call", "events/s", goal=0.5)
    scratch = f"bench_rows_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(container.settings.dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {scratch} (originator_id uuid NOT NULL, originator_version bigint "
            "NOT NULL, topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        try:
            insert = (
                f"INSERT INTO {scratch} (originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s)"
            )
            for _ in range(rounds):
                single.backend.append(
                    rate(2 * n, functools.partial(save, app, referrals(policy, n), 1))
                )
                batched.backend.append(
                    rate(2 * n, functools.partial(save, app, referrals(policy, n), 100))
                )
                rows = [
                    (s.originator_id, s.originator_version, s.topic, s.state)
                    for r in referrals(policy, n)
                    for s in map(app.mapper.to_stored_event, r.collect_events())
                ]
                single.baseline.append(
                    rate(len(rows), functools.partial(insert_rows, conn, insert, rows, 2))
                )
                conn.execute(f"TRUNCATE {scratch}")
                batched.baseline.append(
                    rate(len(rows), functools.partial(insert_rows, conn, insert, rows, 200))
                )
                conn.execute(f"TRUNCATE {scratch}")
        finally:
            conn.execute(f"DROP TABLE {scratch}")
    return [single, batched]


def _topic(bootstrap: str, partitions: int) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
    return name


def bench_relay(container: Any, events: int, rounds: int) -> list[Figure]:
    """The outbox relay publishing stored events, against kafka-python's idempotent
    producer sending the same CloudEvents (built beforehand)."""
    settings = container.settings
    sealed = container.sealed_application
    figure = Figure("relay, store -> lead.events.v1", "events/s", goal=0.8)
    policy = container.application.policy_in_force(datetime.now(UTC).date())
    for _ in range(rounds):
        container.application.save(*referrals(policy, max(events // 2, 1)))
        topic = _topic(settings.bootstrap_servers, settings.topic_partitions)
        position = RelayPosition(settings.dsn, name=topic)
        start = (sealed.recorder.max_notification_id() or 0) - 2 * max(events // 2, 1)
        position.save(start)
        relay = OutboxRelay(
            sealed.recorder,
            sealed.mapper,
            make_producer(settings.bootstrap_servers),
            position,
            source=container.source,
            batch_size=settings.relay_batch_size,
            topic=topic,
        )

        def drain(relay: OutboxRelay = relay) -> None:
            while relay.run_once():
                pass

        figure.backend.append(rate(2 * max(events // 2, 1), drain))
        relay.producer.close()
        notifications = sealed.recorder.select_notifications(start=start + 1, limit=events + 2)
        messages = []
        for n in notifications:
            event = sealed.mapper.to_domain_event(n)
            assert isinstance(event, DomainEvent)
            messages.append(
                (
                    event.partition_key.encode(),
                    envelope(event, position=n.id, source=container.source).to_json(),
                )
            )
        raw_topic = _topic(settings.bootstrap_servers, settings.topic_partitions)
        producer: KafkaProducer = make_producer(settings.bootstrap_servers)

        figure.baseline.append(
            rate(len(messages), functools.partial(send_all, producer, raw_topic, messages))
        )
        producer.close()
    return [figure]


BENCHMARKS: dict[str, Callable[[Any, int, int], list[Figure]]] = {
    "append": bench_append,
    "relay": bench_relay,
}


def machine(container: Any) -> dict[str, Any]:
    with psycopg.connect(container.settings.dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "postgresql": row[0] if row else None,
        "kafka_topic": EVENTS,
        "at": datetime.now(UTC).isoformat(),
    }


def run(
    container: Any, names: list[str], *, events: int, rounds: int, out: Path | None
) -> list[dict[str, Any]]:
    figures: list[Figure] = []
    for name in names:
        figures.extend(BENCHMARKS[name](container, events, rounds))
    summaries = [f.summary() for f in figures]
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "machine": machine(container),
                    "parameters": {"events": events, "rounds": rounds, "benchmarks": names},
                    "figures": summaries,
                    "raw": [asdict(f) for f in figures],
                },
                indent=2,
            )
            + "\n"
        )
    return summaries


def table(summaries: list[dict[str, Any]]) -> str:
    lines = [
        f"{'benchmark':34} {'backend':>12} {'baseline':>12} {'ratio':>7} "
        f"{'spread':>13} {'goal':>6}",
    ]
    for s in summaries:
        ratio = s["ratio"]
        goal = f">={s['goal']}" if s["goal"] is not None else ""
        lines.append(
            f"{s['name']:34} {s['backend']['median']:>10.0f}/s {s['baseline']['median']:>10.0f}/s "
            f"{ratio['median']:>7.2f} {ratio['min']:>6.2f}-{ratio['max']:<6.2f} {goal:>6}"
        )
    return "\n".join(lines)
