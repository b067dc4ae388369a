"""Where a worker resumes is what PostgreSQL stored, whatever Kafka's committed offset says.

A worker stopped (SIGTERM) or killed (SIGKILL) in the middle of a batch leaves no
projection behind, and a projection whose rows and positions are gone (emptied by an
operator, or added to the code later) is filled from history by the running worker.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from aggregates.referral import Referral
from events.referral import Incident, Pathway, Person, Referrer
from services.bootstrap import Container
from tests.conftest import subprocess_env
from tests.factories import OFFICER, POLICY
from tests.processes import Proc, wait_until

pytestmark = pytest.mark.e2e

TOTAL = 1600
STOPS = 3


def receive(container: Container, tag: str, count: int) -> list[str]:
    batch = [
        Referral.receive(
            actor=OFFICER,
            pathway=Pathway.ARREST_DIVERSION,
            policy=POLICY,
            referrer=Referrer(principal="officer.reyes", organisation=tag),
            incident=Incident(offense_code="69.50.4013", description="possession"),
            person=Person(given_name="Stopped", family_name="Worker"),
        )
        for _ in range(count)
    ]
    container.application.save(*batch)
    return [str(r.id) for r in batch]


def referral_ids(dsn: str, tag: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {
            str(r[0])
            for r in conn.execute(
                "SELECT referral_id FROM proj_referrals.referrals WHERE referrer_organisation = %s",
                (tag,),
            ).fetchall()
        }


def queued(dsn: str, ids: list[str]) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {
            str(r[0])
            for r in conn.execute(
                "SELECT referral_id FROM proj_queue.queue WHERE referral_id = ANY(%s::uuid[])",
                (ids,),
            ).fetchall()
        }


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_worker_stopped_mid_batch_resumes_every_projection(
    container: Container, how: str
) -> None:
    settings = container.settings
    logs = settings.data_dir / "logs"
    env = subprocess_env(LEAD_RELAY_BATCH_SIZE="200")
    tag = f"stop-mid-batch-{how}-{uuid.uuid4()}"
    relay = Proc("relay", env, logs)
    worker = Proc("consumers", env, logs)
    try:
        ids: list[str] = []
        for _ in range(TOTAL // 200):
            ids.extend(receive(container, tag, 200))
        for stop in range(1, STOPS + 1):
            wait_until(
                lambda at=TOTAL * stop // (STOPS + 1): len(referral_ids(settings.dsn, tag)) >= at,
                120,
                "the worker projecting",
                (worker, relay),
            )
            worker.kill() if how == "kill" else worker.stop()
            worker = Proc("consumers", env, logs)
        wait_until(
            lambda: len(referral_ids(settings.dsn, tag)) >= TOTAL,
            180,
            "the last worker to finish",
            (worker, relay),
        )
        wait_until(
            lambda: len(queued(settings.dsn, ids)) >= TOTAL, 30, "the queue", (worker, relay)
        )
        assert referral_ids(settings.dsn, tag) == set(ids)
        assert queued(settings.dsn, ids) == set(ids)
    finally:
        for proc in (worker, relay):
            proc.stop()


def test_a_projection_emptied_while_running_is_filled_again_from_history(
    container: Container,
) -> None:
    settings = container.settings
    logs = settings.data_dir / "logs"
    env = subprocess_env()
    tag = f"emptied-{uuid.uuid4()}"
    relay = Proc("relay", env, logs)
    worker = Proc("consumers", env, logs)
    try:
        ids = receive(container, tag, 300)
        wait_until(lambda: queued(settings.dsn, ids) == set(ids), 120, "the queue", (worker, relay))
        with psycopg.connect(settings.dsn) as conn:
            conn.execute("DELETE FROM projection_positions WHERE projection = 'queue'")
            conn.execute("DELETE FROM proj_queue.queue WHERE referral_id = ANY(%s::uuid[])", (ids,))
        assert queued(settings.dsn, ids) == set()
        # The next message on each partition shows the worker the gap below it: with
        # 120 new referrals, every one of the 6 partitions gets one.
        later = receive(container, tag, 120)
        wait_until(
            lambda: queued(settings.dsn, ids + later) == set(ids + later),
            120,
            "the queue filled again from offset 0",
            (worker, relay),
        )
        assert "reading offsets not yet stored first" in worker.tail(200_000)
        with psycopg.connect(settings.dsn) as conn:
            versions = conn.execute(
                "SELECT DISTINCT version FROM proj_queue.queue WHERE referral_id = ANY(%s::uuid[])",
                (ids,),
            ).fetchall()
        assert versions == [(2,)]  # received and screened, each once
    finally:
        for proc in (worker, relay):
            proc.stop()
