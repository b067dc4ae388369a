"""Two faust workers in one group share the partitions; killing one loses and doubles nothing."""

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

TOTAL = 4000


def projected(dsn: str, tag: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {
            str(r[0]): int(r[1])
            for r in conn.execute(
                "SELECT referral_id, version FROM proj_referrals.referrals"
                " WHERE referrer_organisation = %s",
                (tag,),
            ).fetchall()
        }


def test_a_worker_killed_mid_stream_hands_its_partitions_over(container: Container) -> None:
    settings = container.settings
    logs = settings.data_dir / "logs"
    env = subprocess_env(LEAD_RELAY_BATCH_SIZE="200")
    tag = f"two-workers-{uuid.uuid4()}"
    first = Proc("consumers", env, logs)
    second = Proc("consumers", env, logs)
    relay = Proc("relay", env, logs)
    try:
        ids: list[str] = []
        for _ in range(TOTAL // 200):
            batch = [
                Referral.receive(
                    actor=OFFICER,
                    pathway=Pathway.ARREST_DIVERSION,
                    policy=POLICY,
                    referrer=Referrer(principal="officer.reyes", organisation=tag),
                    incident=Incident(offense_code="69.50.4013", description="possession"),
                    person=Person(given_name="Two", family_name="Workers"),
                )
                for _ in range(200)
            ]
            container.application.save(*batch)
            ids.extend(str(r.id) for r in batch)
        wait_until(
            lambda: len(projected(settings.dsn, tag)) >= TOTAL // 4,
            120,
            "both workers projecting",
            (first, second, relay),
        )
        second.kill()
        killed_at = len(projected(settings.dsn, tag))
        assert killed_at < TOTAL, "the workers finished before one could be killed"
        wait_until(
            lambda: len(projected(settings.dsn, tag)) >= TOTAL,
            180,
            "the surviving worker to take over",
            (first, relay),
        )
        rows = projected(settings.dsn, tag)
        assert sorted(rows) == sorted(ids)  # every one, once
        assert set(rows.values()) == {2}  # received and screened, each applied once
        print(f"second worker killed with {killed_at} of {TOTAL} projected")
    finally:
        for proc in (first, second, relay):
            proc.stop()
