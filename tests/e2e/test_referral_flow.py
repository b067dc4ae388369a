"""A referral the whole way: HTTP -> store -> relay -> Kafka -> faust -> projection -> HTTP."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from kafka import KafkaProducer

from events.base import EVENT_ID_NAMESPACE
from events.topics import DEADLETTER, EVENTS
from infra.kafka.deadletters import record_of
from infra.kafka.security import client_kwargs
from tests.e2e.conftest import Backend
from tests.factories import referral_body
from tests.http import keyed
from tests.kafka_reader import read_all, referred_by
from tests.processes import wait_until

pytestmark = pytest.mark.e2e


def get_when_ready(client: httpx.Client, url: str, backend: Backend) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def ready() -> bool:
        response = client.get(url)
        if response.status_code == 200:
            found.update(response.json())
            return True
        assert response.status_code == 404, response.text
        return False

    wait_until(ready, 60, f"GET {url}", backend.procs)
    return found


def test_a_posted_referral_can_be_read_back_from_the_projection(
    people: dict[str, dict[str, str]], backend: Backend
) -> None:
    with keyed(
        httpx.Client(base_url=backend.base_url, headers=people["pm.kim"], timeout=10)
    ) as client:
        posted = client.post("/v1/referrals", json=referral_body(pathway="community"))
        assert posted.status_code == 201, posted.text
        receipt = posted.json()
        referral = get_when_ready(client, f"/v1/referrals/{receipt['id']}", backend)
    assert referral["referral_id"] == receipt["id"]
    assert referral["person_id"] == receipt["person_id"]
    assert referral["pathway"] == "community"
    assert referral["status"] in ("received", "eligible")  # screening follows receipt
    assert referral["incident"]["nibrs_code"] == "35A"
    assert referral["position"] == receipt["position"]


def count_rows(dsn: str, organisation: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM proj_referrals.referrals WHERE referrer_organisation = %s",
            (organisation,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_thousand_referrals_each_appear_once_and_in_per_person_order(
    people: dict[str, dict[str, str]], backend: Backend
) -> None:
    tag = f"precinct-{uuid.uuid4()}"
    persons = [uuid.uuid4() for _ in range(250)]  # four referrals each: order per person matters

    def post(i: int) -> dict[str, Any]:
        body = referral_body(organisation=tag, person_id=persons[i % len(persons)], n=i)
        response = client.post("/v1/referrals", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    with (
        keyed(
            httpx.Client(base_url=backend.base_url, headers=people["pm.kim"], timeout=30)
        ) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        receipts = list(pool.map(post, range(1000)))
    ids = {r["id"] for r in receipts}
    assert len(ids) == 1000

    dsn = backend.settings.dsn
    wait_until(lambda: count_rows(dsn, tag) >= 1000, 120, "1,000 rows", backend.procs)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT referral_id::text FROM proj_referrals.referrals"
            " WHERE referrer_organisation = %s",
            (tag,),
        ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(ids)  # all of them, each exactly once

    records = referred_by(read_all(backend.settings.bootstrap_servers, EVENTS), tag)
    events = [r.cloudevent() for r in records]
    assert len(events) == 1000
    assert {e.get_id() for e in events} == {
        str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{i}:1")) for i in ids
    }
    per_person: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for record, event in zip(records, events, strict=True):
        assert record.key == event.get_subject().encode()
        per_person[event.get_subject()].append(
            (record.offset, int(event.get_extension("sequence")))
        )
    assert len(per_person) == 250
    for seen in per_person.values():
        in_topic_order = [seq for _, seq in sorted(seen)]
        assert in_topic_order == sorted(in_topic_order)  # the store's order, per person


def broken_copies(good: bytes) -> dict[str, tuple[bytes, str]]:
    """Ways a message on lead.events.v1 can be broken, and what its dead letter must say."""
    event = json.loads(good)
    name, _, _ = event["type"].rpartition(".v")
    return {
        "not json": (b"{not a cloudevent", "not a CloudEvent"),
        "truncated": (good[: len(good) // 2], "not a CloudEvent"),
        "not utf-8": (b"\xff\xfe" + good[2:], "not a CloudEvent"),
        "no id": (
            json.dumps({k: v for k, v in event.items() if k != "id"}).encode(),
            "not a CloudEvent",
        ),
        "unknown type": (
            json.dumps({**event, "type": "org.lead.referral.teleported.v1"}).encode(),
            "unknown event type",
        ),
        "unknown version": (
            json.dumps({**event, "type": f"{name}.v99"}).encode(),
            "newer than this code reads",
        ),
        "bad data": (json.dumps({**event, "data": {"nonsense": 1}}).encode(), "bad data"),
    }


def test_broken_messages_are_dead_lettered_with_the_reason_and_the_agents_carry_on(
    people: dict[str, dict[str, str]], backend: Backend
) -> None:
    bootstrap = backend.settings.bootstrap_servers
    good = next(r.value for r in read_all(bootstrap, EVENTS) if r.value.startswith(b"{"))
    broken = {
        f"broken-{uuid.uuid4()}-{case}".encode(): (value, reason)
        for case, (value, reason) in broken_copies(good).items()
    }
    producer = KafkaProducer(**client_kwargs(), bootstrap_servers=bootstrap, acks="all")
    for key, (value, _) in broken.items():
        producer.send(EVENTS, key=key, value=value)
    producer.flush()
    producer.close()

    # The agents go on: a referral sent after the broken messages is projected.
    with keyed(
        httpx.Client(base_url=backend.base_url, headers=people["pm.kim"], timeout=10)
    ) as client:
        receipt = client.post("/v1/referrals", json=referral_body()).json()
        get_when_ready(client, f"/v1/referrals/{receipt['id']}", backend)

    def dead_lettered() -> dict[bytes, dict[str, Any]]:
        return {
            r.key: record_of(r.value) for r in read_all(bootstrap, DEADLETTER) if r.key in broken
        }

    wait_until(lambda: len(dead_lettered()) == len(broken), 30, "the dead letters", backend.procs)
    for key, letter in dead_lettered().items():
        assert letter["topic"] == EVENTS
        assert broken[key][1] in letter["error"], (key, letter["error"])
    assert all(p.alive() for p in backend.procs)


def test_dashboards_read_the_latest_row_from_the_compacted_topic(
    people: dict[str, dict[str, str]], backend: Backend
) -> None:
    with keyed(
        httpx.Client(base_url=backend.base_url, headers=people["pm.kim"], timeout=10)
    ) as client:
        receipt = client.post("/v1/referrals", json=referral_body()).json()
        get_when_ready(client, f"/v1/referrals/{receipt['id']}", backend)

    def latest() -> dict[str, Any] | None:
        found = None
        for record in read_all(backend.settings.bootstrap_servers, "lead.projections.referrals.v1"):
            key = json.loads(record.key)
            if key == {"table": "referrals", "referral_id": receipt["id"]}:
                found = json.loads(record.value)["data"] if record.value else None
        return found

    wait_until(
        lambda: (latest() or {}).get("values", {}).get("status") == "eligible",
        30,
        "the row change on the compacted topic",
        backend.procs,
    )
    row = latest()
    assert row is not None and row["op"] == "upsert" and row["projection"] == "referrals"
    assert row["values"]["person_id"] == receipt["person_id"]
