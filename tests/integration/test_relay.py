"""The outbox relay against the real store and broker."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from events.topics import EVENTS
from services.bootstrap import Container
from services.commands import ReceiveReferral
from tests.factories import OFFICER, referral_body
from tests.kafka_reader import read_all, referred_by

pytestmark = pytest.mark.integration


def drain(container: Container) -> int:
    relay = container.relay()
    total = 0
    try:
        while (n := relay.run_once()) > 0:
            total += n
    finally:
        relay.producer.close()
    return total


def test_relay_publishes_every_stored_event_in_order_keyed_by_person(container: Container) -> None:
    tag = f"org-{uuid.uuid4()}"
    app = container.application
    person = uuid.uuid4()
    receipts = [
        app.receive_referral(
            ReceiveReferral.model_validate(referral_body(organisation=tag, person_id=person, n=i)),
            OFFICER,
        )
        for i in range(5)
    ]
    drain(container)

    records = referred_by(read_all(container.settings.bootstrap_servers, EVENTS), tag)
    assert [r.key for r in records] == [str(person).encode()] * 5
    assert len({r.partition for r in records}) == 1  # one person, one partition: in order
    parsed = [r.cloudevent() for r in records]
    # Each referral is two events (received, then screened); a receipt names the last.
    assert [int(e.get_extension("sequence")) for e in parsed] == [r.position - 1 for r in receipts]
    assert [e.get_data()["aggregate_id"] for e in parsed] == [str(r.id) for r in receipts]
    assert {e.get_subject() for e in parsed} == {str(person)}


def test_relay_resumes_from_its_durable_position_without_republishing(container: Container) -> None:
    tag = f"org-{uuid.uuid4()}"
    app = container.application
    app.receive_referral(ReceiveReferral.model_validate(referral_body(organisation=tag)), OFFICER)
    drain(container)  # the first relay publishes and stops
    app.receive_referral(ReceiveReferral.model_validate(referral_body(organisation=tag)), OFFICER)
    assert drain(container) == 2  # a new relay takes up where the last one stopped

    records = referred_by(read_all(container.settings.bootstrap_servers, EVENTS), tag)
    assert len(records) == 2


def test_relay_wakes_when_an_append_commits_instead_of_waiting_for_its_poll(
    container: Container,
) -> None:
    """The store notifies the relay at commit (LISTEN/NOTIFY): with its poll set to a
    minute, an event stored while it waits is still published within seconds."""
    drain(container)  # nothing pending: the relay below goes straight to waiting
    relay = container.relay()
    relay.idle_seconds = 60.0
    stop = threading.Event()
    runner = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    runner.start()
    try:
        time.sleep(1.0)  # waiting now
        assert relay.published == 0
        tag = f"org-{uuid.uuid4()}"
        container.application.receive_referral(
            ReceiveReferral.model_validate(referral_body(organisation=tag)), OFFICER
        )
        deadline = time.monotonic() + 20  # a third of the poll: only the notification can do it
        while relay.published < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert relay.published == 2  # received and screened
        records = referred_by(read_all(container.settings.bootstrap_servers, EVENTS), tag)
        assert len(records) == 1  # the referral, on the topic
    finally:
        stop.set()
        with psycopg.connect(container.settings.dsn, autocommit=True) as conn:
            conn.execute(f"NOTIFY {container.events_table}")  # ends its wait at once
        runner.join(timeout=70)
        assert not runner.is_alive()
        relay.producer.close()
