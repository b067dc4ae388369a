"""`lead keys rotate` on the running backend, as an operator runs it: the API keeps
taking referrals during the rotation and after the old key is retired, every event
opens, and `lead audit verify` finds the store, the topic and the checkpoints intact."""

from __future__ import annotations

import re
import subprocess
import threading

import psycopg
import pytest

from events.base import SEALED
from events.referral import ReferralReceived
from events.topics import EVENTS
from services.bootstrap import Container
from tests.conftest import run_lead
from tests.e2e.conftest import Backend
from tests.factories import referral_body
from tests.http import api_client
from tests.processes import wait_until

pytestmark = pytest.mark.e2e


def lead(*args: str) -> subprocess.CompletedProcess[str]:
    return run_lead(*args, timeout=600)


def current_key(status: str) -> str:
    found = re.search(r"^\s+(\S+)\s+current\s", status, re.MULTILINE)
    assert found, status
    return found.group(1)


def relay_caught_up(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT coalesce(max(position), 0) FROM relay_positions WHERE relay = %s) "
            ">= (SELECT coalesce(max(notification_id), 0) FROM lead_events)",
            (EVENTS,),
        ).fetchone()
    return bool(row and row[0])


def test_a_rotation_on_the_running_backend_keeps_every_event_open_and_the_chain_intact(
    people: dict[str, dict[str, str]], backend: Backend
) -> None:
    client = api_client(backend.base_url, headers=people["pm.kim"], timeout=30)
    given = {}
    for n in range(30):
        posted = client.post("/v1/referrals", json=referral_body(n=n))
        assert posted.status_code == 201, posted.text
        given[posted.json()["person_id"]] = f"Person{n}"
    status = lead("keys", "status")
    assert status.returncode == 0, status.stderr
    old = current_key(status.stdout)
    assert "key ring: files in" in status.stdout

    # The API goes on taking referrals (each a new person and data key) meanwhile.
    stop = threading.Event()
    during: list[int] = []

    def post_meanwhile() -> None:
        with api_client(backend.base_url, headers=people["pm.kim"], timeout=30) as c:
            while not stop.is_set():
                answer = c.post("/v1/referrals", json=referral_body(n=len(during)))
                during.append(answer.status_code)
                if answer.status_code == 201:
                    given[answer.json()["person_id"]] = f"Person{len(during) - 1}"

    poster = threading.Thread(target=post_meanwhile, daemon=True)
    poster.start()
    try:
        rotated = lead("keys", "rotate", "--batch-size", "10")
    finally:
        stop.set()
        poster.join(60)
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr[-2000:]
    assert "rotated to master key" in rotated.stdout
    assert during and set(during) == {201}, during
    status = lead("keys", "status")
    new = current_key(status.stdout)
    assert new != old
    assert re.search(rf"{old}\s+wraps 0 data keys", status.stdout), status.stdout

    refused = lead("keys", "retire", new)
    assert refused.returncode == 1 and "is current" in refused.stderr
    retired = lead("keys", "retire", old)
    assert retired.returncode == 0, retired.stderr
    status = lead("keys", "status")
    assert old not in status.stdout.split("retired:")[0]
    retired_line = re.search(r"^retired: (.*)$", status.stdout, re.M)
    assert retired_line and old in retired_line.group(1).split(", "), status.stdout

    # The API, started before the rotation, wraps new people's keys with the new key.
    after = client.post("/v1/referrals", json=referral_body(n=99))
    assert after.status_code == 201, after.text
    with psycopg.connect(backend.settings.dsn) as conn:
        row = conn.execute(
            "SELECT master_key_id FROM person_keys WHERE person_id = %s",
            (after.json()["person_id"],),
        ).fetchone()
    assert row == (new,)
    client.close()

    # Every event opens, in a process that holds only the new key.
    app = Container(backend.settings).application
    try:
        opened = {}
        start = 1
        while batch := app.recorder.select_notifications(start=start, limit=1000):
            for notification in batch:
                event = app.mapper.to_domain_event(notification)
                if isinstance(event, ReferralReceived) and event.person is not None:
                    opened[str(event.person_id)] = event.person.given_name
            start = batch[-1].id + 1
    finally:
        app.close()
    for person, name in given.items():
        assert opened[person] == name != SEALED

    wait_until(lambda: relay_caught_up(backend.settings.dsn), 120, "the relay", backend.procs)
    verified = lead("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr[-2000:]
    assert verified.stdout.count("intact") == 3, verified.stdout
