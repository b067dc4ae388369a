"""The intake deadline keeps itself: on the running stack, with `lead timers`, arrest
diversions handed off and not taken in lapse within a minute of the site's midnight
after their deadline (the test moves every process's clock with LEAD_CLOCK_OFFSET_FILE),
each exactly once across a SIGKILL of the timers; the prosecutor's consumer sees the
return on `lead.prosecution.v1` with the Part 2 notice; the OWG agenda lists it; and no
date a client sends lapses a referral early."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from consumers.prosecution import NOTICE
from events.topics import AUDIT, EVENTS, PROSECUTION
from infra.clock import Clock
from infra.settings import Settings
from services.bootstrap import Container
from tests.conftest import subprocess_env
from tests.e2e.conftest import Backend, running_backend
from tests.factories import referral_body
from tests.http import keyed
from tests.kafka_reader import message_of, read_all
from tests.processes import Proc, wait_until

pytestmark = pytest.mark.e2e

ZONE = "America/Los_Angeles"
LAPSE_TOPIC = "events.referral:IntakeDeadlineLapsed"
EXPIRY_TOPIC = "events.consent:ConsentExpired"
HOW_MANY = 6


@pytest.fixture(scope="module")
def offset_file(settings: Settings) -> Path:
    path = settings.data_dir / "clock-offset"
    path.write_text("0")
    return path


@pytest.fixture(scope="module")
def env(offset_file: Path) -> dict[str, str]:
    return {
        "LEAD_CLOCK_OFFSET_FILE": str(offset_file),
        "LEAD_SITE_TIMEZONE": ZONE,
        "LEAD_TIMERS_INTERVAL_SECONDS": "1",
    }


@pytest.fixture(scope="module")
def backend(settings: Settings, env: dict[str, str]) -> Iterator[Backend]:
    yield from running_backend(settings, **env)


@contextlib.contextmanager
def timers(settings: Settings, env: dict[str, str]) -> Iterator[Proc]:
    proc = Proc("timers", subprocess_env(**env), settings.data_dir / "logs")
    try:
        yield proc
    finally:
        proc.stop()


def lapses_recorded(container: Container, referral_ids: list[str]) -> dict[str, int]:
    with psycopg.connect(container.dsn) as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT originator_id::text, count(*) FROM {} WHERE topic = %s "
                "AND originator_id = ANY(%s::uuid[]) GROUP BY 1"
            ).format(sql.Identifier(container.events_table)),
            (LAPSE_TOPIC, referral_ids),
        ).fetchall()
    return {rid: dict(rows).get(rid, 0) for rid in referral_ids}


def test_deadlines_lapse_by_the_servers_clock_once_and_reach_the_prosecutor(
    settings: Settings,
    env: dict[str, str],
    offset_file: Path,
    backend: Backend,
    container: Container,
    people: dict[str, dict[str, str]],
) -> None:
    with (
        keyed(httpx.Client(base_url=backend.base_url, timeout=15)) as client,
        timers(settings, env) as timer,
    ):

        def post(path: str, body: dict[str, Any], who: str) -> httpx.Response:
            return client.post(path, json=body, headers=people[who])

        referrals: list[dict[str, Any]] = []
        for n in range(HOW_MANY):
            body = referral_body(n=n)
            body["incident"]["report_number"] = f"2026-LAPSE-{n}"
            posted = post("/v1/referrals", body, "officer.reyes")
            assert posted.status_code == 201, posted.text
            approved = post(f"/v1/referrals/{posted.json()['id']}/approve", {}, "pm.kim")
            assert approved.status_code in (200, 201), approved.text
            referrals.append(posted.json())
        ids = [r["id"] for r in referrals]
        first = ids[0]

        # Before the deadline: no date in the body can lapse it, and the server refuses.
        early = post(f"/v1/referrals/{first}/lapse", {"today": "2099-01-01"}, "pm.kim")
        assert early.status_code == 422 and "today" in early.text, early.text
        early = post(f"/v1/referrals/{first}/lapse", {}, "pm.kim")
        assert early.status_code == 409, early.text
        assert "has not passed" in early.text or "had not passed" in early.text
        assert "server's clock" in early.text

        read = client.get(
            f"/v1/referrals/{first}?min_position={referrals[-1]['position']}",
            headers=people["pm.kim"],
        )
        assert read.status_code == 200, read.text
        deadline = date.fromisoformat(read.json()["intake_deadline"])
        clock = Clock(ZONE)
        midnight = clock.midnight_after(deadline)

        # Seconds before the site's midnight: the timers tick (every second), record nothing.
        offset_file.write_text(str((midnight - datetime.now(UTC)).total_seconds() - 5))
        wait_until(lambda: timer.alive(), 5, "the timers")
        time.sleep(3)  # three ticks at 23:59:55-58 site time
        assert set(lapses_recorded(container, ids).values()) == {0}

        # Midnight passes: every one lapses, within a minute, once; the timers are killed
        # as soon as the first is recorded and started again.
        offset_file.write_text(str((midnight - datetime.now(UTC)).total_seconds() + 1))
        wait_until(lambda: any(lapses_recorded(container, ids).values()), 60, "a lapse")
        timer.kill()
        with timers(settings, env):
            wait_until(lambda: all(lapses_recorded(container, ids).values()), 60, "every lapse")
            time.sleep(3)  # a few more ticks of the restarted timers: nothing more
        assert lapses_recorded(container, ids) == dict.fromkeys(ids, 1)

    # The prosecutor's consumer sees each return, with its references and the notice only.
    def returned() -> list[dict[str, Any]]:
        records = read_all(settings.bootstrap_servers, PROSECUTION)
        messages = [message_of(r) for r in records]
        return [
            m
            for m in messages
            if m.get("type") == "org.lead.referral.intake_deadline_lapsed.v1"
            and (m.get("data") or {}).get("aggregate_id") in ids
        ]

    wait_until(lambda: len(returned()) >= HOW_MANY, 60, "the returns on the prosecution topic")
    sent = returned()
    assert {m["data"]["aggregate_id"] for m in sent} == set(ids)
    for message in sent:
        assert message["redisclosure"] == NOTICE
        assert message["data"]["returned_to_prosecutor"] is True
        assert message["data"]["deadline"] == deadline.isoformat()
        assert message["data"]["report_number"].startswith("2026-LAPSE-")
        assert message["data"]["offense_code"] == "69.50.4013"
        assert not {"actor", "sealed", "person", "incident", "note"} & set(message["data"])

    # The OWG agenda lists them as lapsed.
    with httpx.Client(base_url=backend.base_url, timeout=15) as reader:
        since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        until = (midnight + timedelta(days=1)).isoformat()

        def on_agenda() -> bool:
            answer = reader.get(
                "/v1/owg-agenda",
                params={"since": since, "until": until},
                headers=people["pm.kim"],
            )
            assert answer.status_code == 200, answer.text
            return set(ids) <= {item["referral_id"] for item in answer.json()["lapsed"]}

        wait_until(on_agenda, 60, "the lapses on the OWG agenda")


def test_a_consent_that_expires_stops_the_view_and_the_feed_at_that_moment(
    settings: Settings,
    env: dict[str, str],
    offset_file: Path,
    backend: Backend,
    container: Container,
    people: dict[str, dict[str, str]],
) -> None:
    offset_file.write_text("0")
    now = datetime.now(UTC)
    today = now.date()
    expires = (now + timedelta(days=2)).replace(microsecond=0)
    with keyed(httpx.Client(base_url=backend.base_url, timeout=15)) as client:

        def post(path: str, body: dict[str, Any], who: str) -> dict[str, Any]:
            answer = client.post(path, json=body, headers=people[who])
            assert answer.status_code in (200, 201), f"{path}: {answer.text}"
            result: dict[str, Any] = answer.json()
            return result

        def open_case(person: str, number: str) -> str:
            charge = {"statute_code": "9A.56.050", "description": "x", "severity": "misdemeanor"}
            body = {
                "person_id": person,
                "case_number": number,
                "court": "KCDC",
                "jurisdiction": "King County",
                "incident_date": str(today),
                "filing_date": str(today),
                "charges": [charge],
            }
            return str(post("/v1/cases", body, "dpa.nguyen")["id"])

        referral = post("/v1/referrals", referral_body(n=99), "officer.reyes")
        person = referral["person_id"]
        post(f"/v1/referrals/{referral['id']}/approve", {}, "pm.kim")
        consent = post(
            "/v1/consents",
            {
                "person_id": person,
                "disclosing_party": "REACH",
                "recipients": [{"kind": "role", "name": "liaison_prosecutor"}],
                "purpose": "coordinate cases",
                "information_kinds": ["legal_status"],
                "signature_method": "paper",
                "signed_at": (now - timedelta(hours=1)).isoformat(),
                "expires_at": expires.isoformat(),
            },
            "cm.ortiz",
        )["id"]
        post(
            f"/v1/referrals/{referral['id']}/intake",
            {"completed_on": str(today), "case_manager": "cm.ortiz", "consent_id": consent},
            "cm.ortiz",
        )
        before = open_case(person, "26-9-001")
        url = f"/v1/liaison/cases/{person}"

        def view() -> httpx.Response:
            return client.get(url, headers=people["dpa.nguyen"])

        # Five seconds before the consent ends (by the servers' clock): shown, with the notice.
        offset_file.write_text(str((expires - datetime.now(UTC)).total_seconds() - 5))
        wait_until(lambda: view().status_code == 200, 60, "the liaison view", backend.procs)
        assert view().headers["lead-redisclosure-notice"] == NOTICE
        # The moment it ends: the very next read is refused, and the feed withholds.
        offset_file.write_text(str((expires - datetime.now(UTC)).total_seconds()))
        assert view().status_code == 404
        after = open_case(person, "26-9-002")

        ids: dict[str, set[str]] = {}
        for case_id in (before, after):
            wait_until(lambda c=case_id: bool(case_events(backend, c)), 60, "the case's events")
            ids[case_id] = case_events(backend, case_id)

        def audited(case_id: str) -> set[str]:
            return {
                message_of(r)["type"]
                for r in read_all(backend.settings.bootstrap_servers, AUDIT)
                if r.key == person.encode()
                and (message_of(r).get("data") or {}).get("event_id") in ids[case_id]
            }

        wait_until(lambda: bool(audited(after)), 60, "the feed's decision", backend.procs)
        assert audited(after) == {"org.lead.disclosure.withheld.v1"}
        assert audited(before) == {"org.lead.disclosure.recorded.v1"}
        on_feed = {
            (message_of(r).get("data") or {}).get("aggregate_id")
            for r in read_all(backend.settings.bootstrap_servers, PROSECUTION)
            if r.key == person.encode()
        }
        assert before in on_feed and after not in on_feed

        # lead timers records the expiry, once, as of the end date, as its system principal.
        with timers(settings, env):
            wait_until(lambda: expiries(container, consent) == 1, 60, "the expiry recorded")
            time.sleep(3)
        assert expiries(container, consent) == 1
        with psycopg.connect(container.dsn) as conn:
            [(state,)] = conn.execute(
                sql.SQL("SELECT state FROM {} WHERE topic = %s AND originator_id = %s").format(
                    sql.Identifier(container.events_table)
                ),
                (EXPIRY_TOPIC, consent),
            ).fetchall()
        recorded = json.loads(bytes(state))
        assert recorded["actor"]["principal"] == "lead-timers"
        assert datetime.fromisoformat(recorded["expired_at"]) == expires
    offset_file.write_text("0")


def expiries(container: Container, consent_id: str) -> int:
    with psycopg.connect(container.dsn) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE topic = %s AND originator_id = %s").format(
                sql.Identifier(container.events_table)
            ),
            (EXPIRY_TOPIC, consent_id),
        ).fetchone()
    return int(row[0]) if row else 0


def case_events(backend: Backend, case_id: str) -> set[str]:
    return {
        message_of(r)["id"]
        for r in read_all(backend.settings.bootstrap_servers, EVENTS)
        if (message_of(r).get("data") or {}).get("aggregate_id") == case_id
    }
