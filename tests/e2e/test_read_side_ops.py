"""Operating the read side while it runs: status, rebuild under load, dead letters."""

from __future__ import annotations

import subprocess
import threading
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from kafka import KafkaProducer

from events.topics import EVENTS
from infra.kafka.security import client_kwargs
from tests.conftest import run_lead
from tests.e2e.conftest import Backend
from tests.factories import referral_body
from tests.http import keyed
from tests.processes import wait_until

pytestmark = pytest.mark.e2e


def lead(*args: str) -> subprocess.CompletedProcess[str]:
    return run_lead(*args, timeout=300)


def projected(dsn: str, tag: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {
            str(r[0])
            for r in conn.execute(
                "SELECT referral_id FROM proj_referrals.referrals WHERE referrer_organisation = %s",
                (tag,),
            ).fetchall()
        }


def test_a_rebuild_while_writes_and_reads_go_on_misses_nothing(
    people: dict[str, dict[str, str]], backend: Backend
) -> None:
    tag = f"live-rebuild-{uuid.uuid4()}"
    posted: list[str] = []
    read_failures: list[Any] = []
    stop = threading.Event()

    def write_and_read() -> None:
        with keyed(
            httpx.Client(base_url=backend.base_url, headers=people["pm.kim"], timeout=30)
        ) as c:
            n = 0
            while not stop.is_set():
                receipt = c.post("/v1/referrals", json=referral_body(organisation=tag, n=n))
                assert receipt.status_code == 201, receipt.text
                posted.append(receipt.json()["id"])
                if posted[:1]:
                    answer = c.get(f"/v1/referrals/{posted[0]}")
                    if answer.status_code not in (200, 404):
                        read_failures.append(answer.status_code)
                n += 1

    writer = threading.Thread(target=write_and_read)
    writer.start()
    try:
        wait_until(lambda: len(posted) >= 50, 60, "some writes first", backend.procs)
        rebuilt = lead("projections", "rebuild", "referrals")
        assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
        assert "now in schema proj_referrals" in rebuilt.stdout
        assert "ETA" in rebuilt.stderr
    finally:
        stop.set()
        writer.join(timeout=60)
    assert read_failures == []
    wait_until(
        lambda: projected(backend.settings.dsn, tag) == set(posted),
        90,
        "every referral posted before, during and after the rebuild",
        backend.procs,
    )
    status = lead("projections", "status")
    assert status.returncode == 0
    wait_until(
        lambda: " lag        0 " in lead("projections", "status").stdout,
        60,
        "the projection to catch up",
        backend.procs,
    )


def test_dead_letters_are_listed_shown_in_status_and_can_be_replayed(backend: Backend) -> None:
    marker = f"junk-{uuid.uuid4()}"
    producer = KafkaProducer(
        **client_kwargs(), bootstrap_servers=backend.settings.bootstrap_servers, acks="all"
    )
    producer.send(EVENTS, key=marker.encode(), value=b"\x00 not json " + marker.encode())
    producer.flush()
    producer.close()

    def letters() -> list[str]:
        return [
            line
            for line in lead("deadletter", "list").stdout.splitlines()
            if "not a CloudEvent" in line
        ]

    wait_until(lambda: len(letters()) >= 1, 60, "the dead letter", backend.procs)
    assert "not a CloudEvent" in lead("projections", "status").stdout
    before = len(letters())
    offset = letters()[-1].split()[0]
    replayed = lead("deadletter", "replay", "--offset", offset)
    assert replayed.stdout.strip() == "replayed 1 messages"
    # Still not an event: the agent dead-letters it again, and carries on.
    wait_until(lambda: len(letters()) == before + 1, 60, "the replayed letter", backend.procs)
