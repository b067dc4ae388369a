"""SIGKILL the relay mid-publish, then the consumer mid-projection: nothing lost or doubled."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import psycopg
import pytest

from aggregates.referral import Referral
from events.referral import Incident, Pathway, Person, Referrer
from events.topics import EVENTS
from services.bootstrap import Container
from tests.conftest import subprocess_env
from tests.factories import OFFICER, POLICY
from tests.kafka_reader import data_of, read_all, referred_by
from tests.processes import Proc, wait_until

pytestmark = pytest.mark.e2e

TOTAL = 10_000


def relay_position(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT position FROM relay_positions WHERE relay = %s", (EVENTS,)
        ).fetchone()
    return int(row[0]) if row else 0


def projected(dsn: str, tag: str) -> list[tuple[str, int]]:
    with psycopg.connect(dsn) as conn:
        return [
            (str(r[0]), int(r[1]))
            for r in conn.execute(
                "SELECT referral_id, version FROM proj_referrals.referrals"
                " WHERE referrer_organisation = %s",
                (tag,),
            ).fetchall()
        ]


def test_killed_relay_and_consumer_lose_nothing_and_apply_nothing_twice(
    container: Container,
) -> None:
    settings = container.settings
    dsn, logs = settings.dsn, settings.data_dir / "logs"
    tag = f"crash-{uuid.uuid4()}"
    app = container.application
    ids: list[str] = []
    for _ in range(TOTAL // 200):
        batch = [
            Referral.receive(
                policy=POLICY,
                actor=OFFICER,
                pathway=Pathway.ARREST_DIVERSION,
                referrer=Referrer(principal="officer.reyes", organisation=tag),
                incident=Incident(offense_code="69.50.4013", description="possession"),
                person=Person(given_name="Crash", family_name="Test"),
            )
            for _ in range(200)
        ]
        app.save(*batch)
        ids.extend(str(r.id) for r in batch)
    last = app.recorder.max_notification_id() or 0
    t0 = time.monotonic()

    # 1. The relay, killed while it is publishing, then restarted.
    env = subprocess_env(LEAD_RELAY_BATCH_SIZE="50")
    relay = Proc("relay", env, logs)
    start = relay_position(dsn)
    wait_until(lambda: relay_position(dsn) >= start + 1500, 120, "relay progress", (relay,))
    relay.kill()
    killed_at = relay_position(dsn)
    assert killed_at < last, "the relay finished before it could be killed mid-publish"
    relay = Proc("relay", env, logs)
    wait_until(lambda: relay_position(dsn) >= last, 180, "relay to catch up", (relay,))
    relay.stop()
    t1 = time.monotonic()

    on_topic = Counter(
        data_of(r)["aggregate_id"]
        for r in referred_by(read_all(settings.bootstrap_servers, EVENTS), tag)
    )
    assert set(on_topic) == set(ids), "an event is missing from the topic"
    republished = sum(n - 1 for n in on_topic.values())
    print(f"relay killed at position {killed_at} of {last}; {republished} events republished")

    # 2. The consumer, killed while it is projecting, then restarted.
    consumers = Proc("consumers", env, logs)
    wait_until(lambda: len(projected(dsn, tag)) >= 2000, 180, "projection progress", (consumers,))
    consumers.kill()
    rows_at_kill = len(projected(dsn, tag))
    assert rows_at_kill < TOTAL, "the consumer finished before it could be killed mid-stream"
    consumers = Proc("consumers", env, logs)
    try:
        wait_until(
            lambda: len(projected(dsn, tag)) >= TOTAL, 240, "projection to catch up", (consumers,)
        )
    finally:
        consumers.stop()
    print(f"relay phase {t1 - t0:.1f}s, consumer phase {time.monotonic() - t1:.1f}s")
    rows = projected(dsn, tag)
    assert len(rows) == TOTAL
    assert sorted(r for r, _ in rows) == sorted(ids)
    assert {version for _, version in rows} == {2}  # received, then screened: both applied
    print(f"consumer killed with {rows_at_kill} of {TOTAL} rows projected")
